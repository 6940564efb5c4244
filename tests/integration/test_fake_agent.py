"""The agent and its pod workers on the fake runtime: a real server whose embedded agent runs
``--agent-runtime fake``, plus ``pykube agent --join --runtime fake`` processes, driven through the API.

No Docker: this checks the kubelet decisions (restart policies, back-off, probes, termination, status)
and the join protocol quickly; tests/e2e/test_agent_pods.py checks the same against real containers.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from inprocess import start_in_process
from support import fake_node_flags

from minikube_py.agent.runtime.fake import EXIT_CODE, RUN_SECONDS
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NODE = "fake-node"
NS = "default"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    running = start_in_process(tmp_path_factory.mktemp("fake") / "data", *fake_node_flags(NODE), agent=True)
    eventually(lambda: node_ready(running, NODE), "the fake node to be Ready")
    yield running
    running.stop()


def node_ready(server: ServerEndpoint, name: str) -> bool:
    code, node = server.request("GET", f"/api/v1/nodes/{name}")
    return (
        code == 200
        and bool(node["spec"].get("podCIDR"))
        and any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
    )


def create_pod(server: ServerEndpoint, name: str, image: str = "fake.pykube.io/app:1", **spec: Any) -> None:
    container: Obj = {"name": "c", "image": image, **spec.pop("container", {})}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [container], **spec},
    }
    server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(pod))


def pod(server: ServerEndpoint, name: str) -> Obj | None:
    code, body = server.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}")
    return body if code == 200 else None


def status_of(server: ServerEndpoint, name: str) -> Obj:
    return (pod(server, name) or {}).get("status") or {}


def first_container(server: ServerEndpoint, name: str) -> Obj:
    return (status_of(server, name).get("containerStatuses") or [{}])[0]


def test_node_reports_capacity_info_and_the_control_plane_role(server: ServerEndpoint) -> None:
    _, node = server.request("GET", f"/api/v1/nodes/{NODE}")
    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "fake://1"
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    code, lease = server.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}")
    assert code == 200 and lease["spec"]["holderIdentity"] == NODE


def test_pod_runs_with_an_ip_from_the_node_subnet_and_ready_conditions(server: ServerEndpoint) -> None:
    create_pod(server, "runs")
    status = eventually(lambda: (s := status_of(server, "runs")).get("phase") == "Running" and s, "Running")
    assert status["podIP"].startswith("10.244.")
    assert status["hostIP"] == "127.0.0.1"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    container = status["containerStatuses"][0]
    assert container["ready"] and container["restartCount"] == 0 and "running" in container["state"]


def test_never_restarted_pod_that_exits_zero_succeeds(server: ServerEndpoint) -> None:
    create_pod(server, "done", image="fake.pykube.io/exit:0", restartPolicy="Never")
    eventually(lambda: status_of(server, "done").get("phase") == "Succeeded", "Succeeded")
    terminated = first_container(server, "done")["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"


def test_crashing_container_backs_off_and_counts_restarts(server: ServerEndpoint) -> None:
    create_pod(server, "crashy", image="fake.pykube.io/exit:2")

    def in_back_off() -> Obj | None:
        status = first_container(server, "crashy")
        waiting = (status.get("state") or {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    status = eventually(in_back_off, "CrashLoopBackOff")
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert "back-off 10s restarting failed container=c" in status["state"]["waiting"]["message"]
    assert status_of(server, "crashy")["phase"] == "Running"


def test_on_failure_pod_that_fails_with_never_is_failed(server: ServerEndpoint) -> None:
    create_pod(server, "failed", image="fake.pykube.io/exit:3", restartPolicy="Never")
    eventually(lambda: status_of(server, "failed").get("phase") == "Failed", "Failed")
    assert first_container(server, "failed")["state"]["terminated"]["reason"] == "Error"


def test_a_pod_past_its_active_deadline_is_stopped_and_fails(server: ServerEndpoint) -> None:
    """The kubelet's active deadline: counted from the pod's start, then its containers are stopped
    (not restarted, whatever the policy) and it fails, with the kubelet's reason and event."""
    create_pod(server, "bounded", activeDeadlineSeconds=2)
    eventually(lambda: status_of(server, "bounded").get("phase") == "Running", "Running")
    status = eventually(
        lambda: (s := status_of(server, "bounded")).get("phase") == "Failed" and s, "Failed", timeout=20
    )
    assert (status["reason"], status["message"]) == (
        "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline",
    )
    assert "terminated" in status["containerStatuses"][0]["state"]
    assert status["containerStatuses"][0]["restartCount"] == 0
    events = server.kubectl("-n", NS, "get", "events", "--field-selector", "involvedObject.name=bounded").stdout
    assert "DeadlineExceeded" in events
    # a pod that ends before its deadline is not touched by it
    create_pod(server, "quick", image="fake.pykube.io/exit:0", restartPolicy="Never", activeDeadlineSeconds=30)
    eventually(lambda: status_of(server, "quick").get("phase") == "Succeeded", "Succeeded")


