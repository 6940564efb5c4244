"""What ``pykube cleanup`` lists, apart from the engine and the kernel."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from minikube_py.agent.cleanup import (
    Container,
    Image,
    Leftovers,
    Network,
    Process,
    is_pykube_daemon,
    mounts_under,
    running_processes,
    stop_processes,
)
from minikube_py.agent.network import network_name
from minikube_py.testing import eventually


def test_mounts_under_the_data_dirs_deepest_first() -> None:
    points = [
        "/",
        "/var/lib/pykube",
        "/var/lib/pykube/agent/pods/u/volumes/empty-dir/a",
        "/var/lib/pykube/agent/pods/u/volumes/empty-dir/a/b",
        "/var/lib/pykube-other/x",
        "/tmp/x",
    ]
    assert mounts_under([Path("/var/lib/pykube")], points) == [
        Path("/var/lib/pykube/agent/pods/u/volumes/empty-dir/a/b"),
        Path("/var/lib/pykube/agent/pods/u/volumes/empty-dir/a"),
    ]
    assert mounts_under([], points) == []


def test_lines_name_each_thing_in_removal_order() -> None:
    found = Leftovers(
        processes=[Process(42, "pykube server")],
        containers=[Container("a" * 64, "k8s_main_web", "old", True, 1)],
        networks=[Network("n1", network_name("old"), ("10.244.0.0/24",))],
        rules=["route 10.244.1.0/24 via 10.0.0.2"],
        mounts=[Path("/d/m")],
        data_dirs=[Path("/d")],
        images=[Image("sha256:" + "b" * 64, ("pykube.local/pause:1",))],
    )
    assert found.lines() == [
        "process 42 (pykube server)",
        f"container k8s_main_web ({'a' * 12}, node old, running)",
        "network pykube-old (10.244.0.0/24)",
        "route 10.244.1.0/24 via 10.0.0.2",
        "mount /d/m",
        "data dir /d",
        f"image pykube.local/pause:1 ({'b' * 12})",
    ]
    assert network_name("n" * 80) == ("pykube-" + "n" * 80)[:60]


def test_servers_and_agents_are_told_from_other_pykube_commands() -> None:
    assert is_pykube_daemon(["/usr/bin/python3", "-m", "minikube_py.cli.main", "server", "--port", "1"])
    assert is_pykube_daemon(["/opt/venv/bin/python", "/opt/venv/bin/pykube", "agent", "--join", "u"])
    assert is_pykube_daemon(["pykube", "-v", "server"]) is False  # options before the command: not how it runs
    assert not is_pykube_daemon(["pykube", "uninstall"]) and not is_pykube_daemon(["pykube"])
    assert not is_pykube_daemon(["vim", "server"])


def test_running_daemons_are_found_and_stopped() -> None:
    """A process whose command line is a server's (it only sleeps) is listed, then stopped by SIGTERM."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "minikube_py.cli.main", "server"])
    try:
        # the child's command line shows in /proc a moment after it starts
        found = eventually(lambda: [p for p in running_processes() if p.pid == sleeper.pid], "the process", timeout=10)
        assert len(found) == 1 and "minikube_py.cli.main server" in found[0].command
        assert stop_processes(found, timeout=10) == []
        assert sleeper.wait(5) == -signal.SIGTERM  # not the SIGKILL that follows the timeout
    finally:
        sleeper.kill()
        sleeper.wait()
