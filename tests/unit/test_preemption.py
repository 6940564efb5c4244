"""Preemption's pure choices: the victims on a node, the node among candidates, disruption budgets,
nominated pods, and when a nominated pod waits rather than preempting again."""

from __future__ import annotations

from typing import Any

from minikube_py.model.preemption import (
    Candidate,
    allowed_disruptions,
    budgets_covering,
    choose,
    find_candidate,
    fits_without,
    preempted_condition,
    select_victims,
    terminating_by_preemption,
    waits_for_victims,
)
from minikube_py.model.scheduling import NodeInfo, PodInfo, pod_info

Obj = dict[str, Any]


def pod(name: str, priority: int = 0, cpu: str = "500m", host_port: int = 0, **labels: str) -> Obj:
    container: Obj = {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    return {
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [container], "priority": priority},
    }


def info(name: str, priority: int = 0, cpu: str = "500m", host_port: int = 0) -> PodInfo:
    return pod_info(pod(name, priority, cpu, host_port))


def node(name: str, *pods: PodInfo, cpu: str = "2", max_pods: str = "110") -> NodeInfo:
    n = NodeInfo(name)
    n.set_node(
        {
            "metadata": {"name": name},
            "status": {
                "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": max_pods},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    for p in pods:
        n.add(p)
    return n


def names(candidate: Candidate | None) -> list[str]:
    assert candidate is not None
    return [v.key.split("/")[1] for v in candidate.victims]


def test_fits_without_counts_cpu_pods_and_ports() -> None:
    a, b = info("a", cpu="1"), info("b", cpu="1", host_port=8080)
    full = node("n", a, b, cpu="2")
    assert not fits_without(info("p", cpu="1"), full, [])
    assert fits_without(info("p", cpu="1"), full, [a])
    assert not fits_without(info("p", cpu="1", host_port=8080), full, [a])
    assert fits_without(info("p", cpu="1", host_port=8080), full, [b])
    assert not fits_without(info("p", cpu="0"), node("m", a, max_pods="1"), [])
    assert fits_without(info("p", cpu="0"), node("m", a, max_pods="1"), [a])


def test_fits_without_counts_extended_resources_the_victims_free() -> None:
    def gpu_pod(name: str, gpus: str) -> PodInfo:
        spec = pod(name)
        spec["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": gpus}}
        return pod_info(spec)

    a, b = gpu_pod("a", "1"), gpu_pod("b", "2")
    full = node("n", a, b)
    assert full.node is not None
    full.node["status"]["allocatable"]["example.com/gpu"] = "3"
    full.set_node(full.node)
    assert not fits_without(gpu_pod("p", "2"), full, [])
    assert not fits_without(gpu_pod("p", "2"), full, [a])
    assert fits_without(gpu_pod("p", "2"), full, [b])
    assert not fits_without(gpu_pod("p", "4"), full, [a, b])


def test_only_lower_priority_pods_are_victims() -> None:
    n = node("n", info("same", 100, "1"), info("higher", 200, "1"), cpu="2")
    assert select_victims(info("p", 100, "1"), n) is None  # evicting every lower pod is not enough


def test_the_fewest_and_least_important_victims() -> None:
    n = node("n", info("low", 1, "500m"), info("lowest", 0, "500m"), info("mid", 5, "1"), cpu="2")
    # 1 cpu needed: "mid" alone frees it, but the most important pods are put back first, so the two
    # least important go instead of the one of priority 5
    assert names(select_victims(info("p", 10, "1"), n)) == ["low", "lowest"]
    # 500m needed: one victim is enough, and the least important one goes
    assert names(select_victims(info("p", 10, "500m"), n)) == ["lowest"]


def test_a_host_port_is_freed_by_evicting_its_holder_only() -> None:
    holder, other = info("holder", 0, "100m", host_port=80), info("other", 0, "100m")
    candidate = select_victims(info("p", 10, "100m", host_port=80), node("n", holder, other))
    assert names(candidate) == ["holder"]


def test_budget_violating_victims_are_reprieved_first_and_counted() -> None:
    guarded, free = pod("guarded", 0, "1", app="db"), pod("free", 0, "1", app="web")
    budget = {"metadata": {"name": "db", "namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "db"}}}}
    budgets = [{**budget, "status": {"disruptionsAllowed": 0}}]
    pods = {f"default/{p['metadata']['name']}": p for p in (guarded, free)}

    def covering(key: str) -> list[str]:
        return budgets_covering(pods[key], budgets)

    n = node("n", pod_info(guarded), pod_info(free), cpu="2")
    allowed = allowed_disruptions(budgets)
    assert allowed == {"default/db": 0}
    candidate = select_victims(info("p", 10, "1"), n, covering=covering, allowed=allowed)
    assert names(candidate) == ["free"] and candidate is not None and candidate.violations == 0
    # when only the guarded pod's eviction makes room, it is a victim, and a violation
    candidate = select_victims(info("p", 10, "2"), n, covering=covering, allowed=allowed)
    assert candidate is not None and sorted(names(candidate)) == ["free", "guarded"] and candidate.violations == 1
    # a budget with room is spent, not broken
    candidate = select_victims(info("p", 10, "2"), n, covering=covering, allowed={"default/db": 1})
    assert candidate is not None and candidate.violations == 0


def test_a_pod_already_disrupted_does_not_spend_its_budget_again() -> None:
    victim = pod("v", 0, app="db")
    budget = {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "db"}}},
        "status": {"disruptionsAllowed": 0, "disruptedPods": {"v": "2026-01-01T00:00:00Z"}},
    }
    assert budgets_covering(victim, [budget]) == []
    assert budgets_covering(pod("w", 0, app="db"), [budget]) == ["default/db"]
    assert budgets_covering(pod("x", 0, app="web"), [budget]) == []


