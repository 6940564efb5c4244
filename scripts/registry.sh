#!/usr/bin/env bash
# A private image registry for the pull-secret tests: Debian's docker-registry with htpasswd basic auth
# on 127.0.0.1:5000 (plain HTTP: Docker treats 127.0.0.0/8 registries as insecure ones by default),
# holding 127.0.0.1:5000/private/busybox:1.35. A pull without credentials fails; with them it works.
# Idempotent. Needs scripts/docker.sh first. Prints "<address> <user> <password> <image>" last.
set -euo pipefail
cd "$(dirname "$0")/.."

address=127.0.0.1:5000
user=pykube
password=pykube-registry-test
image="$address/private/busybox:1.35"
dir=/var/lib/pykube-test/registry

if ! command -v docker-registry >/dev/null 2>&1 || ! command -v htpasswd >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils >/dev/null
    # the package starts its own unauthenticated service on :5000; this script runs its own instead
    systemctl disable --now docker-registry >/dev/null 2>&1 || service docker-registry stop >/dev/null 2>&1 || true
    pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
fi

if ! curl -s -o /dev/null -w '%{http_code}' "http://$address/v2/" 2>/dev/null | grep -q 401; then
    mkdir -p "$dir/data"
    htpasswd -Bbc "$dir/htpasswd" "$user" "$password" >/dev/null 2>&1
    cat >"$dir/config.yml" <<CONFIG
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $address
auth:
  htpasswd:
    realm: pykube-test
    path: $dir/htpasswd
CONFIG
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    for _ in $(seq 1 100); do
        curl -s -o /dev/null -w '%{http_code}' "http://$address/v2/" 2>/dev/null | grep -q 401 && break
        sleep 0.1
    done
fi

auth="$(printf '%s:%s' "$user" "$password" | base64 -w0)"
if ! curl -sf -H "Authorization: Basic $auth" "http://$address/v2/private/busybox/manifests/1.35" \
        -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null; then
    export DOCKER_CONFIG="$dir/docker-client"  # never touch the user's own docker login
    mkdir -p "$DOCKER_CONFIG"
    echo "$password" | docker login -u "$user" --password-stdin "$address" >/dev/null 2>&1
    docker tag pykube.local/busybox:1.35 "$image"
    docker push "$image" >/dev/null
    docker logout "$address" >/dev/null 2>&1 || true
    docker rmi "$image" >/dev/null
fi
echo "$address $user $password $image"
