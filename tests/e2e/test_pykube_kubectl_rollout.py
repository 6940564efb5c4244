"""``pykube kubectl rollout history|undo|pause|resume`` and ``set image|env``, step by step beside the
real kubectl on twin objects (``…-x1`` through pykube's, ``…-x2`` through kubectl): the same words,
errors and exit codes, and the same revisions left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubectl_helpers import Kubectl, to_yaml, wait_for
from pykube_kubectl_helpers import Twins

pytestmark = pytest.mark.kubectl

#: a pod-template-hash: it hashes the twin's own labels, so the twins' differ
HASH = r"pod-template-hash=[0-9a-z]+"


@pytest.fixture
def twins(k: Kubectl, tmp_path: Path) -> Twins:
    return Twins(k, tmp_path)


def settled(twins: Twins, target: str, revisions: list[int]) -> None:
    """Until both twins' controllers have written the revisions the next step expects."""
    for suffix in ("x1", "x2"):
        wait_for(
            lambda s=suffix: twins.k.out("rollout", "history", target.replace("{s}", s)),  # type: ignore[misc]
            lambda out: [int(line.split()[0]) for line in out.splitlines()[2:] if line.strip()] == revisions,
            f"{target} to have revisions {revisions}",
        )


def test_deployment_history_undo_pause_and_resume(twins: Twins) -> None:
    twins.step("create deployment hist-{s} --image=pykube.local/pause:1 --replicas=0", rc=0)
    twins.step("annotate deployment hist-{s} kubernetes.io/change-cause=second", rc=0)
    twins.step("set image deploy/hist-{s} pause=pykube.local/busybox:1.35", rc=0)
    settled(twins, "deploy/hist-{s}", [1, 2])
    for command, rc in [
        ("rollout history deploy/hist-{s}", 0),
        ("rollout history deployment hist-{s} --revision=1", 0),
        ("rollout history deploy/hist-{s} --revision=2", 0),
        ("rollout history deploy/hist-{s} --revision=9", 1),
        ("rollout history deploy/nope-{s}", 1),
        ("rollout pause deploy/hist-{s}", 0),
        ("rollout pause deploy/hist-{s}", 1),
        ("rollout undo deploy/hist-{s}", 1),
        ("rollout resume deploy/hist-{s}", 0),
        ("rollout resume deploy/hist-{s}", 1),
        ("rollout undo deploy/hist-{s} --to-revision=9", 1),
        ("rollout undo deploy/hist-{s} --to-revision=2", 0),
        ("rollout undo deploy/hist-{s}", 0),
    ]:
        twins.step(command, rc=rc, mask=HASH)
    settled(twins, "deploy/hist-{s}", [2, 3])
    twins.step("rollout history deploy/hist-{s}", rc=0)
    twins.step("rollout history deploy/hist-{s} --revision=3", rc=0, mask=HASH)
    images = [
        twins.obj("deploy", f"hist-{s}")["spec"]["template"]["spec"]["containers"][0]["image"] for s in ("x1", "x2")
    ]
    assert images == ["pykube.local/pause:1"] * 2


def test_set_image_and_env_print_as_kubectl(twins: Twins) -> None:
    twins.step(
        "create deployment se-{s} --image=pykube.local/pause:1 --image=pykube.local/busybox:1.35 --replicas=0", rc=0
    )
    twins.step("create configmap cfg-{s}", rc=0)
    for command, rc in [
        ("set image deploy/se-{s} pause=pykube.local/pause:1", 0),  # no change: nothing said
        ("set image deploy se-{s} busybox=b:1 pause=p:2", 0),
        ("set image deploy/se-{s} *=pykube.local/pause:1", 0),
        ("set image deploy/se-{s} nope=x", 1),
        ("set image deploy/se-{s}", 1),
        ("set image deploy/se-{s} pause", 1),
        ("set image deploy/nope-{s} a=b", 1),
        ("set image cm/cfg-{s} a=b", 1),
        ("set env deploy/se-{s} A=1 B=2", 0),
        ("set env deploy/se-{s} A=1", 0),
        ("set env deploy/se-{s} -c pause C=3 A-", 0),
        ("set env deploy/se-{s} --list", 0),
        ("set env deploy/se-{s} -c busybox --list", 0),
        ("set env deploy/se-{s} -c nope X=1", 0),
        ("set env deploy/se-{s} -e Y=2 --overwrite=false A=7", 1),
        ("set env deploy/se-{s}", 0),
        ("set env deploy/se-{s} nope", 1),
    ]:
        twins.step(command, rc=rc)
    containers = [twins.obj("deploy", f"se-{s}")["spec"]["template"]["spec"]["containers"] for s in ("x1", "x2")]
    assert containers[0] == containers[1]
    assert [c["image"] for c in containers[0]] == ["pykube.local/pause:1"] * 2
    assert containers[0][0]["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]


def workloads(suffix: str) -> str:
    template = {
        "metadata": {"labels": {"app": f"wl-{suffix}"}},
        "spec": {"containers": [{"name": "c", "image": "pykube.local/pause:1"}]},
    }
    selector = {"matchLabels": {"app": f"wl-{suffix}"}}
    return to_yaml(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": f"dsh-{suffix}"},
            "spec": {"selector": selector, "template": template},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": f"stsh-{suffix}"},
            "spec": {"replicas": 0, "serviceName": f"stsh-{suffix}", "selector": selector, "template": template},
        },
    )


