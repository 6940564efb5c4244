"""Inter-pod affinity, anti-affinity and topology spread: the scheduler's pure filters, scores,
messages and preemption over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from minikube_py.model.podaffinity import (
    AFFINITY_RULES,
    ANTI_AFFINITY_RULES,
    EXISTING_ANTI_AFFINITY,
    SPREAD_MISSING_LABEL,
    SPREAD_RULES,
    Placement,
    pod_rules,
    prepare,
)
from minikube_py.model.preemption import find_candidate
from minikube_py.model.scheduling import NodeInfo, PodInfo, failure_message, find_feasible, pod_info, scores
from minikube_py.model.validation import validate_pod_spec

Obj = dict[str, Any]
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


def pod(
    name: str, *, ns: str = "default", priority: int = 0, labels: Mapping[str, str] | None = None, **spec: Any
) -> Obj:
    md = {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": dict(labels or {})}
    return {"metadata": md, "spec": {"containers": [{"name": "c", "image": "nginx"}], "priority": priority, **spec}}


def node(name: str, zone: str | None = None, *, hostname: bool = True, **labels: str) -> NodeInfo:
    all_labels = {**labels, **({HOSTNAME: name} if hostname else {}), **({ZONE: zone} if zone else {})}
    info = NodeInfo(name)
    info.set_node(
        {
            "metadata": {"name": name, "labels": all_labels},
            "spec": {},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    return info


def term(key: str = HOSTNAME, **match: str) -> Obj:
    return {"labelSelector": {"matchLabels": match}, "topologyKey": key}


def anti(*terms: Obj) -> Obj:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def together(*terms: Obj) -> Obj:
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def place(target: NodeInfo, *pods: Obj) -> list[tuple[PodInfo, NodeInfo]]:
    """Put ``pods`` on ``target``; the holders (pods with affinity terms) among them."""
    infos = [pod_info(p) for p in pods]
    for info in infos:
        target.add(info)
    return [(i, target) for i in infos if i.rules is not None and i.rules.pairwise]


def decide(
    incoming: Obj,
    cluster: list[NodeInfo],
    holders: Iterable[tuple[PodInfo, NodeInfo]] = (),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[list[str], Placement | None, dict[str, Any]]:
    info = pod_info(incoming)
    placement = prepare(info, cluster, list(holders), lambda ns: (namespaces or {}).get(ns))
    search = find_feasible(info, cluster, 0, len(cluster), placement)
    return [n.name for n in search.feasible], placement, search.failures


def web(name: str, **spec: Any) -> Obj:
    return pod(name, labels={"app": "web"}, **spec)


# ------------------------------------------------------------------------------ parsing


def test_a_pod_without_rules_costs_nothing() -> None:
    plain = pod("p")
    assert pod_rules(plain) is None
    n1 = node("n1")
    place(n1, pod("q"))
    assert prepare(pod_info(plain), [n1], [], lambda _ns: None) is None


# ------------------------------------------------------------------------------ anti-affinity


def test_required_anti_affinity_on_hostname_puts_one_replica_per_node() -> None:
    n1, n2, n3 = node("n1"), node("n2"), node("n3")
    place(n1, web("a"))
    place(n2, web("b"))
    feasible, _, failures = decide(web("c", affinity=anti(term(app="web"))), [n1, n2, n3])
    assert feasible == ["n3"]
    assert failures["n1"].reasons == (ANTI_AFFINITY_RULES,)
    place(n3, web("c"))
    feasible, _, failures = decide(web("d", affinity=anti(term(app="web"))), [n1, n2, n3])
    assert feasible == []
    assert failure_message(3, failures.values(), can_preempt=False) == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. "
        "preemption: not eligible due to preemptionPolicy=Never."
    )


def test_anti_affinity_in_a_zone_and_a_node_without_the_key_cannot_conflict() -> None:
    a1, a2, b1, bare = node("a1", "a"), node("a2", "a"), node("b1", "b"), node("bare", hostname=False)
    place(a1, web("a"))
    feasible, _, _ = decide(web("c", affinity=anti(term(ZONE, app="web"))), [a1, a2, b1, bare])
    assert feasible == ["b1", "bare"]


def test_existing_pods_anti_affinity_keeps_matching_pods_away() -> None:
    n1, n2 = node("n1"), node("n2")
    holders = place(n1, pod("loner", affinity=anti(term(app="web"))))
    feasible, _, failures = decide(web("w"), [n1, n2], holders)
    assert feasible == ["n2"]
    assert failures["n1"].reasons == (EXISTING_ANTI_AFFINITY,)
    feasible, _, _ = decide(pod("other", labels={"app": "db"}), [n1, n2], holders)
    assert feasible == ["n1", "n2"]


def test_terms_look_in_the_pods_namespace_unless_told_otherwise() -> None:
    n1, n2 = node("n1"), node("n2")
    place(n1, pod("elsewhere", ns="prod", labels={"app": "web"}))
    own = term(app="web")
    assert decide(web("w", affinity=anti(own)), [n1, n2])[0] == ["n1", "n2"]
    everywhere = {**own, "namespaceSelector": {}}
    assert decide(web("w", affinity=anti(everywhere)), [n1, n2])[0] == ["n2"]
    listed = {**own, "namespaces": ["prod"]}
    assert decide(web("w", affinity=anti(listed)), [n1, n2])[0] == ["n2"]
    by_label = {**own, "namespaceSelector": {"matchLabels": {"env": "prod"}}}
    assert decide(web("w", affinity=anti(by_label)), [n1, n2], namespaces={"prod": {"env": "prod"}})[0] == ["n2"]
    assert decide(web("w", affinity=anti(by_label)), [n1, n2], namespaces={"prod": {"env": "dev"}})[0] == ["n1", "n2"]


def test_mismatch_label_keys_keep_apart_only_other_tenants() -> None:
    n1, n2 = node("n1"), node("n2")
    place(n1, pod("a", labels={"app": "web", "tenant": "x"}))
    place(n2, pod("b", labels={"app": "web", "tenant": "y"}))
    rule = {**term(app="web"), "mismatchLabelKeys": ["tenant"]}
    incoming = pod("c", labels={"app": "web", "tenant": "x"}, affinity=anti(rule))
    assert decide(incoming, [n1, n2])[0] == ["n1"]


# ------------------------------------------------------------------------------ affinity


def test_required_affinity_follows_the_app_through_its_zone() -> None:
    a1, a2, b1, bare = node("a1", "a"), node("a2", "a"), node("b1", "b"), node("bare", hostname=False)
    place(a1, pod("db", labels={"app": "db"}))
    feasible, _, failures = decide(pod("api", affinity=together(term(ZONE, app="db"))), [a1, a2, b1, bare])
    assert feasible == ["a1", "a2"]
    assert failures["b1"] == failures["bare"]
    assert failures["b1"].reasons == (AFFINITY_RULES,) and not failures["b1"].resolvable


def test_the_first_pod_of_a_self_affine_group_may_go_anywhere() -> None:
    n1, n2 = node("n1"), node("n2")
    group = term(app="web")
    assert decide(web("first", affinity=together(group)), [n1, n2])[0] == ["n1", "n2"]
    # a pod that does not match its own term has no such licence
    assert decide(pod("stranger", affinity=together(group)), [n1, n2])[0] == []
    place(n2, web("first"))
    assert decide(web("second", affinity=together(group)), [n1, n2])[0] == ["n2"]


# ------------------------------------------------------------------------------ spread


def spread(key: str = ZONE, skew: int = 1, when: str = "DoNotSchedule", **extra: Any) -> list[Obj]:
    return [
        {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
            **extra,
        }
    ]


def test_spread_within_max_skew_over_zones() -> None:
    a1, a2, b1 = node("a1", "a"), node("a2", "a"), node("b1", "b")
    place(a1, web("w1"))
    feasible, _, failures = decide(web("w2", topologySpreadConstraints=spread()), [a1, a2, b1])
    assert feasible == ["b1"]
    assert failures["a2"].reasons == (SPREAD_RULES,) and failures["a2"].resolvable
    assert decide(web("w2", topologySpreadConstraints=spread(skew=2)), [a1, a2, b1])[0] == ["a1", "a2", "b1"]


def test_min_domains_counts_missing_domains_as_empty() -> None:
    a1, b1 = node("a1", "a"), node("b1", "b")
    place(a1, web("w1"))
    place(b1, web("w2"))
    assert decide(web("w3", topologySpreadConstraints=spread()), [a1, b1])[0] == ["a1", "b1"]
    assert decide(web("w3", topologySpreadConstraints=spread(minDomains=3)), [a1, b1])[0] == []


def test_a_node_without_the_topology_key_fails_spread() -> None:
    a1, bare = node("a1", "a"), node("bare")
    feasible, _, failures = decide(web("w", topologySpreadConstraints=spread()), [a1, bare])
    assert feasible == ["a1"]
    assert failures["bare"].reasons == (SPREAD_MISSING_LABEL,) and not failures["bare"].resolvable


def test_spread_counts_only_nodes_the_pod_may_use() -> None:
    a1, b1 = node("a1", "a", disk="ssd"), node("b1", "b")
    place(a1, web("w1"))

    def verdict(**policy: str) -> tuple[str, bool] | None:
        incoming = web("w2", nodeSelector={"disk": "ssd"}, topologySpreadConstraints=spread(**policy))
        placement = prepare(pod_info(incoming), [a1, b1], [], lambda _ns: None)
        assert placement is not None
        return placement.failure(a1)

    # zone b is not the pod's to use, so a is the only domain and its skew is 0 (Honor, the default)
    assert verdict() is None
    # counted anyway, empty zone b makes the skew on a1 2
    assert verdict(nodeAffinityPolicy="Ignore") == (SPREAD_RULES, True)


# ------------------------------------------------------------------------------ scores


def preferred(kind: str, weight: int, rule: Obj) -> Obj:
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": rule}]}}


def test_preferred_affinity_and_anti_affinity_score() -> None:
    n1, n2 = node("n1"), node("n2")
    place(n1, pod("db", labels={"app": "db"}))
    near = pod_info(pod("api", affinity=preferred("podAffinity", 50, term(app="db"))))
    far = pod_info(pod("api", affinity=preferred("podAntiAffinity", 50, term(app="db"))))
    for info in (near, far):
        placement = prepare(info, [n1, n2], [], lambda _ns: None)
        assert placement is not None
        totals = scores(info, [n1, n2], placement)
        assert (totals[0] > totals[1]) == (info is near)
        assert placement.affinity_scores([n1, n2]) == ([100, 0] if info is near else [0, 100])


def test_schedule_anyway_prefers_the_emptier_zone() -> None:
    a1, b1 = node("a1", "a"), node("b1", "b")
    place(a1, web("w1"), web("w2"))
    info = pod_info(web("w3", topologySpreadConstraints=spread(when="ScheduleAnyway")))
    placement = prepare(info, [a1, b1], [], lambda _ns: None)
    assert placement is not None and placement.spread == []
    spread_scores = placement.spread_scores([a1, b1])
    assert spread_scores is not None and spread_scores[1] == 100 and spread_scores[0] < spread_scores[1]
    totals = scores(info, [a1, b1], placement)
    assert totals[1] > totals[0]


# ------------------------------------------------------------------------------ preemption


def test_preemption_evicts_the_lower_priority_pod_in_the_way() -> None:
    n1, n2 = node("n1"), node("n2")
    place(n1, web("low", priority=1), pod("bystander", priority=1))
    place(n2, web("high", priority=100))
    incoming = pod_info(web("vip", priority=50, affinity=anti(term(app="web"))))
    placement = prepare(incoming, [n1, n2], [], lambda _ns: None)
    search = find_feasible(incoming, [n1, n2], 0, 2, placement)
    assert search.feasible == []
    assert search.failures["n1"].resolvable and search.failures["n2"].resolvable
    # on n2 the pod in the way has the higher priority: no victims there
    candidate = find_candidate(incoming, [n1, n2], placement=placement)
    assert candidate is not None and candidate.node == "n1"
    assert [v.key for v in candidate.victims] == ["default/low"]
    assert find_candidate(incoming, [n2], placement=placement) is None


# ------------------------------------------------------------------------------ validation


def test_bad_rules_are_invalid_with_kubernetes_messages() -> None:
    rules = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}],
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "podAffinityTerm": term()}],
            }
        },
        "topologySpreadConstraints": [
            {"maxSkew": 0, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": "Maybe"},
            {"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2},
        ],
    }
    errors = validate_pod_spec({"containers": [{"name": "c", "image": "nginx"}], **rules}, "spec")
    anti_path = "spec.affinity.podAntiAffinity"
    spread_path = "spec.topologySpreadConstraints"
    assert {(e.field, e.message) for e in errors if "affinity" in e.field or "topology" in e.field} == {
        (
            f"{anti_path}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
            "Required value: can not be empty",
        ),
        (
            f"{anti_path}.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
            "Invalid value: 0: must be in the range 1-100",
        ),
        (f"{spread_path}[0].maxSkew", "Invalid value: 0: must be greater than zero"),
        (f"{spread_path}[1].nodeTaintsPolicy", 'Unsupported value: "Maybe": supported values: "Honor", "Ignore"'),
        (f"{spread_path}[1]", f'Duplicate value: "{{{ZONE}, DoNotSchedule}}"'),
        (f"{spread_path}[2].topologyKey", "Required value: can not be empty"),
        (
            f"{spread_path}[2].minDomains",
            "Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway",
        ),
    }


def test_placed_pods_preferences_score_the_incoming_pod() -> None:
    n1, n2, n3 = node("n1"), node("n2"), node("n3")
    holders = place(n1, pod("likes-web", affinity=preferred("podAffinity", 80, term(app="web"))))
    holders += place(n2, pod("hates-web", affinity=preferred("podAntiAffinity", 80, term(app="web"))))
    placement = prepare(pod_info(web("w")), [n1, n2, n3], holders, lambda _ns: None)
    assert placement is not None and placement.failure(n2) is None
    assert placement.affinity_scores([n1, n2, n3]) == [100, 0, 50]
    assert prepare(pod_info(pod("db", labels={"app": "db"})), [n1, n2, n3], holders, lambda _ns: None) is None


def test_affinity_wants_one_pod_matching_all_its_terms() -> None:
    a1, b1 = node("a1", "a"), node("b1", "b")
    place(a1, pod("db", labels={"app": "db"}), pod("cache", labels={"tier": "cache"}))
    place(b1, pod("db-cache", labels={"app": "db", "tier": "cache"}))
    terms = together(term(ZONE, app="db"), term(ZONE, tier="cache"))
    assert decide(pod("api", affinity=terms), [a1, b1])[0] == ["b1"]
