"""The ingress controller's data path: requests/s and p99 latency through it versus straight to the pod.

    .venv/bin/python bench/ingress.py [--seconds 5] [--connections 20]
    .venv/bin/python bench/ingress.py --smoke        (short phases, for CI)

``pykube server`` with its embedded agent (Docker runtime, node IP 127.0.0.1, no service proxy) runs
one busybox httpd pod serving a small page on two ports; wrk (one thread, ``--connections`` keep-alive
connections) measures each phase from the host:

- direct: the pod IP and its first port;
- ingress: the node's ingress HTTP port, a host-less Ingress rule sending everything to a Service on
  the pod's second port (each phase has a port of its own: busybox httpd closes every connection, and
  a phase must not meet the previous one's TIME_WAIT 4-tuples).

The goal is at least half the direct rate. Everything is torn down at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from testbed import BUSYBOX_IMAGE, ensure_docker

from minikube_py.testing import (
    RunningServer,
    eventually,
    free_port,
    node_is_ready,
    remove_node_containers,
    start_server,
)

NODE = "pykube-bench-ingress"
CLUSTER_CIDR = "10.183.0.0/16"
NAMESPACE = "bench-ingress"
DIRECT_PORT, BACKEND_PORT = 8001, 8002
#: the goal: through the ingress at least this share of the direct rate
GOAL = 0.5


def deploy(server: RunningServer) -> str:
    """The httpd pod, its Service and a catch-all Ingress; returns the pod IP once it is ready."""
    script = (
        f"mkdir -p /www && echo hello > /www/index.html && httpd -p {DIRECT_PORT} -h /www && "
        f"exec httpd -f -p {BACKEND_PORT} -h /www"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "target", "labels": {"app": "target"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", script],
                    "readinessProbe": {"tcpSocket": {"port": BACKEND_PORT}, "periodSeconds": 1},
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "target"},
        "spec": {"selector": {"app": "target"}, "ports": [{"port": 80, "targetPort": BACKEND_PORT}]},
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "target"},
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "target", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ]
        },
    }
    server.kubectl("create", "namespace", NAMESPACE)
    server.kubectl(
        "-n",
        NAMESPACE,
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, service, ingress]}),
    )

    def ready() -> str | None:
        got = json.loads(server.kubectl("-n", NAMESPACE, "get", "pod", "target", "-o", "json").stdout)
        is_ready = any(c["type"] == "Ready" and c["status"] == "True" for c in got["status"].get("conditions", []))
        return got["status"].get("podIP") if is_ready else None

    return eventually(ready, "the target pod", timeout=120)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: float, connections: int) -> tuple[float, float]:
    """(requests/s, p99 ms) of one wrk run; a run with errors counts as failed."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if rate is None or p99 is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad.group(1)} failed responses from {url}:\n{out}")
    return float(rate.group(1)), _ms(*p99.groups())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="short phases, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 1.0
    ensure_docker()
    remove_node_containers(NODE)
    ingress_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            Path(tmp) / "data",
            "--node-name",
            NODE,
            "--node-ip",
            "127.0.0.1",
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--kubelet-port",
            "0",
            "--proxy-mode",
            "none",
            "--ingress-http-port",
            str(ingress_port),
            agent=True,
        )
        try:
            eventually(lambda: node_is_ready(server, NODE) or None, f"node {NODE}", timeout=90)
            pod_ip = deploy(server)
            through = f"http://127.0.0.1:{ingress_port}/"
            eventually(lambda: _answers(through), "the ingress to route to the pod", timeout=60)
            direct_rate, direct_p99 = wrk(f"http://{pod_ip}:{DIRECT_PORT}/", args.seconds, args.connections)
            rate, p99 = wrk(through, args.seconds, args.connections)
            print(f"{'path':24} {'req/s':>9} {'p99 ms':>8}")
            print(f"{'direct to the pod':24} {direct_rate:9.0f} {direct_p99:8.2f}")
            print(f"{'through the ingress':24} {rate:9.0f} {p99:8.2f}")
            share = rate / direct_rate if direct_rate else 0.0
            print(f"ingress / direct: {share:.0%} (goal: at least {GOAL:.0%})", flush=True)
        finally:
            server.stop()
            remove_node_containers(NODE)


def _answers(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 or None
    except OSError:
        return None


if __name__ == "__main__":
    main()
