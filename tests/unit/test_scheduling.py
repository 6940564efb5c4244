"""The scheduler's pure decisions: requests, filters and their Kubernetes reasons, scores, sampling
and the FailedScheduling message."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from prometheus_client import REGISTRY

from minikube_py.client.errors import ConflictError
from minikube_py.client.watching import WatchEvent
from minikube_py.model.scheduling import (
    AFFINITY_MISMATCH,
    NO_NODES,
    NODE_NOT_READY,
    NODE_UNSCHEDULABLE,
    PORTS_TAKEN,
    TOO_MANY_PODS,
    Failure,
    ImageCensus,
    NodeInfo,
    Port,
    dynamic_failure,
    failure_message,
    feasible_nodes_to_find,
    find_feasible,
    node_failure,
    node_fingerprint,
    pod_info,
    pod_requests,
    scores,
    select_host,
    static_failure,
)
from minikube_py.reconcilers.scheduler import INITIAL_BACKOFF, Scheduler

Obj = dict[str, Any]


def make_pod(
    name: str = "p", *, cpu: str | None = None, memory: str | None = None, owner: str | None = None, **spec: Any
) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "c", "image": "nginx"}
    if requests:
        container["resources"] = {"requests": requests}
    md: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if owner:
        md["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner, "controller": True}
        ]
    return {"metadata": md, "spec": {"containers": [container], **spec}}


def make_node(
    name: str = "n1",
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    ready: str = "True",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
) -> NodeInfo:
    node = {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": "t0"}],
        },
    }
    info = NodeInfo(name)
    info.set_node(node)
    return info


def with_pods(node: NodeInfo, *pods: Obj) -> NodeInfo:
    for pod in pods:
        node.add(pod_info(pod))
    return node


def with_images(node: NodeInfo, *images: tuple[list[str], int]) -> NodeInfo:
    """The node reporting these (names, size) in status.images."""
    assert node.node is not None
    node.node["status"]["images"] = [{"names": names, "sizeBytes": size} for names, size in images]
    node.set_node(node.node)
    return node


# ------------------------------------------------------------------------------ requests


def test_requests_sum_containers_and_take_the_largest_init_container() -> None:
    spec = {
        "containers": [
            {"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            {"resources": {"requests": {"cpu": "200m"}}},
        ],
        "initContainers": [
            {"resources": {"requests": {"cpu": "1", "memory": "32Mi"}}},
            {"resources": {"requests": {"cpu": "50m"}}},
        ],
    }
    assert pod_requests(spec) == {"cpu": 1000, "memory": 64 * 2**20}


def test_sidecars_add_up_and_overhead_comes_on_top() -> None:
    spec = {
        "containers": [{"resources": {"requests": {"cpu": "100m"}}}],
        "initContainers": [
            {"restartPolicy": "Always", "resources": {"requests": {"cpu": "300m"}}},
            {"resources": {"requests": {"cpu": "350m"}}},
        ],
        "overhead": {"cpu": "10m", "memory": "1Ki"},
    }
    # sidecar 300m runs next to the app (400m); the plain init container ran next to the sidecar (650m)
    assert pod_requests(spec) == {"cpu": 650 + 10, "memory": 1024}


def test_pods_without_requests_count_as_nothing_for_filters_but_something_for_scores() -> None:
    info = pod_info(make_pod())
    assert (info.cpu, info.memory) == (0, 0)
    assert (info.score_cpu, info.score_memory) == (100, 200 * 2**20)


# ------------------------------------------------------------------------------ filters


def test_a_ready_untainted_node_fits() -> None:
    assert node_failure(pod_info(make_pod(cpu="1")), make_node()) is None


def test_cordoned_node_is_unschedulable_unless_tolerated() -> None:
    node = make_node(unschedulable=True)
    assert static_failure(pod_info(make_pod()), node) == Failure((NODE_UNSCHEDULABLE,), False)
    tolerant = make_pod(
        tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    )
    assert static_failure(pod_info(tolerant), node) is None


def test_not_ready_node_is_filtered() -> None:
    assert static_failure(pod_info(make_pod()), make_node(ready="Unknown")) == Failure((NODE_NOT_READY,), False)


CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize("taint", [CONTROL_PLANE, {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}])
def test_untolerated_taints_keep_pods_off(taint: Obj) -> None:
    failure = static_failure(pod_info(make_pod()), make_node(taints=[taint]))
    assert failure == Failure((f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}",), False)


@pytest.mark.parametrize(
    "toleration",
    [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists"},
        {"operator": "Exists"},
        {"key": "dedicated", "value": "gpu"},  # operator defaults to Equal, an empty effect matches all
    ],
)
def test_tolerations_that_match(toleration: Obj) -> None:
    node = make_node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    assert static_failure(pod_info(make_pod(tolerations=[toleration])), node) is None


@pytest.mark.parametrize(
    "toleration",
    [
        {"key": "dedicated", "operator": "Equal", "value": "cpu", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
        {"key": "other", "operator": "Exists"},
    ],
)
def test_tolerations_that_do_not_match(toleration: Obj) -> None:
    node = make_node(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    assert static_failure(pod_info(make_pod(tolerations=[toleration])), node) is not None


def test_prefer_no_schedule_taints_do_not_filter() -> None:
    node = make_node(taints=[{"key": "soft", "effect": "PreferNoSchedule"}])
    assert static_failure(pod_info(make_pod()), node) is None


def test_node_selector() -> None:
    pod = pod_info(make_pod(nodeSelector={"disk": "ssd"}))
    assert static_failure(pod, make_node(labels={"disk": "ssd", "zone": "a"})) is None
    assert static_failure(pod, make_node(labels={"disk": "hdd"})) == Failure((AFFINITY_MISMATCH,), False)


def affinity(*terms: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize(
    ("expression", "labels", "fits"),
    [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "In", "values": ["a"]}, {}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "b"}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, {"zone": "a"}, False),
        ({"key": "gpu", "operator": "Exists"}, {"gpu": ""}, True),
        ({"key": "gpu", "operator": "Exists"}, {}, False),
        ({"key": "gpu", "operator": "DoesNotExist"}, {}, True),
        ({"key": "gpu", "operator": "DoesNotExist"}, {"gpu": "1"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["4"]}, {"cores": "8"}, True),
        ({"key": "cores", "operator": "Gt", "values": ["4"]}, {"cores": "4"}, False),
        ({"key": "cores", "operator": "Lt", "values": ["4"]}, {"cores": "2"}, True),
        ({"key": "cores", "operator": "Lt", "values": ["4"]}, {"cores": "many"}, False),
        ({"key": "cores", "operator": "Gt", "values": ["4"]}, {}, False),
    ],
)
def test_required_node_affinity_operators(expression: Obj, labels: dict[str, str], fits: bool) -> None:
    pod = pod_info(make_pod(affinity=affinity({"matchExpressions": [expression]})))
    assert (static_failure(pod, make_node(labels=labels)) is None) is fits


def test_node_selector_terms_are_ored_and_expressions_anded() -> None:
    pod = pod_info(
        make_pod(
            affinity=affinity(
                {
                    "matchExpressions": [
                        {"key": "zone", "operator": "In", "values": ["a"]},
                        {"key": "disk", "operator": "In", "values": ["ssd"]},
                    ]
                },
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
            )
        )
    )
    assert static_failure(pod, make_node(labels={"zone": "a", "disk": "ssd"})) is None
    assert static_failure(pod, make_node(labels={"zone": "a", "disk": "hdd"})) is not None
    assert static_failure(pod, make_node(labels={"zone": "b"})) is None


def test_match_fields_on_the_node_name_and_empty_terms_match_nothing() -> None:
    pod = pod_info(
        make_pod(affinity=affinity({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}))
    )
    assert static_failure(pod, make_node("n2")) is None
    assert static_failure(pod, make_node("n1")) is not None
    assert static_failure(pod_info(make_pod(affinity=affinity({}))), make_node()) is not None


def test_selector_and_affinity_must_both_hold() -> None:
    pod = pod_info(
        make_pod(
            nodeSelector={"disk": "ssd"},
            affinity=affinity({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
        )
    )
    assert static_failure(pod, make_node(labels={"disk": "ssd"})) is not None
    assert static_failure(pod, make_node(labels={"disk": "ssd", "zone": "a"})) is None


def port_pod(name: str, port: int, protocol: str = "TCP", ip: str | None = None) -> Obj:
    spec_port: Obj = {"containerPort": 80, "hostPort": port, "protocol": protocol}
    if ip:
        spec_port["hostIP"] = ip
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "ports": [spec_port, {"containerPort": 9000}]}]},
    }


@pytest.mark.parametrize(
    ("taken", "wanted", "conflict"),
    [
        (port_pod("a", 8080), port_pod("b", 8080), True),
        (port_pod("a", 8080), port_pod("b", 8081), False),
        (port_pod("a", 8080), port_pod("b", 8080, "UDP"), False),
        (port_pod("a", 8080, ip="10.0.0.1"), port_pod("b", 8080, ip="10.0.0.2"), False),
        (port_pod("a", 8080, ip="10.0.0.1"), port_pod("b", 8080), True),
        (port_pod("a", 8080), port_pod("b", 8080, ip="10.0.0.2"), True),
    ],
)
def test_host_port_conflicts(taken: Obj, wanted: Obj, conflict: bool) -> None:
    node = with_pods(make_node(), taken)
    failure = dynamic_failure(pod_info(wanted), node)
    assert failure == (Failure((PORTS_TAKEN,), True) if conflict else None)


def test_container_ports_without_host_port_claim_nothing() -> None:
    assert pod_info(port_pod("a", 8080)).ports == (Port("0.0.0.0", "TCP", 8080),)


def test_resources_count_what_is_bound_and_report_each_shortage() -> None:
    node = with_pods(make_node(cpu="2", memory="1Gi"), make_pod("a", cpu="1500m", memory="512Mi"))
    assert dynamic_failure(pod_info(make_pod(cpu="500m", memory="512Mi")), node) is None
    assert dynamic_failure(pod_info(make_pod(cpu="600m")), node) == Failure(("Insufficient cpu",), True)
    assert dynamic_failure(pod_info(make_pod(cpu="1", memory="600Mi")), node) == Failure(
        ("Insufficient cpu", "Insufficient memory"), True
    )


def scalar_pod(name: str, **requests: str) -> Obj:
    """A pod asking for resources beyond cpu and memory (``example_com__dongle`` stands for
    ``example.com/dongle``)."""
    wanted = {key.replace("__", "/").replace("_", "."): amount for key, amount in requests.items()}
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": wanted}}]},
    }


def scalar_node(**allocatable: str) -> NodeInfo:
    node = make_node()
    assert node.node is not None
    extra = {key.replace("__", "/").replace("_", "."): amount for key, amount in allocatable.items()}
    node.node["status"]["allocatable"].update(extra)
    node.set_node(node.node)
    return node


def test_extended_resources_ephemeral_storage_and_hugepages_are_counted_on_the_node() -> None:
    node = scalar_node(example_com__dongle="4", **{"ephemeral-storage": "10Gi", "hugepages-2Mi": "0"})
    assert node.allocatable_scalars == {"example.com/dongle": 4, "ephemeral-storage": 10 * 2**30, "hugepages-2Mi": 0}
    with_pods(node, scalar_pod("a", example_com__dongle="3", **{"ephemeral-storage": "8Gi"}))
    assert node.scalars == {"example.com/dongle": 3, "ephemeral-storage": 8 * 2**30}
    assert dynamic_failure(pod_info(scalar_pod("b", example_com__dongle="1")), node) is None
    assert dynamic_failure(pod_info(scalar_pod("c", example_com__dongle="2")), node) == Failure(
        ("Insufficient example.com/dongle",), True
    )
    assert dynamic_failure(
        pod_info(scalar_pod("d", example_com__dongle="5", **{"ephemeral-storage": "3Gi"})), node
    ) == Failure(("Insufficient ephemeral-storage", "Insufficient example.com/dongle"), False)
    # a resource the node does not report at all: none of it there
    assert dynamic_failure(pod_info(scalar_pod("e", nvidia_com__gpu="1")), node) == Failure(
        ("Insufficient nvidia.com/gpu",), False
    )
    node.remove("default/a")
    assert node.scalars == {"example.com/dongle": 0, "ephemeral-storage": 0}
    assert find_feasible(pod_info(scalar_pod("f", example_com__dongle="4")), [node], 0, 1).feasible == [node]
    assert find_feasible(pod_info(scalar_pod("g", example_com__dongle="5")), [node], 0, 1).feasible == []


def test_scalar_requests_follow_the_init_container_and_sidecar_rules() -> None:
    spec = {
        "containers": [{"resources": {"requests": {"example.com/dongle": "1", "ephemeral-storage": "1Gi"}}}],
        "initContainers": [
            {"restartPolicy": "Always", "resources": {"requests": {"ephemeral-storage": "512Mi"}}},
            {"resources": {"requests": {"example.com/dongle": "3"}}},
        ],
    }
    assert pod_requests(spec) == {"example.com/dongle": 3, "ephemeral-storage": 1536 * 2**20}
    assert pod_info({"metadata": {"name": "p"}, "spec": spec}).scalars == (
        ("ephemeral-storage", 1536 * 2**20),
        ("example.com/dongle", 3),
    )


def test_a_request_larger_than_the_whole_node_is_unresolvable() -> None:
    assert dynamic_failure(pod_info(make_pod(cpu="5")), make_node(cpu="4")) == Failure(("Insufficient cpu",), False)


def test_pod_count_limit() -> None:
    node = with_pods(make_node(pods="2"), make_pod("a"), make_pod("b"))
    assert dynamic_failure(pod_info(make_pod("c")), node) == Failure((TOO_MANY_PODS,), True)


def test_removing_a_pod_frees_its_share() -> None:
    node = with_pods(make_node(cpu="1", pods="1"), port_pod("a", 80), make_pod("b", cpu="1", owner="rs"))
    assert (len(node.pods), node.cpu, node.owners["rs"]) == (2, 1000, 1)
    node.remove("default/a")
    node.remove("default/b")
    node.remove("default/missing")
    assert (node.pods, node.cpu, node.score_cpu, node.ports, dict(node.owners)) == ({}, 0, 0, [], {})
    assert node_failure(pod_info(port_pod("c", 80)), node) is None


def test_adding_the_same_pod_twice_counts_it_once() -> None:
    node = with_pods(make_node(), make_pod("a", cpu="1"), make_pod("a", cpu="1"))
    assert (len(node.pods), node.cpu) == (1, 1000)


def test_node_fingerprint_ignores_heartbeats() -> None:
    a = make_node().node
    assert a is not None
    b = {**a, "status": {**a["status"], "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}]}}
    assert node_fingerprint(a) == node_fingerprint(b)
    c = {**a, "spec": {"taints": [CONTROL_PLANE]}}
    assert node_fingerprint(a) != node_fingerprint(c)


# ------------------------------------------------------------------------------ sampling


@pytest.mark.parametrize(
    ("total", "percentage", "wanted"),
    [
        (3, 0, 3),
        (99, 0, 99),
        (100, 0, 100),
        (200, 0, 100),
        (1000, 0, 420),
        (5000, 0, 500),
        (50_000, 0, 2500),
        (1000, 10, 100),
        (1000, 30, 300),
        (1000, 100, 1000),
    ],
)
def test_how_many_feasible_nodes_to_look_for(total: int, percentage: int, wanted: int) -> None:
    assert feasible_nodes_to_find(total, percentage) == wanted


def test_search_stops_after_enough_feasible_nodes_and_wraps_around() -> None:
    nodes = [make_node(f"n{i}") for i in range(10)]
    search = find_feasible(pod_info(make_pod()), nodes, start=8, wanted=3)
    assert [n.name for n in search.feasible] == ["n8", "n9", "n0"]
    assert search.examined == 3


def test_search_reports_every_failure_when_nothing_fits() -> None:
    nodes = [make_node("a", cpu="1"), make_node("b", cpu="2")]
    search = find_feasible(pod_info(make_pod(cpu="3")), nodes, start=0, wanted=2)
    assert search.feasible == []
    assert set(search.failures) == {"a", "b"}
    assert search.examined == 2


# ------------------------------------------------------------------------------ scores


def test_siblings_spread_over_nodes() -> None:
    busy = with_pods(make_node("busy"), make_pod("a", owner="rs1"))
    idle = with_pods(make_node("idle"), make_pod("b", owner="rs2"))  # same load, other owner
    pod = pod_info(make_pod("new", owner="rs1"))
    assert select_host(pod, [busy, idle]).name == "idle"


def test_least_allocated_node_wins() -> None:
    loaded = with_pods(make_node("loaded"), make_pod("a", cpu="3", memory="6Gi"))
    empty = make_node("empty")
    total = scores(pod_info(make_pod(cpu="100m")), [loaded, empty])
    assert total[1] > total[0]


def test_least_allocated_uses_non_zero_defaults_for_pods_without_requests() -> None:
    crowded = with_pods(make_node("crowded", cpu="1", memory="1Gi"), *(make_pod(f"p{i}") for i in range(3)))
    assert select_host(pod_info(make_pod()), [crowded, make_node("fresh", cpu="1", memory="1Gi")]).name == "fresh"


def test_prefer_no_schedule_taints_score_lower() -> None:
    soft = make_node("soft", taints=[{"key": "soft", "effect": "PreferNoSchedule"}])
    plain = make_node("plain")
    assert select_host(pod_info(make_pod()), [soft, plain]).name == "plain"
    tolerant = make_pod(tolerations=[{"key": "soft", "operator": "Exists"}])
    assert scores(pod_info(tolerant), [soft, plain])[0] == scores(pod_info(tolerant), [soft, plain])[1]


def test_preferred_node_affinity_scores_higher() -> None:
    pod = make_pod(
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 10,
                        "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                    }
                ]
            }
        }
    )
    ssd, hdd = make_node("ssd", labels={"disk": "ssd"}), make_node("hdd", labels={"disk": "hdd"})
    assert select_host(pod_info(pod), [hdd, ssd]).name == "ssd"


def test_ties_are_broken_at_random() -> None:
    nodes = [make_node(f"n{i}") for i in range(4)]
    rng = random.Random(1)
    chosen = {select_host(pod_info(make_pod()), nodes, rng).name for _ in range(50)}
    assert chosen == {"n0", "n1", "n2", "n3"}


# ------------------------------------------------------------------------------ the message


def taint_failure(key: str) -> Failure:
    return Failure((f"node(s) had untolerated taint {{{key}: }}",), False)


def test_failure_message_groups_and_sorts_reasons_as_kubernetes_does() -> None:
    failures = [
        taint_failure("node-role.kubernetes.io/control-plane"),
        Failure(("Insufficient cpu",), True),
        Failure(("Insufficient cpu",), True),
    ]
    assert failure_message(3, failures) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )


def test_failure_message_counts_every_reason_of_a_node() -> None:
    failures = [
        Failure(("Insufficient cpu", "Insufficient memory"), True),
        Failure(("Insufficient memory",), True),
        Failure((PORTS_TAKEN,), True),
    ]
    assert failure_message(3, failures) == (
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't have free ports for the requested pod "
        "ports, 2 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for "
        "incoming pod."
    )


def test_failure_message_for_unresolvable_reasons_and_no_preemption() -> None:
    failures = [Failure((AFFINITY_MISMATCH,), False), Failure((NODE_UNSCHEDULABLE,), False)]
    assert failure_message(2, failures) == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were "
        "unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
    assert failure_message(2, failures, can_preempt=False).endswith(
        "unschedulable. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_failure_message_without_nodes() -> None:
    assert failure_message(0, []) == NO_NODES == "no nodes available to schedule pods"


# ------------------------------------------------------------------------------ the controller's cache


class FakeClient:
    """Records what the scheduler writes; bindings fail with ``binding_error`` when set."""

    def __init__(self) -> None:
        self.bindings: list[tuple[str, str]] = []
        self.patches: list[tuple[str, Any]] = []
        self.deletions: list[tuple[str, str | None]] = []
        self.events: list[tuple[str, str, str]] = []
        self.binding_error: Exception | None = None

    async def create(self, path: str, body: Obj) -> Obj:
        if path.endswith("/binding"):
            if self.binding_error is not None:
                raise self.binding_error
            self.bindings.append((body["metadata"]["name"], body["target"]["name"]))
        elif body.get("kind") == "Event":
            self.events.append((body["involvedObject"]["name"], body["reason"], body["message"]))
        return {}

    async def delete(self, path: str, *, uid: str | None = None, **_: Any) -> Obj:
        self.deletions.append((path, uid))
        return {}

    async def patch(self, path: str, body: Any, *_: Any, **__: Any) -> Obj:
        self.patches.append((path, body))
        return {}


def feed(informer: Any, obj: Obj, event: str = "ADDED") -> None:
    informer._apply(WatchEvent(event, obj))  # what the watch would deliver


def scheduler_with(*nodes: NodeInfo) -> tuple[Scheduler, FakeClient]:
    client = FakeClient()
    scheduler = Scheduler(client, rng=random.Random(0))  # type: ignore[arg-type]
    for node in nodes:
        assert node.node is not None
        feed(scheduler.nodes, node.node)
    return scheduler, client


async def settle(scheduler: Scheduler) -> None:
    while len(scheduler.queue):
        key = await scheduler.queue.get()
        await scheduler.reconcile(key)
        scheduler.queue.done(key)
    await asyncio.sleep(0)
    await asyncio.gather(*scheduler._tasks, *scheduler._events)


async def test_assumed_pods_count_before_their_binding_is_seen() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"), make_node("b", cpu="1"))
    for name in ("p1", "p2", "p3"):
        feed(scheduler.pods, make_pod(name, cpu="600m"))
    await settle(scheduler)
    assert sorted(node for _, node in client.bindings) == ["a", "b"]  # never both on one node
    unbound = ({"p1", "p2", "p3"} - {pod for pod, _ in client.bindings}).pop()
    path, body = client.patches[-1]
    assert path == f"/api/v1/namespaces/default/pods/{unbound}/status"
    condition = body["status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert condition["message"] == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
        "available: 2 No preemption victims found for incoming pod."
    )


async def test_a_failed_binding_forgets_the_assumption() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    client.binding_error = ConflictError({"code": 409, "reason": "Conflict", "message": "already assigned"})
    feed(scheduler.pods, make_pod("p1", cpu="600m"))
    await settle(scheduler)
    assert scheduler.node_infos["a"].cpu == 0
    assert scheduler.node_infos["a"].pods == {}


async def test_the_informer_confirms_and_releases_placements() -> None:
    scheduler, _ = scheduler_with(make_node("a", cpu="1"))
    pod = make_pod("p1", cpu="600m")
    feed(scheduler.pods, pod)
    await settle(scheduler)
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "a"}}
    feed(scheduler.pods, bound, "MODIFIED")
    assert scheduler.node_infos["a"].cpu == 600
    feed(scheduler.pods, {**bound, "status": {"phase": "Succeeded"}}, "MODIFIED")
    assert scheduler.node_infos["a"].cpu == 0


@pytest.mark.usefixtures("virtual_time")  # the back-off passes on the loop's clock, at once
async def test_unschedulable_pods_wait_for_a_change_then_retry_after_their_back_off() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    feed(scheduler.pods, make_pod("big", cpu="2"))
    await settle(scheduler)
    assert client.bindings == []
    pending = client.patches[-1][1]
    feed(scheduler.pods, {**make_pod("big", cpu="2"), "status": pending["status"]}, "MODIFIED")
    assert len(scheduler.queue) == 0  # its own condition is no reason to try again
    roomy = make_node("b", cpu="4").node
    assert roomy is not None
    feed(scheduler.nodes, roomy)
    await asyncio.sleep(INITIAL_BACKOFF + 0.1)
    await settle(scheduler)
    assert client.bindings == [("big", "b")]


# ------------------------------------------------------------------------------ priority and preemption


PREEMPTION_SAMPLES = ("scheduler_preemption_attempts_total", "scheduler_preemption_victims_sum")


def bound(pod: Obj, node: str) -> Obj:
    return {**pod, "spec": {**pod["spec"], "nodeName": node}}


async def test_higher_priority_pods_are_decided_first() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    for name, priority in (("low", 0), ("lower", -5), ("high", 100), ("also-high", 100)):
        feed(scheduler.pods, make_pod(name, cpu="400m", priority=priority))
    await settle(scheduler)
    # two fit: the two of priority 100, in the order they came
    assert client.bindings == [("high", "a"), ("also-high", "a")]


@pytest.mark.usefixtures("virtual_time")
async def test_a_pod_preempts_a_lower_priority_one_and_is_bound_once_it_is_gone() -> None:
    attempts, victims = (REGISTRY.get_sample_value(name) or 0 for name in PREEMPTION_SAMPLES)
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    victim = bound(make_pod("victim", cpu="600m", priority=0), "a")
    feed(scheduler.pods, victim)
    feed(scheduler.pods, bound(make_pod("peer", cpu="300m", priority=1000), "a"))
    feed(scheduler.pods, make_pod("urgent", cpu="600m", priority=1000))
    await settle(scheduler)
    assert client.bindings == []
    assert client.deletions == [("/api/v1/namespaces/default/pods/victim", "uid-victim")]
    (condition,) = next(b for p, b in client.patches if p.endswith("/victim/status"))["status"]["conditions"]
    assert (condition["type"], condition["reason"]) == ("DisruptionTarget", "PreemptionByScheduler")
    assert ("victim", "Preempted", "Preempted by pod uid-urgent on node a") in client.events
    status = next(b for p, b in client.patches if p.endswith("/urgent/status"))["status"]
    assert status["nominatedNodeName"] == "a"
    assert status["conditions"][0]["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    assert [REGISTRY.get_sample_value(name) for name in PREEMPTION_SAMPLES] == [attempts + 1, victims + 1]
    # the room stays the nominee's: a pod of lower priority arriving meanwhile does not take it
    feed(scheduler.pods, make_pod("latecomer", cpu="500m", priority=10))
    feed(scheduler.pods, victim, "DELETED")
    await asyncio.sleep(10)
    await settle(scheduler)
    assert client.bindings == [("urgent", "a")]


@pytest.mark.usefixtures("virtual_time")
async def test_a_nominated_pod_waits_for_its_terminating_victims() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    victim = bound(make_pod("victim", cpu="600m"), "a")
    feed(scheduler.pods, victim)
    urgent = make_pod("urgent", cpu="600m", priority=1000)
    feed(scheduler.pods, urgent)
    await settle(scheduler)
    assert len(client.deletions) == 1
    status = next(b for p, b in client.patches if p.endswith("/urgent/status"))["status"]
    terminating = {
        **victim,
        "metadata": {**victim["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"conditions": [{"type": "DisruptionTarget", "reason": "PreemptionByScheduler"}]},
    }
    feed(scheduler.pods, terminating, "MODIFIED")
    feed(scheduler.pods, {**urgent, "status": status}, "MODIFIED")
    scheduler.queue.add("default/urgent")
    await settle(scheduler)
    assert len(client.deletions) == 1  # not preempted again
    assert client.patches[-1][1]["status"]["conditions"][0]["message"] == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on "
        "the nominated node."
    )


async def test_pods_that_never_preempt_and_pods_with_nothing_to_evict() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    feed(scheduler.pods, bound(make_pod("running", cpu="600m", priority=0), "a"))
    feed(scheduler.pods, make_pod("polite", cpu="600m", priority=1000, preemptionPolicy="Never"))
    feed(scheduler.pods, make_pod("peer", cpu="600m", priority=0))
    await settle(scheduler)
    assert client.deletions == [] and client.bindings == []
    messages = {p.split("/")[-2]: b["status"]["conditions"][0]["message"] for p, b in client.patches}
    assert messages["polite"].endswith("preemption: not eligible due to preemptionPolicy=Never.")
    assert messages["peer"].endswith(
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


async def test_preemption_prefers_victims_whose_budget_allows_it() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"), make_node("b", cpu="1"))
    guarded = bound(make_pod("guarded", cpu="600m"), "a")
    guarded["metadata"]["labels"] = {"app": "db"}
    feed(scheduler.pods, guarded)
    feed(scheduler.pods, bound(make_pod("spare", cpu="600m"), "b"))
    feed(
        scheduler.budgets,
        {
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0},
        },
    )
    feed(scheduler.pods, make_pod("urgent", cpu="600m", priority=1000))
    await settle(scheduler)
    assert client.deletions == [("/api/v1/namespaces/default/pods/spare", "uid-spare")]


async def test_a_nomination_that_promises_no_room_is_cleared() -> None:
    scheduler, client = scheduler_with(make_node("a", cpu="1"))
    feed(scheduler.pods, bound(make_pod("boss", cpu="600m", priority=2000), "a"))
    feed(scheduler.pods, {**make_pod("urgent", cpu="600m", priority=1000), "status": {"nominatedNodeName": "a"}})
    await settle(scheduler)
    assert client.deletions == []
    status = client.patches[-1][1]["status"]
    assert status["nominatedNodeName"] is None
    assert status["conditions"][0]["message"].endswith("1 No preemption victims found for incoming pod.")
    assert set(scheduler.node_infos["a"].pods) == {"default/boss"}  # no room held for it


# ------------------------------------------------------------------------------ inter-pod rules


def labelled(pod: Obj, **labels: str) -> Obj:
    return {**pod, "metadata": {**pod["metadata"], "labels": labels}}


def hostname_anti(app: str) -> Obj:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


async def test_a_placed_pods_anti_affinity_binds_later_pods_until_it_goes() -> None:
    nodes = (make_node(n, labels={"kubernetes.io/hostname": n}) for n in ("a", "b"))
    scheduler, client = scheduler_with(*nodes)
    loner = bound(make_pod("loner", affinity=hostname_anti("web")), "a")
    feed(scheduler.pods, loner)
    assert list(scheduler._holders) == ["default/loner"]
    for i in range(3):
        feed(scheduler.pods, labelled(make_pod(f"web-{i}"), app="web"))
    await settle(scheduler)
    assert {node for _, node in client.bindings} == {"b"}
    feed(scheduler.pods, loner, "DELETED")
    assert scheduler._holders == {}


async def test_a_relabelled_pod_is_counted_with_its_new_labels() -> None:
    nodes = (make_node(n, labels={"kubernetes.io/hostname": n}) for n in ("a", "b"))
    scheduler, client = scheduler_with(*nodes)
    other = bound(labelled(make_pod("x"), app="other"), "a")
    feed(scheduler.pods, other)
    feed(scheduler.pods, labelled(other, app="web"), "MODIFIED")
    assert scheduler.node_infos["a"].pods["default/x"].labels == {"app": "web"}
    feed(scheduler.pods, labelled(make_pod("w", affinity=hostname_anti("web")), app="web"))
    await settle(scheduler)
    assert client.bindings == [("w", "b")]


# ------------------------------------------------------------------------------ image locality


def test_image_locality_scores_an_image_by_its_size_and_how_many_nodes_hold_it() -> None:
    mib = 1 << 20
    big = (["registry.local/app@sha256:ab", "registry.local/app:1"], 500 * mib)
    a = with_images(make_node("a"), big, (["nginx:latest"], 60 * mib))
    b = with_images(make_node("b"), big)
    c = make_node("c")
    census = ImageCensus()
    for node in (a, b, c):
        census.set(node.name, node.images)
    pod = pod_info(make_pod(containers=[{"name": "c", "image": "registry.local/app:1"}]))
    # 500Mi held by 2 nodes of 3 counts 2/3 of its size, scaled between 23Mi and 1000Mi per container
    assert census.scores(pod, [a, b, c]) == [31, 31, 0]
    # an untagged name is the :latest one; init containers count, and raise the ceiling too
    both = pod_info(
        make_pod(
            initContainers=[{"name": "i", "image": "nginx"}],
            containers=[{"name": "c", "image": "registry.local/app:1"}],
        )
    )
    assert census.scores(both, [a, b, c]) == [16, 15, 0]
    assert census.scores(pod_info(make_pod()), [a, b, c]) is not None  # make_pod's nginx: on node a
    assert census.scores(pod_info(make_pod(containers=[{"name": "c", "image": "elsewhere:2"}])), [a, b, c]) is None
    # with all else equal, the pod goes where its image is
    assert select_host(pod, [c, a], random.Random(1), images=census).name == "a"
    census.set("a", None)
    census.set("b", None)
    assert census.nodes == 1 and census.scores(pod, [a, b, c]) is None
    # a node reporting other images is news for the scheduler
    before = node_fingerprint(c.node or {})
    assert node_fingerprint(with_images(c, big).node or {}) != before
