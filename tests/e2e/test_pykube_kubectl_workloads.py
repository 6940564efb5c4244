"""``pykube kubectl`` verbs that move running pods or reach into them, against a Docker agent: the legacy
``rolling-update`` (from a 2014 file and with ``--image``), watched pod by pod so that a ready pod
serves at every moment; ``stop rc/x``, which must leave nothing behind; ``port-forward`` beside the
real kubectl's."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import HTTPD, busybox_pod, http_get, node_server
from kubectl_helpers import Kubectl, deployment, wait_for
from pykube_kubectl_helpers import pykube_kubectl, real_kubectl, same_output
from support import BUSYBOX_IMAGE

from minikube_py.testing import KUBECTL

pytestmark = pytest.mark.kubectl

NODE = "pkctl2-node"
#: the same image under a tag of this module's own: an ``--image`` update needs a different image that runs
RETAGGED = "pykube.local/busybox:pkctl2"


@pytest.fixture(scope="module")
def k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    subprocess.run(["docker", "tag", BUSYBOX_IMAGE, RETAGGED], check=True)
    try:
        with node_server(
            tmp_path_factory.mktemp("pkctl2") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.171.0.0/16"
        ) as running:
            running.node_network = False  # no service proxy ran: there are no host rules to clean up
            yield Kubectl(running, "default")
    finally:
        subprocess.run(["docker", "rmi", RETAGGED], check=False, capture_output=True)


def rc(name: str, replicas: int, **selector: str) -> dict:  # type: ignore[type-arg]
    template = busybox_pod("x", "exec sleep 3600")
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": {"metadata": {"labels": selector}, "spec": template["spec"]},
        },
    }


def v1beta1_rc(name: str, replicas: int, **selector: str) -> dict:  # type: ignore[type-arg]
    """The 2014 shape of a controller of sleeping busybox pods."""
    return {
        "id": name,
        "kind": "ReplicationController",
        "apiVersion": "v1beta1",
        "desiredState": {
            "replicas": replicas,
            "replicaSelector": selector,
            "podTemplate": {
                "labels": selector,
                "desiredState": {
                    "manifest": {
                        "version": "v1beta1",
                        "id": name,
                        "containers": [
                            {"name": "main", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "exec sleep 3600"]}
                        ],
                    }
                },
            },
        },
        "labels": selector,
    }


def ready_pods(k: Kubectl, selector: str) -> list[dict]:  # type: ignore[type-arg]
    pods = k.json("get", "pods", "-l", selector)["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]


class ReadyWatch:
    """Every change to the pods of ``app=<app>`` as the watch reports it, and the fewest pods ready
    (Ready and not being deleted) at any moment once ``start`` pods were ready."""

    def __init__(self, k: Kubectl, app: str, start: int) -> None:
        self.proc = k.popen("get", "pods", "-l", f"app={app}", "-w", "-o", "json")
        self.start = start
        self.ready: dict[str, bool] = {}
        self.fewest: int | None = None
        self.moments = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buffer += line
            try:
                pod, end = decoder.raw_decode(buffer.strip())
            except ValueError:
                continue
            buffer = buffer.strip()[end:]
            self.ready[pod["metadata"]["name"]] = not pod["metadata"].get("deletionTimestamp") and any(
                c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
            )
            now = sum(self.ready.values())
            if self.fewest is not None or now >= self.start:
                self.fewest = now if self.fewest is None else min(self.fewest, now)
                self.moments += 1

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)


def test_rolling_update_from_a_2014_file_keeps_a_ready_pod_at_every_moment(k: Kubectl, tmp_path: Path) -> None:
    k.apply(rc("front-v1", 2, app="front", version="v1"))
    wait_for(lambda: ready_pods(k, "app=front"), lambda pods: len(pods) == 2, "two ready v1 pods", timeout=90)
    new_file = tmp_path / "front-v2.json"
    new_file.write_text(json.dumps(v1beta1_rc("front-v2", 2, app="front", version="v2")))
    watch = ReadyWatch(k, "front", start=2)
    try:
        done = pykube_kubectl(
            k.server, "rolling-update", "front-v1", "--update-period=1s", "--poll-interval=1s", "-f", str(new_file)
        )
    finally:
        watch.stop()
    assert (done.stdout, done.stderr, done.rc) == (
        "Created front-v2\n"
        "Scaling up front-v2 from 0 to 2, scaling down front-v1 from 2 to 0 (keep 2 pods available, "
        "don't exceed 3 pods)\n"
        "Scaling front-v2 up to 1\n"
        "Scaling front-v1 down to 1\n"
        "Scaling front-v2 up to 2\n"
        "Scaling front-v1 down to 0\n"
        "Update succeeded. Deleting front-v1\n"
        'replicationcontroller "front-v1" rolling updated to "front-v2"\n',
        "",
        0,
    )
    assert watch.moments >= 6 and watch.fewest is not None and watch.fewest >= 1, (watch.moments, watch.fewest)
    assert not k.exists("rc", "front-v1")
    assert len(ready_pods(k, "app=front,version=v2")) == 2
    wait_for(lambda: k.names("pods", "-l", "app=front,version=v1"), lambda names: not names, "the v1 pods to go")

    # the same file again, and files kubectl refused
    (tmp_path / "same.json").write_text(json.dumps(v1beta1_rc("front-v2", 2, app="front", version="v3")))
    (tmp_path / "overlap.json").write_text(json.dumps(rc("front-v3", 2, app="front")))
    for args, message in [
        (
            ("front-v2", "-f", str(tmp_path / "same.json")),
            f"error: {tmp_path / 'same.json'} cannot have the same name as the existing ReplicationController "
            "front-v2\n",
        ),
        (
            ("front-v2", "-f", str(tmp_path / "overlap.json")),
            f"error: {tmp_path / 'overlap.json'} must specify a matching key with non-equal value in Selector for "
            "front-v2\n",
        ),
        (("nope", "-f", str(new_file)), 'Error from server (NotFound): replicationcontrollers "nope" not found\n'),
    ]:
        refused = pykube_kubectl(k.server, "rolling-update", *args)
        assert (refused.stdout, refused.stderr, refused.rc) == ("", message, 1)
    assert k.names("rc") == ["front-v2"]

    stopped = pykube_kubectl(k.server, "stop", "rc/front-v2")
    assert (stopped.stdout, stopped.rc) == ('replicationcontroller "front-v2" deleted\n', 0), stopped.stderr
    assert (k.names("rc"), k.names("pods", "-l", "app=front")) == ([], [])


def test_rolling_update_to_an_image_renames_the_new_controller(k: Kubectl) -> None:
    k.apply(rc("img", 2, app="img"))
    wait_for(lambda: ready_pods(k, "app=img"), lambda pods: len(pods) == 2, "two ready pods", timeout=90)
    watch = ReadyWatch(k, "img", start=2)
    try:
        done = pykube_kubectl(
            k.server, "rolling-update", "img", f"--image={RETAGGED}", "--update-period=1s", "--poll-interval=1s"
        )
    finally:
        watch.stop()
    assert done.rc == 0, done.stderr
    lines = done.stdout.splitlines()
    temporary = lines[0].removeprefix("Created ")
    assert temporary.startswith("img-") and len(temporary) == len("img-") + 32
    assert lines[1:] == [
        f"Scaling up {temporary} from 0 to 2, scaling down img from 2 to 0 (keep 2 pods available, "
        "don't exceed 3 pods)",
        f"Scaling {temporary} up to 1",
        "Scaling img down to 1",
        f"Scaling {temporary} up to 2",
        "Scaling img down to 0",
        "Update succeeded. Deleting img",
        f"Renaming {temporary} to img",
        'replicationcontroller "img" rolling updated',
    ]
    assert watch.fewest is not None and watch.fewest >= 1, (watch.moments, watch.fewest)
    assert k.names("rc") == ["img"]
    renamed = k.obj("rc", "img")
    assert renamed["spec"]["template"]["spec"]["containers"][0]["image"] == RETAGGED
    assert renamed["spec"]["selector"] == {"app": "img", "deployment": temporary.removeprefix("img-")}
    pods = wait_for(
        lambda: k.json("get", "pods", "-l", "app=img")["items"],
        lambda items: len(items) == 2,
        "only the new pods",
        timeout=60,
    )
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {RETAGGED}
    # the renamed controller adopted the pods: none was started again
    wait_for(lambda: k.obj("rc", "img")["status"], lambda s: s.get("readyReplicas") == 2, "the adopted pods")
    assert {
        ref["name"]
        for p in k.json("get", "pods", "-l", "app=img")["items"]
        for ref in p["metadata"].get("ownerReferences", [])
    } == {"img"}
    same = pykube_kubectl(k.server, "rolling-update", "img", f"--image={RETAGGED}")
    assert (same.stderr, same.rc) == ("error: Specified --image must be distinct from existing container image\n", 1)
    stopped = pykube_kubectl(k.server, "stop", "rc/img")
    assert (stopped.stdout, stopped.rc) == ('replicationcontroller "img" deleted\n', 0), stopped.stderr
    assert (k.names("rc"), k.names("pods", "-l", "app=img")) == ([], [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Forwarding:
    """``port-forward ARGS`` running through one CLI, read line by line as it prints."""

    def __init__(self, k: Kubectl, cli: str, *args: str) -> None:
        env = {**os.environ, "KUBECONFIG": str(k.server.kubeconfig), "KUBECACHEDIR": str(k.server.cache_dir)}
        command = [KUBECTL] if cli == "kubectl" else [sys.executable, "-m", "minikube_py.cli.main", "kubectl"]
        self.proc = subprocess.Popen(
            [*command, "-n", k.namespace, "port-forward", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []

    def until(self, count: int) -> list[str]:
        """The first ``count`` lines of standard output (what was printed if it ended before)."""
        assert self.proc.stdout is not None
        while len(self.lines) < count and (line := self.proc.stdout.readline()):
            self.lines.append(line)
        return self.lines

    def end(self) -> tuple[str, str, int]:
        """Stop it if it still runs; everything it printed and its exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=20)
        return "".join(self.lines) + out, err, self.proc.returncode


