"""Kind strategies (minikube_py.api.strategies): every served kind has a complete one, and the rules
that differ between kinds answer from them rather than from the registry."""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest

from minikube_py.api.strategies import SCALE, STRATEGIES, Strategy, strategy_for, strategy_named
from minikube_py.api.strategies.namespaces import IMMORTAL_NAMESPACES
from minikube_py.api.strategies.pods import qos_class
from minikube_py.api.tables.table import DEFAULT
from minikube_py.model.errors import StatusError
from minikube_py.model.kindrules import rules_of
from minikube_py.model.kinds import RESOURCES, ResourceType
from minikube_py.store.base import Delete, KeyNotFound, Store

RT = {rt.kind: rt for rt in RESOURCES}


def test_kind_names_are_unique_so_a_name_finds_one_strategy() -> None:
    assert len(RT) == len(RESOURCES)


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: rt.kind)
def test_every_served_kind_has_a_complete_strategy(rt: ResourceType) -> None:
    strategy = STRATEGIES.get(rt.kind)
    assert strategy is not None, f"{rt.kind} is served but has no strategy"
    assert strategy_for(rt) is strategy
    assert strategy.printer is not DEFAULT, "kube-apiserver prints each served kind with columns of its own"
    assert strategy.merge_rules is not None, "every served kind has a Go type, so strategic merge rules"
    assert {"metadata.finalizers", "metadata.ownerReferences"} <= set(strategy.merge_rules)
    assert strategy.rules is rules_of(rt.kind)
    assert (strategy.rules.kind, strategy.rules.namespaced) == (rt.kind, rt.namespaced)


def test_strategies_only_for_served_kinds_and_what_their_subresources_answer_with() -> None:
    answered = {kind for rt in RESOURCES for kind in rt.subresources.values() if kind}
    assert set(STRATEGIES) - set(RT) <= answered
    assert strategy_named("Scale") is SCALE and SCALE.merge_rules is not None


def test_a_kind_nobody_serves_gets_the_generic_strategy() -> None:
    widget = ResourceType("example.com", "v1", "Widget", "widgets", "widget", True)
    strategy = strategy_for(widget)
    assert type(strategy) is Strategy
    assert strategy.printer is DEFAULT and strategy.merge_rules is None
    assert not strategy.reserves and not strategy.graceful
    assert strategy.validate({"metadata": {"name": "w", "namespace": "default"}}) == []
    assert strategy.field_set({"metadata": {"name": "w", "namespace": "n"}}) == {
        "metadata.name": "w",
        "metadata.namespace": "n",
    }


def _pod(**resources: dict[str, str]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "resources": dict(resources)}]}}


def test_a_new_object_starts_with_the_status_its_strategy_gives() -> None:
    generic = {"status": {"replicas": 9}}
    STRATEGIES["Deployment"].reset_status(generic)
    assert generic["status"] == {}
    counted: dict[str, Any] = {"status": {"replicas": 9}}
    STRATEGIES["StatefulSet"].reset_status(counted)
    assert counted["status"] == {"replicas": 0, "availableReplicas": 0}  # (no omitempty in Go)
    for kind in ("ReplicaSet", "ReplicationController"):
        STRATEGIES[kind].reset_status(counted)
        assert counted["status"] == {"replicas": 0}
    STRATEGIES["DaemonSet"].reset_status(counted)
    assert counted["status"] == {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }
    pod = {**_pod(), "status": {"phase": "Running"}}
    STRATEGIES["Pod"].reset_status(pod)
    STRATEGIES["Pod"].mutated(pod)  # its QoS class once admission is done
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    STRATEGIES["Node"].reset_status(node)
    assert node["status"]["addresses"]
    namespace: dict[str, Any] = {}
    STRATEGIES["Namespace"].reset_status(namespace)
    assert namespace["status"] == {"phase": "Active"}
    service: dict[str, Any] = {}
    STRATEGIES["Service"].reset_status(service)
    assert service["status"] == {"loadBalancer": {}}


