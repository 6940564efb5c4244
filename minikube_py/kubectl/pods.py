"""``logs`` and ``exec``: a pod's output, and commands run in its containers over the WebSocket channel
protocol (v5.channel.k8s.io) kubectl speaks: one channel byte per binary message (0 stdin, 1 stdout,
2 stderr, 3 the final Status, 4 terminal size, 255 close), the exit code carried in the Status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, run

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@dataclass
class Picked:
    """The pod a command runs against, the service it was found through (port-forward maps its ports),
    and how many pods there were to choose from."""

    pod: dict[str, Any]
    service: dict[str, Any] | None = None
    choices: int = 1


async def pod_for(session: Session, arg: str, purpose: str = "attach to") -> Picked:
    """The pod ``arg`` names: ``NAME`` or ``pod/NAME``, else the first pod of the workload or service
    ``TYPE/NAME`` selects (running, ready and older first, as kubectl picks one). ``purpose`` words
    kubectl's refusal of a service without a selector."""
    from minikube_py.model.selectors import labels_to_string, selector_to_string

    kind, slash, name = arg.partition("/")
    if not slash:
        kind, name = "pods", arg
    res = (await session.discovery()).find(kind)
    obj = await session.api.get(res.path(session.namespace, name))
    if res.kind == "Pod":
        return Picked(obj)
    selector = (obj.get("spec") or {}).get("selector")
    if res.kind == "Service" and not selector:
        raise CommandError(
            f"cannot {purpose} *v1.Service: invalid service '{name}': Service is defined without a selector"
        )
    if res.kind in ("Service", "ReplicationController"):
        text = labels_to_string(selector)
    elif isinstance(selector, dict):
        text = selector_to_string(selector)
    else:
        raise CommandError(
            f"cannot attach to {res.kind}: selector for {res.kind} {name} is empty"
            if selector is None
            else f"selector for {res.kind} {name} is unsupported"
        )
    if text in ("<none>", "<error>"):
        raise CommandError(f"invalid label selector for {res.kind} {name}: it selects nothing")
    pods = (await session.api.list(f"/api/v1/namespaces/{session.namespace}/pods", label_selector=text))["items"]
    if not pods:
        raise CommandError(
            f"no pods found for {res.kind.lower()} {name}"
            if res.kind != "Service"
            else "timed out waiting for the condition"
        )
    phases = {"Running": 0, "Unknown": 1, "Pending": 2}

    def rank(pod: dict[str, Any]) -> tuple[Any, ...]:
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        return (
            not (pod.get("spec") or {}).get("nodeName"),
            phases.get(status.get("phase", ""), 3),
            not ready,
            pod["metadata"].get("creationTimestamp", ""),
        )

    return Picked(min(pods, key=rank), obj if res.kind == "Service" else None, len(pods))


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    """``-c``, else the pod's default-container annotation, else its first container (saying so when
    there were others to choose from, as kubectl does)."""
    names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    if container:
        return container
    annotated = (pod.get("metadata", {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if annotated in names:
        return str(annotated)
    if len(names) > 1:
        click.echo(f'Defaulted container "{names[0]}" out of: {", ".join(names)}', err=True)
    return names[0]


@click.command()
@click.argument("pod", required=False)
@click.argument("container_arg", required=False)
@click.option("-c", "--container", default=None, help="The container to print the logs of.")
@click.option("-l", "--selector", default=None, help="The pods of this label selector, one after the other.")
@click.option("--prefix", is_flag=True, help="Begin each line with the pod and container it came from.")
@click.option("-f", "--follow", is_flag=True, help="Stream the logs as they come.")
@click.option("--tail", type=int, default=None, help="Lines of recent log to show (all; 10 with -l).")
@click.option("-p", "--previous", is_flag=True, help="The logs of the previous instance of the container.")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its timestamp.")
@click.option("--since", default=None, help="Only logs newer than this duration (5s, 2m, 3h).")
def logs(
    pod: str | None,
    container_arg: str | None,
    container: str | None,
    selector: str | None,
    prefix: bool,
    follow: bool,
    tail: int | None,
    previous: bool,
    timestamps: bool,
    since: str | None,
) -> None:
    """Print the logs for a container in a pod (or in a pod of a workload, or in the pods of a selector)."""
    if tail is None:
        tail = 10 if selector else -1

    async def work(session: Session) -> None:
        if selector is not None:
            listed = await session.api.list(f"/api/v1/namespaces/{session.namespace}/pods", label_selector=selector)
            pods = listed.get("items", [])
            if not pods:
                click.echo(f"No resources found in {session.namespace} namespace.", err=True)
            for one in pods:
                await _print_logs(session, one, container, prefix)
            return
        if pod is None:
            raise CommandError(
                "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is "
                "a required argument for the logs command\nSee 'kubectl logs -h' for help and examples"
            )
        try:
            picked = await pod_for(session, pod, "get the logs from")
        except NotFoundError as exc:  # logs words it its own way
            raise CommandError(
                f'error from server (NotFound): {exc.message} in namespace "{session.namespace}"'
            ) from None
        if picked.choices > 1:
            click.echo(f"Found {picked.choices} pods, using pod/{picked.pod['metadata']['name']}", err=True)
        await _print_logs(session, picked.pod, container or container_arg, prefix)

    async def _print_logs(session: Session, obj: dict[str, Any], wanted: str | None, with_prefix: bool) -> None:
        name = pick_container(obj, wanted)
        params: dict[str, Any] = {
            "container": name,
            "follow": follow or None,
            "previous": previous or None,
            "timestamps": timestamps or None,
            "tailLines": tail if tail >= 0 else None,
        }
        if since:
            params["sinceSeconds"] = _seconds(since)
        path = f"/api/v1/namespaces/{obj['metadata']['namespace']}/pods/{obj['metadata']['name']}/log"
        out = sys.stdout.buffer
        head = f"[pod/{obj['metadata']['name']}/{name}] ".encode() if with_prefix else b""
        try:
            async with session.api.stream("GET", path, params=params, endless=follow) as resp:
                if not head:
                    async for chunk in resp.content.iter_any():
                        out.write(chunk)
                        out.flush()
                else:
                    async for line in resp.content:
                        out.write(head + line)
                        out.flush()
        except ApiError as exc:
            raise CommandError(exc.message) from None

    run(work)


def _seconds(duration: str) -> int:
    import re

    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    if not duration or parts is None:
        raise CommandError(f'invalid argument "{duration}" for "--since" flag: time: invalid duration "{duration}"')
    h, m, s = (int(g or 0) for g in parts.groups())
    return h * 3600 + m * 60 + s


@click.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-c", "--container", default=None, help="The container to run the command in.")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass standard input to the container.")
@click.option("-t", "--tty", is_flag=True, help="Standard input is a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="Only print the command's output.")
def exec_(args: tuple[str, ...], container: str | None, interactive: bool, tty: bool, quiet: bool) -> None:
    """Execute a command in a container."""
    if len(args) < 2:
        raise click.UsageError("you must specify at least one command for the container")
    if tty and not os.isatty(sys.stdin.fileno()):
        if not quiet:
            click.echo("Unable to use a TTY - input is not a terminal or the right kind of file", err=True)
        tty = False

    async def work(session: Session) -> int:
        obj = (await pod_for(session, args[0])).pod
        path = f"/api/v1/namespaces/{obj['metadata']['namespace']}/pods/{obj['metadata']['name']}"
        phase = obj.get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise CommandError(f"cannot exec into a container in a completed pod; current phase is {phase}")
        query = [("command", part) for part in args[1:]]
        query.append(("container", pick_container(obj, container)))
        if interactive:
            query.append(("stdin", "true"))
        query.append(("stdout", "true"))
        if tty:
            query.append(("tty", "true"))
        else:
            query.append(("stderr", "true"))
        async with session.api.websocket(f"{path}/exec", query=query, protocols=("v5.channel.k8s.io",)) as ws:
            with _raw_terminal(tty):
                return await _relay(ws, interactive, tty)

    run(work)


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    """The local terminal in raw mode while a remote one runs, restored however the command ends."""
    if not enabled:
        yield
        return
    import termios
    import tty as ttymod

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _size_message() -> bytes:
    size = os.get_terminal_size(sys.stdin.fileno())
    return bytes([RESIZE]) + json.dumps({"Width": size.columns, "Height": size.lines}).encode() + b"\n"


async def _relay(ws: Any, interactive: bool, tty: bool) -> int:
    """Pump standard input to the container and its output here until the connection closes; the
    command's exit code comes on the error channel."""
    loop = asyncio.get_running_loop()
    # frames to send, in order: terminal sizes, standard input, its end
    outgoing: asyncio.Queue[bytes] = asyncio.Queue()
    fd = sys.stdin.fileno()
    reading = False
    if tty:
        outgoing.put_nowait(_size_message())
        loop.add_signal_handler(signal.SIGWINCH, lambda: outgoing.put_nowait(_size_message()))
    if interactive:

        def readable() -> None:
            data = os.read(fd, 65536)
            if data:
                outgoing.put_nowait(bytes([STDIN]) + data)
            else:
                loop.remove_reader(fd)
                outgoing.put_nowait(bytes([CLOSE, STDIN]))

        try:
            loop.add_reader(fd, readable)
            reading = True
        except PermissionError:  # a regular file: it never blocks, read it whole
            with os.fdopen(os.dup(fd), "rb") as f:
                outgoing.put_nowait(bytes([STDIN]) + f.read())
            outgoing.put_nowait(bytes([CLOSE, STDIN]))

    async def send() -> None:
        while True:
            await ws.send_bytes(await outgoing.get())

    sender = asyncio.create_task(send())
    outputs = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}

    def write_through(channel: int, payload: bytes) -> None:
        outputs[channel].write(payload)
        outputs[channel].flush()

    try:
        status = await read_channels(ws, write_through)
    finally:
        sender.cancel()
        if reading:
            loop.remove_reader(fd)
        if tty:
            loop.remove_signal_handler(signal.SIGWINCH)
    code = exit_code(status)
    if code:
        click.echo(f"command terminated with exit code {code}", err=True)
    return code


async def read_channels(ws: Any, output: Callable[[int, bytes], None]) -> dict[str, Any]:
    """Read an exec's frames until the server closes the stream: each frame's first byte is its
    channel; standard output's and error's payloads go to ``output``; the error channel carries the
    final Status, which is returned (empty if none came)."""
    import aiohttp

    status: dict[str, Any] = {}
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
            continue
        channel, payload = msg.data[0], msg.data[1:]
        if channel in (STDOUT, STDERR):
            output(channel, payload)
        elif channel == ERROR and payload:
            status = json.loads(payload)
    return status


def exit_code(status: dict[str, Any]) -> int:
    """The exit code an exec's final Status carries (0 without one); a Status that is no exit code
    (the container is gone...) is the command's failure."""
    if not status or status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        causes = (status.get("details") or {}).get("causes") or []
        return next((int(c["message"]) for c in causes if c.get("reason") == "ExitCode"), 1)
    raise CommandError(status.get("message") or "exec failed")


async def exec_collect(
    session: Session, pod: dict[str, Any], container: str | None, command: list[str], stdin: bytes | None = None
) -> tuple[bytes, bytes, int]:
    """Run ``command`` in the pod without a terminal, ``stdin`` (if any) sent whole then closed; what
    it wrote to standard output and error, and its exit code (``cp`` pipes tar this way)."""
    md = pod["metadata"]
    query = [("command", part) for part in command]
    query.append(("container", pick_container(pod, container)))
    if stdin is not None:
        query.append(("stdin", "true"))
    query += [("stdout", "true"), ("stderr", "true")]
    outputs: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray()}
    path = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/exec"
    async with session.api.websocket(path, query=query, protocols=("v5.channel.k8s.io",)) as ws:
        if stdin is not None:
            for start in range(0, len(stdin), 32768):
                await ws.send_bytes(bytes([STDIN]) + stdin[start : start + 32768])
            await ws.send_bytes(bytes([CLOSE, STDIN]))
        status = await read_channels(ws, lambda channel, payload: outputs[channel].extend(payload))
    return bytes(outputs[STDOUT]), bytes(outputs[STDERR]), exit_code(status)