@pytest.fixture(scope="module")
def web(k: Kubectl) -> str:
    """A pod serving HTTP on port 80 (named http) with tar, a deployment of one such pod, and a service
    whose port 8080 targets http; returns the pod's name."""
    tools = "".join(f"busybox ln -s /bin/busybox /bin/{tool}; " for tool in ("tar", "find", "sort"))  # for cp
    server = busybox_pod("web", tools + HTTPD, container={"ports": [{"name": "http", "containerPort": 80}]})
    dep = deployment("webd", replicas=1, image=BUSYBOX_IMAGE, labels={"app": "webd"})
    dep["spec"]["template"]["spec"] = busybox_pod("x", HTTPD)["spec"]
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "websvc"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 8080, "targetPort": "http"}]},
    }
    k.apply(server, dep, svc)
    wait_for(lambda: ready_pods(k, "app in (web,webd)"), lambda pods: len(pods) == 2, "the web pods", timeout=90)
    return "web"


@pytest.mark.parametrize(
    "target, remote, reached",
    [
        ("pod/web", "80", "web"),
        ("web", "http", "web"),
        ("deployment/webd", "80", "webd"),
        ("svc/websvc", "8080", "web"),
    ],
)
def test_port_forward_prints_and_relays_as_kubectl(
    k: Kubectl, web: str, target: str, remote: str, reached: str
) -> None:
    """Two local ports each: a fixed one and a free one the command picks; two requests, each a
    connection of its own over the one tunnel."""
    outputs = []
    for cli in ("pykube", "kubectl"):
        port = free_port()
        forwarding = Forwarding(k, cli, target, f"{port}:{remote}", f":{remote}")
        try:
            lines = forwarding.until(4)
            picked = re.search(r"127\.0\.0\.1:(\d+) ->", lines[2])
            assert picked, lines
            for local in (port, int(picked[1])):
                assert http_get(f"http://127.0.0.1:{local}/").startswith(f"hello-from-{reached}"), lines
                forwarding.until(len(forwarding.lines) + 1)  # "Handling connection for ..."
        finally:
            out, err, _ = forwarding.end()
        outputs.append((out.replace(str(port), "LOCAL").replace(picked[1], "PICKED"), err))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].startswith(
        "Forwarding from 127.0.0.1:LOCAL -> 80\nForwarding from [::1]:LOCAL -> 80\n"
        "Forwarding from 127.0.0.1:PICKED -> 80\nForwarding from [::1]:PICKED -> 80\n"
        "Handling connection for LOCAL\nHandling connection for PICKED\n"
    ), outputs


