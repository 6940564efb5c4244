"""The StatefulSet controller and ControllerRevisions against a real server, fake nodes and the
real kubectl: ordered creation and scaling, identities, rolling updates with a partition, OnDelete,
rollout history and undo (for DaemonSets too), validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_nodes import in_process_cluster

from minikube_py.model.history import revision_hash
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    data = tmp_path_factory.mktemp("statefulset") / "data"
    with in_process_cluster(data, ["sts-n1", "sts-n2"]) as (running, _):
        yield running


def manifest(name: str, replicas: int = 3, image: str = "web:v1", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
            **spec,
        },
    }


def apply(server: ServerEndpoint, obj: Obj) -> None:
    server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(obj))


def get(server: ServerEndpoint, path: str) -> Obj:
    code, body = server.request("GET", path)
    assert code == 200, body
    return dict(body)


def sts(server: ServerEndpoint, name: str) -> Obj:
    return get(server, f"/apis/apps/v1/namespaces/{NS}/statefulsets/{name}")


def pods_of(server: ServerEndpoint, name: str) -> dict[str, Obj]:
    """The live pods of set ``name`` by pod name."""
    body = get(server, f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3D{name}")
    return {p["metadata"]["name"]: p for p in body["items"] if not p["metadata"].get("deletionTimestamp")}


def ready(server: ServerEndpoint, name: str, names: set[str]) -> dict[str, Obj] | None:
    pods = pods_of(server, name)
    if set(pods) != names:
        return None
    ok = all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in (p.get("status") or {}).get("conditions") or [])
        for p in pods.values()
    )
    return pods if ok else None


def revisions(server: ServerEndpoint, selector: str) -> dict[int, Obj]:
    body = get(server, f"/apis/apps/v1/namespaces/{NS}/controllerrevisions?labelSelector={selector}")
    return {r["revision"]: r for r in body["items"]}


def pods_in_event_order(server: ServerEndpoint, name: str, reason: str) -> list[str]:
    """The pod names of the set's events of ``reason`` in the order they were written (each is
    written once, so its resourceVersion, a store revision, orders them)."""
    body = get(server, f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3D{name}")
    events = sorted(body["items"], key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["message"].split()[2] for e in events if e["reason"] == reason]


def test_ordered_identities_rolling_update_history_and_undo(server: ServerEndpoint) -> None:
    apply(server, manifest("web"))
    server.kubectl("-n", NS, "rollout", "status", "statefulset/web", "--timeout=60s")
    pods = eventually(lambda: ready(server, "web", {"web-0", "web-1", "web-2"}), what="three ready pods")
    assert pods_in_event_order(server, "web", "SuccessfulCreate") == ["web-0", "web-1", "web-2"]
    status = sts(server, "web")["status"]
    revision = status["updateRevision"]
    assert status["currentRevision"] == revision and revision.startswith("web-")
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"], status["currentReplicas"]) == (
        3,
        3,
        3,
        3,
    )
    for ordinal, (pod_name, pod) in enumerate(sorted(pods.items())):
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == pod_name
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert labels["controller-revision-hash"] == revision
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (pod_name, "web")
    table = server.kubectl("-n", NS, "get", "sts", "web", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert table[1].split()[:2] == ["web", "3/3"] and table[1].split()[3:] == ["c", "web:v1"]
    table = server.kubectl("-n", NS, "get", "controllerrevisions").stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert table[1].split()[:3] == [revision, "statefulset.apps/web", "1"]

    # a partitioned rolling update replaces only ordinals >= 2, then the rest once the partition drops
    server.kubectl(
        "-n",
        NS,
        "patch",
        "sts",
        "web",
        "-p",
        json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}}),
    )
    server.kubectl("-n", NS, "set", "image", "sts/web", "c=web:v2")
    out = server.kubectl("-n", NS, "rollout", "status", "sts/web", "--timeout=60s").stdout
    assert "partitioned roll out complete: 1 new pods have been updated" in out
    pods = pods_of(server, "web")
    assert [pods[f"web-{i}"]["spec"]["containers"][0]["image"] for i in range(3)] == ["web:v1", "web:v1", "web:v2"]
    status = sts(server, "web")["status"]
    assert status["currentRevision"] == revision != status["updateRevision"]
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    server.kubectl(
        "-n",
        NS,
        "patch",
        "sts",
        "web",
        "-p",
        json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}),
    )
    out = server.kubectl("-n", NS, "rollout", "status", "sts/web", "--timeout=60s").stdout
    assert "partitioned roll out complete: 3 new pods have been updated" in out  # (kubectl's words for partition 0)
    assert [p["spec"]["containers"][0]["image"] for p in pods_of(server, "web").values()] == ["web:v2"] * 3
    v2 = sts(server, "web")["status"]["currentRevision"]
    assert v2 != revision

    history = server.kubectl("-n", NS, "rollout", "history", "sts/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    detail = server.kubectl("-n", NS, "rollout", "history", "sts/web", "--revision=1").stdout
    assert "web:v1" in detail

    # undo: kubectl patches the template back from revision 1, which becomes revision 3
    server.kubectl("-n", NS, "rollout", "undo", "sts/web")
    server.kubectl("-n", NS, "rollout", "status", "sts/web", "--timeout=60s")
    eventually(
        lambda: sorted(p["spec"]["containers"][0]["image"] for p in pods_of(server, "web").values()) == ["web:v1"] * 3,
        what="every pod back on v1",
    )
    by_number = revisions(server, "app%3Dweb")
    assert sorted(by_number) == [2, 3]
    assert by_number[3]["metadata"]["name"] == revision and by_number[2]["metadata"]["name"] == v2
    assert sts(server, "web")["status"]["currentRevision"] == revision


def test_scaling_is_ordered_and_deleted_pods_come_back_with_their_names(server: ServerEndpoint) -> None:
    apply(server, manifest("db", replicas=2))
    eventually(lambda: ready(server, "db", {"db-0", "db-1"}), what="two pods")
    old_uid = pods_of(server, "db")["db-1"]["metadata"]["uid"]
    # (--wait=false: a fake node's pod goes at once, and kubectl's wait can miss the deletion of a name
    # that is back before its watch starts)
    server.kubectl("-n", NS, "delete", "pod", "db-1", "--wait=false")
    eventually(
        lambda: (p := ready(server, "db", {"db-0", "db-1"})) and p["db-1"]["metadata"]["uid"] != old_uid,
        what="db-1 back",
    )

    # a failed pod (an eviction, a node's verdict) is deleted and made again under its name
    failed_uid = pods_of(server, "db")["db-0"]["metadata"]["uid"]

    def failed_and_recreated() -> bool:
        pods = ready(server, "db", {"db-0", "db-1"})
        if pods and pods["db-0"]["metadata"]["uid"] != failed_uid:
            return True
        current = pods_of(server, "db").get("db-0")
        if current and current["metadata"]["uid"] == failed_uid and current["status"].get("phase") != "Failed":
            # (again if the fake node reported it Running before the controller saw it fail)
            code, body = server.request(
                "PATCH",
                f"/api/v1/namespaces/{NS}/pods/db-0/status",
                {"status": {"phase": "Failed"}},
                content_type="application/merge-patch+json",
            )
            assert code in (200, 404, 409), body
        return False

    eventually(failed_and_recreated, what="db-0 failed and made again")
    assert "RecreatingFailedPod" in server.kubectl("-n", NS, "describe", "sts", "db").stdout

    server.kubectl("-n", NS, "scale", "sts", "db", "--replicas=4")
    eventually(lambda: ready(server, "db", {"db-0", "db-1", "db-2", "db-3"}), what="four pods")
    server.kubectl("-n", NS, "scale", "sts", "db", "--replicas=1")
    eventually(lambda: ready(server, "db", {"db-0"}), what="one pod")
    # (each event is written after its delete returns, so the last may land after its pod is gone)
    eventually(
        lambda: pods_in_event_order(server, "db", "SuccessfulDelete")[-3:] == ["db-3", "db-2", "db-1"],
        what="the deletions' events, last pod first",
    )
    eventually(lambda: sts(server, "db")["status"]["replicas"] == 1, what="the status counting one pod")
    scale = get(server, f"/apis/apps/v1/namespaces/{NS}/statefulsets/db/scale")
    assert (scale["spec"]["replicas"], scale["status"]["selector"]) == (1, "app=db")


def test_parallel_and_on_delete(server: ServerEndpoint) -> None:
    apply(server, manifest("par", replicas=3, podManagementPolicy="Parallel", updateStrategy={"type": "OnDelete"}))
    eventually(lambda: ready(server, "par", {"par-0", "par-1", "par-2"}), what="three pods")
    server.kubectl("-n", NS, "set", "image", "sts/par", "c=web:v2")
    eventually(
        lambda: (
            sts(server, "par")["status"].get("updateRevision") != sts(server, "par")["status"].get("currentRevision")
        ),
        what="a new update revision",
    )
    images = {n: p["spec"]["containers"][0]["image"] for n, p in pods_of(server, "par").items()}
    assert images == {"par-0": "web:v1", "par-1": "web:v1", "par-2": "web:v1"}  # OnDelete: nothing replaced
    server.kubectl("-n", NS, "delete", "pod", "par-1", "--wait=false")
    eventually(
        lambda: (
            (p := ready(server, "par", {"par-0", "par-1", "par-2"}))
            and p["par-1"]["spec"]["containers"][0]["image"] == "web:v2"
        ),
        what="par-1 on v2",
    )
    assert {n: p["spec"]["containers"][0]["image"] for n, p in pods_of(server, "par").items()} == {
        "par-0": "web:v1",
        "par-1": "web:v2",
        "par-2": "web:v1",
    }
    out = server.kubectl("-n", NS, "rollout", "status", "sts/par", check=False)
    assert "only available for RollingUpdate strategy type" in out.stderr


def test_invalid_statefulsets_are_refused_with_causes(server: ServerEndpoint) -> None:
    bad = manifest("bad", podManagementPolicy="Sometimes")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    bad["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "nope", "mountPath": "/d"}]
    code, body = server.request("POST", f"/apis/apps/v1/namespaces/{NS}/statefulsets", bad)
    assert code == 422, body
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {
        "spec.podManagementPolicy",
        "spec.template.metadata.labels",
        "spec.template.spec.containers[0].volumeMounts[0].name",
    } <= fields

    claimed = manifest(
        "claimed",
        volumeClaimTemplates=[
            {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
    )
    claimed["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/d"}]
    code, body = server.request("POST", f"/apis/apps/v1/namespaces/{NS}/statefulsets?dryRun=All", claimed)
    assert code == 201, body
    spec = body["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady" and spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"

    apply(server, manifest("fixed", replicas=0))
    changed = sts(server, "fixed")
    changed["spec"]["serviceName"] = "other"
    del changed["metadata"]["resourceVersion"]  # (unconditional: the controller writes the status meanwhile)
    code, body = server.request("PUT", f"/apis/apps/v1/namespaces/{NS}/statefulsets/fixed", changed)
    assert code == 422 and "updates to statefulset spec for fields other than" in body["message"], body


def test_daemonset_history_and_undo(server: ServerEndpoint, tmp_path: Path) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "c", "image": "agent:v1"}]},
            },
        },
    }
    apply(server, ds)
    server.kubectl("-n", NS, "rollout", "status", "ds/agent", "--timeout=60s")
    server.kubectl("-n", NS, "set", "image", "ds/agent", "c=agent:v2")
    server.kubectl("-n", NS, "rollout", "status", "ds/agent", "--timeout=60s")
    history = server.kubectl("-n", NS, "rollout", "history", "ds/agent").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    first = revisions(server, "app%3Dagent")[1]
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods_of(server, "agent").values()}
    assert first["metadata"]["name"] not in {f"agent-{h}" for h in hashes}

    server.kubectl("-n", NS, "rollout", "undo", "ds/agent")
    server.kubectl("-n", NS, "rollout", "status", "ds/agent", "--timeout=60s")
    eventually(
        lambda: {p["spec"]["containers"][0]["image"] for p in pods_of(server, "agent").values()} == {"agent:v1"},
        what="every daemon pod back on v1",
    )
    by_number = revisions(server, "app%3Dagent")
    assert sorted(by_number) == [2, 3] and by_number[3]["metadata"]["name"] == first["metadata"]["name"]
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods_of(server, "agent").values()}
    assert {f"agent-{h}" for h in hashes} == {first["metadata"]["name"]}


def claims(server: ServerEndpoint, selector: str) -> dict[str, Obj]:
    body = get(server, f"/api/v1/namespaces/{NS}/persistentvolumeclaims?labelSelector={selector}")
    return {c["metadata"]["name"]: c for c in body["items"] if not c["metadata"].get("deletionTimestamp")}


def with_claims(name: str, replicas: int, **spec: Any) -> Obj:
    obj = manifest(
        name,
        replicas,
        volumeClaimTemplates=[
            {
                "metadata": {"name": "data", "labels": {"claim": name}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
        **spec,
    )
    obj["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    return obj


def test_claims_are_made_per_pod_kept_and_reattached(server: ServerEndpoint) -> None:
    apply(server, with_claims("kept", 3))
    pods = eventually(lambda: ready(server, "kept", {"kept-0", "kept-1", "kept-2"}), what="three pods")
    made = claims(server, "claim%3Dkept")
    assert sorted(made) == ["data-kept-0", "data-kept-1", "data-kept-2"]
    for ordinal in range(3):
        claim = made[f"data-kept-{ordinal}"]
        assert claim["metadata"]["labels"] == {"claim": "kept", "app": "kept"}
        assert not claim["metadata"].get("ownerReferences")  # Retain: they outlive pods and set
        volumes = {v["name"]: v for v in pods[f"kept-{ordinal}"]["spec"]["volumes"]}
        assert volumes["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": f"data-kept-{ordinal}"}}
    uids = {n: c["metadata"]["uid"] for n, c in made.items()}
    # each local-path claim is provisioned on the node of its first pod
    nodes = {n: p["spec"]["nodeName"] for n, p in pods.items()}
    assert len(set(nodes.values())) == 2  # (spread over both nodes, so coming back to the same one means something)
    eventually(
        lambda: all(c["status"].get("phase") == "Bound" for c in claims(server, "claim%3Dkept").values()),
        what="the claims bound",
    )

    server.kubectl("-n", NS, "scale", "sts", "kept", "--replicas=1")
    eventually(lambda: ready(server, "kept", {"kept-0"}), what="one pod")
    assert {n: c["metadata"]["uid"] for n, c in claims(server, "claim%3Dkept").items()} == uids
    server.kubectl("-n", NS, "scale", "sts", "kept", "--replicas=3")
    pods = eventually(lambda: ready(server, "kept", {"kept-0", "kept-1", "kept-2"}), what="three pods again")
    assert {n: c["metadata"]["uid"] for n, c in claims(server, "claim%3Dkept").items()} == uids
    assert {
        v["persistentVolumeClaim"]["claimName"]
        for v in pods["kept-2"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    } == {"data-kept-2"}
    assert {n: p["spec"]["nodeName"] for n, p in pods.items()} == nodes  # back where their volumes are
    server.kubectl("-n", NS, "delete", "sts", "kept")
    eventually(lambda: not pods_of(server, "kept"), what="the pods gone")
    assert sorted(claims(server, "claim%3Dkept")) == sorted(uids)


def test_retention_policy_delete_also_when_set_later(server: ServerEndpoint) -> None:
    apply(server, with_claims("gone", 2))
    eventually(lambda: ready(server, "gone", {"gone-0", "gone-1"}), what="two pods")
    assert sorted(claims(server, "claim%3Dgone")) == ["data-gone-0", "data-gone-1"]
    owner = sts(server, "gone")["metadata"]["uid"]
    server.kubectl(
        "-n",
        NS,
        "patch",
        "sts",
        "gone",
        "-p",
        json.dumps(
            {"spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}}}
        ),
    )
    eventually(
        lambda: all(
            [r["uid"] for r in c["metadata"].get("ownerReferences") or []] == [owner]
            for c in claims(server, "claim%3Dgone").values()
        ),
        what="the set owning the claims",
    )
    server.kubectl("-n", NS, "scale", "sts", "gone", "--replicas=1")
    eventually(lambda: sorted(claims(server, "claim%3Dgone")) == ["data-gone-0"], what="the scaled-away claim gone")
    server.kubectl("-n", NS, "delete", "sts", "gone")
    eventually(lambda: not claims(server, "claim%3Dgone"), what="the claims gone with the set")


def test_a_set_recreated_after_an_orphaning_delete_adopts_the_pods(server: ServerEndpoint) -> None:
    apply(server, manifest("adopt", replicas=2))
    pods = eventually(lambda: ready(server, "adopt", {"adopt-0", "adopt-1"}), what="two pods")
    uids = {n: p["metadata"]["uid"] for n, p in pods.items()}
    server.kubectl("-n", NS, "delete", "sts", "adopt", "--cascade=orphan")
    eventually(
        lambda: all(not p["metadata"].get("ownerReferences") for p in pods_of(server, "adopt").values()),
        what="orphaned pods",
    )
    apply(server, manifest("adopt", replicas=2))
    owner = eventually(lambda: sts(server, "adopt")["metadata"]["uid"], what="the new set")
    eventually(
        lambda: all(
            (p["metadata"].get("ownerReferences") or [{}])[0].get("uid") == owner
            for p in pods_of(server, "adopt").values()
        ),
        what="the pods adopted",
    )
    assert {n: p["metadata"]["uid"] for n, p in pods_of(server, "adopt").items()} == uids
    eventually(lambda: sts(server, "adopt")["status"].get("readyReplicas") == 2, what="both counted")
    # the history was adopted too: the pods' revision is still the set's current one, nothing rolled
    adopted = revisions(server, "app%3Dadopt")
    assert [r["metadata"]["ownerReferences"][0]["uid"] for r in adopted.values()] == [owner]
    assert sts(server, "adopt")["status"]["currentRevision"] == adopted[1]["metadata"]["name"]


def test_a_pending_pod_gets_its_missing_claim(server: ServerEndpoint) -> None:
    """A pod waiting for a claim nobody made (here an orphan the set adopts) gets it from the set."""
    obj = with_claims("late", 1)
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "late-0", "labels": {"app": "late"}},
        "spec": {
            **obj["spec"]["template"]["spec"],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-late-0"}}],
        },
    }
    code, body = server.request("POST", f"/api/v1/namespaces/{NS}/pods", orphan)
    assert code == 201, body
    eventually(
        lambda: any(
            e["reason"] == "FailedScheduling"
            for e in get(server, f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3Dlate-0")["items"]
        ),
        what="late-0 unschedulable without its claim",
    )
    apply(server, obj)
    eventually(lambda: ready(server, "late", {"late-0"}), what="late-0 running on its new claim")
    assert sorted(claims(server, "claim%3Dlate")) == ["data-late-0"]


def test_a_foreign_revision_holding_the_name_bumps_the_collision_count(server: ServerEndpoint) -> None:
    obj = manifest("clash", replicas=1)
    code, dry = server.request("POST", f"/apis/apps/v1/namespaces/{NS}/statefulsets?dryRun=All", obj)
    assert code == 201, dry
    taken = f"clash-{revision_hash(dry)}"
    squatter = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": taken},
        "data": {"something": "else"},
        "revision": 1,
    }
    code, body = server.request("POST", f"/apis/apps/v1/namespaces/{NS}/controllerrevisions", squatter)
    assert code == 201, body
    apply(server, obj)
    eventually(lambda: ready(server, "clash", {"clash-0"}), what="clash-0 running")
    status = sts(server, "clash")["status"]
    assert status["collisionCount"] == 1 and status["updateRevision"] not in (taken, None)
    assert status["updateRevision"] == f"clash-{revision_hash(sts(server, 'clash'))}"
    assert get(server, f"/apis/apps/v1/namespaces/{NS}/controllerrevisions/{taken}")["data"] == {"something": "else"}
