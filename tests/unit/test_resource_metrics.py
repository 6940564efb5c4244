"""The pure parts of the resource metrics: rates from cumulative readings, working sets, metrics-server's
spellings, the Summary the agents send, which pods get metrics, and the history ring."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model import metrics as m

Obj = dict[str, Any]
T0 = 1_700_000_000_000_000  # a UNIX time in microseconds


def reading(seconds: float, cpu_ns: int, memory: int = 1 << 20, started: str = "c1") -> m.Reading:
    return m.Reading(T0 + round(seconds * 10**6), cpu_ns, memory, started)


def test_rate_is_the_cpu_used_over_the_window_in_nanocores() -> None:
    usage = m.cpu_rate(reading(0, 5_000_000_000), reading(15, 5_000_000_000 + 15 * 250_000_000, 64 << 20))
    assert usage is not None
    assert usage.cpu_nanocores == 250_000_000
    assert usage.window == 15
    assert usage.memory == 64 << 20  # memory is the latest reading, not a rate
    assert usage.timestamp == (T0 + 15 * 10**6) / 10**6


def test_rate_stays_exact_at_unix_time_magnitudes() -> None:
    # 1.003 s apart at a 2023 timestamp: float seconds would be off by a fraction of a microsecond,
    # enough to print 251m for a pinned 250m
    usage = m.cpu_rate(reading(0, 0), reading(1.003, 250_750_000))
    assert usage is not None and usage.cpu_nanocores == 250_000_000


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (reading(10, 100), reading(10, 200)),  # no time between the readings
        (reading(0, 500), reading(1, 100)),  # the counter went back
        (reading(0, 100, started="c1"), reading(1, 900, started="c2")),  # the container restarted
    ],
)
def test_no_rate_without_a_window_or_across_a_reset(before: m.Reading, after: m.Reading) -> None:
    assert m.cpu_rate(before, after) is None


def test_working_set_is_usage_less_inactive_page_cache_never_negative() -> None:
    assert m.working_set(10_000, 4_000) == 6_000
    assert m.working_set(1_000, 4_000) == 0


@pytest.mark.parametrize(
    ("nanocores", "text"),
    [
        (12345, "12345n"),
        (5_000_000, "5m"),
        (250_000_000, "250m"),
        (2_000_000_000, "2"),
        (0, "0"),
        (1_500_000_000, "1500m"),
        (193_870_316, "193870316n"),
    ],
)
def test_cpu_is_written_as_metrics_server_writes_it(nanocores: int, text: str) -> None:
    assert m.cpu_quantity(nanocores) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [(5264 * 1024, "5264Ki"), (64 << 20, "64Mi"), (1 << 30, "1Gi"), (123_456, "123456"), (0, "0"), (1000, "1k")],
)
def test_memory_is_written_in_binary_units(amount: int, text: str) -> None:
    assert m.memory_quantity(amount) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (15, "15s"),
        (15.0024, "15.002s"),
        (1.5, "1.5s"),
        (0.5, "500ms"),
        (0, "0s"),
        (60.5, "1m0.5s"),
        (600, "10m0s"),
        (3725, "1h2m5s"),
    ],
)
def test_window_is_a_go_duration(seconds: float, text: str) -> None:
    assert m.go_duration(seconds) == text


def usage(cpu: int, memory: int, window: float = 15.0, at: float = 1_700_000_000.0) -> m.Usage:
    return m.Usage(at, window, cpu, memory)


def test_node_metrics_carry_labels_time_window_and_usage() -> None:
    node = {"metadata": {"name": "n1", "labels": {"zone": "a"}, "uid": "u"}, "status": {}}
    out = m.node_metrics(node, usage(193_870_316, 1_432_740 * 1024, 10.044), "2024-01-01T00:00:00Z")
    assert out == {
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "n1", "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"zone": "a"}},
        "timestamp": "2023-11-14T22:13:20Z",
        "window": "10.044s",
        "usage": {"cpu": "193870316n", "memory": "1432740Ki"},
    }


def pod(name: str, uid: str, *containers: str, namespace: str = "default") -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": {"app": name}},
        "spec": {"containers": [{"name": c} for c in containers]},
    }


def test_pod_metrics_list_containers_in_spec_order() -> None:
    out = m.pod_metrics(
        pod("web", "u1", "b", "a"),
        [("a", usage(1_000_000, 4 << 20)), ("b", usage(2_000_000, 8 << 20, window=14))],
        "now",
    )
    assert [c["name"] for c in out["containers"]] == ["b", "a"]
    assert out["containers"][0]["usage"] == {"cpu": "2m", "memory": "8Mi"}
    assert out["metadata"] == {
        "name": "web",
        "namespace": "default",
        "creationTimestamp": "now",
        "labels": {"app": "web"},
    }
    assert out["window"] == "15s"


def test_only_pods_with_their_own_usage_get_metrics() -> None:
    figures: m.PodUsages = {
        ("default", "web"): ("u1", [("c", usage(1, 1))]),
        ("default", "db"): ("old-uid", [("c", usage(1, 1))]),
    }
    pods = [pod("web", "u1", "c"), pod("db", "new-uid", "c"), pod("queue", "u3", "c")]
    items = m.pod_metrics_items(pods, figures, "now")
    assert [i["metadata"]["name"] for i in items] == ["web"]  # db was recreated, queue has no figures yet


def test_node_metrics_items_leave_out_nodes_without_usage() -> None:
    nodes = [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
    assert [i["metadata"]["name"] for i in m.node_metrics_items(nodes, {"b": usage(1, 1)}, "now")] == ["b"]


def summary(t: str, cpu: int, *, node: int | None = None, restart: bool = False, app_cpu: int = 0) -> Obj:
    def stats(value: int, memory: int) -> tuple[Obj, Obj]:
        return {"time": t, "usageCoreNanoSeconds": value}, {"time": t, "workingSetBytes": memory}

    agent_cpu, agent_mem = stats(cpu, 100 << 20)
    node_part: Obj = {
        "nodeName": "n1",
        "systemContainers": [{"name": "pykube-agent", "cpu": agent_cpu, "memory": agent_mem}],
    }
    if node is not None:
        node_part["cpu"], node_part["memory"] = stats(node, 2 << 30)
    web_cpu, web_mem = stats(app_cpu, 10 << 20)
    side_cpu, side_mem = stats(app_cpu, 5 << 20)
    return {
        "node": node_part,
        "pods": [
            {
                "podRef": {"name": "web", "namespace": "default", "uid": "u1"},
                "containers": [
                    {"name": "app", "containerID": "c2" if restart else "c1", "cpu": web_cpu, "memory": web_mem},
                    {"name": "side", "containerID": "s1", "cpu": side_cpu, "memory": side_mem},
                ],
            },
            {"podRef": {"name": "empty", "namespace": "default", "uid": "u2"}, "containers": []},
        ],
    }


def test_parse_summary_reads_counters_at_microsecond_precision() -> None:
    scrape = m.parse_summary(summary("2024-01-01T00:00:00.250000Z", 7, node=9))
    assert scrape.node is not None and scrape.node.cpu_ns == 9 and scrape.node.memory == 2 << 30
    assert scrape.node.micros == 1_704_067_200_250_000
    assert scrape.system["pykube-agent"].cpu_ns == 7
    assert set(scrape.pods) == {("default", "web")}  # a pod without containers has nothing to report
    assert scrape.pods[("default", "web")].containers["app"].started == "c1"


def test_usage_between_two_scrapes_of_a_node_that_is_the_host() -> None:
    before = m.parse_summary(summary("2024-01-01T00:00:00Z", 0, node=0, app_cpu=0))
    after = m.parse_summary(summary("2024-01-01T00:00:10Z", 10**9, node=5 * 10**9, app_cpu=2 * 10**9))
    got = m.usage_between(before, after)
    assert got.node is not None and got.node.cpu_nanocores == 500_000_000  # the host's counter
    uid, containers = got.pods[("default", "web")]
    assert uid == "u1" and {n: u.cpu_nanocores for n, u in containers} == {"app": 200_000_000, "side": 200_000_000}


def test_a_node_that_is_not_the_host_adds_up_its_pods_and_the_agent() -> None:
    before = m.parse_summary(summary("2024-01-01T00:00:00Z", 0))
    after = m.parse_summary(summary("2024-01-01T00:00:10Z", 10**9, app_cpu=2 * 10**9))
    got = m.usage_between(before, after)
    assert got.node is not None
    assert got.node.cpu_nanocores == 100_000_000 + 2 * 200_000_000
    assert got.node.memory == (100 << 20) + (10 << 20) + (5 << 20)


def test_a_pod_with_a_restarted_container_waits_for_the_next_scrape() -> None:
    before = m.parse_summary(summary("2024-01-01T00:00:00Z", 0))
    after = m.parse_summary(summary("2024-01-01T00:00:10Z", 10**9, restart=True, app_cpu=10**9))
    assert m.usage_between(before, after).pods == {}


def test_history_keeps_the_last_points_in_order_once_each() -> None:
    ring = m.History(3)
    for second in range(5):
        ring.add(usage(second, 0, at=1000.0 + second))
    ring.add(usage(99, 0, at=1004.0))  # the same scrape again
    assert [p.timestamp for p in ring.points] == [1002.0, 1003.0, 1004.0]
    assert [p.cpu_nanocores for p in ring.since(1003.0)] == [3, 4]
    assert m.history_points([usage(7, 8, window=14.9991, at=1_700_000_000.0)]) == [
        {"timestamp": "2023-11-14T22:13:20Z", "window": 14.999, "cpuNanoCores": 7, "memoryBytes": 8}
    ]