def test_port_forward_on_given_addresses_and_a_closed_port(k: Kubectl, web: str) -> None:
    outputs = []
    for cli in ("pykube", "kubectl"):
        port, closed = free_port(), free_port()
        forwarding = Forwarding(k, cli, "pods/web", f"{port}:80", f"{closed}:81", "--address", "127.0.0.1")
        try:
            lines = forwarding.until(2)
            assert http_get(f"http://127.0.0.1:{port}/").startswith("hello-from-web"), lines
            forwarding.until(3)
            with socket.create_connection(("127.0.0.1", closed)) as conn:  # nothing listens on the pod's 81
                conn.settimeout(20)
                assert conn.recv(10) == b""
            forwarding.proc.wait(timeout=20)  # kubectl 1.32 drops the whole connection after the error
        finally:
            out, err, rc = forwarding.end()
        logged = re.sub(r"^E\d{4} [\d:.]+ +\d+ ", "E<time> <pid> ", err.replace(str(closed), "CLOSED"))
        outputs.append((out.replace(str(port), "LOCAL").replace(str(closed), "CLOSED"), logged, rc))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].startswith(
        "Forwarding from 127.0.0.1:LOCAL -> 80\nForwarding from 127.0.0.1:CLOSED -> 81\n"
        "Handling connection for LOCAL\nHandling connection for CLOSED\n"
    )
    # the failed connection is logged, and then the command ends: the error closed the stream connection
    assert outputs[0][1].startswith(
        'E<time> <pid> portforward.go:424] "Unhandled Error" err="an error occurred forwarding CLOSED -> 81: '
    ), outputs
    assert outputs[0][1].endswith("error: lost connection to pod\n") and outputs[0][2] == 1, outputs