def test_qos_class() -> None:
    same = {"cpu": "1", "memory": "1Gi"}
    assert qos_class(_pod()) == "BestEffort"
    assert qos_class(_pod(limits=same)) == "Guaranteed"
    assert qos_class(_pod(limits=same, requests=same)) == "Guaranteed"
    assert qos_class(_pod(requests={"cpu": "1"})) == "Burstable"


def test_secret_string_data_folds_into_data_on_create_and_update() -> None:
    secret = {"stringData": {"a": "x"}, "data": {"b": "eQ=="}}
    STRATEGIES["Secret"].prepare_for_create(secret)
    assert secret == {"data": {"b": "eQ==", "a": base64.b64encode(b"x").decode()}}
    update = {"stringData": {"b": "z"}}
    STRATEGIES["Secret"].prepare_for_update(update, secret)
    assert update == {"data": {"b": "eg=="}}
    config_map = {"stringData": {"a": "x"}}
    STRATEGIES["ConfigMap"].prepare_for_create(config_map)
    assert config_map == {"stringData": {"a": "x"}}


def test_namespace_deletion_rules() -> None:
    namespaces = STRATEGIES["Namespace"]
    for name in IMMORTAL_NAMESPACES:
        with pytest.raises(StatusError) as caught:
            namespaces.check_delete(name)
        assert caught.value.code == 403
    namespaces.check_delete("mine")
    STRATEGIES["ConfigMap"].check_delete("default")
    terminating: dict[str, Any] = {"spec": {"finalizers": ["kubernetes"]}}
    namespaces.begin_deletion(terminating)
    assert terminating["status"]["phase"] == "Terminating"
    assert namespaces.finalizing(terminating)
    assert not namespaces.finalizing({"spec": {"finalizers": []}})
    assert not STRATEGIES["ConfigMap"].finalizing(terminating)


class _Nodes:
    """A store holding only the nodes named."""

    def __init__(self, *names: str) -> None:
        self.keys = {RT["Node"].key(None, name) for name in names}

    async def get(self, key: str) -> dict[str, Any]:
        if key not in self.keys:
            raise KeyNotFound(key)
        return {}


async def test_a_pod_on_a_live_node_waits_out_its_grace_period() -> None:
    pods = STRATEGIES["Pod"]
    assert pods.graceful and not STRATEGIES["Service"].graceful
    running = {"spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 7}, "status": {"phase": "Running"}}
    store = cast(Store, _Nodes("n1"))
    assert await pods.grace_period(running, None, store) == 7
    assert await pods.grace_period(running, 2, store) == 2
    assert await pods.grace_period(running, -1, store) == 0
    assert await pods.grace_period(running, None, cast(Store, _Nodes())) == 0  # its node is gone
    assert await pods.grace_period({**running, "status": {"phase": "Succeeded"}}, None, store) == 0
    assert await pods.grace_period({"spec": {}}, None, store) == 0  # never scheduled
    assert await STRATEGIES["Deployment"].grace_period(running, 30, store) == 0


def test_a_service_releases_what_it_holds() -> None:
    services = STRATEGIES["Service"]
    assert services.reserves and not STRATEGIES["Pod"].reserves
    held = {"spec": {"type": "NodePort", "clusterIP": "10.96.0.5", "ports": [{"port": 80, "nodePort": 30080}]}}
    assert services.release(held) == [Delete("/internal/clusterips/10.96.0.5"), Delete("/internal/nodeports/30080")]
    assert STRATEGIES["Pod"].release(held) == []


def test_scale_selector_text() -> None:
    assert STRATEGIES["ReplicationController"].scale_selector({"app": "web", "tier": "fe"}) == "app=web,tier=fe"
    assert STRATEGIES["ReplicaSet"].scale_selector({"matchLabels": {"app": "web"}}) == "app=web"
