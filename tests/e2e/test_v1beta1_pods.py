"""2014 manifests, as kept, run on the Docker agent: POSTed with the real kubectl's ``create --raw`` and
with curl and the admin kubeconfig's credentials, then seen through v1 (kubectl) and v1beta1.

The server's node runs no service proxy (``--proxy-mode none``): these tests write no host rules, which
other clusters on a shared host would see. The only change to the files is the apache pod's hostPort
(8080 in the file), moved to a free port so that the test does not depend on 8080 being free here, and
the webserver's hostDir paths, moved under this test's temporary directory.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from agent_helpers import cluster_fixtures, wait_for
from kubectl_helpers import Kubectl

from minikube_py.testing import RunningServer, free_port

NODE = "pykube-e2e-v1beta1"
DATA = Path(__file__).parent.parent / "data" / "v1beta1"
Obj = dict[str, Any]


cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.187.0.0/16", namespace_prefix="b")


def example(name: str) -> Obj:
    return json.loads((DATA / f"{name}.json").read_text())


def create_raw(k: Kubectl, tmp_path: Path, collection: str, obj: Obj) -> Obj:
    """``kubectl create --raw`` of a v1beta1 file; kubectl prints the server's answer."""
    path = tmp_path / f"{obj['id']}.json"
    path.write_text(json.dumps(obj, indent=2))
    out = k.server.kubectl(
        "create", "--raw", f"/api/v1beta1/namespaces/{k.namespace}/{collection}", "-f", str(path)
    ).stdout
    return json.loads(out)


