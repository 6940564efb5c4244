"""``kubectl get`` in every output format, with selectors, across namespaces, sorted and watching."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from pathlib import Path

import pytest
import yaml
from kubectl_helpers import (
    MANUAL_SCHEDULER,
    Kubectl,
    configmap,
    header,
    node,
    pod,
    row,
    table,
    to_yaml,
    wait_until_scheduler_saw,
)

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


@pytest.fixture
def pods(k: Kubectl) -> Kubectl:
    """Three pods: two labelled tier=web, one tier=db; pending, with the scheduler done writing to them."""
    k.apply(pod("web-1", {"tier": "web"}), pod("web-2", {"tier": "web"}), pod("db-1", {"tier": "db"}, image="redis:7"))
    wait_until_scheduler_saw(k, "web-1", "web-2", "db-1")
    return k


def test_plain_table_has_pod_columns(pods: Kubectl) -> None:
    out = pods.out("get", "pods")
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r[0] for r in table(out)[1:]] == ["db-1", "web-1", "web-2"]
    assert row(out, "web-1")[1:4] == ["0/1", "Pending", "0"]


def test_single_object_table(pods: Kubectl) -> None:
    out = pods.out("get", "pod", "web-1")
    assert len(table(out)) == 2
    assert row(out, "web-1")[2] == "Pending"


def test_wide_adds_priority_columns(pods: Kubectl) -> None:
    out = pods.out("get", "pods", "-o", "wide")
    assert header(out) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert row(out, "web-1")[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_json_list_and_object(pods: Kubectl) -> None:
    listing = pods.json("get", "pods")
    assert listing["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in listing["items"]) == ["db-1", "web-1", "web-2"]
    obj = pods.obj("pod", "db-1")
    assert obj["kind"] == "Pod" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["namespace"] == pods.namespace
    assert obj["metadata"]["uid"] and obj["metadata"]["resourceVersion"].isdigit()
    assert obj["spec"]["containers"][0]["image"] == "redis:7"
    assert obj["status"]["phase"] == "Pending"


def test_yaml(pods: Kubectl) -> None:
    obj = yaml.safe_load(pods.out("get", "pod", "web-2", "-o", "yaml"))
    assert obj["metadata"]["name"] == "web-2"
    assert obj["metadata"]["labels"] == {"tier": "web"}
    listing = yaml.safe_load(pods.out("get", "pods", "-o", "yaml"))
    assert listing["kind"] == "List" and len(listing["items"]) == 3


def test_name_output(pods: Kubectl) -> None:
    assert pods.lines("get", "pods", "-o", "name") == ["pod/db-1", "pod/web-1", "pod/web-2"]


def test_jsonpath(pods: Kubectl) -> None:
    out = pods.out("get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
    assert out.split() == ["db-1", "web-1", "web-2"]


def test_label_selectors(pods: Kubectl) -> None:
    assert pods.lines("get", "pods", "-l", "tier=web", "-o", "name") == ["pod/web-1", "pod/web-2"]
    assert pods.lines("get", "pods", "-l", "tier!=web", "-o", "name") == ["pod/db-1"]
    assert pods.lines("get", "pods", "-l", "tier in (db)", "-o", "name") == ["pod/db-1"]
    assert pods.lines("get", "pods", "-l", "tier notin (db,web)", "-o", "name") == []
    assert pods.lines("get", "pods", "-l", "!tier", "-o", "name") == []


def test_field_selector(pods: Kubectl) -> None:
    assert pods.lines("get", "pods", "--field-selector", "metadata.name=web-2", "-o", "name") == ["pod/web-2"]
    assert pods.lines("get", "pods", "--field-selector", "status.phase=Running", "-o", "name") == []


def test_empty_result_message(k: Kubectl) -> None:
    done = k.run("get", "pods")
    assert done.stdout == ""
    assert done.stderr.strip() == f"No resources found in {k.namespace} namespace."


def test_all_namespaces_has_namespace_column(pods: Kubectl, server: RunningServer) -> None:
    out = server.kubectl("get", "pods", "-A").stdout
    assert header(out)[:2] == ["NAMESPACE", "NAME"]
    assert row(out, "web-1", column=1)[0] == pods.namespace
    services = json.loads(server.kubectl("get", "services", "--all-namespaces", "-o", "json").stdout)
    assert ("default", "kubernetes") in {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in services["items"]}


def test_show_labels(pods: Kubectl) -> None:
    out = pods.out("get", "pods", "--show-labels")
    assert header(out)[-1] == "LABELS"
    assert row(out, "db-1")[-1] == "tier=db"


def test_label_columns(pods: Kubectl) -> None:
    out = pods.out("get", "pods", "-L", "tier")
    assert header(out)[-1] == "TIER"
    assert row(out, "web-2")[-1] == "web"


def test_sort_by(k: Kubectl) -> None:
    k.apply(configmap("c-a", x="3"), configmap("c-b", x="1"), configmap("c-c", x="2"))
    out = k.out("get", "configmaps", "--sort-by=.data.x")
    names = [r[0] for r in table(out)[1:] if r[0].startswith("c-")]
    assert names == ["c-b", "c-c", "c-a"]
    out = k.out("get", "configmaps", "--sort-by=.metadata.name", "-o", "name")
    assert [n for n in out.split() if n.startswith("configmap/c-")] == [
        "configmap/c-a",
        "configmap/c-b",
        "configmap/c-c",
    ]


def test_several_kinds_at_once(pods: Kubectl) -> None:
    pods.apply(configmap("cfg"))
    out = pods.lines("get", "pods,configmaps", "-o", "name")
    assert "pod/web-1" in out and "configmap/cfg" in out


def test_get_all_includes_pods(pods: Kubectl) -> None:
    out = pods.out("get", "all")
    assert "pod/web-1" in out


def test_watch_prints_new_and_changed_objects(pods: Kubectl) -> None:
    watcher = pods.popen("get", "pods", "-w")
    lines: queue.Queue[str] = queue.Queue()
    assert watcher.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        seen = [_next_line(lines) for _ in range(4)]  # header + the three existing pods
        assert seen[0].split()[:3] == ["NAME", "READY", "STATUS"]
        assert sorted(line.split()[0] for line in seen[1:]) == ["db-1", "web-1", "web-2"]
        pods.apply(pod("late", {"tier": "web"}))
        assert _next_line(lines).split()[:3] == ["late", "0/1", "Pending"]
        # the scheduler writes late's status meanwhile: later lines about it are not the ones awaited
        pods.run("label", "pod", "web-1", "extra=yes")
        assert _next_line(lines, skip="late").split()[0] == "web-1"
        pods.run("delete", "pod", "db-1", "--wait=false")
        assert _next_line(lines, skip="late").split()[0] == "db-1"
        assert watcher.poll() is None, "the watch stream must stay open"
    finally:
        watcher.kill()
        watcher.wait()


def test_watch_with_label_selector(pods: Kubectl) -> None:
    watcher = pods.popen("get", "pods", "-w", "-l", "tier=db", "-o", "name")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert _next_line(lines).strip() == "pod/db-1"
        pods.apply(pod("web-3", {"tier": "web"}), pod("db-2", {"tier": "db"}))
        assert _next_line(lines).strip() == "pod/db-2"
    finally:
        watcher.kill()
        watcher.wait()


def _next_line(lines: queue.Queue[str], timeout: float = 30, skip: str | None = None) -> str:
    """The next line kubectl prints, passing over those about the object named ``skip``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue.Empty:
            raise AssertionError("kubectl get -w printed nothing within the timeout") from None
        if skip is None or line.split()[0] != skip:
            return line


