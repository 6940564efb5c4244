"""``pykube kubectl logs``, ``exec``, ``attach``, ``run -i`` and ``debug`` against pods running on a Docker agent, compared with the real
kubectl: output, the exit code passed through, standard input, and a real terminal (raw mode, size)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator

import pytest
from agent_helpers import busybox_pod, start_agent_server
from kubectl_helpers import Kubectl, deployment, wait_for
from pykube_kubectl_helpers import Result, pykube_kubectl, real_kubectl, same_output
from support import BUSYBOX_IMAGE, ensure_docker

from minikube_py.kubectl.attach import PROMPT_HINT
from minikube_py.testing import RunningServer, remove_node_containers

pytestmark = pytest.mark.kubectl

NODE = "pkctl-exec-node"


@pytest.fixture(scope="module")
def k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    """A server with a Docker node, and two pods on it: one that logged three lines and finished, and
    one that sleeps to be exec'd into."""
    ensure_docker()
    remove_node_containers(NODE)
    running = start_agent_server(
        tmp_path_factory.mktemp("pkctl") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.229.0.0/16"
    )
    running.node_network = False  # no service proxy ran: there are no host rules to clean up
    try:
        k = Kubectl(running, "default")
        k.apply(
            busybox_pod("talker", "echo one; echo two; echo three", restartPolicy="Never"),
            busybox_pod("sleeper", "exec sleep 3600"),
        )
        wait_for(
            lambda: k.obj("pod", "talker")["status"].get("phase"),
            lambda p: p == "Succeeded",
            "the talker to finish",
            timeout=90,
        )
        wait_for(
            lambda: k.obj("pod", "sleeper")["status"].get("phase"),
            lambda p: p == "Running",
            "the sleeper to run",
            timeout=90,
        )
        yield k
    finally:
        running.stop()
        remove_node_containers(NODE)


def server_of(k: Kubectl) -> RunningServer:
    return k.server


@pytest.mark.parametrize(
    "command",
    [
        "logs talker",
        "logs pod/talker",
        "logs talker --tail=1",
        "logs talker -c main",
        "logs talker -f",
        "logs nope",
        "logs talker -c nope",
    ],
)
def test_logs_print_as_kubectl(k: Kubectl, command: str) -> None:
    same_output(k.server, *command.split(" "))


@pytest.mark.parametrize(
    "command",
    [
        "describe pod sleeper",
        "describe pod talker",
        "describe pods",
        "describe pod/sleeper",
        "describe pod nope",
        "get pods -o wide",
        "get pods,nodes -o wide",
        "get nodes --show-labels",
    ],
)
def test_describe_and_get_of_running_pods_print_as_kubectl(k: Kubectl, command: str) -> None:
    same_output(k.server, *command.split(" "))


def test_exec_passes_output_and_exit_code_through(k: Kubectl) -> None:
    done = same_output(k.server, "exec", "sleeper", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.stdout, done.stderr, done.rc) == ("out\n", "err\ncommand terminated with exit code 3\n", 3)
    ok = same_output(k.server, "exec", "sleeper", "-c", "main", "--", "echo", "fine")
    assert (ok.stdout, ok.rc) == ("fine\n", 0)
    same_output(k.server, "exec", "talker", "--", "true")  # a completed pod
    same_output(k.server, "exec", "nope", "--", "true")


def test_exec_with_stdin(k: Kubectl) -> None:
    done = same_output(k.server, "exec", "-i", "sleeper", "--", "sh", "-c", "tr a-z A-Z", input="hello\nworld\n")
    assert (done.stdout, done.rc) == ("HELLO\nWORLD\n", 0)


def test_exec_with_a_terminal_is_raw_and_sized(k: Kubectl) -> None:
    """On a real terminal, -it puts it in raw mode (the remote terminal echoes and translates) and
    tells the container its size."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 101, 0, 0))
    env = {**os.environ, "KUBECONFIG": str(k.server.kubeconfig)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "kubectl",
            "exec",
            "-it",
            "sleeper",
            "--",
            "sh",
            "-c",
            "sleep 1; stty size; tty; exit 4",
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the slave side closed: the command is over
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=30) == 4
    text = output.decode()
    # the remote terminal's line ending (\r\n) arrives untranslated: the local one was raw
    assert "31 101\r\n" in text and "/dev/pts/" in text, text
    assert "command terminated with exit code 4" in text


def test_pykube_kubectl_exec_reports_a_missing_pod(k: Kubectl) -> None:
    done = pykube_kubectl(k.server, "exec", "nope", "--", "true")
    assert (done.stderr, done.rc) == ('Error from server (NotFound): pods "nope" not found\n', 1)


def test_delete_waits_until_the_pod_is_gone(k: Kubectl) -> None:
    """The pod's container ignores SIGTERM, so it lingers for its grace period; delete returns after."""
    k.apply(busybox_pod("doomed", "exec sleep 3600"))
    wait_for(
        lambda: k.obj("pod", "doomed")["status"].get("phase"), lambda p: p == "Running", "doomed to run", timeout=90
    )
    done = pykube_kubectl(k.server, "delete", "pod", "doomed")
    assert (done.stdout, done.rc) == ('pod "doomed" deleted\n', 0), done.stderr
    assert not k.exists("pod", "doomed")