def test_cp_copies_both_ways_as_kubectl(k: Kubectl, web: str, tmp_path: Path) -> None:
    """Each step through both CLIs, each with a local directory and remote names of its own ({d});
    what they print, their exit codes and the files they leave must be the same."""
    for cli in ("pykube", "kubectl"):
        (tmp_path / cli / "up" / "sub").mkdir(parents=True)
        (tmp_path / cli / "up" / "a.txt").write_text("a\n")
        (tmp_path / cli / "up" / "sub" / "b.txt").write_text("b\n")
    steps = [
        ("cp web:/www/index.html {local}/index.html", 0),
        ("cp web:www/index.html {local}/relative.html", 0),
        ("cp web:/www {local}/www", 0),
        ("cp {local}/up/a.txt web:/tmp/{d}-a.txt", 0),
        ("cp {local}/up web:/tmp/{d}-up", 0),
        ("cp {local}/up/a.txt web:/tmp/{d}-up/", 0),  # into a directory, under its own name
        ("cp web:/tmp/{d}-up {local}/back", 0),
        ("cp web:/nope {local}/nope", 0),
        ("cp nope:/x {local}/x", 1),
        ("cp {local}/missing web:/tmp/x", 1),
        ("cp {local}/a {local}/b", 1),
        ("cp web:/a web:/b", 1),
    ]
    for step, rc in steps:
        results = []
        for cli, runner in (("pykube", pykube_kubectl), ("kubectl", real_kubectl)):
            args = step.replace("{local}", str(tmp_path / cli)).replace("{d}", cli).split(" ")
            done = runner(k.server, *args)
            # kubectl shows the container tar's stderr on stdout, but may exit before it arrives
            # (it stops at the archive's end): those lines are compared apart
            said = "".join(line for line in done.stdout.splitlines(keepends=True) if not line.startswith("tar: "))
            results.append((said, done.stderr.replace(str(tmp_path / cli), "LOCAL").replace(cli, "CLI"), done.rc))
            if cli == "pykube":
                tar_said = done.stdout.replace(said, "")
        assert results[0] == results[1], (step, results)
        assert rc is None or results[0][2] == rc, (step, results[0])
        if step.startswith("cp web:/nope"):
            assert tar_said == "tar: /nope: No such file or directory\ntar: error exit delayed from previous errors\n"
        elif step.startswith("cp web:/") and rc == 0:
            assert tar_said == "tar: removing leading '/' from member names\n", (step, tar_said)
    assert (tmp_path / "pykube" / "index.html").read_text() == "hello-from-web\n"
    for relative in ("index.html", "relative.html", "www/index.html", "back/a.txt", "back/sub/b.txt"):
        assert (tmp_path / "pykube" / relative).read_text() == (tmp_path / "kubectl" / relative).read_text(), relative
    assert sorted(str(p.relative_to(tmp_path / "pykube")) for p in (tmp_path / "pykube").rglob("*")) == sorted(
        str(p.relative_to(tmp_path / "kubectl")) for p in (tmp_path / "kubectl").rglob("*")
    )
    listing = [
        k.out("exec", "web", "--", "sh", "-c", f"cd /tmp && find {cli}-a.txt {cli}-up | sort && cat {cli}-a.txt")
        for cli in ("pykube", "kubectl")
    ]
    assert listing[0].replace("pykube", "CLI") == listing[1].replace("kubectl", "CLI")
    assert "pykube-up/sub/b.txt" in listing[0] and "pykube-up/up/a.txt" not in listing[0]


