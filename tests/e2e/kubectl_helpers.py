"""Shared pieces of the kubectl end-to-end suite: manifests and a namespaced kubectl runner.

Manifests are plain dicts (sent to kubectl as JSON or YAML on stdin) so each test states exactly
which fields it relies on; ``Kubectl`` binds a server and namespace so tests read like the
commands a user would type.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from minikube_py.testing import KUBECTL, RunningServer

Obj = dict[str, Any]
T = TypeVar("T")

#: a scheduler no component runs: pods naming it stay unbound and untouched until a test binds
#: them itself (through pods/<name>/binding), as with any pod left to a custom scheduler
MANUAL_SCHEDULER = "pykube-e2e-manual"
#: on every node a test creates: no kubelet runs there, so the scheduler must keep the cluster's
#: pending pods (and DaemonSets their pods) off it, as on a node being prepared by hand
NO_KUBELET_TAINT = {"key": "pykube.test/no-kubelet", "effect": "NoSchedule"}


class Kubectl:
    """The real kubectl, bound to one server and (unless ``-A``/``-n`` is given) one namespace."""

    def __init__(self, server: RunningServer, namespace: str) -> None:
        self.server = server
        self.namespace = namespace

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl("-n", self.namespace, *args, input=input, check=check, env=env, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (``get -w``) whose output the test reads line by line."""
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig), "KUBECACHEDIR": str(self.server.cache_dir)}
        return subprocess.Popen(
            [KUBECTL, "-n", self.namespace, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def fails(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command that must fail; returns it for assertions on stderr."""
        done = self.run(*args, input=input, check=False)
        assert done.returncode != 0, f"kubectl {' '.join(args)} unexpectedly succeeded:\n{done.stdout}"
        return done

    def out(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout

    def lines(self, *args: str, input: str | None = None) -> list[str]:
        return self.out(*args, input=input).splitlines()

    def json(self, *args: str) -> Any:
        return json.loads(self.out(*args, "-o", "json"))

    def obj(self, resource: str, name: str) -> Obj:
        result: Obj = self.json("get", resource, name)
        return result

    def names(self, resource: str, *args: str) -> list[str]:
        return sorted(item["metadata"]["name"] for item in self.json("get", resource, *args)["items"])

    def exists(self, resource: str, name: str) -> bool:
        done = self.run("get", resource, name, "-o", "name", check=False)
        if done.returncode == 0:
            return True
        assert "NotFound" in done.stderr, done.stderr
        return False

    def apply(self, *manifests: Obj, verb: str = "apply", extra: Iterable[str] = ()) -> list[str]:
        """``kubectl <verb> -f -`` with the manifests as multi-document YAML; returns stdout lines."""
        return self.out(verb, "-f", "-", *extra, input=to_yaml(*manifests)).splitlines()


def eventually(check: Callable[[], bool], failure: str, timeout: float = 30) -> None:
    """Poll ``check`` until it holds; for effects of background work (garbage collection)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.2)


def wait_for(fetch: Callable[[], T], accept: Callable[[T], bool], what: str, timeout: float = 30) -> T:
    """Poll ``fetch`` until ``accept`` takes its value, and return that value: for what controllers
    bring about in the background (a workload's replica counts). The failure shows the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}; last seen: {value!r}")
        time.sleep(0.2)


def wait_until_scheduler_saw(k: Kubectl, *pods: str) -> None:
    """Wait until the scheduler has tried and failed to place ``pods`` (PodScheduled=False): with no
    node to take them, it has then written the status it writes and leaves them alone, so a test
    can watch or conditionally replace them without racing that write."""
    k.run("wait", "--for=condition=PodScheduled=False", *(f"pod/{name}" for name in pods), "--timeout=60s")


def wait_until_rolled_out(k: Kubectl, deployment: str) -> None:
    """Wait for a Deployment's rollout to complete (Progressing: NewReplicaSetAvailable, the last
    status its controller writes while nothing changes): for one with no replicas, as no kubelet
    makes pods ready here."""
    reason = '{.status.conditions[?(@.type=="Progressing")].reason}'
    k.run("wait", f"--for=jsonpath={reason}=NewReplicaSetAvailable", f"deployment/{deployment}", "--timeout=60s")


def client_view(obj: Obj) -> Obj:
    """What a client's request could have changed on an object controllers also write (their status,
    the revision annotations, and so the resourceVersion): its identity, generation, labels and spec."""
    md = obj["metadata"]
    return {
        "uid": md["uid"],
        "generation": md.get("generation"),
        "labels": md.get("labels") or {},
        "spec": obj.get("spec"),
    }


def to_yaml(*manifests: Obj) -> str:
    return "---\n".join(yaml.safe_dump(m, sort_keys=False) for m in manifests)


def table(output: str) -> list[list[str]]:
    """A kubectl table as rows of cells (header first). kubectl left-aligns every cell under its
    header, so rows are cut at the header's column offsets; that keeps empty cells (an event's
    SUBOBJECT) in place. Header names contain at most single spaces (``NOMINATED NODE``)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return []
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=\s\s))\S", lines[0])]
    bounds = [*starts[1:], None]
    return [[line[a:b].strip() for a, b in zip(starts, bounds, strict=True)] for line in lines]


