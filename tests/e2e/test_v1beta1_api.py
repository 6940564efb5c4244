"""``/api/v1beta1`` over HTTPS against a server without nodes: the 2014 shapes in and out, one store with v1.

The pods here are never scheduled (no node runs them); tests/e2e/test_v1beta1_pods.py runs them on Docker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from minikube_py.testing import RunningServer, eventually

DATA = Path(__file__).parent.parent / "data" / "v1beta1"
Obj = dict[str, Any]


def example(name: str) -> Obj:
    return json.loads((DATA / f"{name}.json").read_text())


def post(server: RunningServer, path: str, body: Any) -> tuple[int, Any]:
    return server.request("POST", path, body)


def bound_pod() -> Obj:
    """The apache pod bound to a minion that does not exist: no scheduler or node writes to it, so
    its resourceVersion moves only when the test writes."""
    pod = example("apache-pod")
    pod["desiredState"]["host"] = "no-such-minion"
    return pod


def test_pod_created_through_v1beta1_is_a_v1_pod(server: RunningServer, namespace: str) -> None:
    status, created = post(server, f"/api/v1beta1/pods?namespace={namespace}", example("apache-pod"))
    assert status == 201, created
    assert (created["kind"], created["apiVersion"], created["id"], created["namespace"]) == (
        "Pod",
        "v1beta1",
        "apache",
        namespace,
    )
    assert isinstance(created["resourceVersion"], int)
    assert created["uid"] and created["creationTimestamp"]
    assert created["selfLink"] == f"/api/v1beta1/pods/apache?namespace={namespace}"
    assert created["currentState"]["status"] == "Waiting"

    status, pod = server.request("GET", f"/api/v1/namespaces/{namespace}/pods/apache")
    assert status == 200
    assert pod["metadata"]["labels"] == {"name": "apache"}
    assert created["uid"] == pod["metadata"]["uid"]
    assert created["resourceVersion"] <= int(pod["metadata"]["resourceVersion"])  # the scheduler may have written
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["httpd", "-f", "-p", "80"]
    assert container["ports"] == [{"name": "http", "containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "67108864"}
    assert pod["spec"]["restartPolicy"] == "Always"

    status, got = server.request("GET", f"/api/v1beta1/pods/apache?namespace={namespace}")
    assert status == 200
    manifest = got["desiredState"]["manifest"]
    written = example("apache-pod")["desiredState"]["manifest"]
    assert manifest["containers"][0]["imagePullPolicy"] == "PullIfNotPresent"  # v1's default, in 2014 words
    for key in ("name", "image", "command", "cpu", "memory", "ports", "env"):
        assert manifest["containers"][0][key] == written["containers"][0][key]
    assert manifest["restartPolicy"] == {"always": {}}


def test_namespace_comes_from_path_query_body_or_default(server: RunningServer, namespace: str) -> None:
    pod = example("apache-pod") | {"id": "in-path"}
    assert post(server, f"/api/v1beta1/namespaces/{namespace}/pods", pod)[0] == 201
    pod = example("apache-pod") | {"id": "in-body", "namespace": namespace}
    assert post(server, "/api/v1beta1/pods", pod)[0] == 201
    names = {p["metadata"]["name"] for p in server.request("GET", f"/api/v1/namespaces/{namespace}/pods")[1]["items"]}
    assert names == {"in-path", "in-body"}
    # no namespace anywhere: "default", as v1beta1 had it
    name = f"default-{namespace}"[:60]
    status, created = post(server, "/api/v1beta1/pods", example("apache-pod") | {"id": name})
    assert (status, created["namespace"]) == (201, "default")
    assert server.request("GET", f"/api/v1beta1/pods/{name}")[0] == 200
    assert server.request("DELETE", f"/api/v1beta1/pods/{name}")[0] == 200
    assert server.request("GET", f"/api/v1/namespaces/default/pods/{name}")[0] == 404


def test_list_with_label_selector_and_across_namespaces(server: RunningServer, namespace: str) -> None:
    post(server, f"/api/v1beta1/pods?namespace={namespace}", example("apache-pod"))
    post(
        server,
        f"/api/v1beta1/pods?namespace={namespace}",
        example("apache-pod") | {"id": "other", "labels": {"name": "other"}},
    )
    status, listing = server.request("GET", f"/api/v1beta1/pods?namespace={namespace}&labels=name%3Dapache")
    assert status == 200
    assert (listing["kind"], listing["apiVersion"]) == ("PodList", "v1beta1")
    assert isinstance(listing["resourceVersion"], int)
    assert [p["id"] for p in listing["items"]] == ["apache"]
    everywhere = server.request("GET", "/api/v1beta1/pods?labels=name%3Dother")[1]["items"]
    assert {(p["namespace"], p["id"]) for p in everywhere} >= {(namespace, "other")}
    # fields= with the field labels of the time: the 2014 scheduler's query for unbound pods
    post(server, f"/api/v1beta1/pods?namespace={namespace}", bound_pod() | {"id": "bound"})
    unbound = server.request("GET", f"/api/v1beta1/pods?namespace={namespace}&fields=DesiredState.Host%3D")[1]
    assert sorted(p["id"] for p in unbound["items"]) == ["apache", "other"]
    bound = server.request("GET", f"/api/v1beta1/pods?namespace={namespace}&fields=DesiredState.Host%21%3D")[1]
    assert [p["id"] for p in bound["items"]] == ["bound"]
    waiting = server.request("GET", f"/api/v1beta1/pods?namespace={namespace}&fields=DesiredState.Status%3DWaiting")[1]
    assert len(waiting["items"]) == 3
    status, err = server.request("GET", f"/api/v1beta1/pods?namespace={namespace}&fields=Shoe.Size%3D9")
    assert (status, err["reason"]) == (400, "BadRequest")


def test_update_through_v1beta1_keeps_what_it_cannot_say(server: RunningServer, namespace: str) -> None:
    post(server, f"/api/v1beta1/pods?namespace={namespace}", bound_pod())
    path = f"/api/v1beta1/pods/apache?namespace={namespace}"
    got = server.request("GET", path)[1]
    tolerations = server.request("GET", f"/api/v1/namespaces/{namespace}/pods/apache")[1]["spec"].get("tolerations")
    got["labels"]["tier"] = "web"
    status, updated = server.request("PUT", path, got)
    assert status == 200, updated
    assert updated["labels"] == {"name": "apache", "tier": "web"}
    assert updated["resourceVersion"] > got["resourceVersion"]
    v1 = server.request("GET", f"/api/v1/namespaces/{namespace}/pods/apache")[1]
    assert v1["metadata"]["labels"]["tier"] == "web"
    assert v1["spec"].get("tolerations") == tolerations
    # the old resourceVersion is stale now: 409, as in v1
    status, conflict = server.request("PUT", path, got)
    assert (status, conflict["kind"], conflict["reason"]) == (409, "Status", "Conflict")


def test_bad_bodies_are_v1_status_errors(server: RunningServer, namespace: str) -> None:
    path = f"/api/v1beta1/pods?namespace={namespace}"
    v1_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": []}}
    status, err = post(server, path, v1_pod)
    assert (status, err["reason"]) == (400, "BadRequest")
    assert "(v1)" in err["message"]
    status, err = post(server, path, example("apache-service"))
    assert (status, err["reason"]) == (400, "BadRequest")
    bad = example("apache-pod")
    bad["desiredState"]["manifest"]["restartPolicy"] = {"sometimes": {}}
    status, err = post(server, path, bad)
    assert (status, err["reason"]) == (422, "Invalid")
    assert [c["field"] for c in err["details"]["causes"]] == ["desiredState.manifest.restartPolicy"]
    # v1's own validation runs too, after conversion
    bad = example("apache-pod")
    bad["desiredState"]["manifest"]["containers"][0]["image"] = ""
    status, err = post(server, path, bad)
    assert (status, err["reason"]) == (422, "Invalid")
    assert server.request("GET", f"/api/v1/namespaces/{namespace}/pods")[1]["items"] == []
    assert server.request("GET", "/api/v1beta1/widgets")[0] == 404


def test_controller_scaled_through_v1_shows_in_v1beta1(server: RunningServer, namespace: str) -> None:
    status, created = post(
        server, f"/api/v1beta1/replicationControllers?namespace={namespace}", example("tomcat-controller")
    )
    assert status == 201, created
    assert created["desiredState"]["replicas"] == 2
    status, _ = server.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/replicationcontrollers/tomcat-controller/scale",
        {"spec": {"replicas": 4}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    path = f"/api/v1beta1/replicationControllers/tomcat-controller?namespace={namespace}"
    got = server.request("GET", path)[1]
    assert got["desiredState"]["replicas"] == 4
    assert got["desiredState"]["replicaSelector"] == {"name": "tomcat"}
    assert got["desiredState"]["podTemplate"]["labels"] == {"name": "tomcat"}
    assert isinstance(got["currentState"]["replicas"], int)

    # and back: v1beta1 writes the replicas v1 reads (read, change, write again on a 409 from the
    # controller's status writes in between, as any client of optimistic concurrency does)
    def scaled_down() -> bool | None:
        current = server.request("GET", path)[1]
        current["desiredState"]["replicas"] = 0
        status, answer = server.request("PUT", path, current)
        assert status in (200, 409), answer
        return status == 200 or None

    eventually(scaled_down, "a PUT of replicas 0 without a conflict")
    v1 = server.request("GET", f"/api/v1/namespaces/{namespace}/replicationcontrollers/tomcat-controller")[1]
    assert v1["spec"]["replicas"] == 0


def test_service_portal_ip_is_its_cluster_ip(server: RunningServer, namespace: str) -> None:
    status, created = post(server, f"/api/v1beta1/services?namespace={namespace}", example("apache-service"))
    assert status == 201, created
    v1 = server.request("GET", f"/api/v1/namespaces/{namespace}/services/apache")[1]
    assert created["portalIP"] == v1["spec"]["clusterIP"]
    assert v1["spec"]["ports"][0]["port"] == 8000 and v1["spec"]["ports"][0]["targetPort"] == 80
    assert (created["port"], created["containerPort"], created["selector"]) == (8000, 80, {"name": "apache"})
    status, created = post(server, f"/api/v1beta1/services?namespace={namespace}", example("tomcat-service"))
    assert status == 201, created
    v1 = server.request("GET", f"/api/v1/namespaces/{namespace}/services/tomcat")[1]
    assert v1["spec"]["type"] == "LoadBalancer"
    assert v1["spec"]["ports"][0]["targetPort"] == "http"
    assert created["createExternalLoadBalancer"] is True and created["containerPort"] == "http"


def test_minion_registered_in_2014_shape_is_a_node(server: RunningServer, namespace: str) -> None:
    name = f"minion-{namespace}"[:60]
    minion = {
        "id": name,
        "kind": "Minion",
        "apiVersion": "v1beta1",
        "hostIP": "10.240.0.9",
        "resources": {"capacity": {"cpu": 1000, "memory": 3221225472}},
    }
    status, created = post(server, "/api/v1beta1/minions", minion)
    try:
        assert status == 201, created
        node = server.request("GET", f"/api/v1/nodes/{name}")[1]
        assert node["status"]["addresses"] == [{"type": "InternalIP", "address": "10.240.0.9"}]
        got = server.request("GET", f"/api/v1beta1/minions/{name}")[1]
        assert (got["kind"], got["id"], got["hostIP"]) == ("Minion", name, "10.240.0.9")
        assert got["resources"]["capacity"]["cpu"] == 1000
        listing = server.request("GET", "/api/v1beta1/minions")[1]
        assert listing["kind"] == "MinionList"
        assert name in {m["id"] for m in listing["items"]} and listing["minions"] == listing["items"]
    finally:
        server.request("DELETE", f"/api/v1beta1/minions/{name}")
    assert server.request("GET", f"/api/v1/nodes/{name}")[0] == 404


def test_watch_streams_v1beta1_objects(server: RunningServer, namespace: str) -> None:
    post(server, f"/api/v1beta1/pods?namespace={namespace}", bound_pod())
    for path in (
        f"/api/v1beta1/watch/pods?namespace={namespace}&timeoutSeconds=1",
        f"/api/v1beta1/pods?namespace={namespace}&watch=true&timeoutSeconds=1",
    ):
        status, raw = server.request("GET", path)
        assert status == 200
        events = [json.loads(line) for line in (raw if isinstance(raw, str) else json.dumps(raw)).splitlines()]
        assert [(e["type"], e["object"]["kind"], e["object"]["apiVersion"], e["object"]["id"]) for e in events] == [
            ("ADDED", "Pod", "v1beta1", "apache")
        ]


def test_resource_list_is_served_but_not_listed_in_api(server: RunningServer) -> None:
    status, listing = server.request("GET", "/api/v1beta1")
    assert status == 200
    assert {r["name"] for r in listing["resources"]} == {"pods", "replicationControllers", "services", "minions"}
    assert server.request("GET", "/api")[1]["versions"] == ["v1"]


def test_real_kubectl_reads_and_writes_v1beta1_raw(server: RunningServer, namespace: str, tmp_path: Path) -> None:
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps(example("apache-pod")))
    created = json.loads(
        server.kubectl("create", "--raw", f"/api/v1beta1/pods?namespace={namespace}", "-f", str(pod)).stdout
    )
    assert (created["id"], created["namespace"]) == ("apache", namespace)
    got = json.loads(server.kubectl("get", "--raw", f"/api/v1beta1/pods/apache?namespace={namespace}").stdout)
    assert got["desiredState"]["manifest"]["containers"][0]["ports"][0]["hostPort"] == 8080
    assert "apache" in server.kubectl("get", "pods", "-n", namespace).stdout
    # a YAML manifest, sent as kubectl sends a file's bytes (no Content-Type)
    pod.write_text(yaml.safe_dump(example("apache-pod") | {"id": "from-yaml"}))
    created = json.loads(
        server.kubectl("create", "--raw", f"/api/v1beta1/pods?namespace={namespace}", "-f", str(pod)).stdout
    )
    assert created["desiredState"]["manifest"]["containers"][0]["command"] == ["httpd", "-f", "-p", "80"]
    # discovery is untouched: kubectl 1.32 neither lists nor looks up v1beta1
    versions = server.kubectl("api-versions")
    assert "v1beta1" not in versions.stdout.split() and not versions.stderr
