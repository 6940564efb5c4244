"""``kubectl debug`` (the real kubectl) against ``pykube server`` with its embedded Docker agent.

kubectl adds an ephemeral container by a strategic merge patch of ``pods/<name>/ephemeralcontainers``;
the agent starts it once in the pod's sandbox (in the target container's process namespace with
``--target``), reports it in ``status.ephemeralContainerStatuses``, and attach, exec and logs reach it.
``--copy-to`` and ``node/NAME`` make plain pods; ``pods/attach`` also serves ``kubectl run -i --rm``.
One server serves every test, each test has its own namespace; the node's containers are removed at
the end.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

from agent_helpers import busybox_pod, cluster_fixtures, create, pod_obj, start_agent_server, wait_for, wait_running
from kubectl_helpers import Kubectl, as_user, mint
from support import BUSYBOX_IMAGE

from minikube_py.agent.runtime.base import LABEL_CONTAINER_NAME, LABEL_POD_UID
from minikube_py.testing import KUBECTL, RunningServer, remove_node_containers

NODE = "pykube-e2e-debug"
CAP_SYS_PTRACE = 1 << 19


cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.193.0.0/16", namespace_prefix="dbg")


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


def test_debug_with_a_target_shares_the_pods_network_ipc_and_the_targets_processes(k: Kubectl) -> None:
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
        "ps -o args; ip -4 addr; echo ipc $(readlink /proc/1/ns/ipc) $(readlink /proc/self/ns/ipc)",
    )
    assert out.returncode == 0, out.stderr
    terminated = _terminated(k, "target", "probe")
    assert terminated["exitCode"] == 0
    logs = k.out("logs", "target", "-c", "probe")
    assert "sleep 3600" in logs  # the target's process, seen from the ephemeral container
    assert pod["status"]["podIP"] in logs  # the pod's network namespace
    [ipc] = [line.split()[1:] for line in logs.splitlines() if line.startswith("ipc ")]
    assert len(ipc) == 2 and ipc[0] == ipc[1] and ipc[0].startswith("ipc:"), logs  # and its IPC namespace
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
    described = k.out("describe", "pod", "target")
    assert "Ephemeral Containers:" in described and "Completed" in described


def test_debug_profiles_reach_the_ephemeral_containers_security_context(k: Kubectl) -> None:
    _sleeper(k, "traced")
    command = ["--", "grep", "CapEff", "/proc/self/status"]
    k.run("debug", "traced", f"--image={BUSYBOX_IMAGE}", "--profile=general", "-c", "general", *command)
    _terminated(k, "traced", "general")
    # kubectl adds SYS_PTRACE to the container's securityContext
    assert int(k.out("logs", "traced", "-c", "general").split()[1], 16) & CAP_SYS_PTRACE
    # the restricted profile asks for runAsNonRoot, which busybox (root) cannot give: refused as a kubelet does
    k.run("debug", "traced", f"--image={BUSYBOX_IMAGE}", "--profile=restricted", "-c", "restricted", *command)

    def refused() -> dict | None:
        waiting = ((_ephemeral_status(k, "traced", "restricted") or {}).get("state") or {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = wait_for(refused, "the restricted debug container to be refused", timeout=60)
    assert waiting["message"].startswith("container has runAsNonRoot and image will run as root")


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
    # a server-side apply through it adds one too, owned by its manager on that subresource
    applied = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "strict"},
        "spec": {"ephemeralContainers": [{"name": "third", "image": BUSYBOX_IMAGE, "command": ["true"]}]},
    }
    status, answer = cluster.request(
        "PATCH", f"{path}?fieldManager=applier", applied, content_type="application/apply-patch+yaml"
    )
    assert status == 200, answer
    assert sorted(c["name"] for c in answer["spec"]["ephemeralContainers"]) == ["first", "second", "third"]
    [entry] = [m for m in answer["metadata"]["managedFields"] if m["manager"] == "applier"]
    assert (entry["operation"], entry["subresource"]) == ("Apply", "ephemeralcontainers")


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
    # the copy shares one process namespace: its debug container sees the original container's sleep
    assert "sleep 3600" in k.out("exec", "orig-copy", "-c", "extra", "--", "ps", "-o", "args")
    assert "ephemeralContainers" not in pod_obj(k, "orig")["spec"]


def test_debug_node_runs_a_host_pod_on_that_node(k: Kubectl) -> None:
    # (the bracket keeps grep from counting itself)
    script = "ls /host/ >/dev/null && echo on-host; ps -o args | grep -c '[m]inikube_py.cli.main server'"
    k.run("debug", f"node/{NODE}", f"--image={BUSYBOX_IMAGE}", "--", "sh", "-c", script)
    (name,) = [p for p in k.names("pods") if p.startswith(f"node-debugger-{NODE}-")]
    pod = pod_obj(k, name)
    assert pod["spec"]["nodeName"] == NODE and pod["spec"]["hostNetwork"] is True

    def finished() -> str | None:
        phase = pod_obj(k, name)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    assert wait_for(finished, f"node debugger {name} to finish", timeout=60) == "Succeeded"
    on_host, servers = k.out("logs", name).split()
    # the node's root at /host, and its processes (hostPID): this cluster's own server among them
    assert on_host == "on-host" and int(servers) >= 1


def _docker_ids(*labels: str) -> list[str]:
    """Every container (running or not) with these labels."""
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    done = subprocess.run(["docker", "ps", "-aq", "--no-trunc", *filters], capture_output=True, text=True, check=True)
    return done.stdout.split()


def _running_ephemeral(k: Kubectl, pod: str, name: str) -> dict:
    def running() -> dict | None:
        status = _ephemeral_status(k, pod, name) or {}
        return status if "running" in (status.get("state") or {}) else None

    return wait_for(running, f"ephemeral container {name} of {pod} to run", timeout=60)


def test_ephemeral_containers_go_with_their_pod(k: Kubectl) -> None:
    uid = _sleeper(k, "doomed")["metadata"]["uid"]
    k.run("debug", "doomed", f"--image={BUSYBOX_IMAGE}", "-c", "lingering", "--", "sleep", "3600")
    _running_ephemeral(k, "doomed", "lingering")
    assert len(_docker_ids(f"{LABEL_POD_UID}={uid}", f"{LABEL_CONTAINER_NAME}=lingering")) == 1
    k.run("delete", "pod", "doomed", "--wait=true")
    wait_for(lambda: not _docker_ids(f"{LABEL_POD_UID}={uid}"), "the pod's containers to be removed", timeout=60)


def test_restarting_the_agent_adopts_a_running_ephemeral_container(tmp_path: Path) -> None:
    """A server of its own (own node, own data directory), stopped and started again on the same port."""
    node = "pykube-e2e-debug-restart"
    cidr = "10.194.0.0/16"
    remove_node_containers(node)
    first = start_agent_server(tmp_path / "data", node, "--proxy-mode", "none", cluster_cidr=cidr)
    try:
        port = int(first.url.rsplit(":", 1)[1])
        k = Kubectl(first, "default")
        _sleeper(k, "kept")
        k.run("debug", "kept", f"--image={BUSYBOX_IMAGE}", "--target=main", "-c", "old", "--", "sleep", "3600")
        before = _running_ephemeral(k, "kept", "old")
        assert first.stop() == 0
        second = start_agent_server(tmp_path / "data", node, "--proxy-mode", "none", port=port, cluster_cidr=cidr)
        try:
            k = Kubectl(second, "default")
            # a new one started after the restart shows the worker has driven the pod again
            k.run("debug", "kept", f"--image={BUSYBOX_IMAGE}", "-c", "new", "--", "sleep", "3600")
            _running_ephemeral(k, "kept", "new")
            after = _ephemeral_status(k, "kept", "old")
            assert after is not None and after["containerID"] == before["containerID"]
            assert "running" in after["state"] and after["restartCount"] == 0
            uid = pod_obj(k, "kept")["metadata"]["uid"]
            assert len(_docker_ids(f"{LABEL_POD_UID}={uid}", f"{LABEL_CONTAINER_NAME}=old")) == 1
        finally:
            second.stop()
    finally:
        remove_node_containers(node)


def test_debug_with_a_terminal_attaches_to_a_tty(k: Kubectl, cluster: RunningServer) -> None:
    _sleeper(k, "tty")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.cache_dir)}
    leader, follower = pty.openpty()
    command = [KUBECTL, "-n", k.namespace, "debug", "-it", "tty", f"--image={BUSYBOX_IMAGE}", "-c", "term", "--", "sh"]
    proc = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    output = b""
    try:
        _running_ephemeral(k, "tty", "term")
        os.write(leader, b"echo answer=$((6*7)); [ -t 0 ] && echo on-a-tty; exit 4\n")
        while proc.poll() is None or select.select([leader], [], [], 0)[0]:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    output += os.read(leader, 4096)
                except OSError:  # the terminal closed with kubectl
                    break
        assert b"answer=42" in output and b"on-a-tty" in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert _terminated(k, "tty", "term")["exitCode"] == 4


def test_debugging_needs_its_own_permission_beyond_edit(k: Kubectl, cluster: RunningServer, tmp_path: Path) -> None:
    """As in Kubernetes, the edit role does not grant ``pods/ephemeralcontainers``: adding a container
    to a running pod bypasses the admission rules pods were created under."""
    _sleeper(k, "guarded")
    kubeconfig = mint(cluster, tmp_path, "debug-dev")
    k.run("create", "rolebinding", "dev-edit", "--clusterrole=edit", "--user=debug-dev")
    debug = ("-n", k.namespace, "debug", "guarded", f"--image={BUSYBOX_IMAGE}", "-c", "peek", "--", "true")
    refused = as_user(cluster, kubeconfig, *debug)
    assert refused.returncode != 0
    assert 'cannot patch resource "pods/ephemeralcontainers"' in refused.stderr, refused.stderr
    assert "ephemeralContainers" not in pod_obj(k, "guarded")["spec"]
    k.run("create", "role", "debugger", "--verb=patch", "--resource=pods/ephemeralcontainers")
    k.run("create", "rolebinding", "dev-debug", "--role=debugger", "--user=debug-dev")
    allowed = as_user(cluster, kubeconfig, *debug)
    assert allowed.returncode == 0, allowed.stderr
    assert _terminated(k, "guarded", "peek")["exitCode"] == 0


def test_run_interactive_attaches_and_removes_the_pod(k: Kubectl) -> None:
    """pods/attach serves ``kubectl run -i --rm`` too: kubectl attaches to the pod's own container."""
    done = k.run(
        "run",
        "once",
        "-i",
        "--rm",
        "--restart=Never",
        f"--image={BUSYBOX_IMAGE}",
        "--",
        "sh",
        input="echo attached-to-$(hostname)\n",
    )
    assert "attached-to-once" in done.stdout, (done.stdout, done.stderr)
    assert not k.exists("pod", "once")
