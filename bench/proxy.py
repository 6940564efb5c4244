"""Service proxy data path on three real nodes: direct to a pod versus through each proxy mode.

    .venv/bin/python bench/proxy.py [--seconds 5] [--connects 300] [--dns-seconds 5]
    .venv/bin/python bench/proxy.py --smoke        (short phases, for CI)

The cluster is the e2e tests' one: ``pykube server`` with its embedded agent on this host (kernel mode),
and two ``pykube agent``s in network namespaces on the bridge 10.99.0.0/24 (scripts/netns-node.sh):
node 1 in kernel mode, node 2 in userspace mode. One server pod on node 1 serves a TCP sink (a
Python server borrowed from the host through read-only hostPath mounts, so the pod is not the
bottleneck) and HTTP (busybox httpd, one port per path, measured with wrk). Each figure is measured from a client in one
node's network namespace:

- bulk TCP upload throughput (MB/s, one connection, ``--seconds``) and HTTP requests/s (wrk, 2 threads,
  16 connections): direct to the pod IP and through the ClusterIP, from the host (kernel mode) and
  from node 2 (userspace mode), and through a NodePort from another node (the host to node 2's, so
  the userspace proxy, and to node 1's, the kernel one);
- connect latency p50/p99 (``--connects`` sequential TCP handshakes) on the same paths;
- cluster DNS: queries/s and p99 latency of A lookups from node 1 at the kube-dns address, with 32
  queries outstanding.

Traffic stays on the bridge, the pod networks and loopback; everything is torn down at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from testbed import BUSYBOX_IMAGE, NetnsCluster, netns_cluster

from minikube_py.testing import eventually

SERVER_NODE = "pykube-bench-server"
NODES = {"pykube-bench-node1": (1, "kernel"), "pykube-bench-node2": (2, "userspace")}
CLUSTER_CIDR = "10.248.0.0/16"
NAMESPACE = "bench"
NODE_PORT = 30070
#: each path's HTTP phase has a port of its own: wrk opens a connection per request (busybox httpd
#: closes after each), and a phase reusing the 4-tuples that the previous one left in TIME_WAIT at the
#: pod would measure SYN retries rather than the proxy
HTTP_PORT = 8001
PATHS = (
    "direct from the host",
    "ClusterIP, kernel (host)",
    "direct from node 2",
    "ClusterIP, userspace (node 2)",
    "NodePort, kernel (host -> node 1)",
    "NodePort, userspace (host -> node 2)",
)
SINK_PORT = 5001

#: the pod's TCP sink: reads everything into a large buffer, answers the byte count at EOF
SINK = """
import socket, threading
def serve(conn):
    buf, total = bytearray(1 << 20), 0
    while (n := conn.recv_into(buf)):
        total += n
    conn.sendall(str(total).encode()); conn.close()
s = socket.create_server(("0.0.0.0", SINK_PORT), backlog=64)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
""".replace("SINK_PORT", str(SINK_PORT))

#: run in a node's namespace: upload for N seconds over one connection, print bytes/s
UPLOAD = """
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
chunk, sent = bytes(1 << 20), 0
start = time.monotonic()
while time.monotonic() - start < seconds:
    s.sendall(chunk); sent += len(chunk)
s.shutdown(socket.SHUT_WR)
assert int(s.recv(64)) == sent
print(sent / (time.monotonic() - start))
"""

#: run in a node's namespace: N sequential TCP handshakes, print each in microseconds
CONNECTS = """
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(count):
    start = time.perf_counter()
    s = socket.create_connection((host, port), timeout=5)
    times.append((time.perf_counter() - start) * 1e6)
    s.close()
print(" ".join(f"{t:.0f}" for t in times))
"""

#: run in a node's namespace: UDP A queries with 32 outstanding for N seconds; print count and p50/p99 (ms)
DNS_LOAD = """
import socket, struct, sys, time, select
server, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((server, 53)); s.setblocking(False)
sent, lat, next_id = {}, [], 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    while len(sent) < 32:
        next_id = (next_id + 1) & 0xffff
        s.send(struct.pack(">HHHHHH", next_id, 0x0100, 1, 0, 0, 0) + qname + b"\\0\\1\\0\\1")
        sent[next_id] = time.perf_counter()
    if select.select([s], [], [], 0.5)[0]:
        while True:
            try:
                reply = s.recv(4096)
            except BlockingIOError:
                break
            began = sent.pop(struct.unpack(">H", reply[:2])[0], None)
            if began is not None and struct.unpack(">H", reply[6:8])[0] >= 1:  # counted only with an answer
                lat.append((time.perf_counter() - began) * 1000)
    else:
        sent.clear()  # lost: send again
