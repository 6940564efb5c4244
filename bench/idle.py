"""Start-up and idle cost of ``pykube server`` with its embedded agent: prints the time from spawn to
``/readyz`` answering 200, then the server's RSS and its share of a core over an idle spell.

The server runs as a user starts it (the Docker runtime, the kernel-mode service proxy, a node of its
own), in a throwaway data dir, on a cluster CIDR no test uses; it is stopped and its node's containers
and rules removed afterwards. Usage::

    .venv/bin/python bench/idle.py [--idle-seconds 60] [--runs 3]

pykube's bytecode is compiled first, as ``pip install`` does: in a source checkout run with
``PYTHONDONTWRITEBYTECODE`` set no ``__pycache__`` is ever written, and each start would compile
pykube's ~140 modules again (~0.17 s on the bench machine) rather than what a user's server does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import minikube_py
from minikube_py.testing import RunningServer, free_port, remove_node_containers

NODE = "pykube-bench-idle"
CLUSTER_CIDR = "10.177.0.0/16"


def spawn(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start the server and return it with the seconds until ``/readyz`` answered 200 (polled every
    10 ms, over HTTPS without verification: the CA does not exist before the server makes it)."""
    started = time.perf_counter()
    log = open(data_dir.parent / "server.log", "ab")  # noqa: SIM115 - the subprocess owns it
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "server",
            "--data-dir",
            str(data_dir),
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--node-name",
            NODE,
            "--node-ip",
            "127.0.0.1",
            "--cluster-cidr",
            CLUSTER_CIDR,
            "--kubelet-port",
            "0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    deadline = started + 60
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pykube server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=context, timeout=1) as r:
                if r.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.01)
    process.kill()
    raise RuntimeError("pykube server did not become ready within 60 s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def one_run(idle: float) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        process, ready = spawn(data, port)
        server = RunningServer(
            f"https://127.0.0.1:{port}", data, Path(tmp), data.parent / "server.log", process=process, node_network=True
        )
        try:
            time.sleep(min(10.0, idle))  # the node registers, the pod network and the proxy come up
            before = cpu_seconds(process.pid)
            time.sleep(idle)
            share = (cpu_seconds(process.pid) - before) / idle
            return ready, rss_mib(process.pid), share
        finally:
            server.stop()
            remove_node_containers(NODE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # py_compile writes the caches whatever PYTHONDONTWRITEBYTECODE says (see the module's docstring)
    compileall.compile_dir(Path(minikube_py.__file__).parent, quiet=1)
    runs = [one_run(args.idle_seconds) for _ in range(args.runs)]
    readies, rss, cpu = zip(*runs, strict=True)
    print("== pykube server with its embedded agent (Docker runtime, kernel proxy)")
    print(
        f"  {'ready after start (median of runs), s':45s} {statistics.median(readies):.2f} "
        f"({', '.join(f'{r:.2f}' for r in readies)})"
    )
    print(f"  {'idle RSS, MiB':45s} {statistics.median(rss):.1f}")
    print(f"  {f'idle CPU over {args.idle_seconds:g} s, % of a core':45s} {100 * statistics.median(cpu):.2f}")


if __name__ == "__main__":
    main()
