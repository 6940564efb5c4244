"""How an agent reads usage: the kernel's files (host and cgroups v1/v2), the Summary it serves, whether
its node is the whole host, and the fake runtime's simulated counters."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from minikube_py.agent import stats
from minikube_py.agent.runtime import cgroups
from minikube_py.agent.runtime.base import (
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerSpec,
    ContainerUsage,
)
from minikube_py.agent.runtime.fake import FakeRuntime
from minikube_py.model import metrics as m

CID = "3dfd37df15ae80177b76418c208a8424bebed646c7e520663be03a462b134e27"

PROC_STAT = """cpu  366366 10 197243 1218665 2098 0 73190 464 0 0
cpu0 183183 5 98621 609332 1049 0 36595 232 0 0
intr 1 2 3
"""
MEMINFO = """MemTotal:       24683772 kB
MemFree:        21804264 kB
MemAvailable:   24148724 kB
Buffers:           63892 kB
Inactive(file):   900000 kB
HugePages_Total:       0
"""


def test_host_usage_counts_every_cpu_state_but_idle_and_iowait() -> None:
    cpu_ns, memory = stats.host_usage(PROC_STAT, MEMINFO)
    busy_ticks = 366366 + 10 + 197243 + 0 + 73190 + 464
    assert cpu_ns == busy_ticks * 10**9 // os.sysconf("SC_CLK_TCK")
    assert memory == (24683772 - 21804264 - 900000) * 1024


V1_CGROUPFS = f"""12:pids:/docker/{CID}
4:memory:/docker/{CID}
3:cpu,cpuacct:/docker/{CID}
0::/docker/{CID}
"""
V2_SYSTEMD = f"0::/system.slice/docker-{CID}.scope\n"


def test_locate_v1_controllers_even_beside_a_unified_hierarchy(tmp_path: Path) -> None:
    files = cgroups.locate(V1_CGROUPFS, CID, tmp_path)
    assert files == cgroups.CgroupFiles(
        tmp_path / f"cpuacct/docker/{CID}/cpuacct.usage",
        tmp_path / f"memory/docker/{CID}/memory.usage_in_bytes",
        tmp_path / f"memory/docker/{CID}/memory.stat",
        v2=False,
    )


def test_locate_v2_with_the_systemd_driver(tmp_path: Path) -> None:
    files = cgroups.locate(V2_SYSTEMD, CID, tmp_path)
    assert files is not None and files.v2
    assert files.cpu == tmp_path / f"system.slice/docker-{CID}.scope/cpu.stat"


def test_locate_refuses_a_cgroup_that_is_not_the_containers(tmp_path: Path) -> None:
    # a pid of another PID namespace (or reused) whose cgroup names some other container
    assert cgroups.locate(V1_CGROUPFS.replace(CID, "f" * 64), CID, tmp_path) is None
    assert cgroups.locate("0::/user.slice\n", CID, tmp_path) is None


def test_usage_from_v1_and_v2_files() -> None:
    v1 = cgroups.CgroupFiles(Path("c"), Path("u"), Path("s"), v2=False)
    assert cgroups.usage_from(
        v1, "5508479720\n", "1597440\n", "cache 1\nrss 57344\ninactive_file 7\ntotal_inactive_file 1257472\n"
    ) == (5508479720, 1597440 - 1257472)
    v2 = cgroups.CgroupFiles(Path("c"), Path("u"), Path("s"), v2=True)
    assert cgroups.usage_from(v2, "usage_usec 1500\nuser_usec 1000\n", "8192\n", "anon 4096\ninactive_file 4096\n") == (
        1_500_000,
        4096,
    )


def test_read_usage_reads_the_files_and_none_once_they_are_gone(tmp_path: Path) -> None:
    directory = tmp_path / "system.slice" / f"docker-{CID}.scope"
    directory.mkdir(parents=True)
    (directory / "cpu.stat").write_text("usage_usec 42\n")
    (directory / "memory.current").write_text("1048576\n")
    (directory / "memory.stat").write_text("inactive_file 0\n")
    files = cgroups.locate(V2_SYSTEMD, CID, tmp_path)
    assert files is not None
    assert cgroups.read_usage(files) == (42_000, 1048576)
    (directory / "cpu.stat").unlink()
    assert cgroups.read_usage(files) is None


def usage(container: str, pod: str, kind: str = "app", cpu: int = 1) -> ContainerUsage:
    labels = {
        LABEL_NODE: "n1",
        LABEL_POD_UID: f"uid-{pod}",
        LABEL_POD_NAME: pod,
        LABEL_POD_NAMESPACE: "ns",
        LABEL_CONTAINER_NAME: container,
        LABEL_CONTAINER_KIND: kind,
    }
    return ContainerUsage(f"id-{pod}-{container}", labels, 1_700_000_000.5, cpu, 4096)


def test_summary_groups_containers_by_pod_and_leaves_out_sandboxes() -> None:
    out = stats.summary(
        "n1",
        [usage("POD", "web", kind="sandbox"), usage("app", "web"), usage("side", "web", cpu=2), usage("app", "db")],
        node=None,
        agent=(1_700_000_000.0, 5, 6),
    )
    assert "cpu" not in out["node"]  # not the host: the server adds up the pods and the agent
    agent = out["node"]["systemContainers"][0]
    assert agent["name"] == "pykube-agent" and agent["cpu"]["usageCoreNanoSeconds"] == 5
    assert agent["memory"] == {"time": "2023-11-14T22:13:20.000000Z", "workingSetBytes": 6}
    web = next(p for p in out["pods"] if p["podRef"]["name"] == "web")
    assert web["podRef"] == {"name": "web", "namespace": "ns", "uid": "uid-web"}
    assert [(c["name"], c["containerID"], c["cpu"]["usageCoreNanoSeconds"]) for c in web["containers"]] == [
        ("app", "id-web-app", 1),
        ("side", "id-web-side", 2),
    ]
    # what the server reads back is what the agent read, to the microsecond
    scrape = m.parse_summary(out)
    assert scrape.pods[("ns", "web")].containers["app"].micros == 1_700_000_000_500_000


def test_summary_of_a_host_node_carries_the_hosts_counters() -> None:
    out = stats.summary("n1", [], node=(1_700_000_000.0, 9, 10), agent=(1_700_000_000.0, 5, 6))
    assert out["node"]["cpu"]["usageCoreNanoSeconds"] == 9 and out["node"]["memory"]["workingSetBytes"] == 10


def fake_proc(tmp_path: Path, own: str, init: str) -> Path:
    for pid, target in (("self", own), ("1", init)):
        (tmp_path / pid / "ns").mkdir(parents=True)
        (tmp_path / pid / "ns" / "net").symlink_to(target)
    return tmp_path


def test_a_node_is_the_host_only_with_a_local_engine_in_the_hosts_network_namespace(tmp_path: Path) -> None:
    host = fake_proc(tmp_path / "a", "net:[1]", "net:[1]")
    netns = fake_proc(tmp_path / "b", "net:[2]", "net:[1]")
    assert stats.node_is_host("docker", "", host)
    assert stats.node_is_host("docker", "unix:///var/run/docker.sock", host)
    assert not stats.node_is_host("docker", "unix:///run/pykube-node1/docker.sock", netns)
    assert not stats.node_is_host("docker", "tcp://10.0.0.5:2375", host)
    assert not stats.node_is_host("fake", "", host)


async def test_fake_runtime_pins_usage_exactly_and_simulates_the_rest() -> None:
    runtime = FakeRuntime()
    labels = {LABEL_NODE: "n1", LABEL_POD_UID: "u", LABEL_CONTAINER_NAME: "c"}
    pinned = await runtime.create_container(
        ContainerSpec(
            "pinned", "img", {**labels, "which": "pinned"}, env=[("FAKE_CPU", "250m"), ("FAKE_MEMORY", "64Mi")]
        )
    )
    drifting = await runtime.create_container(ContainerSpec("drifting", "img", {**labels, "which": "drifting"}))
    stopped = await runtime.create_container(ContainerSpec("stopped", "img", labels))
    for container in (pinned, drifting):
        await runtime.start_container(container)
    first = {u.container_id: u for u in await runtime.usage({LABEL_NODE: "n1"})}
    assert stopped not in first  # only running containers have usage
    await asyncio.sleep(0.05)
    second = {u.container_id: u for u in await runtime.usage({LABEL_NODE: "n1"})}

    def rate(cid: str) -> m.Usage:
        before, after = first[cid], second[cid]
        found = m.cpu_rate(
            m.Reading(round(before.timestamp * 10**6), before.cpu_ns, before.memory),
            m.Reading(round(after.timestamp * 10**6), after.cpu_ns, after.memory),
        )
        assert found is not None
        return found

    assert rate(pinned).cpu_nanocores == 250_000_000 and second[pinned].memory == 64 << 20
    drift = rate(drifting)
    assert 0 < drift.cpu_nanocores < 60_000_000  # a few millicores
    assert 1 << 20 < second[drifting].memory < 80 << 20 and second[drifting].memory % 4096 == 0
    assert second[drifting].labels["which"] == "drifting"


@pytest.mark.parametrize("bad", ["lots", ""])
async def test_fake_runtime_ignores_a_malformed_pin(bad: str) -> None:
    runtime = FakeRuntime()
    container = await runtime.create_container(ContainerSpec("c", "img", {LABEL_NODE: "n1"}, env=[("FAKE_CPU", bad)]))
    await runtime.start_container(container)
    [found] = await runtime.usage({LABEL_NODE: "n1"})
    assert found.cpu_ns >= 0
