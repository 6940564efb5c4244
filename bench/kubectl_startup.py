"""Wall time of ``pykube kubectl get pods`` on a small cluster (a fresh server, a few pods), beside the
real kubectl's: start-up is part of the experience, the aim is 0.3 s. Usage::

    .venv/bin/python bench/kubectl_startup.py [--runs 10] [--pods 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minikube_py.testing import KUBECTL, start_server


def wall(command: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pods", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubectl-startup-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            for i in range(args.pods):
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"p{i}"},
                    "spec": {"containers": [{"name": "c", "image": "pykube.local/pause:1"}]},
                }
                server.kubectl("create", "-f", "-", input=json.dumps(pod))
            env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "KUBECACHEDIR": str(server.cache_dir)}
            ours = wall([sys.executable, "-m", "minikube_py.cli.main", "kubectl", "get", "pods"], env, args.runs)
            theirs = wall([KUBECTL, "get", "pods"], env, args.runs)
        finally:
            server.stop()
    print(
        f"pykube kubectl get pods: {ours:.3f} s wall (median of {args.runs}); "
        f"kubectl v1.32: {theirs:.3f} s; aim: 0.300 s"
    )


if __name__ == "__main__":
    main()
