#!/usr/bin/env bash
# Installs and starts the Docker engine (Debian's docker.io) if it is not running, and builds the test
# image pykube.local/busybox:1.35 from Debian's busybox-static (no registry is reachable here, so images
# are made locally with `docker import`). Idempotent; used by scripts/test.sh and the tests' set-up.
set -euo pipefail

need_pkg() {  # need_pkg <command-or-path> <debian-package>
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

need_pkg dockerd docker.io
need_pkg /bin/busybox busybox-static

if ! docker version >/dev/null 2>&1 && pgrep -x dockerd >/dev/null; then
    # an engine that is still starting or stopping: give it time rather than start a second one
    for _ in $(seq 1 150); do
        docker version >/dev/null 2>&1 && break
        pgrep -x dockerd >/dev/null || break
        sleep 0.2
    done
fi
if ! docker version >/dev/null 2>&1; then
    mkdir -p /var/log/pykube-test
    # a pid file left by an engine that died would stop the new one from starting
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    nohup dockerd >/var/log/pykube-test/dockerd.log 2>&1 &
    for _ in $(seq 1 150); do
        docker version >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker version >/dev/null
fi

image=pykube.local/busybox:1.35
if ! docker image inspect "$image" >/dev/null 2>&1; then
    root="$(mktemp -d)"
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/www" "$root/root"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in sh ash cat chmod cp date echo env false grep head hostname httpd id kill ls mkdir mv nc \
        printenv ps pwd rm seq sleep tail tee test touch tr true uname wc wget whoami; do
        ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
    tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$image" >/dev/null
fi
