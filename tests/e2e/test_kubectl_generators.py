"""``kubectl create <generator>``: typed clients that POST protobuf bodies the server must decode."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from kubectl_helpers import Kubectl, row

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_generic(k: Kubectl) -> None:
    assert k.lines("create", "secret", "generic", "s1", "--from-literal=user=admin", "--from-literal=pw=s3cr3t") == [
        "secret/s1 created"
    ]
    live = k.obj("secret", "s1")
    assert live["type"] == "Opaque"
    assert live["data"] == {"user": b64("admin"), "pw": b64("s3cr3t")}
    assert row(k.out("get", "secrets"), "s1")[1:3] == ["Opaque", "2"]


def test_secret_docker_registry(k: Kubectl) -> None:
    k.run(
        "create",
        "secret",
        "docker-registry",
        "regcred",
        "--docker-server=r.example.com",
        "--docker-username=u",
        "--docker-password=p",
        "--docker-email=e@x.com",
    )
    live = k.obj("secret", "regcred")
    assert live["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(live["data"][".dockerconfigjson"]))
    assert config["auths"]["r.example.com"] == {
        "username": "u",
        "password": "p",
        "email": "e@x.com",
        "auth": b64("u:p"),
    }


def test_secret_tls(k: Kubectl, server: RunningServer) -> None:
    pki = server.data_dir / "pki"
    k.run("create", "secret", "tls", "tls1", f"--cert={pki / 'server.crt'}", f"--key={pki / 'server.key'}")
    live = k.obj("secret", "tls1")
    assert live["type"] == "kubernetes.io/tls"
    assert base64.b64decode(live["data"]["tls.crt"]) == (pki / "server.crt").read_bytes()
    assert base64.b64decode(live["data"]["tls.key"]) == (pki / "server.key").read_bytes()


def test_configmap_from_literals(k: Kubectl) -> None:
    assert k.lines("create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=b=two") == [
        "configmap/cm1 created"
    ]
    assert k.obj("configmap", "cm1")["data"] == {"a": "1", "b": "two"}
    assert row(k.out("get", "cm"), "cm1")[1] == "2"


def test_configmap_binary_data(k: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\xff\x00\xfe")
    k.run("create", "configmap", "bin", f"--from-file={path}")
    assert k.obj("configmap", "bin")["binaryData"] == {"blob.bin": base64.b64encode(b"\xff\x00\xfe").decode()}


def test_namespace(server: RunningServer) -> None:
    name = f"gen-ns-{os.urandom(3).hex()}"
    assert server.kubectl("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
    ns = json.loads(server.kubectl("get", "ns", name, "-o", "json").stdout)
    assert ns["status"]["phase"] == "Active"
    assert ns["spec"].get("finalizers") == ["kubernetes"]


def test_deployment(k: Kubectl) -> None:
    assert k.lines("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80") == [
        "deployment.apps/web created"
    ]
    live = k.obj("deployment", "web")
    assert live["spec"]["replicas"] == 2
    assert live["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("nginx", "nginx:1.27")
    assert container["ports"][0]["containerPort"] == 80
    assert live["spec"]["strategy"]["type"] == "RollingUpdate"
    assert row(k.out("get", "deploy"), "web")[1] == "0/2"


def test_service_clusterip(k: Kubectl) -> None:
    assert k.lines("create", "service", "clusterip", "api", "--tcp=8080:80") == ["service/api created"]
    live = k.obj("service", "api")
    assert live["spec"]["type"] == "ClusterIP"
    assert live["spec"]["ports"][0]["port"] == 8080 and live["spec"]["ports"][0]["targetPort"] == 80
    assert live["spec"]["selector"] == {"app": "api"}
    assert live["spec"]["clusterIP"].startswith("10.")


def test_service_headless(k: Kubectl) -> None:
    k.run("create", "service", "clusterip", "headless", "--clusterip=None", "--tcp=80:80")
    assert k.obj("service", "headless")["spec"]["clusterIP"] == "None"


def test_service_nodeport(k: Kubectl) -> None:
    k.run("create", "service", "nodeport", "np", "--tcp=80:8080")
    live = k.obj("service", "np")
    assert live["spec"]["type"] == "NodePort"
    node_port = live["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    assert row(k.out("get", "svc"), "np")[4] == f"80:{node_port}/TCP"


def test_serviceaccount(k: Kubectl) -> None:
    assert k.lines("create", "serviceaccount", "robot") == ["serviceaccount/robot created"]
    assert k.obj("sa", "robot")["metadata"]["name"] == "robot"
    assert row(k.out("get", "sa"), "robot")[1] == "0"


def test_job(k: Kubectl) -> None:
    assert k.lines("create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi") == ["job.batch/once created"]
    live = k.obj("job", "once")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["command"] == ["echo", "hi"]
    assert live["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_cronjob_and_a_job_from_it(k: Kubectl) -> None:
    assert k.lines(
        "create",
        "cronjob",
        "tick",
        "--image=busybox:1.36",
        "--schedule=*/5 * * * *",
        "--restart=OnFailure",
        "--",
        "date",
    ) == ["cronjob.batch/tick created"]
    live = k.obj("cronjob", "tick")
    assert (live["spec"]["schedule"], live["spec"]["concurrencyPolicy"], live["spec"]["suspend"]) == (
        "*/5 * * * *",
        "Allow",
        False,
    )
    assert live["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["date"]
    assert row(k.out("get", "cj"), "tick")[1:5] == ["*/5 * * * *", "<none>", "False", "0"]
    # kubectl GETs the CronJob and POSTs (in protobuf) a Job made of its template, owned by it
    assert k.lines("create", "job", "now", "--from=cronjob/tick") == ["job.batch/now created"]
    job = k.obj("job", "now")
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert [(r["kind"], r["name"], r["uid"]) for r in job["metadata"]["ownerReferences"]] == [
        ("CronJob", "tick", live["metadata"]["uid"])
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    bad = k.run("create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *", check=False)
    assert bad.returncode == 1
    assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in bad.stderr


def test_generator_dry_run_creates_nothing(k: Kubectl) -> None:
    k.run("create", "configmap", "dry", "--from-literal=a=1", "--dry-run=server")
    assert not k.exists("configmap", "dry")
