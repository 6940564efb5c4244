"""Ephemeral containers without a server: the ``ephemeralcontainers`` subresource's validation and
its strategy (only ``spec.ephemeralContainers`` changes through it), the node's refusal, discovery,
and how the agent runs and reports them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.containers import app_spec
from minikube_py.agent.context import NodeContext
from minikube_py.agent.runtime.base import LABEL_ATTEMPT, LABEL_CONTAINER_KIND, ContainerState
from minikube_py.agent.status import ContainerView, Observed, pod_status
from minikube_py.api import noderestriction
from minikube_py.api.discovery import resource_list
from minikube_py.api.strategies import strategy_for
from minikube_py.api.strategies.pods import EPHEMERAL_CONTAINERS, POD
from minikube_py.model import defaults, errors, meta
from minikube_py.model.kinds import by_plural
from minikube_py.model.validation import validate, validate_ephemeral_containers_update

Obj = dict[str, Any]
PODS = by_plural("", "v1", "pods")


def running_pod() -> Obj:
    pod: Obj = {
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "p"}},
        "spec": {
            "containers": [{"name": "app", "image": "busybox"}],
            "initContainers": [{"name": "init", "image": "i"}],
        },
    }
    meta.prepare_for_create(pod, namespace="default", uid="uid-1")
    defaults.apply_defaults("Pod", pod)
    pod["metadata"]["resourceVersion"] = "7"
    return pod


def with_ephemeral(pod: Obj, *containers: Obj) -> Obj:
    new = copy.deepcopy(pod)
    new["spec"]["ephemeralContainers"] = [*new["spec"].get("ephemeralContainers", []), *containers]
    defaults.apply_defaults("Pod", new)
    return new


def rendered(errs: list[errors.FieldError]) -> list[str]:
    return [e.render() for e in errs]


DEBUGGER = {"name": "debugger", "image": "busybox", "targetContainerName": "app", "stdin": True}


# ------------------------------------------------------------------------------ validation


def test_adding_an_ephemeral_container_is_valid_and_defaulted_like_any_container() -> None:
    old = running_pod()
    new = with_ephemeral(old, DEBUGGER)
    assert validate_ephemeral_containers_update(new, old) == []
    added = new["spec"]["ephemeralContainers"][0]
    assert added["imagePullPolicy"] == "Always" and added["terminationMessagePolicy"] == "File"


@pytest.mark.parametrize("name", ["app", "init"])
def test_names_are_unique_across_every_container_of_the_pod(name: str) -> None:
    old = running_pod()
    assert rendered(validate_ephemeral_containers_update(with_ephemeral(old, {"name": name, "image": "b"}), old)) == [
        f'spec.ephemeralContainers[0].name: Duplicate value: "{name}"'
    ]
    twice = with_ephemeral(old, {"name": "d", "image": "b"}, {"name": "d", "image": "b"})
    assert rendered(validate_ephemeral_containers_update(twice, old)) == [
        'spec.ephemeralContainers[1].name: Duplicate value: "d"'
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ports", [{"containerPort": 80}]),
        ("livenessProbe", {"exec": {"command": ["true"]}}),
        ("readinessProbe", {"exec": {"command": ["true"]}}),
        ("startupProbe", {"exec": {"command": ["true"]}}),
        ("lifecycle", {"preStop": {"exec": {"command": ["true"]}}}),
        ("resources", {"limits": {"cpu": "1"}}),
    ],
)
def test_ephemeral_containers_have_no_ports_probes_lifecycle_or_resources(field: str, value: Any) -> None:
    old = running_pod()
    new = with_ephemeral(old, {"name": "d", "image": "b", field: value})
    assert rendered(validate_ephemeral_containers_update(new, old)) == [
        f"spec.ephemeralContainers[0].{field}: Forbidden: cannot be set for an Ephemeral Container"
    ]


def test_the_target_must_be_a_container_of_the_pod_and_the_image_is_required() -> None:
    old = running_pod()
    new = with_ephemeral(old, {"name": "d", "targetContainerName": "nope"})
    assert rendered(validate_ephemeral_containers_update(new, old)) == [
        "spec.ephemeralContainers[0].image: Required value",
        'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"',
    ]


def test_existing_ephemeral_containers_may_be_neither_changed_nor_removed() -> None:
    old = with_ephemeral(running_pod(), DEBUGGER)
    changed = copy.deepcopy(old)
    changed["spec"]["ephemeralContainers"][0]["image"] = "other"
    assert rendered(validate_ephemeral_containers_update(changed, old)) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be changed'
    ]
    removed = copy.deepcopy(old)
    removed["spec"]["ephemeralContainers"] = []
    assert rendered(validate_ephemeral_containers_update(removed, old)) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed'
    ]
    assert validate_ephemeral_containers_update(with_ephemeral(old, {"name": "second", "image": "b"}), old) == []


def test_a_pod_is_created_without_and_plainly_updated_without_touching_ephemeral_containers() -> None:
    pod = with_ephemeral(running_pod(), DEBUGGER)
    assert rendered(POD.validate(pod)) == ["spec.ephemeralContainers: Forbidden: cannot be set on create"]
    old = running_pod()
    [err] = validate("Pod", with_ephemeral(old, DEBUGGER), old)
    assert err.field == "spec" and err.reason == "FieldValueForbidden"
    # a pod that has them may still be updated as usual
    labelled = copy.deepcopy(pod)
    labelled["metadata"]["labels"]["x"] = "y"
    assert validate("Pod", labelled, pod) == []


def test_a_workload_template_has_no_ephemeral_containers() -> None:
    template = {"metadata": {"labels": {"app": "d"}}, "spec": with_ephemeral(running_pod(), DEBUGGER)["spec"]}
    deployment = {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "d"}}}}
    deployment["spec"]["template"] = template
    meta.prepare_for_create(deployment, namespace="default", uid="uid-2")
    defaults.apply_defaults("Deployment", deployment)
    assert rendered(validate("Deployment", deployment)) == [
        "spec.template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"
    ]


# ------------------------------------------------------------------------------ the subresource


def test_only_the_ephemeral_containers_change_through_the_subresource() -> None:
    assert PODS is not None
    assert strategy_for(PODS).for_subresource("ephemeralcontainers") is EPHEMERAL_CONTAINERS
    assert strategy_for(PODS).for_subresource("status") is POD
    old = running_pod()
    sent = with_ephemeral(old, DEBUGGER)
    sent["metadata"]["labels"]["sneaky"] = "x"
    sent["spec"]["containers"][0]["image"] = "other"
    sent["status"] = {"phase": "Failed"}
    sent["metadata"]["resourceVersion"] = "6"
    EPHEMERAL_CONTAINERS.prepare_for_update(sent, old)
    expected = copy.deepcopy(old)
    expected["spec"]["ephemeralContainers"] = with_ephemeral(old, DEBUGGER)["spec"]["ephemeralContainers"]
    expected["metadata"]["resourceVersion"] = "6"  # the precondition it was made against
    assert sent == expected


def test_a_node_may_not_write_ephemeral_containers() -> None:
    assert PODS is not None
    old = running_pod()
    token = noderestriction.ACTING_NODE.set("n1")
    try:
        with pytest.raises(errors.StatusError) as refused:
            noderestriction.admit(PODS, with_ephemeral(old, DEBUGGER), old, "ephemeralcontainers")
        noderestriction.admit(PODS, old, old, "status")  # its pods' status it may write
    finally:
        noderestriction.ACTING_NODE.reset(token)
    assert refused.value.code == 403
    assert "not allowed to modify ephemeral containers" in refused.value.message


def test_discovery_lists_ephemeral_containers_and_attach_of_pods() -> None:
    listing = resource_list("", "v1")
    assert listing is not None
    entries = {r["name"]: r for r in listing["resources"]}
    assert entries["pods/ephemeralcontainers"]["kind"] == "Pod"
    assert entries["pods/ephemeralcontainers"]["verbs"] == ["get", "patch", "update"]
    assert entries["pods/attach"]["kind"] == "PodAttachOptions"
    assert entries["pods/attach"]["verbs"] == ["create", "get"]


# ------------------------------------------------------------------------------ the agent


def test_an_ephemeral_container_with_a_target_joins_its_process_namespace() -> None:
    node = NodeContext("n1", "192.0.2.10", Path("/tmp/unused"), "pykube-n1", "pause:1")
    pod = with_ephemeral(running_pod(), DEBUGGER)
    common: Any = {
        "attempt": 0,
        "sandbox_id": "sb",
        "env": [],
        "mounts": [],
        "node": node,
        "command": None,
        "args": None,
    }
    spec = app_spec(pod, pod["spec"]["ephemeralContainers"][0], kind="ephemeral", target="app-id", **common)
    assert (spec.network, spec.ipc, spec.pid, spec.stdin) == ("container:sb", "container:sb", "container:app-id", True)
    assert spec.labels[LABEL_CONTAINER_KIND] == "ephemeral"  # what an agent restart adopts it by
    assert app_spec(pod, pod["spec"]["containers"][0], kind="app", **common).pid == ""


def exited(code: int) -> ContainerState:
    return ContainerState("e1", "k8s_d", {LABEL_ATTEMPT: "0"}, "busybox", "sha256:x", "exited", exit_code=code)


def test_ephemeral_containers_are_reported_but_count_for_neither_phase_nor_readiness() -> None:
    app = ContainerView(
        "app", "busybox", ContainerState("a1", "k8s_app", {}, "busybox", "sha256:x", "running"), ready=True
    )
    status = pod_status(Observed("Always", [], [app], ephemeral=[ContainerView("d", "busybox", exited(3))]), "t")
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    [debugger] = status["ephemeralContainerStatuses"]
    assert debugger["name"] == "d" and debugger["restartCount"] == 0
    assert debugger["state"]["terminated"]["exitCode"] == 3
    assert "ephemeralContainerStatuses" not in pod_status(Observed("Always", [], [app]), "t")
