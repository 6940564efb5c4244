"""Containers' lifecycle on a Docker node with the real kubectl: sidecar containers (init containers
with ``restartPolicy: Always``) started in their turn before the next init container and the app,
kept running and restarted beside the app, counted in READY, and stopped once a Job's work is done
so it completes; ``postStart`` and ``preStop`` hooks."""

from __future__ import annotations

import json

from agent_helpers import (
    BUSYBOX_IMAGE,
    busybox_pod,
    cluster_fixtures,
    container_status,
    create,
    events_of,
    pod_obj,
    wait_for,
    wait_running,
)
from kubectl_helpers import Kubectl, row

NODE = "pykube-e2e-lifecycle"

cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.172.0.0/16", namespace_prefix="side")

#: a sidecar that serves HTTP on the pod's port 8080, started (for its pod) once it listens
SERVER = {
    "name": "web",
    "image": BUSYBOX_IMAGE,
    "restartPolicy": "Always",
    "command": ["sh", "-c", "mkdir -p /www && echo from-sidecar > /www/index.html && exec httpd -f -p 8080 -h /www"],
    "startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
}


def statuses(pod: dict[str, object], key: str) -> dict[str, dict[str, object]]:
    return {s["name"]: s for s in pod["status"].get(key, [])}  # type: ignore[attr-defined, union-attr]


def test_a_sidecar_serves_the_init_containers_and_the_app(k: Kubectl) -> None:
    fetch = "wget -q -O - http://127.0.0.1:8080/"
    check = {"name": "check", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", fetch]}
    create(k, busybox_pod("served", f"{fetch} > /tmp/got && exec sleep 3600", initContainers=[SERVER, check]))
    pod = wait_running(k, "served")
    init = statuses(pod, "initContainerStatuses")
    # the init container after the sidecar ran once it listened, and reached it
    assert init["check"]["state"]["terminated"]["exitCode"] == 0  # type: ignore[index]
    assert (init["web"]["started"], init["web"]["ready"], "running" in init["web"]["state"]) == (True, True, True)  # type: ignore[operator]
    assert k.out("exec", "served", "-c", "main", "--", "cat", "/tmp/got").strip() == "from-sidecar"
    assert k.out("logs", "served", "-c", "check").strip() == "from-sidecar"
    assert row(k.out("get", "pod", "served"), "served")[1:3] == ["2/2", "Running"]


def test_a_sidecar_that_ends_is_restarted_beside_the_running_app(k: Kubectl) -> None:
    flaky = {"name": "flaky", "image": BUSYBOX_IMAGE, "restartPolicy": "Always", "command": ["sh", "-c", "sleep 1"]}
    create(k, busybox_pod("beside", "exec sleep 3600", restartPolicy="Never", initContainers=[flaky]))

    def restarted() -> dict[str, object] | None:
        pod = pod_obj(k, "beside")
        side = statuses(pod, "initContainerStatuses").get("flaky", {})
        return pod if int(side.get("restartCount", 0)) >= 2 else None  # type: ignore[call-overload]

    pod = wait_for(restarted, "the sidecar's restarts", timeout=90)
    assert pod["status"]["phase"] == "Running"  # type: ignore[index]
    assert statuses(pod, "containerStatuses")["main"]["restartCount"] == 0


def test_a_job_whose_work_is_done_stops_its_sidecar_and_completes(k: Kubectl) -> None:
    keeper = {"name": "keeper", "image": BUSYBOX_IMAGE, "restartPolicy": "Always", "command": ["sleep", "3600"]}
    template = busybox_pod("x", "echo done", restartPolicy="Never", initContainers=[keeper])
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "with-sidecar"},
        "spec": {"backoffLimit": 0, "template": {"metadata": {}, "spec": template["spec"]}},
    }
    k.run("create", "-f", "-", input=json.dumps(job))
    k.run("wait", "--for=condition=Complete", "job/with-sidecar", "--timeout=90s")
    [pod] = json.loads(k.out("get", "pods", "-l", "job-name=with-sidecar", "-o", "json"))["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert "terminated" in statuses(pod, "initContainerStatuses")["keeper"]["state"]  # type: ignore[operator]
    assert row(k.out("get", "pods", "-l", "job-name=with-sidecar"), pod["metadata"]["name"])[2] == "Completed"


def test_a_post_start_hook_runs_beside_the_new_container(k: Kubectl) -> None:
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "echo hooked > /tmp/started"]}}}
    create(k, busybox_pod("hooked", "sleep 2; cat /tmp/started; exec sleep 3600", container={"lifecycle": hook}))
    wait_running(k, "hooked")
    wait_for(lambda: k.out("logs", "hooked").strip() == "hooked" or None, "the hook's file in the logs")


def test_a_failing_post_start_hook_kills_the_container_which_restarts(k: Kubectl) -> None:
    hook = {"postStart": {"exec": {"command": ["false"]}}}
    create(k, busybox_pod("unhooked", "exec sleep 3600", container={"lifecycle": hook}))
    wait_for(lambda: container_status(k, "unhooked").get("restartCount", 0) >= 1 or None, "a restart", timeout=90)
    events = events_of(k, "unhooked")
    assert "FailedPostStartHook" in events and "PostStartHook failed" in events


def test_a_pre_stop_hook_calls_out_before_the_container_stops(k: Kubectl) -> None:
    create(k, busybox_pod("watcher", "mkdir -p /www && exec httpd -f -vv -p 8080 -h /www"))
    watcher_ip = wait_running(k, "watcher")["status"]["podIP"]
    hook = {"preStop": {"httpGet": {"host": watcher_ip, "port": 8080, "path": "/bye-from-leaver"}}}
    create(k, busybox_pod("leaver", "exec sleep 3600", container={"lifecycle": hook}, terminationGracePeriodSeconds=5))
    wait_running(k, "leaver")
    k.run("delete", "pod", "leaver", "--wait=true")
    assert "/bye-from-leaver" in k.out("logs", "watcher")
