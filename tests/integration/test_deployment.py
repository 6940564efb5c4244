"""The Deployment controller against a real server, fake nodes and the real kubectl: rollouts,
their fences as seen from outside, history, undo, pause, deadlines and deletion."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.agent.runtime.fake import NEVER_READY
from minikube_py.model import rollout as ro
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("deployment") / "data", ["n1", "n2", "n3"]) as (running, _):
        yield running


def manifest(
    name: str,
    image: str = "nginx:1.25",
    replicas: int = 3,
    *,
    strategy: Obj | None = None,
    ready: bool = True,
    **spec: Any,
) -> str:
    template_md: Obj = {"labels": {"app": name}}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": {
                "metadata": template_md,
                "spec": {"containers": [{"name": "web", "image": image, **({} if ready else NEVER_READY)}]},
            },
            **spec,
        },
    }
    return json.dumps(body)


def create(server: ServerEndpoint, name: str, **kwargs: Any) -> None:
    server.kubectl("apply", "-f", "-", input=manifest(name, **kwargs))


def get(server: ServerEndpoint, path: str) -> Obj:
    status, body = server.request("GET", path)
    assert status == 200, body
    return dict(body)


def deployment(server: ServerEndpoint, name: str) -> Obj:
    return get(server, f"{DEPLOYMENTS}/{name}")


def replica_sets(server: ServerEndpoint, name: str) -> list[Obj]:
    items = get(server, f"/apis/apps/v1/namespaces/{NS}/replicasets?labelSelector=app%3D{name}")["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"].get(ro.REVISION, 0)))


def pods(server: ServerEndpoint, name: str) -> list[Obj]:
    return list(get(server, f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3D{name}")["items"])


def is_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def images(server: ServerEndpoint, name: str) -> set[str]:
    return {
        p["spec"]["containers"][0]["image"] for p in pods(server, name) if not p["metadata"].get("deletionTimestamp")
    }


def rollout_status(server: ServerEndpoint, name: str) -> str:
    return server.kubectl("rollout", "status", f"deploy/{name}", "--timeout=60s").stdout


def condition(d: Obj, kind: str) -> Obj:
    return next(c for c in d["status"]["conditions"] if c["type"] == kind)


class Sampler:
    """Polls a deployment's pods in the background while a rollout runs."""

    def __init__(self, server: ServerEndpoint, name: str) -> None:
        self.samples: list[list[Obj]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server, name), daemon=True)

    def _run(self, server: ServerEndpoint, name: str) -> None:
        while not self._stop.is_set():
            self.samples.append(pods(server, name))
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_create_rolls_out_every_replica(server: ServerEndpoint) -> None:
    create(server, "web1", replicas=3)
    assert 'deployment "web1" successfully rolled out' in rollout_status(server, "web1")
    d = deployment(server, "web1")
    status = d["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"], status["availableReplicas"]) == (
        3,
        3,
        3,
        3,
    )
    assert status["observedGeneration"] == d["metadata"]["generation"]
    assert d["metadata"]["annotations"][ro.REVISION] == "1"
    [rs] = replica_sets(server, "web1")
    pod_hash = rs["metadata"]["labels"][ro.HASH_LABEL]
    assert rs["metadata"]["name"] == f"web1-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web1", ro.HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"][ro.HASH_LABEL] == pod_hash
    assert (
        rs["metadata"]["annotations"].items()
        >= {ro.REVISION: "1", ro.DESIRED_REPLICAS: "3", ro.MAX_REPLICAS: "4"}.items()
    )
    [owner] = rs["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Deployment", d["metadata"]["uid"], True)
    available, progressing = condition(d, "Available"), condition(d, "Progressing")
    assert (available["status"], available["reason"]) == ("True", ro.MIN_AVAILABLE)
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "True",
        ro.NEW_RS_AVAILABLE,
        f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.',
    )
    assert all(p["metadata"]["labels"][ro.HASH_LABEL] == pod_hash for p in pods(server, "web1"))
    events = server.kubectl("get", "events", "--field-selector", "involvedObject.name=web1", "-o", "json").stdout
    messages = [e["message"] for e in json.loads(events)["items"] if e["reason"] == "ScalingReplicaSet"]
    assert f"Scaled up replica set {rs['metadata']['name']} from 0 to 3" in messages