def test_wait_follows_a_pod_until_ready_and_until_gone(k: Kubectl) -> None:
    """The pod ignores SIGTERM and has 3 s of grace: it is still there, terminating, when the wait for
    its deletion starts."""
    k.apply(busybox_pod("waited", "trap '' TERM; while true; do sleep 1; done", terminationGracePeriodSeconds=3))
    ready = pykube_kubectl(k.server, "wait", "--for=condition=Ready", "pod/waited", "--timeout=90s")
    assert (ready.stdout, ready.stderr, ready.rc) == ("pod/waited condition met\n", "", 0)
    k.run("delete", "pod", "waited", "--wait=false")
    gone = pykube_kubectl(k.server, "wait", "--for=delete", "pod/waited", "--timeout=60s")
    assert (gone.stdout, gone.stderr, gone.rc) == ("pod/waited condition met\n", "", 0)
    assert not k.exists("pod", "waited")


def numbers_masked(text: str) -> str:
    """Use figures move between two runs; the layout around them must not."""
    return re.sub(r" +", " ", re.sub(r"\b\d+(m|Mi|%)", "N", text))


def test_top_prints_as_kubectl(k: Kubectl, web: str) -> None:
    wait_for(
        lambda: real_kubectl(k.server, "top", "pods", "-l", "app=web").stdout,
        lambda out: "web" in out,
        "metrics of the web pod",
        timeout=60,
    )
    for command in [
        "top pods -l app=web",
        "top pod -l app=web --containers",
        "top pods -A -l app=web",
        "top pods -l app=webd --no-headers",
        "top pods -l app=web --sort-by=memory",
        "top nodes",
        f"top node {NODE}",
        "top no --no-headers",
        "top pod nope",
        "top node nope",
        "top pods -n kube-system",
    ]:
        ours, theirs = (runner(k.server, *command.split(" ")) for runner in (pykube_kubectl, real_kubectl))
        assert (numbers_masked(ours.stdout), ours.stderr, ours.rc) == (
            numbers_masked(theirs.stdout),
            theirs.stderr,
            theirs.rc,
        ), (command, ours, theirs)
    row = pykube_kubectl(k.server, "top", "nodes", "--no-headers").stdout.split()
    assert row[0] == NODE and row[1].endswith("m") and row[3].endswith("Mi"), row


