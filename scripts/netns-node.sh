#!/usr/bin/env bash
# A second "host" on this machine for multi-node tests: a network namespace with its own Docker engine,
# attached to a host bridge so that it shares a subnet with the host (the API server's side).
#
#   scripts/netns-node.sh up N     create node N (N in 1..200): netns pykube-nodeN, address 10.99.0.(10+N)/24,
#                                  its dockerd on unix:///run/pykube-nodeN/docker.sock, the test busybox image
#   scripts/netns-node.sh down N   stop its dockerd (and everything it runs) and delete the namespace; the last
#                                  node down also removes the bridge and its FORWARD rules
#
# The host side of the bridge is 10.99.0.1/24; nodes route everything else through it. dockerd is started
# with `nsenter --net` rather than `ip netns exec`, which would remount /sys and break dockerd's cgroups.
# Prints the node's address and its docker host URL as the last two lines of `up`.
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:?usage: netns-node.sh up|down N}"
n="${2:?usage: netns-node.sh up|down N}"
ns="pykube-node$n"
bridge="pykube-br0"
host_if="pkv$n"
addr="10.99.0.$((10 + n))"
run="/run/$ns"
sock="unix://$run/docker.sock"
root="/var/lib/pykube-test/$ns"

bridge_up() {
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        ip link add "$bridge" type bridge
        ip addr add 10.99.0.1/24 dev "$bridge"
    fi
    ip link set "$bridge" up
    # Docker (nft backend) drops forwarded traffic between interfaces it does not know; the test bridge
    # only carries traffic between this machine's own namespaces.
    iptables -C FORWARD -i "$bridge" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$bridge" -j ACCEPT
    iptables -C FORWARD -o "$bridge" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$bridge" -j ACCEPT
}

node_up() {
    bridge_up
    if ! ip netns list | grep -qw "$ns"; then
        ip netns add "$ns"
        ip link add "$host_if" type veth peer name eth0 netns "$ns"
        ip link set "$host_if" master "$bridge" up
        # Docker turns on br_netfilter, so a packet a node sends to the host's address that the host DNATs
        # back to a pod on that same node (a NodePort) is bridged out of the port it came in by: hairpin
        ip link set "$host_if" type bridge_slave hairpin on
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" route add default via 10.99.0.1
    fi
    mkdir -p "$run" "$root"
    if [ -f "$run/dockerd.pid" ] && ! docker -H "$sock" version >/dev/null 2>&1; then
        # an engine of an interrupted run, still starting or stopping: let it finish before starting anew
        old="$(cat "$run/dockerd.pid")"
        for _ in $(seq 1 150); do
            kill -0 "$old" 2>/dev/null || break
            docker -H "$sock" version >/dev/null 2>&1 && break
            sleep 0.2
        done
        kill -0 "$old" 2>/dev/null || rm -f "$run/dockerd.pid"
    fi
    if ! docker -H "$sock" version >/dev/null 2>&1; then
        release_mounts
        nsenter --net="/var/run/netns/$ns" dockerd --data-root "$root/docker" --exec-root "$run/exec" \
            -H "$sock" --pidfile "$run/dockerd.pid" --bip "172.31.$n.1/24" \
            >"$root/dockerd.log" 2>&1 &
        for _ in $(seq 1 100); do
            docker -H "$sock" version >/dev/null 2>&1 && break
            sleep 0.2
        done
        docker -H "$sock" version >/dev/null
    fi
    want="$(docker image inspect -f '{{.Id}}' pykube.local/busybox:1.35)"
    have="$(docker -H "$sock" image inspect -f '{{.Id}}' pykube.local/busybox:1.35 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
        docker save pykube.local/busybox:1.35 | docker -H "$sock" load >/dev/null
    fi
    echo "$addr"
    echo "$sock"
}

release_mounts() {
    # container filesystems an engine that died mid-shutdown left mounted: the next engine could
    # neither remove those containers nor start their pods again ("device or resource busy"); and
    # the engine's own bind mount of its data root, innermost first
    local target
    for target in $(findmnt -rn -o TARGET | grep "^$root/docker\(/overlay2/\|$\)" | sort -r || true); do
        umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
    done
}

node_down() {
    if [ -f "$run/dockerd.pid" ]; then
        pid="$(cat "$run/dockerd.pid")"
        docker -H "$sock" ps -q | xargs -r docker -H "$sock" rm -f >/dev/null 2>&1 || true
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    release_mounts
    ip netns del "$ns" 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    if ! ip netns list | grep -q '^pykube-node'; then
        bridge_down
    fi
}

bridge_down() {
    # the bridge's 10.99.0.0/24 would otherwise capture that range for everything else on the machine
    ip link del "$bridge" 2>/dev/null || true
    while iptables -D FORWARD -i "$bridge" -j ACCEPT 2>/dev/null; do :; done
    while iptables -D FORWARD -o "$bridge" -j ACCEPT 2>/dev/null; do :; done
}

case "$action" in
    up) node_up ;;
    down) node_down ;;
    *) echo "usage: netns-node.sh up|down N" >&2; exit 2 ;;
esac