def test_rolling_update_keeps_availability_then_undo_reuses_the_old_replica_set(server: ServerEndpoint) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    create(server, "web2", replicas=4, strategy=strategy)
    rollout_status(server, "web2")
    [first] = replica_sets(server, "web2")
    with Sampler(server, "web2") as sampler:
        server.kubectl("set", "image", "deploy/web2", "web=nginx:1.26")
        rollout_status(server, "web2")
    assert images(server, "web2") == {"nginx:1.26"}
    ready_counts = [sum(map(is_ready, sample)) for sample in sampler.samples]
    live_counts = [sum(not p["metadata"].get("deletionTimestamp") for p in sample) for sample in sampler.samples]
    assert len(ready_counts) >= 5
    assert min(ready_counts) >= 3, ready_counts  # replicas - maxUnavailable
    assert max(live_counts) <= 5, live_counts  # replicas + maxSurge
    history = server.kubectl("rollout", "history", "deploy/web2").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    assert "nginx:1.25" in server.kubectl("rollout", "history", "deploy/web2", "--revision=1").stdout

    assert "rolled back" in server.kubectl("rollout", "undo", "deploy/web2").stdout
    rollout_status(server, "web2")
    assert images(server, "web2") == {"nginx:1.25"}
    sets = replica_sets(server, "web2")
    assert len(sets) == 2
    reused = next(rs for rs in sets if rs["metadata"]["name"] == first["metadata"]["name"])
    assert reused["metadata"]["uid"] == first["metadata"]["uid"]
    assert reused["metadata"]["annotations"][ro.REVISION] == "3"
    assert reused["metadata"]["annotations"][ro.REVISION_HISTORY] == "1"
    assert reused["spec"]["replicas"] == 4
    assert deployment(server, "web2")["metadata"]["annotations"][ro.REVISION] == "3"

    server.kubectl("rollout", "undo", "deploy/web2", "--to-revision=2")
    rollout_status(server, "web2")
    assert images(server, "web2") == {"nginx:1.26"}
    assert [rs["metadata"]["annotations"][ro.REVISION] for rs in replica_sets(server, "web2")] == ["3", "4"]


def test_recreate_never_mixes_old_and_new_pods(server: ServerEndpoint) -> None:
    create(server, "web3", replicas=3, strategy={"type": "Recreate"})
    rollout_status(server, "web3")
    with Sampler(server, "web3") as sampler:
        server.kubectl("set", "image", "deploy/web3", "web=nginx:1.26")
        rollout_status(server, "web3")
    assert images(server, "web3") == {"nginx:1.26"}
    for sample in sampler.samples:
        live = {
            p["spec"]["containers"][0]["image"]
            for p in sample
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        }
        assert len(live) <= 1, sample
    # the sampler watched the switch itself (the instant with no pods is too short to sample reliably)
    seen = [{p["spec"]["containers"][0]["image"] for p in sample} for sample in sampler.samples]
    assert {"nginx:1.25"} in seen and seen[-1] == {"nginx:1.26"}


def test_pause_stops_the_rollout_but_not_scaling(server: ServerEndpoint) -> None:
    create(server, "web4", replicas=2)
    rollout_status(server, "web4")
    server.kubectl("rollout", "pause", "deploy/web4")
    server.kubectl("set", "image", "deploy/web4", "web=nginx:1.26")
    eventually(lambda: condition(deployment(server, "web4"), "Progressing")["reason"] == ro.PAUSED, what="paused")
    server.kubectl("scale", "deploy/web4", "--replicas=3")
    eventually(lambda: len([p for p in pods(server, "web4") if is_ready(p)]) == 3, what="scaled while paused")
    time.sleep(1.0)  # give a wrongly progressing controller the chance to show it
    assert len(replica_sets(server, "web4")) == 1
    assert images(server, "web4") == {"nginx:1.25"}

    server.kubectl("rollout", "resume", "deploy/web4")
    rollout_status(server, "web4")
    assert images(server, "web4") == {"nginx:1.26"}
    assert len([p for p in pods(server, "web4") if is_ready(p)]) == 3