def curl(cluster: RunningServer, tmp_path: Path, method: str, path: str, body: Obj | None = None) -> Obj:
    """curl with the admin kubeconfig's server, CA and token, as a 2014 script would call the API."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    command = [
        "curl",
        "-sS",
        "--fail-with-body",
        "--cacert",
        str(ca),
        "-X",
        method,
        "-H",
        f"Authorization: Bearer {config['users'][0]['user']['token']}",
    ]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
    done = subprocess.run(
        [*command, config["clusters"][0]["cluster"]["server"] + path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def v1beta1_get(k: Kubectl, collection: str, name: str) -> Obj:
    status, obj = k.server.request("GET", f"/api/v1beta1/{collection}/{name}?namespace={k.namespace}")
    assert status == 200, obj
    return obj


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (busybox httpd answers 404 for a directory without index)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_apache_pod_posted_with_kubectl_create_raw_runs(k: Kubectl, tmp_path: Path) -> None:
    pod = example("apache-pod")
    host_port = free_port()
    pod["desiredState"]["manifest"]["containers"][0]["ports"][0]["hostPort"] = host_port
    created = create_raw(k, tmp_path, "pods", pod)
    assert (created["kind"], created["apiVersion"], created["id"]) == ("Pod", "v1beta1", "apache")

    def running() -> Obj | None:
        got = v1beta1_get(k, "pods", "apache")
        return got if got["currentState"]["status"] == "Running" and got["currentState"].get("podIP") else None

    got = wait_for(running, "the apache pod to be Running in v1beta1", timeout=90)
    state = got["currentState"]
    assert (state["host"], state["hostIP"]) == (NODE, "127.0.0.1")
    assert re.fullmatch(r"10\.187\.\d+\.\d+", state["podIP"])
    assert state["info"]["master"]["state"]["running"]["startedAt"]
    assert state["info"]["master"]["ready"] is True
    assert got["desiredState"]["host"] == NODE

    # the real kubectl (v1) lists it, with the same pod IP
    out = k.out("get", "pods", "-o", "wide")
    row = next(line.split() for line in out.splitlines() if line.startswith("apache "))
    assert row[2] == "Running" and state["podIP"] in row
    # and its container really serves on the hostPort of the 2014 manifest
    assert wait_for(lambda: answers(f"http://127.0.0.1:{host_port}/"), f"httpd on hostPort {host_port}")


def test_tomcat_controller_posted_with_curl_runs_and_scales_through_v1(k: Kubectl, tmp_path: Path) -> None:
    created = curl(
        k.server,
        tmp_path,
        "POST",
        f"/api/v1beta1/replicationControllers?namespace={k.namespace}",
        example("tomcat-controller"),
    )
    assert (created["kind"], created["desiredState"]["replicas"]) == ("ReplicationController", 2)

    def running(count: int) -> list[Obj] | None:
        listing = curl(k.server, tmp_path, "GET", f"/api/v1beta1/pods?namespace={k.namespace}&labels=name%3Dtomcat")
        pods = [p for p in listing["items"] if p["currentState"]["status"] == "Running"]
        return pods if len(pods) == count else None

    pods = wait_for(lambda: running(2), "2 running tomcat pods", timeout=90)
    assert all(p["currentState"].get("podIP") for p in pods)
    names = k.out("get", "pods", "-l", "name=tomcat", "-o", "name").split()
    assert sorted(names) == sorted(f"pod/{p['id']}" for p in pods)

    k.run("scale", "rc", "tomcat-controller", "--replicas=3")
    got = v1beta1_get(k, "replicationControllers", "tomcat-controller")
    assert got["desiredState"]["replicas"] == 3
    wait_for(lambda: running(3), "3 running tomcat pods", timeout=90)
    assert wait_for(
        lambda: v1beta1_get(k, "replicationControllers", "tomcat-controller")["currentState"]["replicas"] == 3 or None,
        "currentState.replicas to reach 3",
    )


def test_services_portal_ip_is_the_v1_cluster_ip(k: Kubectl, tmp_path: Path) -> None:
    created = create_raw(k, tmp_path, "services", example("apache-service"))
    cluster_ip = k.out("get", "svc", "apache", "-o", "jsonpath={.spec.clusterIP}")
    assert created["portalIP"] == cluster_ip
    assert v1beta1_get(k, "services", "apache")["portalIP"] == cluster_ip
    created = curl(
        k.server, tmp_path, "POST", f"/api/v1beta1/services?namespace={k.namespace}", example("tomcat-service")
    )
    svc = json.loads(k.out("get", "svc", "tomcat", "-o", "json"))
    assert created["portalIP"] == svc["spec"]["clusterIP"]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def test_webserver_controller_mounts_its_three_host_dirs(k: Kubectl, tmp_path: Path) -> None:
    rc = example("webserver-controller")
    manifest = rc["desiredState"]["podTemplate"]["desiredState"]["manifest"]
    for volume in manifest["volumes"]:
        directory = tmp_path / "host" / volume["name"]
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        volume["source"]["hostDir"]["path"] = str(directory)
    (tmp_path / "host" / "www" / "index.html").write_text("hello from a 2014 hostDir\n")
    (tmp_path / "host" / "www" / "index.html").chmod(0o644)
    create_raw(k, tmp_path, "replicationControllers", rc)

    def serving() -> str | None:
        listing = k.server.request("GET", f"/api/v1beta1/pods?namespace={k.namespace}&labels=name%3Dwebserver")[1]
        ips = [p["currentState"].get("podIP") for p in listing["items"] if p["currentState"]["status"] == "Running"]
        if not ips or not ips[0]:
            return None
        try:
            with urllib.request.urlopen(f"http://{ips[0]}:80/", timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            return None

    assert wait_for(serving, "the webserver to serve its hostDir", timeout=90) == "hello from a 2014 hostDir\n"
    pod = json.loads(k.out("get", "pods", "-l", "name=webserver", "-o", "json"))["items"][0]
    assert [v["hostPath"]["path"] for v in pod["spec"]["volumes"] if "hostPath" in v] == [
        str(tmp_path / "host" / name) for name in ("www", "logs", "conf")
    ]


def test_v1beta1_watch_sees_the_pod_start_and_delete_stops_it(k: Kubectl, tmp_path: Path) -> None:
    cluster = k.server
    req = urllib.request.Request(
        f"{cluster.url}/api/v1beta1/watch/pods?namespace={k.namespace}&timeoutSeconds=90",
        headers={"Authorization": f"Bearer {cluster.admin_token}"},
    )
    pod = example("apache-pod") | {"id": "watched"}
    del pod["desiredState"]["manifest"]["containers"][0]["ports"][0]["hostPort"]
    with urllib.request.urlopen(req, context=cluster.ssl_context(), timeout=90) as stream:
        create_raw(k, tmp_path, "pods", pod)
        seen = []
        for line in stream:
            event = json.loads(line)
            state = event["object"]["currentState"]
            assert (event["object"]["kind"], event["object"]["apiVersion"]) == ("Pod", "v1beta1")
            seen.append((event["type"], state["status"]))
            if state["status"] == "Running" and state.get("podIP"):
                break
    assert seen[0] == ("ADDED", "Waiting")
    assert seen[-1] == ("MODIFIED", "Running")

    status, deleted = cluster.request(
        "DELETE", f"/api/v1beta1/pods/watched?namespace={k.namespace}", {"gracePeriodSeconds": 0}
    )
    assert (status, deleted["kind"], deleted["id"]) == (200, "Pod", "watched")
    wait_for(
        lambda: cluster.request("GET", f"/api/v1/namespaces/{k.namespace}/pods/watched")[0] == 404 or None,
        "the pod to be gone",
    )
    assert "watched" not in k.out("get", "pods")

    def containers_left() -> str:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=io.pykube.pod.namespace={k.namespace}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    wait_for(lambda: containers_left() == "" or None, "the pod's containers to be removed")
