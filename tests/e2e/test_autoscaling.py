"""``kubectl autoscale`` against real containers: a Deployment whose pod burns CPU is scaled up by its
HorizontalPodAutoscaler, and back down once the load is gone.

One server with its embedded Docker agent (its own node name and pod network, no service proxy), with
a 2 s autoscaler sync period and a 10 s scale-down stabilization window, so that the round trip takes
about as long as the resource metrics need to see the pods (two scrapes after they are ready).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from agent_helpers import node_server
from kubectl_helpers import Kubectl, table, wait_for
from support import BUSYBOX_IMAGE

NODE = "hpa-autoscale-e2e"
NS = "hpa-autoscale-e2e"
BURN = "while :; do :; done"
IDLE = "exec sleep 3600"


@pytest.fixture(scope="module")
def k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    with node_server(
        tmp_path_factory.mktemp("autoscaling") / "data",
        NODE,
        "--proxy-mode",
        "none",
        "--horizontal-pod-autoscaler-sync-period",
        "2",
        "--horizontal-pod-autoscaler-downscale-stabilization",
        "10",
        cluster_cidr="10.226.0.0/16",
    ) as running:
        running.kubectl("create", "namespace", NS)
        yield Kubectl(running, NS)


def web(script: str) -> dict[str, Any]:
    """A Deployment of one busybox pod running ``script``, requesting 50m of CPU; its limit (100m)
    keeps the burner from taking a whole core of a shared machine while still at 200 % of its request."""
    container = {
        "name": "main",
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", script],
        "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "100m"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }


def targets(row: list[str]) -> str:
    """The TARGETS cell of a ``get hpa`` row split on blanks (the cell has one: ``cpu: 12%/50%``)."""
    return " ".join(row[2:-4])


def replicas(k: Kubectl) -> int:
    return int(k.obj("deployment", "web")["spec"].get("replicas", 1))


def test_autoscale_scales_a_busy_deployment_up_and_an_idle_one_down(k: Kubectl) -> None:
    k.apply(web(BURN))
    assert k.out("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=3").strip() == (
        "horizontalpodautoscaler.autoscaling/web autoscaled"
    )
    [header, row] = table(k.out("get", "hpa"))
    assert header == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert row[:2] == ["web", "Deployment/web"] and row[-4:-2] == ["1", "3"]
    assert targets(row) == "cpu: <unknown>/50%"
    # v1 (what autoscale sent) and v2 (the stored version) are one object
    v1 = json.loads(k.out("get", "--raw", f"/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers/web"))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50

    wait_for(lambda: replicas(k), lambda n: n == 3, "the HPA to scale web up to its maximum", timeout=180)
    hpa = k.obj("hpa", "web")
    assert hpa["status"]["desiredReplicas"] == 3 and hpa["status"].get("lastScaleTime")
    measured = targets(table(k.out("get", "hpa"))[1])
    assert re.fullmatch(r"cpu: \d+%/50%", measured), measured
    assert int(measured.split()[1].split("%")[0]) > 50
    # the event follows the scale write
    described = wait_for(
        lambda: k.out("describe", "hpa", "web"),
        lambda text: "New size: 3; reason: cpu resource utilization (percentage of request) above target" in text,
        "the SuccessfulRescale event of the scale up",
    )
    assert "SuccessfulRescale" in described
    conditions = {c["type"]: (c["status"], c["reason"]) for c in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"] == ("True", "ValidMetricFound")

    # the load goes: the pods are replaced by idle ones, and after the short window it scales down
    k.run(
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        '[{"op": "replace", "path": "/spec/template/spec/containers/0/command/2", "value": "' + IDLE + '"}]',
    )
    wait_for(lambda: replicas(k), lambda n: n == 1, "the HPA to scale the idle web back down to 1", timeout=240)
    wait_for(
        lambda: k.out("describe", "hpa", "web"),
        lambda text: "New size: 1; reason: All metrics below target" in text,
        "the SuccessfulRescale event of the scale down",
    )
    measured = targets(table(k.out("get", "hpa"))[1])
    assert re.fullmatch(r"cpu: \d+%/50%", measured), measured

    k.run("delete", "hpa", "web")
    k.run("delete", "deployment", "web")


def test_v1_and_v2_are_one_object_and_bad_input_changes_nothing(k: Kubectl) -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    k.apply(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "ghost"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ghost"},
                "maxReplicas": 4,
                "behavior": behavior,
            },
        }
    )
    stored = k.obj("hpa", "ghost")
    assert stored["spec"]["minReplicas"] == 1
    assert stored["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert stored["spec"]["behavior"]["scaleDown"]["policies"] == [
        {"type": "Percent", "value": 100, "periodSeconds": 15}
    ]

    # a v1 client's read-modify-write keeps what only v2 can say (carried in annotations)
    path = f"/apis/autoscaling/v1/namespaces/{NS}/horizontalpodautoscalers/ghost"
    v1 = json.loads(k.out("get", "--raw", path))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80
    assert "autoscaling.alpha.kubernetes.io/behavior" in v1["metadata"]["annotations"]
    v1["spec"]["maxReplicas"] = 6
    k.run("replace", "--raw", path, "-f", "-", input=json.dumps(v1))
    after = k.obj("hpa", "ghost")
    assert after["spec"]["maxReplicas"] == 6 and after["spec"]["behavior"] == stored["spec"]["behavior"]
    assert not [a for a in after["metadata"].get("annotations", {}) if a.startswith("autoscaling.alpha.kubernetes.io/")]

    # 422 with Kubernetes' causes, nothing changed
    failed = k.fails("patch", "hpa", "ghost", "--type=merge", "-p", '{"spec": {"minReplicas": 7}}')
    assert "spec.maxReplicas: Invalid value: 6: must be greater than or equal to `minReplicas`" in failed.stderr
    assert k.obj("hpa", "ghost")["spec"]["minReplicas"] == 1

    # the target does not exist: the controller says so in the conditions and an event
    def able_to_scale() -> tuple[str, str] | None:
        conditions = k.obj("hpa", "ghost").get("status", {}).get("conditions") or []
        found = next((c for c in conditions if c["type"] == "AbleToScale"), None)
        return (found["status"], found["reason"]) if found else None

    assert wait_for(able_to_scale, lambda c: c is not None, "the AbleToScale condition") == ("False", "FailedGetScale")
    assert "FailedGetScale" in k.out("describe", "hpa", "ghost")
    k.run("delete", "hpa", "ghost")