def test_failing_liveness_probe_restarts_the_container(server: ServerEndpoint) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 1}
    create_pod(
        server, "unhealthy", container={"livenessProbe": probe, "env": [{"name": "FAKE_EXEC_EXIT", "value": "1"}]}
    )
    eventually(lambda: first_container(server, "unhealthy").get("restartCount", 0) >= 1, "a liveness restart")

    def reasons() -> set[str]:
        _code, events = server.request(
            "GET", f"/api/v1/namespaces/{NS}/events?fieldSelector=involvedObject.name%3Dunhealthy"
        )
        return {e["reason"] for e in events["items"]}

    # the agent posts events in the background, so they may arrive a moment after the status
    eventually(lambda: {"Unhealthy", "Killing"} <= reasons(), "the Unhealthy and Killing events")


def test_readiness_probe_keeps_the_pod_unready(server: ServerEndpoint) -> None:
    probe = {"exec": {"command": ["check"]}, "periodSeconds": 1}
    create_pod(
        server, "unready", container={"readinessProbe": probe, "env": [{"name": "FAKE_EXEC_EXIT", "value": "1"}]}
    )
    eventually(lambda: status_of(server, "unready").get("phase") == "Running", "Running")
    conditions = {c["type"]: c for c in status_of(server, "unready")["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["message"] == "containers with unready status: [c]"


def test_missing_image_is_err_image_pull_then_back_off(server: ServerEndpoint) -> None:
    create_pod(server, "nopull", image="fake.pykube.io/missing:1")
    eventually(
        lambda: (
            ((first_container(server, "nopull").get("state") or {}).get("waiting") or {}).get("reason")
            == "ImagePullBackOff"
        ),
        "ImagePullBackOff",
    )
    assert status_of(server, "nopull")["phase"] == "Pending"


def test_missing_secret_in_env_is_a_config_error(server: ServerEndpoint) -> None:
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]
    create_pod(server, "noconfig", container={"env": env})
    waiting = eventually(
        lambda: (
            ((first_container(server, "noconfig").get("state") or {}).get("waiting") or {}).get("reason")
            == "CreateContainerConfigError"
            and first_container(server, "noconfig")
        ),
        "CreateContainerConfigError",
    )
    assert waiting["state"]["waiting"]["message"] == 'secret "absent" not found'


def test_deleted_pod_is_stopped_and_then_removed(server: ServerEndpoint) -> None:
    create_pod(server, "leaving")
    eventually(lambda: status_of(server, "leaving").get("phase") == "Running", "Running")
    server.kubectl("-n", NS, "delete", "pod", "leaving", "--wait=true", timeout=30)
    assert pod(server, "leaving") is None


def node_patch(server: ServerEndpoint, agent_dir: Path, node: str) -> int:
    """PATCH a node's labels with the joined agent's own client certificate (no token)."""
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    ctx.load_cert_chain(agent_dir / "node-client.crt", agent_dir / "node-client.key")
    req = urllib.request.Request(
        f"{server.url}/api/v1/nodes/{node}",
        method="PATCH",
        data=json.dumps({"metadata": {"labels": {"touched": "yes"}}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_joined_fake_agent_registers_and_a_wrong_ca_hash_is_refused(server: ServerEndpoint, tmp_path: Path) -> None:
    token = (server.data_dir / "node-token").read_text().strip()
    wrong = "K10" + "0" * 64 + token[token.index("::") :]
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--join",
            server.url,
            "--token",
            wrong,
            "--runtime",
            "fake",
            "--node-name",
            "wrong",
            "--data-dir",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 1
    assert "does not match the hash in the token" in refused.stderr
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--join",
            server.url,
            "--token",
            token,
            "--runtime",
            "fake",
            "--node-name",
            "joined",
            "--node-ip",
            "127.0.0.1",
            "--kubelet-port",
            "0",
            "--data-dir",
            str(tmp_path / "a"),
        ]
    )
    try:
        eventually(lambda: node_ready(server, "joined"), "the joined node to be Ready")
        _, node = server.request("GET", "/api/v1/nodes/joined")
        assert "node-role.kubernetes.io/control-plane" not in node["metadata"]["labels"]
        create_pod(server, "on-joined", nodeName="joined")
        eventually(lambda: status_of(server, "on-joined").get("phase") == "Running", "Running on the joined node")
        own, other = node_patch(server, tmp_path / "a", "joined"), node_patch(server, tmp_path / "a", NODE)
        assert own == 200
        assert other == 403  # the node's certificate acts for that node only
    finally:
        agent.terminate()
        assert agent.wait(timeout=20) == 0


def test_many_fake_nodes_in_one_agent_process(server: ServerEndpoint, tmp_path: Path) -> None:
    """``pykube agent --count``: real agents sharing a process (and the admin's kubeconfig, each node
    impersonating itself) register, hold their leases and run the pods bound to them, whose
    annotations script their end; they serve no kubelet endpoint."""
    fleet = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--kubeconfig",
            str(server.kubeconfig),
            "--runtime",
            "fake",
            "--count",
            "3",
            "--node-name",
            "flock-%d",
            "--node-ip",
            "127.0.0.1",
            "--data-dir",
            str(tmp_path / "flock"),
            "--node-lease-duration-seconds",
            "8",
            "--fake-cpus",
            "2",
        ]
    )
    try:
        for name in ("flock-1", "flock-2", "flock-3"):
            eventually(lambda n=name: node_ready(server, n), f"{name} to be Ready")
            _, node = server.request("GET", f"/api/v1/nodes/{name}")
            assert node["status"]["capacity"]["cpu"] == "2"
            assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 0
            code, lease = server.request(
                "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
            )
            assert code == 200 and (lease["spec"]["holderIdentity"], lease["spec"]["leaseDurationSeconds"]) == (name, 8)
        scripted = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "scripted", "annotations": {RUN_SECONDS: "0.5", EXIT_CODE: "4"}},
            "spec": {
                "nodeName": "flock-2",
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "fake.pykube.io/app:1"}],
            },
        }
        server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(scripted))
        eventually(lambda: status_of(server, "scripted").get("phase") == "Running", "Running on flock-2")
        eventually(lambda: status_of(server, "scripted").get("phase") == "Failed", "Failed after its run time")
        terminated = first_container(server, "scripted")["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (4, "Error")
        logs = server.kubectl("-n", NS, "logs", "scripted", check=False)
        assert logs.returncode != 0 and "node flock-2 has no kubelet endpoint" in logs.stderr
    finally:
        fleet.terminate()
        assert fleet.wait(timeout=20) == 0
