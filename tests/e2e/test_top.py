"""``kubectl top`` against real containers: a busybox busy loop on Docker shows the CPU it burns.

One server with its embedded agent on Docker (its own node name and pod network, no service proxy, so
nothing on the host outside Docker changes); its node is the host itself, so ``top nodes`` reads the
host's counters while the pods' figures come from their containers' cgroups.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_helpers import busybox_pod, create, node_server, wait_for, wait_running
from kubectl_helpers import Kubectl

NODE = "rm-top-e2e"
NS = "rm-top-e2e"


@pytest.fixture(scope="module")
def k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    with node_server(
        tmp_path_factory.mktemp("top") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.212.0.0/16"
    ) as running:
        running.kubectl("create", "namespace", NS)
        kubectl = Kubectl(running, NS)
        create(kubectl, busybox_pod("burner", "while :; do :; done"), busybox_pod("idle", "exec sleep 3600"))
        wait_running(kubectl, "burner")
        wait_running(kubectl, "idle")
        yield kubectl


def millicores(cell: str) -> int:
    """kubectl prints CPU as ``123m`` (millicores, rounded up)."""
    return int(cell.removesuffix("m"))


def top(k: Kubectl, *args: str) -> list[list[str]]:
    done = k.run("top", *args, "--no-headers", check=False)
    return [line.split() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def test_a_busy_loop_shows_far_more_cpu_than_an_idle_pod(k: Kubectl) -> None:
    def burning() -> dict[str, list[str]] | None:
        rows = {row[0]: row for row in top(k, "pods")}
        if set(rows) != {"burner", "idle"}:
            return None
        burner, idle = millicores(rows["burner"][1]), millicores(rows["idle"][1])
        return rows if burner >= 100 and burner > 20 * max(idle, 1) else None

    rows = wait_for(burning, "the burner's CPU well above the idle pod's", timeout=120)
    assert rows["burner"][2].endswith("Mi") and rows["idle"][2].endswith("Mi")
    assert [row[0] for row in top(k, "pods", "--sort-by=cpu")][:1] == ["burner"]
    assert top(k, "pods", "-l", "app=idle")[0][0] == "idle"


def test_per_container_figures(k: Kubectl) -> None:
    rows = wait_for(lambda: top(k, "pods", "burner", "--containers") or None, "burner's container metrics")
    [(pod, container, cpu, memory)] = rows
    assert (pod, container) == ("burner", "main")
    assert millicores(cpu) > 0 and memory.endswith("Mi")


def test_top_nodes_shows_the_host_and_its_numbers_move(k: Kubectl) -> None:
    def node_row() -> list[str] | None:
        rows = top(k, "nodes")
        return rows[0] if rows else None

    first = wait_for(node_row, "the node's metrics")
    name, cpu, cpu_share, memory, memory_share = first
    assert name == NODE and cpu_share.endswith("%") and memory_share.endswith("%")
    assert millicores(cpu) >= 100  # the busy loop alone uses that much of the host
    assert int(memory.removesuffix("Mi")) > 0
    # the figures are rates over the last scrape interval: the next sample differs
    moved = wait_for(
        lambda: (row := node_row()) is not None and row[1:4:2] != first[1:4:2] and row,
        "the node's figures to move",
        timeout=90,
    )
    assert moved[0] == NODE