@pytest.mark.parametrize("kind", ["ds", "sts"])
def test_daemonset_and_statefulset_history_and_undo(twins: Twins, kind: str) -> None:
    target = f"{kind}/{kind}h-{{s}}"
    twins.step("apply -f {file}", workloads, rc=0)
    twins.step(f"set image {target} c=pykube.local/busybox:1.35", rc=0)
    settled(twins, target, [1, 2])
    for command, rc in [
        (f"rollout history {target}", 0),
        (f"rollout history {target} --revision=1", 0),
        (f"rollout history {target} --revision=5", 1),
        (f"rollout pause {target}", 1),
        (f"rollout resume {target}", 1),
        (f"rollout undo {target} --to-revision=7", 1),
        (f"rollout undo {target}", 0),
        ("rollout history cm/nope-{s}", 1),
    ]:
        twins.step(command, rc=rc)
    settled(twins, target, [2, 3])
    twins.step(f"rollout history {target}", rc=0)
    resource = {"ds": "daemonset", "sts": "statefulset"}[kind]
    images = [
        twins.obj(resource, f"{kind}h-{s}")["spec"]["template"]["spec"]["containers"][0]["image"] for s in ("x1", "x2")
    ]
    assert images == ["pykube.local/pause:1"] * 2


def test_wait_prints_as_kubectl(twins: Twins) -> None:
    twins.step("create deployment wt-{s} --image=pykube.local/pause:1 --replicas=0", rc=0)
    for suffix in ("x1", "x2"):  # the controller's conditions first: then both see the same
        wait_for(
            lambda s=suffix: twins.obj("deploy", f"wt-{s}")["status"].get("conditions"),  # type: ignore[misc]
            lambda conditions: conditions and len(conditions) == 2,
            "the deployment's conditions",
        )
    twins.step("run wtp-{s} --image=pykube.local/pause:1", rc=0)  # no node runs it: it stays Pending
    for command, rc in [
        ("wait --for=condition=Available deploy/wt-{s}", 0),
        ("wait --for=condition=available=True deploy/wt-{s} --timeout=1s", 0),
        ("wait --for=condition=Available=false deploy/wt-{s} --timeout=1s", 1),
        ("wait --for=condition=Ready pod/wtp-{s} --timeout=1s", 1),
        ("wait --for=condition=Ready pod/wtp-{s} --timeout=0", 1),
        ("wait --for=jsonpath={.status.phase}=Pending pod/wtp-{s}", 0),
        ("wait --for=jsonpath=.status.phase=Pending pod/wtp-{s}", 0),
        ("wait --for=jsonpath={.spec.replicas}=0 deploy/wt-{s} pod/wtp-{s} --timeout=1s", 1),
        ("wait --for=jsonpath={.metadata.name} pod/wtp-{s}", 0),
        ("wait --for=create pod/wtp-{s}", 0),
        ("wait --for=delete pod/nope-{s} --timeout=1s", 0),
        ("wait --for=condition=Ready pod/nope-{s} --timeout=1s", 1),
        ("wait --for=condition=Available deploy -l app=nope-{s}", 1),
        ("wait --for=condition=Available deploy -l app=wt-{s}", 0),
        ("wait --for=bogus pod/wtp-{s}", 1),
        ("wait pod/wtp-{s}", 1),
    ]:
        twins.step(command, rc=rc)