def test_progress_deadline_exceeded_when_pods_never_become_ready(server: ServerEndpoint) -> None:
    create(server, "web5", replicas=2, ready=False, progressDeadlineSeconds=2)
    done = server.kubectl("rollout", "status", "deploy/web5", "--timeout=60s", check=False)
    assert done.returncode != 0
    assert 'deployment "web5" exceeded its progress deadline' in done.stderr
    d = deployment(server, "web5")
    [rs] = replica_sets(server, "web5")
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False",
        ro.TIMED_OUT,
        f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.',
    )
    assert (condition(d, "Available")["status"], condition(d, "Available")["reason"]) == ("False", ro.MIN_UNAVAILABLE)


def test_scale_restart_history_limit_and_describe(server: ServerEndpoint) -> None:
    create(server, "web6", replicas=2, revisionHistoryLimit=1)
    rollout_status(server, "web6")
    server.kubectl("scale", "deploy/web6", "--replicas=4")
    rollout_status(server, "web6")
    assert len([p for p in pods(server, "web6") if is_ready(p)]) == 4
    # (kubectl refuses a second restart within the same second, so the second change is an image)
    server.kubectl("rollout", "restart", "deploy/web6")
    rollout_status(server, "web6")
    server.kubectl("set", "image", "deploy/web6", "web=nginx:1.26")
    rollout_status(server, "web6")
    sets = eventually(lambda: (s := replica_sets(server, "web6")) and len(s) == 2 and s, what="history cleanup")
    assert [rs["metadata"]["annotations"][ro.REVISION] for rs in sets] == ["2", "3"]
    assert [rs["spec"]["replicas"] for rs in sets] == [0, 4]
    described = server.kubectl("describe", "deploy/web6").stdout
    assert f"NewReplicaSet:   {sets[1]['metadata']['name']} (4/4 replicas created)" in described
    assert "OldReplicaSets:" in described
    assert "ScalingReplicaSet" in described


def test_adopts_matching_orphans(server: ServerEndpoint) -> None:
    orphan = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web7-orphan", "labels": {"app": "web7"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web7"}},
            "template": {
                "metadata": {"labels": {"app": "web7"}},
                "spec": {"containers": [{"name": "web", "image": "busybox"}]},
            },
        },
    }
    server.kubectl("apply", "-f", "-", input=json.dumps(orphan))
    create(server, "web7", replicas=2)
    rollout_status(server, "web7")
    uid = deployment(server, "web7")["metadata"]["uid"]
    adopted = get(server, f"/apis/apps/v1/namespaces/{NS}/replicasets/web7-orphan")
    assert [r["uid"] for r in adopted["metadata"]["ownerReferences"]] == [uid]
    assert adopted["spec"]["replicas"] == 0
    assert images(server, "web7") == {"nginx:1.25"}


def test_deleting_the_deployment_removes_its_replica_sets_and_pods(server: ServerEndpoint) -> None:
    create(server, "web8", replicas=2)
    rollout_status(server, "web8")
    server.kubectl("delete", "deploy/web8")
    eventually(lambda: not replica_sets(server, "web8") and not pods(server, "web8"), what="cascade")


def test_hash_collision_with_a_foreign_replica_set_bumps_the_collision_count(server: ServerEndpoint) -> None:
    create(server, "web9", replicas=1, paused=True)  # paused from the start: no ReplicaSet yet
    template = eventually(
        lambda: deployment(server, "web9").get("status") and deployment(server, "web9"), what="first status"
    )["spec"]["template"]
    assert replica_sets(server, "web9") == []
    squatter = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"web9-{ro.template_hash(template)}", "labels": {"app": "squatter"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "squatter"}},
            "template": {
                "metadata": {"labels": {"app": "squatter"}},
                "spec": {"containers": [{"name": "web", "image": "busybox"}]},
            },
        },
    }
    server.kubectl("apply", "-f", "-", input=json.dumps(squatter))
    server.kubectl("rollout", "resume", "deploy/web9")
    rollout_status(server, "web9")
    assert deployment(server, "web9")["status"]["collisionCount"] == 1
    [rs] = replica_sets(server, "web9")
    assert rs["metadata"]["name"] == f"web9-{ro.template_hash(template, 1)}"
