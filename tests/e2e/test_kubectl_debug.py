"""``kubectl debug`` (the real kubectl) against ``pykube server`` with its embedded Docker agent.

kubectl adds an ephemeral container by a strategic merge patch of ``pods/<name>/ephemeralcontainers``;
the agent starts it once in the pod's sandbox (in the target container's process namespace with
``--target``), reports it in ``status.ephemeralContainerStatuses``, and attach and logs reach it.
One server serves every test, each test has its own namespace; the node's containers are removed at
the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from agent_helpers import busybox_pod, create, fresh_namespace, node_server, pod_obj, wait_for, wait_running
from kubectl_helpers import Kubectl
from support import BUSYBOX_IMAGE

from minikube_py.testing import RunningServer

NODE = "pykube-e2e-debug"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with node_server(
        tmp_path_factory.mktemp("debug") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.193.0.0/16"
    ) as running:
        yield running


@pytest.fixture
def k(cluster: RunningServer, request: pytest.FixtureRequest) -> Iterator[Kubectl]:
    yield from fresh_namespace(cluster, request, "dbg")


def _ephemeral_status(k: Kubectl, pod: str, name: str) -> dict | None:
    statuses = pod_obj(k, pod)["status"].get("ephemeralContainerStatuses") or []
    return next((s for s in statuses if s["name"] == name), None)


def _terminated(k: Kubectl, pod: str, name: str) -> dict:
    def ended() -> dict | None:
        status = _ephemeral_status(k, pod, name)
        return (status or {}).get("state", {}).get("terminated")

    return wait_for(ended, f"ephemeral container {name} of {pod} to terminate", timeout=60)


def _sleeper(k: Kubectl, name: str) -> dict:
    create(k, busybox_pod(name, "exec sleep 3600"))
    return wait_running(k, name)


def test_debug_with_a_target_shares_the_pods_network_and_the_targets_processes(k: Kubectl) -> None:
    pod = _sleeper(k, "target")
    out = k.run(
        "debug",
        "target",
        f"--image={BUSYBOX_IMAGE}",
        "--target=main",
        "-c",
        "probe",
        "--",
        "sh",
        "-c",
        "ps -o args; ip -4 addr",
    )
    assert out.returncode == 0, out.stderr
    terminated = _terminated(k, "target", "probe")
    assert terminated["exitCode"] == 0
    logs = k.out("logs", "target", "-c", "probe")
    assert "sleep 3600" in logs  # the target's process, seen from the ephemeral container
    assert pod["status"]["podIP"] in logs  # the pod's network namespace
    spec = pod_obj(k, "target")["spec"]
    assert [c["name"] for c in spec["ephemeralContainers"]] == ["probe"]
    assert spec["ephemeralContainers"][0]["targetContainerName"] == "main"
    # the pod itself goes on: its container was neither restarted nor touched
    after = pod_obj(k, "target")
    assert after["status"]["phase"] == "Running"
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    # the ended ephemeral container is never started again
    status = _ephemeral_status(k, "target", "probe")
    assert status is not None and status["restartCount"] == 0


def test_interactive_debug_attaches_to_the_ephemeral_container(k: Kubectl) -> None:
    _sleeper(k, "talk")
    out = k.run(
        "debug",
        "-i",
        "talk",
        f"--image={BUSYBOX_IMAGE}",
        "-c",
        "shell",
        "--",
        "sh",
        input="echo hi-from-$(hostname)\nexit 3\n",
        check=False,
    )
    assert "hi-from-talk" in out.stdout, (out.stdout, out.stderr)
    terminated = _terminated(k, "talk", "shell")
    assert terminated["exitCode"] == 3
    raw = k.out("get", "pod", "talk", "-o", "jsonpath={.status.ephemeralContainerStatuses}")
    (status,) = json.loads(raw)
    assert status["name"] == "shell" and status["state"]["terminated"]["exitCode"] == 3
    assert "hi-from-talk" in k.out("logs", "talk", "-c", "shell")


def test_exec_reaches_a_running_ephemeral_container(k: Kubectl) -> None:
    _sleeper(k, "busy")
    k.run("debug", "busy", f"--image={BUSYBOX_IMAGE}", "-c", "waiter", "--", "sleep", "3600")

    def running() -> bool:
        return "running" in ((_ephemeral_status(k, "busy", "waiter") or {}).get("state") or {})

    wait_for(running, "ephemeral container waiter to run", timeout=60)
    assert k.out("exec", "busy", "-c", "waiter", "--", "echo", "inside").strip() == "inside"


def test_bad_ephemeral_container_writes_are_invalid_and_change_nothing(k: Kubectl, cluster: RunningServer) -> None:
    _sleeper(k, "strict")
    k.run("debug", "strict", f"--image={BUSYBOX_IMAGE}", "-c", "first", "--", "true")
    _terminated(k, "strict", "first")  # the agent's status writes are done: the pod stays as it is
    path = f"/api/v1/namespaces/{k.namespace}/pods/strict/ephemeralcontainers"
    before = pod_obj(k, "strict")
    patches = {
        # an existing ephemeral container may not change
        "changed": (
            "application/json-patch+json",
            [{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "pykube.local/pause:1"}],
        ),
        # names are unique across all the pod's containers
        "duplicate": (
            "application/strategic-merge-patch+json",
            {"spec": {"ephemeralContainers": [{"name": "main", "image": BUSYBOX_IMAGE}]}},
        ),
        # ephemeral containers have no ports
        "ports": (
            "application/merge-patch+json",
            {
                "spec": {
                    "ephemeralContainers": [
                        *before["spec"]["ephemeralContainers"],
                        {"name": "web", "image": BUSYBOX_IMAGE, "ports": [{"containerPort": 80}]},
                    ]
                }
            },
        ),
        # the target must be a container of the pod
        "target": (
            "application/strategic-merge-patch+json",
            {"spec": {"ephemeralContainers": [{"name": "x", "image": BUSYBOX_IMAGE, "targetContainerName": "nope"}]}},
        ),
    }
    for what, (content_type, body) in patches.items():
        status, answer = cluster.request("PATCH", path, body, content_type=content_type)
        assert status == 422, (what, answer)
        assert answer["reason"] == "Invalid", (what, answer)
    status, answer = cluster.request("PATCH", path, patches["changed"][1], content_type="application/json-patch+json")
    assert answer["details"]["causes"][0]["field"] == "spec.ephemeralContainers"
    assert 'existing ephemeral containers "first" may not be changed' in answer["details"]["causes"][0]["message"]
    # removing one is refused too (a PUT of the pod without it)
    emptied = pod_obj(k, "strict")
    emptied["spec"].pop("ephemeralContainers")
    status, answer = cluster.request("PUT", path, emptied)
    assert status == 422 and "may not be removed" in json.dumps(answer)
    after = pod_obj(k, "strict")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # nor may a plain update of the pod add one
    plain = pod_obj(k, "strict")
    plain["spec"]["ephemeralContainers"].append({"name": "sneaky", "image": BUSYBOX_IMAGE})
    status, answer = cluster.request("PUT", f"/api/v1/namespaces/{k.namespace}/pods/strict", plain)
    assert status == 422 and answer["details"]["causes"][0]["field"] == "spec"
    # only spec.ephemeralContainers changes through the subresource: a label sent along is ignored
    relabelled = pod_obj(k, "strict")
    relabelled["metadata"]["labels"]["sent"] = "along"
    relabelled["spec"]["ephemeralContainers"].append({"name": "second", "image": BUSYBOX_IMAGE, "command": ["true"]})
    status, answer = cluster.request("PUT", path, relabelled)
    assert status == 200, answer
    assert [c["name"] for c in answer["spec"]["ephemeralContainers"]] == ["first", "second"]
    assert "sent" not in answer["metadata"]["labels"]


def test_debug_copy_to_makes_a_new_pod_with_the_debug_container(k: Kubectl) -> None:
    _sleeper(k, "orig")
    k.run(
        "debug",
        "orig",
        f"--image={BUSYBOX_IMAGE}",
        "--copy-to=orig-copy",
        "--share-processes",
        "-c",
        "extra",
        "--",
        "sleep",
        "3600",
    )
    copy = wait_running(k, "orig-copy")
    assert sorted(c["name"] for c in copy["spec"]["containers"]) == ["extra", "main"]
    assert copy["spec"]["shareProcessNamespace"] is True
    assert "ephemeralContainers" not in pod_obj(k, "orig")["spec"]


def test_debug_node_runs_a_host_pod_on_that_node(k: Kubectl) -> None:
    k.run("debug", f"node/{NODE}", f"--image={BUSYBOX_IMAGE}", "--", "sh", "-c", "ls /host/ >/dev/null && echo on-host")
    (name,) = [p for p in k.names("pods") if p.startswith(f"node-debugger-{NODE}-")]
    pod = pod_obj(k, name)
    assert pod["spec"]["nodeName"] == NODE and pod["spec"]["hostNetwork"] is True

    def finished() -> str | None:
        phase = pod_obj(k, name)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    assert wait_for(finished, f"node debugger {name} to finish", timeout=60) == "Succeeded"
    assert k.out("logs", name).strip() == "on-host"
