"""The real kubectl against ``pykube server`` with its embedded agent: pods run as Docker containers.

One server (with the agent, on a node named for this module, node IP 127.0.0.1) serves every test;
each test has its own namespace. At the end every container of that node is removed.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

from agent_helpers import (
    HTTPD,
    Obj,
    busybox_pod,
    cluster_fixtures,
    container_status,
    create,
    events_of,
    http_get,
    pod_obj,
    running_pods,
    sleeper_rc,
    start_agent_server,
    try_get,
    wait_for,
    wait_running,
    waiting_reason,
)
from kubectl_helpers import Kubectl
from support import ensure_registry

from minikube_py.testing import KUBECTL, RunningServer, remove_node_containers

NODE = "pykube-e2e-agent"


cluster, k = cluster_fixtures(NODE, cluster_cidr="10.244.0.0/16", namespace_prefix="a")


def test_httpd_pod_with_a_host_port_answers_on_the_node(k: Kubectl) -> None:
    create(k, busybox_pod("web", HTTPD, container={"ports": [{"containerPort": 80, "hostPort": 18080}]}))
    pod = wait_running(k, "web")
    assert pod["status"]["hostIP"] == "127.0.0.1"
    assert re.fullmatch(r"10\.244\.\d+\.\d+", pod["status"]["podIP"])
    assert wait_for(lambda: try_get("http://127.0.0.1:18080/"), "httpd through hostPort 18080") == "hello-from-web\n"
    # the pod's own address answers too: the sandbox owns the network namespace the app joined
    assert http_get(f"http://{pod['status']['podIP']}:80/") == "hello-from-web\n"


def test_replication_controller_pods_all_run(k: Kubectl) -> None:
    create(k, sleeper_rc("sleepers", 3))

    def all_running() -> list[str] | None:
        running = [p["metadata"]["name"] for p in running_pods(k, "sleepers")]
        return running if len(running) == 3 else None

    names = wait_for(all_running, "3 running pods of the RC")
    ids = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=io.pykube.pod.namespace={k.namespace}",
            "--filter",
            "label=io.pykube.container.name=main",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(ids) == 3, names
    wait_for(
        lambda: json.loads(k.out("get", "rc", "sleepers", "-o", "json"))["status"].get("readyReplicas") == 3,
        "readyReplicas 3",
    )


def test_failing_exec_liveness_probe_restarts_the_container(k: Kubectl) -> None:
    probe = {
        "exec": {"command": ["cat", "/tmp/healthy"]},
        "initialDelaySeconds": 1,
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    create(
        k,
        busybox_pod(
            "sick", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; exec sleep 3600", container={"livenessProbe": probe}
        ),
    )
    wait_running(k, "sick")
    wait_for(lambda: container_status(k, "sick").get("restartCount", 0) >= 1, "a restart after the probe failed")
    events = events_of(k, "sick")
    assert "Unhealthy" in events and "Liveness probe failed" in events
    assert "failed liveness probe, will be restarted" in events


def test_secret_is_seen_through_a_volume_and_the_environment(k: Kubectl) -> None:
    k.run("create", "secret", "generic", "creds", "--from-literal=password=s3cr3t")
    create(
        k,
        busybox_pod(
            "reader",
            "echo file=$(cat /etc/creds/password) env=$PASSWORD; exec sleep 3600",
            volumes=[{"name": "creds", "secret": {"secretName": "creds"}}],
            container={
                "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}],
                "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
            },
        ),
    )
    wait_running(k, "reader")
    assert wait_for(lambda: "file=s3cr3t env=s3cr3t" in k.out("logs", "reader"), "the pod's output")


def test_secret_update_reaches_the_running_pod(k: Kubectl) -> None:
    k.run("create", "secret", "generic", "rotating", "--from-literal=token=v1")
    create(
        k,
        busybox_pod(
            "watcher",
            "exec sleep 3600",
            volumes=[{"name": "s", "secret": {"secretName": "rotating"}}],
            container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
        ),
    )
    wait_running(k, "watcher")
    assert k.out("exec", "watcher", "--", "cat", "/s/token") == "v1"
    k.run("patch", "secret", "rotating", "-p", '{"stringData": {"token": "v2"}}')
    assert wait_for(lambda: k.out("exec", "watcher", "--", "cat", "/s/token") == "v2", "the new secret value")
    before = container_status(k, "watcher")
    assert before["restartCount"] == 0  # seen in place, without a restart


def test_private_image_runs_only_with_its_pull_secret(k: Kubectl) -> None:
    registry = ensure_registry()
    subprocess.run(["docker", "rmi", "-f", registry.private_image], capture_output=True, check=False)
    k.run(
        "create",
        "secret",
        "docker-registry",
        "regcred",
        f"--docker-server={registry.address}",
        f"--docker-username={registry.username}",
        f"--docker-password={registry.password}",
    )
    private = {"image": registry.private_image, "imagePullPolicy": "Always"}
    create(
        k,
        busybox_pod("without", "exec sleep 3600", container=private),
        busybox_pod("with", "exec sleep 3600", container=private, imagePullSecrets=[{"name": "regcred"}]),
    )
    wait_running(k, "with")
    wait_for(lambda: waiting_reason(k, "without") in ("ErrImagePull", "ImagePullBackOff"), "a failed pull")
    assert pod_obj(k, "without")["status"]["phase"] == "Pending"
    events = events_of(k, "without")
    assert "Failed" in events and "Failed to pull image" in events


def test_kubectl_logs_follow_streams_new_lines(k: Kubectl, cluster: RunningServer) -> None:
    create(k, busybox_pod("chatty", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done"))
    wait_running(k, "chatty")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.cache_dir)}
    proc = subprocess.Popen(
        [KUBECTL, "-n", k.namespace, "logs", "-f", "chatty"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 15:
            seen.append(proc.stdout.readline().strip())
        numbers = [int(line.split("-")[1]) for line in seen if line.startswith("line-")]
        assert len(numbers) >= 15 and numbers == sorted(numbers), seen
    finally:
        proc.kill()
        proc.wait()


def test_kubectl_exec_interactive_with_a_terminal(k: Kubectl, cluster: RunningServer) -> None:
    create(k, busybox_pod("shell", "exec sleep 3600"))
    wait_running(k, "shell")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.cache_dir)}
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [KUBECTL, "-n", k.namespace, "exec", "-it", "shell", "--", "sh"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    try:
        os.write(leader, b"echo answer=$((6*7))\n")
        deadline = time.monotonic() + 20
        while b"answer=42" not in output and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                output += os.read(leader, 4096)
        assert b"answer=42" in output, output
        os.write(leader, b"exit 3\n")
        assert proc.wait(timeout=20) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)


def test_kubectl_exec_passes_stdin_and_exit_codes(k: Kubectl) -> None:
    create(k, busybox_pod("runner", "exec sleep 3600"))
    wait_running(k, "runner")
    assert k.run("exec", "-i", "runner", "--", "sh", "-c", "tr a-z A-Z", input="shout\n").stdout == "SHOUT\n"
    assert k.run("exec", "runner", "--", "sh", "-c", "exit 7", check=False).returncode == 7


def test_kubectl_port_forward_reaches_the_pod(k: Kubectl, cluster: RunningServer) -> None:
    create(k, busybox_pod("fwd", HTTPD))
    wait_running(k, "fwd")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.cache_dir)}
    proc = subprocess.Popen(
        [KUBECTL, "-n", k.namespace, "port-forward", "pod/fwd", ":80"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+) -> 80", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}/"
        assert http_get(url) == "hello-from-fwd\n"
        assert http_get(url) == "hello-from-fwd\n"  # a second connection over the same tunnel
    finally:
        proc.kill()
        proc.wait()


def test_kubectl_describe_pod_shows_the_kubelet_events(k: Kubectl) -> None:
    create(k, busybox_pod("described", "exec sleep 3600"))
    wait_running(k, "described")

    def described() -> str | None:
        out = k.out("describe", "pod", "described")
        return out if "Started container" in out else None

    out = wait_for(described, "describe to show the Started event")
    assert "Node:" in out and NODE in out
    assert re.search(r"Status:\s+Running", out)
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in out, out


def test_docker_kill_of_the_app_container_counts_a_restart(k: Kubectl) -> None:
    create(k, busybox_pod("victim", "exec sleep 3600"))
    wait_running(k, "victim")
    before = container_status(k, "victim")
    subprocess.run(["docker", "kill", before["containerID"].removeprefix("docker://")], check=True, capture_output=True)

    def restarted() -> Obj | None:
        status = container_status(k, "victim")
        return status if status.get("restartCount") == 1 and status.get("ready") else None

    after = wait_for(restarted, "restartCount 1 and ready again")
    assert after["containerID"] != before["containerID"]
    assert after["lastState"]["terminated"]["exitCode"] == 137


def test_broken_pods_get_kubernetes_reasons_and_do_not_disturb_others(k: Kubectl) -> None:
    create(
        k,
        busybox_pod("no-image", "true", container={"image": "pykube.local/does-not-exist:1"}),
        busybox_pod("no-command", "true", container={"command": ["/no/such/binary"]}),
        busybox_pod("exits", "exit 1"),
        busybox_pod(
            "no-secret",
            "exec sleep 3600",
            volumes=[{"name": "s", "secret": {"secretName": "absent"}}],
            container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
        ),
        busybox_pod("fine", "exec sleep 3600"),
    )
    wait_running(k, "fine")
    wait_for(lambda: waiting_reason(k, "no-image") in ("ErrImagePull", "ImagePullBackOff"), "a failed pull")
    wait_for(lambda: waiting_reason(k, "exits") == "CrashLoopBackOff", "CrashLoopBackOff")
    assert container_status(k, "exits")["lastState"]["terminated"]["exitCode"] == 1

    def start_failed() -> bool:
        status = container_status(k, "no-command")
        reasons = {
            (status.get("state") or {}).get("waiting", {}).get("reason"),
            (status.get("lastState") or {}).get("terminated", {}).get("reason"),
            (status.get("state") or {}).get("terminated", {}).get("reason"),
        }
        return bool(reasons & {"RunContainerError", "StartError", "CrashLoopBackOff"})

    wait_for(start_failed, "a start error for a missing command")
    wait_for(lambda: "FailedMount" in events_of(k, "no-secret"), "a FailedMount event")
    assert waiting_reason(k, "no-secret") == "ContainerCreating"
    assert 'secret "absent" not found' in events_of(k, "no-secret")
    assert pod_obj(k, "fine")["status"]["phase"] == "Running"


def _runtime_of(container_id: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.HostConfig.Runtime}}", container_id.removeprefix("docker://")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_a_runtime_class_picks_the_engine_runtime_of_the_pod(k: Kubectl, cluster: RunningServer) -> None:
    """A pod of a RuntimeClass runs under the engine runtime its handler names, sandbox and app
    alike; a handler the engine lacks leaves the pod waiting with kubelet's event, not running under
    the default runtime."""
    classes = [
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": handler}
        for name, handler in (("e2e-runc", "runc"), ("e2e-kata", "kata"))
    ]
    cluster.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": classes}))
    try:
        assert cluster.kubectl("get", "runtimeclass", "e2e-runc", "--no-headers").stdout.split()[:2] == [
            "e2e-runc",
            "runc",
        ]
        create(k, busybox_pod("classy", "exec sleep 3600", runtimeClassName="e2e-runc"))
        app = wait_running(k, "classy")["status"]["containerStatuses"][0]["containerID"]
        assert _runtime_of(app) == "runc"
        sandboxes = subprocess.run(
            [
                "docker",
                "ps",
                "-q",
                "--filter",
                "label=io.pykube.container.kind=sandbox",
                "--filter",
                f"label=io.pykube.pod.namespace={k.namespace}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert [_runtime_of(s) for s in sandboxes] == ["runc"]
        create(k, busybox_pod("unrunnable", "exec sleep 3600", runtimeClassName="e2e-kata"))
        wait_for(
            lambda: 'no runtime for "kata" is configured' in events_of(k, "unrunnable"),
            "the sandbox of a pod whose handler the engine lacks to fail",
        )
        assert pod_obj(k, "unrunnable")["status"]["phase"] == "Pending"
        assert "FailedCreatePodSandBox" in events_of(k, "unrunnable")
        node = json.loads(cluster.kubectl("get", "node", NODE, "-o", "json").stdout)
        assert {"name": "runc", "features": {"recursiveReadOnlyMounts": False}} in node["status"]["runtimeHandlers"]
    finally:
        cluster.kubectl("delete", "runtimeclass", "e2e-runc", "e2e-kata", "--ignore-not-found")


def test_a_pod_past_its_active_deadline_is_killed_and_fails(k: Kubectl) -> None:
    create(k, busybox_pod("bounded", "exec sleep 3600", activeDeadlineSeconds=3))
    app = wait_running(k, "bounded")["status"]["containerStatuses"][0]["containerID"]
    failed = wait_for(
        lambda: (p := pod_obj(k, "bounded"))["status"].get("phase") == "Failed" and p, "the pod to fail", timeout=30
    )
    assert failed["status"]["reason"] == "DeadlineExceeded"
    assert "terminated" in failed["status"]["containerStatuses"][0]["state"]
    state = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", app.removeprefix("docker://")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert state == "false"
    assert "Pod was active on the node longer than the specified deadline" in events_of(k, "bounded")


def test_restarting_the_agent_adopts_running_containers(tmp_path: Path) -> None:
    """A server of its own (own node, own data directory), stopped and started again on the same port."""
    node = "pykube-e2e-restart"
    remove_node_containers(node)
    first = start_agent_server(tmp_path / "data", node, cluster_cidr="10.245.0.0/16")
    try:
        port = int(first.url.rsplit(":", 1)[1])
        first.kubectl("create", "-f", "-", input=json.dumps(busybox_pod("keeper", "exec sleep 3600")))
        before = wait_running(Kubectl(first, "default"), "keeper")["status"]["containerStatuses"][0]
        assert first.stop() == 0
        second = start_agent_server(tmp_path / "data", node, port=port, cluster_cidr="10.245.0.0/16")
        try:
            k = Kubectl(second, "default")
            time.sleep(3)  # a few sync passes of the restarted agent
            after = wait_running(k, "keeper")["status"]["containerStatuses"][0]
            assert after["containerID"] == before["containerID"], events_of(k, "keeper")
            assert after["restartCount"] == 0
            running = subprocess.run(
                ["docker", "ps", "-q", "--no-trunc", "--filter", f"label=io.pykube.node={node}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert before["containerID"].removeprefix("docker://") in running
        finally:
            second.stop()
    finally:
        remove_node_containers(node)