lat.sort()
print(len(lat) / seconds, lat[len(lat) // 2] if lat else 0, lat[int(len(lat) * 0.99)] if lat else 0)
"""


def run(cluster: NetnsCluster, node: str, *cmd: str, timeout: float = 120) -> str:
    done = cluster.on_node(node, *cmd, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} on {node} failed: {done.stderr.strip()[-400:]}")
    return done.stdout


def deploy(cluster: NetnsCluster) -> tuple[str, str]:
    """The server pod on node 1 and its NodePort service; returns (pod IP, ClusterIP)."""
    mounts = {"usr": "/usr", "lib": "/lib", "lib64": "/lib64"}
    httpds = " && ".join(f"httpd -p {HTTP_PORT + i} -h /www" for i in range(len(PATHS)))
    script = f"mkdir -p /www && echo hello > /www/index.html && {httpds} && exec /usr/bin/python3 -c '{SINK}'"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "target", "labels": {"app": "target"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "pykube-bench-node1"},
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", script],
                    "volumeMounts": [{"name": n, "mountPath": p, "readOnly": True} for n, p in mounts.items()],
                }
            ],
            "volumes": [{"name": n, "hostPath": {"path": p}} for n, p in mounts.items()],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "target"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "target"},
            "ports": [
                {"name": "sink", "port": SINK_PORT, "nodePort": NODE_PORT},
                *(
                    {"name": f"http{i}", "port": HTTP_PORT + i, "nodePort": NODE_PORT + 1 + i}
                    for i in range(len(PATHS))
                ),
            ],
        },
    }
    cluster.server.kubectl("create", "namespace", NAMESPACE)
    cluster.server.kubectl(
        "-n",
        NAMESPACE,
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, service]}),
    )

    def running() -> str | None:
        got = json.loads(cluster.server.kubectl("-n", NAMESPACE, "get", "pod", "target", "-o", "json").stdout)
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in got["status"].get("conditions", []))
        return got["status"].get("podIP") if ready else None

    pod_ip = eventually(running, "the target pod", timeout=120)
    cluster_ip = json.loads(cluster.server.kubectl("-n", NAMESPACE, "get", "service", "target", "-o", "json").stdout)[
        "spec"
    ]["clusterIP"]
    for node in cluster.ips:  # every proxy has synced the service
        eventually(lambda n=node: _answers(cluster, n, cluster_ip), f"the service from {node}", timeout=60)
    return pod_ip, cluster_ip


def _answers(cluster: NetnsCluster, node: str, ip: str) -> bool:
    try:
        run(cluster, node, sys.executable, "-c", CONNECTS, ip, str(SINK_PORT), "1", timeout=10)
        return True
    except (RuntimeError, subprocess.TimeoutExpired):
        return False


def wrk(cluster: NetnsCluster, node: str, url: str, seconds: float) -> float:
    out = run(
        cluster, node, "wrk", "-t", "2", "-c", "16", "-d", f"{max(1, round(seconds))}s", url, timeout=seconds + 60
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--dns-seconds", type=float, default=5.0)
    parser.add_argument("--smoke", action="store_true", help="short phases, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.connects, args.dns_seconds = 1.0, 20, 1.0
    subprocess.run(
        ["sh", "-c", "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        netns_cluster(Path(tmp), SERVER_NODE, NODES, cluster_cidr=CLUSTER_CIDR) as cluster,
    ):
        pod_ip, cluster_ip = deploy(cluster)
        node1, node2 = cluster.ips["pykube-bench-node1"], cluster.ips["pykube-bench-node2"]
        clients = [
            (SERVER_NODE, pod_ip),
            (SERVER_NODE, cluster_ip),
            ("pykube-bench-node2", pod_ip),
            ("pykube-bench-node2", cluster_ip),
            (SERVER_NODE, f"{node1}:"),
            (SERVER_NODE, f"{node2}:"),
        ]
        print(f"{'path':40} {'TCP MB/s':>9} {'HTTP req/s':>11} {'connect p50/p99 us':>20}")
        for i, (label, (node, address)) in enumerate(zip(PATHS, clients, strict=True)):
            nodeport = address.endswith(":")
            host = address.rstrip(":")
            sink = NODE_PORT if nodeport else SINK_PORT
            http = NODE_PORT + 1 + i if nodeport else HTTP_PORT + i
            rate = float(
                run(
                    cluster,
                    node,
                    sys.executable,
                    "-c",
                    UPLOAD,
                    host,
                    str(sink),
                    str(args.seconds),
                    timeout=args.seconds + 60,
                )
            )
            requests = wrk(cluster, node, f"http://{host}:{http}/", args.seconds)
            times = sorted(
                float(t)
                for t in run(cluster, node, sys.executable, "-c", CONNECTS, host, str(sink), str(args.connects)).split()
            )
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{label:40} {rate / 1e6:9.0f} {requests:11.0f} {statistics.median(times):9.0f} / {p99:8.0f}",
                flush=True,
            )
        name = f"target.{NAMESPACE}.svc.cluster.local"
        qps, p50, p99 = run(
            cluster,
            "pykube-bench-node1",
            sys.executable,
            "-c",
            DNS_LOAD,
            "10.96.0.10",
            name,
            str(args.dns_seconds),
            timeout=args.dns_seconds + 60,
        ).split()
        print(
            f"cluster DNS from node 1 (kernel REDIRECT to its agent): {float(qps):.0f} queries/s, "
            f"p50 {float(p50):.2f} ms, p99 {float(p99):.2f} ms (32 outstanding)"
        )


if __name__ == "__main__":
    main()