def test_the_node_chosen_among_candidates() -> None:
    def cand(name: str, violations: int, *priorities: int) -> Candidate:
        return Candidate(name, tuple(info(f"{name}{i}", p) for i, p in enumerate(priorities)), violations)

    assert choose([cand("a", 1, 0), cand("b", 0, 5)]).node == "b"  # type: ignore[union-attr]
    assert choose([cand("a", 0, 5), cand("b", 0, 1, 1, 1)]).node == "b"  # type: ignore[union-attr]
    assert choose([cand("a", 0, 1, 1), cand("b", 0, 1, 0)]).node == "b"  # type: ignore[union-attr]
    assert choose([cand("a", 0, 1, -3), cand("b", 0, 1)]).node == "b"  # type: ignore[union-attr]
    assert choose([cand("a", 0, 1), cand("b", 0, 1)]).node == "a"  # type: ignore[union-attr]
    assert choose([]) is None


def test_find_candidate_skips_nodes_where_eviction_is_not_enough() -> None:
    crowded = node("crowded", info("important", 100, "2"), cpu="2")
    cheap = node("cheap", info("batch", 0, "1500m"), cpu="2")
    candidate = find_candidate(info("p", 50, "1"), [crowded, cheap])
    assert candidate is not None and candidate.node == "cheap" and names(candidate) == ["batch"]
    assert find_candidate(info("p", 50, "1"), [crowded]) is None


def test_nominated_pods_keep_their_room_from_lower_priorities_only() -> None:
    waiting = info("waiting", 50, "1")
    n = node("n", waiting, info("running", 0, "1"), cpu="2")
    # a lower-priority preemptor cannot take the nominee's room, nor evict it
    assert names(select_victims(info("p", 10, "1"), n, nominated={waiting.key})) == ["running"]
    assert select_victims(info("p", 10, "2"), n, nominated={waiting.key}) is None
    # a higher-priority one takes over the nomination without evicting anyone
    candidate = select_victims(info("p", 100, "1"), n, nominated={waiting.key})
    assert candidate is not None and candidate.victims == () and candidate.nominated == (waiting.key,)


def test_a_nominated_pod_waits_while_its_victims_terminate() -> None:
    preemptor = info("p", 10)
    n = node("n", info("victim", 0), info("other", 20))
    assert waits_for_victims(preemptor, n, lambda key: key == "default/victim")
    assert not waits_for_victims(preemptor, n, lambda key: key == "default/other")
    assert not waits_for_victims(preemptor, n, lambda _key: False)
    assert not waits_for_victims(preemptor, None, lambda _key: True)


def test_the_victims_condition_and_how_it_is_recognised() -> None:
    condition = preempted_condition("default-scheduler", "2026-01-01T00:00:00Z")
    assert condition == {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": "default-scheduler: preempting to accommodate a higher priority pod",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    victim = pod("v")
    victim["status"] = {"conditions": [condition]}
    assert not terminating_by_preemption(victim)  # not deleted yet
    victim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    assert terminating_by_preemption(victim)
    victim["status"] = {}
    assert not terminating_by_preemption(victim)


def test_a_node_counts_its_pods_priorities() -> None:
    a, b = info("a", 5), info("b", 5)
    n = node("n", a, b, info("c", 7))
    assert n.priorities == {5: 2, 7: 1}
    n.remove(a.key)
    n.remove(b.key)
    assert n.priorities == {7: 1}
    assert select_victims(info("p", 7, "2"), n) is None  # no pod of lower priority there