def header(output: str) -> list[str]:
    return table(output)[0]


def row(output: str, name: str, column: int = 0) -> list[str]:
    """The row whose cell ``column`` is ``name``."""
    for cells in table(output)[1:]:
        if len(cells) > column and cells[column] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{output}")


# ------------------------------------------------------------------------------------------ manifests


def meta(name: str, labels: dict[str, str] | None = None, **extra: Any) -> Obj:
    md: Obj = {"name": name, **extra}
    if labels:
        md["labels"] = labels
    return md


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.27", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, labels),
        "spec": {"containers": [{"name": "main", "image": image}], **spec},
    }


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, labels), "data": data or {"k": "v"}}


def _template(labels: dict[str, str], image: str) -> Obj:
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": image}]}}


def deployment(name: str, replicas: int = 1, image: str = "nginx:1.27", labels: dict[str, str] | None = None) -> Obj:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, labels),
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}, "template": _template(selector, image)},
    }


def replicaset(name: str, replicas: int = 1) -> Obj:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": _template(selector, "nginx:1.27"),
        },
    }


def daemonset(name: str) -> Obj:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name),
        "spec": {"selector": {"matchLabels": selector}, "template": _template(selector, "nginx:1.27")},
    }


def statefulset(name: str, replicas: int = 1) -> Obj:
    selector = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name),
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": selector},
            "template": _template(selector, "nginx:1.27"),
        },
    }


def replicationcontroller(name: str, replicas: int = 1) -> Obj:
    selector = {"app": name}
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": meta(name),
        "spec": {"replicas": replicas, "selector": selector, "template": _template(selector, "nginx:1.27")},
    }


def job(name: str) -> Obj:
    template = _template({"job": name}, "busybox:1.36")
    template["spec"]["restartPolicy"] = "Never"
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(name), "spec": {"template": template}}


def service(name: str, port: int = 80, **spec: Any) -> Obj:
    ports: list[Obj] = [{"port": port, "protocol": "TCP"}]
    if "nodePort" in spec:
        ports[0]["nodePort"] = spec.pop("nodePort")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {"selector": {"app": name}, "ports": ports, **spec},
    }


def node(name: str) -> Obj:
    """A Ready node no kubelet serves (tainted with NO_KUBELET_TAINT): tests that create one only look
    at it and delete it well within the node lifecycle controller's grace period."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(name, {"kubernetes.io/hostname": name}),
        "spec": {"taints": [NO_KUBELET_TAINT]},
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                }
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Debian",
                "kernelVersion": "6.1",
                "containerRuntimeVersion": "docker://27.0",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


def mint(server: RunningServer, tmp_path: Path, user: str, *groups: str) -> Path:
    """A kubeconfig for ``user`` made by the ``pykube kubeconfig`` command, as an admin would."""
    out = tmp_path / f"{user.replace(':', '_')}.kubeconfig"  # KUBECONFIG splits at colons
    args = [
        sys.executable,
        "-m",
        "minikube_py.cli.main",
        "kubeconfig",
        "--user",
        user,
        "--data-dir",
        str(server.data_dir),
        "--expiration",
        "24h",
        "--out",
        str(out),
    ]
    for group in groups:
        args += ["--group", group]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)
    assert out.stat().st_mode & 0o777 == 0o600
    return out


def as_user(server: RunningServer, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(server.cache_dir / kubeconfig.stem)}
    return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=60, check=False)
