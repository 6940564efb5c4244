"""What ``pykube cleanup`` lists, apart from the engine and the kernel."""

from __future__ import annotations

from pathlib import Path

from minikube_py.agent.cleanup import Container, Leftovers, Network, mounts_under
from minikube_py.agent.network import network_name


def test_mounts_under_the_data_dirs_deepest_first() -> None:
    points = ["/", "/var/lib/pykube", "/var/lib/pykube/agent/pods/u/volumes/empty-dir/a",
              "/var/lib/pykube/agent/pods/u/volumes/empty-dir/a/b", "/var/lib/pykube-other/x", "/tmp/x"]
    assert mounts_under([Path("/var/lib/pykube")], points) == [
        Path("/var/lib/pykube/agent/pods/u/volumes/empty-dir/a/b"), Path("/var/lib/pykube/agent/pods/u/volumes/empty-dir/a")]
    assert mounts_under([], points) == []


def test_lines_name_each_thing_in_removal_order() -> None:
    found = Leftovers([Container("a" * 64, "k8s_main_web", "old", True, 1)],
                      [Network("n1", network_name("old"), ("10.244.0.0/24",))],
                      ["route 10.244.1.0/24 via 10.0.0.2"], [Path("/d/m")], [Path("/d")])
    assert found.lines() == [f"container k8s_main_web ({'a' * 12}, node old, running)",
                             "network pykube-old (10.244.0.0/24)", "route 10.244.1.0/24 via 10.0.0.2",
                             "mount /d/m", "data dir /d"]
    assert network_name("n" * 80) == ("pykube-" + "n" * 80)[:60]