def test_describe_node_prints_as_kubectl(k: Kubectl, web: str) -> None:
    """The node with its lease, conditions, capacity, system info, the pods it runs with their requests
    and limits (one pod asks for some), and the totals."""
    k.apply(
        busybox_pod(
            "asking",
            "exec sleep 3600",
            container={
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "200m", "memory": "128Mi"},
                }
            },
        )
    )
    k.run("taint", "node", NODE, "pkctl2=yes:PreferNoSchedule")
    try:
        wait_for(lambda: k.obj("pod", "asking")["status"].get("phase"), lambda p: p == "Running", "the pod to run")
        same_output(k.server, "describe", "node", NODE)
        same_output(k.server, "describe", "nodes")
    finally:
        k.run("taint", "node", NODE, "pkctl2-")
        k.run("delete", "pod", "asking", "--wait=false")


@pytest.mark.parametrize(
    "command",
    [
        "logs deploy/webd",
        "logs deployment/webd -c main --tail=1",
        "logs svc/websvc",
        "logs -l app=web --prefix",
        "logs -l app=nope",
        "logs rs/nope",
        "logs",
        "exec deploy/webd -- echo from-webd",
        "exec svc/websvc -- hostname",
        "exec svc/kubernetes -- echo x",
    ],
)
def test_logs_and_exec_find_the_pod_of_a_workload_as_kubectl(k: Kubectl, web: str, command: str) -> None:
    same_output(k.server, *command.split(" "))


def dump_outline(text: str) -> list[object]:
    """A dump's lists (kind and item names) and its log sections, in order; the objects themselves are
    printed from the server's JSON, not from kubectl's Go structs, so their field order differs."""
    outline: list[object] = []
    decoder, rest = json.JSONDecoder(), text
    while rest.strip():
        rest = rest.lstrip()
        if rest.startswith("{"):
            doc, end = decoder.raw_decode(rest)
            outline.append(
                (doc["kind"], sorted(i["metadata"]["name"] for i in doc["items"] if doc["kind"] != "EventList"))
            )
            rest = rest[end:]
        else:
            line, _, rest = rest.partition("\n")
            outline.append(line)
    return outline


def test_cluster_info_dump_lists_what_kubectl_lists(k: Kubectl, tmp_path: Path) -> None:
    k.server.kubectl("create", "namespace", "pkdump")
    try:
        dumped = Kubectl(k.server, "pkdump")
        dumped.apply(busybox_pod("chatty", "echo one; echo two; exec sleep 3600"))
        wait_for(lambda: dumped.obj("pod", "chatty")["status"].get("phase"), lambda p: p == "Running", "the pod to run")
        wait_for(lambda: dumped.out("logs", "chatty"), lambda out: out == "one\ntwo\n", "its logs")
        ours, theirs = (
            runner(k.server, "cluster-info", "dump", "--namespaces", "pkdump")
            for runner in (pykube_kubectl, real_kubectl)
        )
        assert ours.rc == theirs.rc == 0, ours.stderr
        assert dump_outline(ours.stdout) == dump_outline(theirs.stdout)
        assert "==== START logs for container main of pod pkdump/chatty ====\none\ntwo\n" in ours.stdout
        for cli, runner in (("pykube", pykube_kubectl), ("kubectl", real_kubectl)):
            done = runner(
                k.server, "cluster-info", "dump", "--namespaces", "pkdump", f"--output-directory={tmp_path / cli}"
            )
            assert done.stdout == f"Cluster info dumped to {tmp_path / cli}\n", done
        files = [
            sorted(str(p.relative_to(tmp_path / cli)) for p in (tmp_path / cli).rglob("*"))
            for cli in ("pykube", "kubectl")
        ]
        assert files[0] == files[1]
        assert (tmp_path / "pykube" / "pkdump" / "chatty" / "logs.txt").read_text() == (
            tmp_path / "kubectl" / "pkdump" / "chatty" / "logs.txt"
        ).read_text()
    finally:
        k.server.kubectl("delete", "namespace", "pkdump", "--wait=false")
