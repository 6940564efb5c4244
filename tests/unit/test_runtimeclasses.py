"""RuntimeClasses: their validation, the admission plugin's rules for pods (overhead, scheduling,
Kubernetes' toleration merge), toleration validation, and how a class's handler reaches the
containers and the node's status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.containers import app_spec, sandbox_spec
from minikube_py.agent.context import NodeContext
from minikube_py.agent.node import node_status
from minikube_py.agent.runtime.base import LABEL_RUNTIME_HANDLER, ContainerSpec, CreateError, MachineInfo, no_runtime
from minikube_py.agent.runtime.fake import FakeRuntime
from minikube_py.model import runtimeclasses as rc
from minikube_py.model.validation import validate_pod, validate_tolerations

Obj = dict[str, Any]
NODE = NodeContext("n1", "192.0.2.10", Path("/tmp/unused"), "pykube-n1", "pause:1")


def klass(handler: Any = "runc", **fields: Any) -> Obj:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "c"},
        "handler": handler,
        **fields,
    }


def rendered(errors: list[Any]) -> list[str]:
    return [e.render() for e in errors]


# ------------------------------------------------------------------------------ validation


def test_a_handler_is_a_dns_label() -> None:
    assert rc.validate_runtime_class(klass()) == []
    [message] = rendered(rc.validate_runtime_class(klass("Kata_Containers")))
    assert message.startswith('handler: Invalid value: "Kata_Containers": a lowercase RFC 1123 label must consist of')
    [missing] = rendered(rc.validate_runtime_class(klass(None)))
    assert missing.startswith('handler: Invalid value: "": a lowercase RFC 1123 label')


def test_overhead_and_scheduling_are_checked() -> None:
    bad = klass(
        overhead={"podFixed": {"cpu": "-1", "memory": "lots"}},
        scheduling={
            "nodeSelector": {"bad key!": "v"},
            "tolerations": [
                {"key": "a", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "a", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "b", "operator": "Exists", "value": "x"},
            ],
        },
    )
    messages = rendered(rc.validate_runtime_class(bad))
    assert messages[0] == 'overhead.podFixed[cpu]: Invalid value: "-1": must be greater than or equal to 0'
    assert messages[1].startswith('overhead.podFixed[memory]: Invalid value: "lots": quantities must match')
    assert messages[2].startswith('scheduling.nodeSelector: Invalid value: "bad key!": name part must consist of')
    assert messages[3] == (
        'scheduling.tolerations[2].operator: Invalid value: core.Toleration{Key:"b", Operator:"Exists", Value:"x", '
        "Effect:\"\", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'"
    )
    assert messages[4] == (
        'scheduling.tolerations[1]: Duplicate value: core.Toleration{Key:"a", Operator:"Exists", Value:"", '
        'Effect:"NoSchedule", TolerationSeconds:(*int64)(nil)}'
    )
    assert len(messages) == 5


def test_the_handler_is_immutable() -> None:
    assert rc.validate_runtime_class_update(klass(), klass()) == []
    assert rendered(rc.validate_runtime_class_update(klass("kata"), klass())) == [
        'handler: Invalid value: "kata": field is immutable'
    ]


@pytest.mark.parametrize(
    ("toleration", "message"),
    [
        ({"operator": "Equal", "value": "x"}, 'operator must be Exists when `key` is empty, which means "match all'),
        ({"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}, "effect must be 'NoExecute' when"),
        ({"key": "k", "operator": "In"}, 'Unsupported value: "In": supported values: "Equal", "Exists"'),
        ({"key": "k", "effect": "Sometimes"}, 'Unsupported value: "Sometimes": supported values: "NoSchedule"'),
        ({"key": "k", "value": "not a value!"}, "a valid label must be an empty string or consist of"),
        ({"key": "-k"}, "name part must consist of alphanumeric characters"),
    ],
)
def test_a_pods_tolerations_are_validated(toleration: Obj, message: str) -> None:
    [error] = validate_tolerations([toleration], "spec.tolerations")
    assert message in error.message


def test_valid_tolerations_and_a_pods_overhead() -> None:
    fine = [
        {"operator": "Exists"},
        {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30},
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    assert validate_tolerations(fine, "spec.tolerations") == []
    pod = {
        "metadata": {"name": "p", "namespace": "d"},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "imagePullPolicy": "Always", "terminationMessagePolicy": "File"}
            ],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "overhead": {"cpu": "x"},
            "runtimeClassName": "Not_A_Name",
        },
    }
    assert [e.field for e in validate_pod(pod)] == ["spec.overhead[cpu]", "spec.runtimeClassName"]


# ------------------------------------------------------------------------------ admission


def test_a_pod_takes_its_class_overhead_and_scheduling() -> None:
    spec: Obj = {"nodeSelector": {"zone": "a"}, "tolerations": [{"key": "x", "operator": "Exists"}]}
    cls = klass(
        overhead={"podFixed": {"cpu": "250m", "memory": "120Mi"}},
        scheduling={
            "nodeSelector": {"sandboxed": "true"},
            "tolerations": [{"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"}],
        },
    )
    assert rc.admit_pod(spec, cls) is None
    assert spec == {
        "overhead": {"cpu": "250m", "memory": "120Mi"},
        "nodeSelector": {"zone": "a", "sandboxed": "true"},
        "tolerations": [
            {"key": "x", "operator": "Exists"},
            {"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"},
        ],
    }
    assert rc.check_overhead(spec, cls) is None


def test_conflicts_with_the_class_are_refused() -> None:
    cls = klass(overhead={"podFixed": {"cpu": "1"}}, scheduling={"nodeSelector": {"zone": "b"}})
    # the same amount in another spelling is the same overhead
    assert rc.admit_pod({"overhead": {"cpu": "1000m"}}, cls) is None
    assert rc.admit_pod({"overhead": {"cpu": "2"}}, cls) == rc.OVERHEAD_MISMATCH
    assert rc.admit_pod({"nodeSelector": {"zone": "a"}}, cls) == (
        "conflict: runtimeClass.scheduling.nodeSelector[zone] = b; pod.spec.nodeSelector[zone] = a"
    )
    assert rc.not_found("gvisor") == 'pod rejected: RuntimeClass "gvisor" not found'


def test_the_validating_half_holds_the_overhead_to_the_class() -> None:
    cls = klass(overhead={"podFixed": {"cpu": "1"}})
    assert rc.check_overhead({"overhead": {"cpu": "1"}}, cls) is None
    assert rc.check_overhead({"overhead": {"cpu": "2"}}, cls) == rc.OVERHEAD_MISMATCH  # a webhook changed it
    assert rc.check_overhead({}, cls) == rc.OVERHEAD_MISMATCH
    assert rc.check_overhead({"overhead": {"cpu": "1"}}, None) == rc.OVERHEAD_WITHOUT_CLASS
    assert rc.check_overhead({"overhead": {"cpu": "1"}}, klass()) == rc.OVERHEAD_WITHOUT_CLASS
    assert rc.check_overhead({}, klass()) is None
    assert rc.check_overhead({}, None) is None


def test_a_class_without_scheduling_or_overhead_changes_nothing() -> None:
    spec: Obj = {
        "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "a", "operator": "Exists", "effect": "NoSchedule"}]
    }
    assert rc.admit_pod(spec, klass()) is None
    assert len(spec["tolerations"]) == 2
    assert rc.admit_pod(spec, None) is None


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        # a wider toleration absorbs a narrower one, wherever it stands
        (
            [{"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"}],
            [{"key": "a", "operator": "Exists"}],
            [{"key": "a", "operator": "Exists"}],
        ),
        (
            [{"operator": "Exists"}],
            [{"key": "a", "operator": "Exists", "effect": "NoExecute"}],
            [{"operator": "Exists"}],
        ),
        # equal ones: the first stays
        (
            [{"key": "a", "operator": "Exists", "effect": "NoSchedule"}],
            [{"key": "a", "operator": "Exists", "effect": "NoSchedule", "value": ""}],
            [{"key": "a", "operator": "Exists", "effect": "NoSchedule"}],
        ),
        # a shorter NoExecute grace is covered by a longer one, not the other way round
        (
            [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}],
            [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}],
            [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}],
        ),
        (
            [{"key": "a", "operator": "Equal", "value": "1"}],
            [{"key": "a", "operator": "Equal", "value": "2"}],
            [{"key": "a", "operator": "Equal", "value": "1"}, {"key": "a", "operator": "Equal", "value": "2"}],
        ),
    ],
)
def test_tolerations_merge_as_kubernetes_merges_them(first: list[Obj], second: list[Obj], merged: list[Obj]) -> None:
    assert rc.merge_tolerations(first, second) == merged


# ------------------------------------------------------------------------------ the node


def _pod(**spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
        "spec": {"containers": [{"name": "c", "image": "img:1"}], **spec},
    }


def test_the_handler_goes_to_the_sandbox_and_its_containers() -> None:
    sandbox = sandbox_spec(_pod(), NODE, "runsc")
    assert (sandbox.runtime_handler, sandbox.labels[LABEL_RUNTIME_HANDLER]) == ("runsc", "runsc")
    assert LABEL_RUNTIME_HANDLER not in sandbox_spec(_pod(), NODE).labels
    common: Any = {"attempt": 0, "env": [], "mounts": [], "node": NODE, "command": None, "args": None}
    app = app_spec(
        _pod(), _pod()["spec"]["containers"][0], kind="app", sandbox_id="sb", runtime_handler="runsc", **common
    )
    assert app.runtime_handler == "runsc"


async def test_an_engine_without_the_handler_refuses_the_container() -> None:
    runtime = FakeRuntime()
    assert (await runtime.machine()).runtime_handlers == ("runc",)
    assert await runtime.create_container(ContainerSpec("a", "img", {}, runtime_handler="runc"))
    with pytest.raises(CreateError) as refused:
        await runtime.create_container(ContainerSpec("b", "img", {}, runtime_handler="kata"))
    assert (
        refused.value.message
        == no_runtime("kata")
        == 'failed to get sandbox runtime: no runtime for "kata" is configured'
    )


def test_the_node_reports_its_runtime_handlers() -> None:
    machine = MachineInfo(cpus=2, memory_bytes=1 << 30, kernel_version="6", os_image="x", runtime_handlers=("runc",))
    status = node_status(machine, ip="192.0.2.1", hostname="n1", max_pods=110, kubelet_port=10250)
    assert status["runtimeHandlers"] == [
        {"name": "", "features": {"recursiveReadOnlyMounts": False}},
        {"name": "runc", "features": {"recursiveReadOnlyMounts": False}},
    ]
    unknown = MachineInfo(cpus=2, memory_bytes=1 << 30, kernel_version="6", os_image="x")
    assert "runtimeHandlers" not in node_status(unknown, ip="192.0.2.1", hostname="n1", max_pods=110, kubelet_port=0)