def test_rollout_status_follows_a_deployment_until_it_is_rolled_out(k: Kubectl) -> None:
    dep = deployment("rolled", replicas=2, image="pykube.local/busybox:1.35")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "exec sleep 3600"]
    dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 1
    k.apply(dep)
    done = pykube_kubectl(k.server, "rollout", "status", "deployment/rolled")
    lines = done.stdout.splitlines()
    assert (lines[-1], done.rc) == ('deployment "rolled" successfully rolled out', 0), done.stderr
    assert all(
        line.startswith(
            (
                'Waiting for deployment "rolled" rollout to finish: ',
                "Waiting for deployment spec update to be observed...",
            )
        )
        for line in lines[:-1]
    )
    before = set(k.names("pods", "-l", "app=rolled"))
    restarted = pykube_kubectl(k.server, "rollout", "restart", "deployment", "rolled")
    assert (restarted.stdout, restarted.rc) == ("deployment.apps/rolled restarted\n", 0)
    again = pykube_kubectl(k.server, "rollout", "status", "deploy/rolled")
    assert again.stdout.splitlines()[-1] == 'deployment "rolled" successfully rolled out'
    wait_for(
        lambda: set(k.names("pods", "-l", "app=rolled")),
        lambda now: not now & before,
        "the restart to replace every pod",
        timeout=90,
    )
    # the old replica set and the new one, and the controller's scaling events
    same_output(k.server, "describe", "deployment", "rolled")
    k.run("delete", "deployment", "rolled")


def test_logs_follow_streams_while_the_container_runs(k: Kubectl) -> None:
    k.apply(busybox_pod("ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"))
    wait_for(
        lambda: k.obj("pod", "ticker")["status"].get("phase"), lambda p: p == "Running", "ticker to run", timeout=90
    )
    env = {**os.environ, "KUBECONFIG": str(k.server.kubeconfig)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikube_py.cli.main", "kubectl", "logs", "-f", "ticker", "--tail=1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(4)]  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()
        k.run("delete", "pod", "ticker", "--wait=false")
    numbers = [int(line.split()[1]) for line in lines]
    # one line of the past (--tail=1), then new lines as they are written, none lost or repeated
    assert numbers == list(range(numbers[0], numbers[0] + 4)), lines


def twin_output(k: Kubectl, *args: str, input: str | None = None) -> Result:
    """``args`` through both, each with its own names (OURS/THEIRS in ``args`` become ``ours-x``/``theirs-x``),
    compared with the names swapped back: for commands that make or use up an object of their own."""
    suffix = os.urandom(2).hex()
    names = {"OURS": f"ours-{suffix}", "THEIRS": f"theirs-{suffix}"}

    def named(tool: str) -> list[str]:
        return [a.replace("NAME", names[tool]) for a in args]

    ours = pykube_kubectl(k.server, *named("OURS"), input=input)
    theirs = real_kubectl(k.server, *named("THEIRS"), input=input)
    swapped = Result(*(text.replace(names["OURS"], names["THEIRS"]) for text in (ours.stdout, ours.stderr)), ours.rc)
    assert swapped == theirs, f"kubectl {' '.join(args)}:\n  pykube: {ours!r}\n  kubectl: {theirs!r}"
    return ours


def test_run_attached_passes_stdin_and_removes_the_pod(k: Kubectl) -> None:
    image = f"--image={BUSYBOX_IMAGE}"
    done = twin_output(
        k, "run", "NAME", image, "-i", "--rm", "--restart=Never", "--", "sh", "-c", "cat; echo bye", input="hello\n"
    )
    name = done.stdout.split('"')[1]
    assert (done.stdout, done.stderr, done.rc) == (f'hello\nbye\npod "{name}" deleted\n', f"{PROMPT_HINT}\n", 0)
    failed = twin_output(k, "run", "NAME", image, "-i", "--restart=Never", "--", "sh", "-c", "cat; exit 3", input="")
    assert failed.rc == 3 and "terminated (Error)" in failed.stderr


def test_attach_joins_a_running_container(k: Kubectl) -> None:
    reader = {"stdin": True, "command": ["sh", "-c", "read line; echo got $line"]}
    suffix = os.urandom(2).hex()
    for tool in ("ours", "theirs"):
        k.apply(busybox_pod(f"{tool}-{suffix}", "", container=reader, restartPolicy="Never"))
    for tool in ("ours", "theirs"):
        wait_for(
            lambda tool=tool: k.obj("pod", f"{tool}-{suffix}")["status"].get("phase"),  # type: ignore[misc]
            lambda p: p == "Running",
            "the reader to run",
            timeout=90,
        )
    ours = pykube_kubectl(k.server, "attach", "-i", f"ours-{suffix}", input="one\n")
    theirs = real_kubectl(k.server, "attach", "-i", f"theirs-{suffix}", input="one\n")
    assert ours == theirs == Result("got one\n", f"{PROMPT_HINT}\n", 0)


def test_debug_adds_an_ephemeral_container_and_attaches(k: Kubectl) -> None:
    image = f"--image={BUSYBOX_IMAGE}"
    done = twin_output(
        k, "debug", "sleeper", "-i", image, "-c", "NAME", "--", "sh", "-c", "sleep 1; echo dbg", input=""
    )
    assert done.stdout == "dbg\n" and done.stderr.endswith(f"{PROMPT_HINT}\n")
    quiet = twin_output(k, "debug", "sleeper", "-q", image, "-c", "NAME", "--target=main", "--", "true")
    assert quiet.stdout == ""
    named = pykube_kubectl(k.server, "debug", "sleeper", image, "--", "true")
    assert named.stdout.startswith("Defaulting debug container name to debugger-") and named.rc == 0
    taken = same_output(k.server, "debug", "sleeper", image, "-c", "main", "--", "true")  # the server refuses it
    assert taken.rc == 1 and 'Duplicate value: "main"' in taken.stderr