def test_wide_shows_node_after_binding(k: Kubectl, server: RunningServer, tmp_path: Path) -> None:
    node_name = f"bind-{k.namespace[-4:]}"
    server.kubectl("apply", "-f", "-", input=to_yaml(node(node_name)))
    try:
        k.apply(pod("tobind", schedulerName=MANUAL_SCHEDULER))
        binding = tmp_path / "binding.json"
        binding.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": "tobind"},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
                }
            )
        )
        server.kubectl("create", "--raw", f"/api/v1/namespaces/{k.namespace}/pods/tobind/binding", "-f", str(binding))
        cells = row(k.out("get", "pods", "-o", "wide"), "tobind")
        assert cells[6] == node_name
        assert k.lines("get", "pods", "-A", "--field-selector", f"spec.nodeName={node_name}", "-o", "name") == [
            "pod/tobind"
        ]
        again = server.kubectl(
            "create", "--raw", f"/api/v1/namespaces/{k.namespace}/pods/tobind/binding", "-f", str(binding), check=False
        )
        assert again.returncode == 1 and "(Conflict)" in again.stderr
    finally:
        k.run("delete", "pod", "tobind", "--grace-period=0", "--force")
        server.kubectl("delete", "node", node_name)


def test_watch_single_object_with_event_types(pods: Kubectl) -> None:
    watcher = pods.popen("get", "pod", "web-2", "-w", "--output-watch-events")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        assert _next_line(lines).split()[:2] == ["EVENT", "NAME"]
        assert _next_line(lines).split()[:2] == ["ADDED", "web-2"]
        pods.run("label", "pod", "web-1", "ignored=yes")  # another object: not shown
        pods.run("label", "pod", "web-2", "seen=yes")
        assert _next_line(lines).split()[:2] == ["MODIFIED", "web-2"]
        pods.run("delete", "pod", "web-2", "--wait=false")
        assert _next_line(lines).split()[:2] == ["DELETED", "web-2"]
    finally:
        watcher.kill()
        watcher.wait()


def test_watch_all_namespaces(pods: Kubectl) -> None:
    watcher = pods.popen("get", "pods", "-A", "-w", "--watch-only", "-l", f"marker={pods.namespace}")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        # --watch-only prints nothing for existing objects, and nothing shows when the watch starts:
        # label (and, while nothing is printed, unlabel and label again) until the watch sees db-1
        first: list[str] = []
        for _ in range(10):
            pods.run("label", "pod", "db-1", f"marker={pods.namespace}")
            with contextlib.suppress(AssertionError):
                first = _next_line(lines, timeout=3).split()
                break
            pods.run("label", "pod", "db-1", "marker-")
        assert first, "kubectl get -A -w --watch-only never showed the labelled pod"
        if first[0] == "NAMESPACE":
            first = _next_line(lines).split()
        assert first[:2] == [pods.namespace, "db-1"]
    finally:
        watcher.kill()
        watcher.wait()
