"""``attach``, ``run -i/-t/--rm`` and ``debug``: a container's own stdio over the ``attach``
subresource (the channel protocol of :mod:`~minikube_py.kubectl.pods`), as kubectl 1.32 reaches it.

``attach`` joins a running container. ``run`` with ``-i``/``-t`` (or ``--attach``) makes its pod
with an open stdin, waits for it to run and be ready, attaches (or prints the logs of a pod that
finished before), then, for a pod that does not restart, waits for its end and answers with its
container's exit code; ``--rm`` deletes the pod afterwards. ``debug`` adds an ephemeral container
to a running pod through ``pods/ephemeralcontainers`` (kubectl's strategic merge patch) and
attaches to it with ``-i``/``-t``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from minikube_py.client.errors import ApiError
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.pods import _raw_terminal, _relay, pick_container, pod_for
from minikube_py.kubectl.session import Session, error_text, run
from minikube_py.model.times import parse_go_duration

Obj = dict[str, Any]
PROMPT_HINT = "If you don't see a command prompt, try pressing enter."
#: kubectl's ``--pod-running-timeout`` default: how long ``attach``, ``run -i`` and ``debug`` wait for the pod
RUNNING_TIMEOUT = 60.0
#: the letters of Kubernetes' random name suffixes (no vowels, no look-alikes)
_SUFFIX_LETTERS = "bcdfghjklmnpqrstvwxz2456789"


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def running_and_ready(pod: Obj) -> bool:
    """kubectl's ``podRunningAndReady``; a pod that finished already ends the wait too."""
    if _phase(pod) in ("Succeeded", "Failed"):
        return True
    conditions = (pod.get("status") or {}).get("conditions") or []
    return _phase(pod) == "Running" and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def wait_for_pod(session: Session, path: str, done: Callable[[Obj], bool], within: float) -> Obj:
    """The pod at ``path`` once ``done`` holds for it, read every 0.2 s at first, at most every second,
    for ``within`` seconds at most (kubectl's words then; a pod that goes meanwhile is its NotFound)."""
    deadline, delay = time.monotonic() + within, 0.2
    while True:
        pod = await session.api.get(path)
        if done(pod):
            return pod
        if time.monotonic() + delay > deadline:
            raise CommandError("timed out waiting for the condition")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def print_logs(session: Session, pod_path: str, container: str) -> None:
    """What a container that ended before it could be joined wrote: kubectl prints its logs instead."""
    async with session.api.stream("GET", f"{pod_path}/log", params={"container": container}) as resp:
        sys.stdout.buffer.write(await resp.read())
    sys.stdout.flush()


async def attach_to(session: Session, pod: Obj, container: str, *, stdin: bool, tty: bool, quiet: bool) -> int:
    """Join ``container``'s stdio until it ends (or, with stdin, until standard input closes)."""
    md = pod["metadata"]
    if not quiet:
        click.echo(PROMPT_HINT, err=True)
    query = [("container", container)]
    if not tty:
        query.append(("stderr", "true"))
    if stdin:
        query.append(("stdin", "true"))
    query.append(("stdout", "true"))
    if tty:
        query.append(("tty", "true"))
    path = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/attach"
    async with session.api.websocket(path, query=query, protocols=("v5.channel.k8s.io",)) as ws:
        with _raw_terminal(tty):
            return await _relay(ws, stdin, tty)


def usable_tty(tty: bool, stdin: bool, quiet: bool) -> bool:
    """A terminal is asked for only with stdin from a terminal, as kubectl: it says so otherwise."""
    if tty and (not stdin or not os.isatty(sys.stdin.fileno())):
        if not quiet:
            click.echo("Unable to use a TTY - input is not a terminal or the right kind of file", err=True)
        return False
    return tty


@click.command()
@click.argument("target")
@click.option("-c", "--container", default=None, help="The container to attach to.")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass standard input to the container.")
@click.option("-t", "--tty", is_flag=True, help="Standard input is a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="Only print the container's output.")
@click.option("--pod-running-timeout", default="1m0s", help="How long to wait for the pod to run.")
def attach(
    target: str, container: str | None, interactive: bool, tty: bool, quiet: bool, pod_running_timeout: str
) -> None:
    """Attach to a process that is already running inside an existing container."""
    tty = usable_tty(tty, interactive, quiet)
    timeout = parse_go_duration(pod_running_timeout)

    async def work(session: Session) -> int:
        pod = (await pod_for(session, target)).pod
        md = pod["metadata"]
        path = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}"
        pod = await wait_for_pod(session, path, lambda p: _phase(p) != "Pending", timeout)
        if _phase(pod) in ("Succeeded", "Failed"):
            raise CommandError(f"cannot attach a container in a completed pod; current phase is {_phase(pod)}")
        return await attach_to(session, pod, pick_container(pod, container), stdin=interactive, tty=tty, quiet=quiet)

    run(work)


async def run_attached(
    session: Session, pod: Obj, *, stdin: bool, tty: bool, quiet: bool, remove: bool, restart: str, within: float
) -> int:
    """``kubectl run`` with ``--attach``: create, join (or read the logs of a pod already done),
    then wait for the end of a pod that does not restart and answer its exit code; ``remove``
    deletes the pod whatever happened."""
    namespace, name = session.namespace, pod["metadata"]["name"]
    path = f"/api/v1/namespaces/{namespace}/pods/{name}"
    try:
        created = await session.api.request(
            "POST", f"/api/v1/namespaces/{namespace}/pods", body=pod, params={"fieldManager": "kubectl-run"}
        )
    except ApiError as exc:
        click.echo(error_text(exc), err=True)
        return 1
    try:
        return await _attached_run(session, created, path, stdin, tty, quiet, restart, within)
    finally:
        if remove:
            await session.api.delete(path)
            click.echo(f'pod "{name}" deleted')


async def _attached_run(
    session: Session, pod: Obj, path: str, stdin: bool, tty: bool, quiet: bool, restart: str, within: float
) -> int:
    name, container = pod["metadata"]["name"], pod["spec"]["containers"][0]["name"]
    pod = await wait_for_pod(session, path, running_and_ready, within)
    if _phase(pod) in ("Succeeded", "Failed"):
        await print_logs(session, path, container)
    else:
        await attach_to(session, pod, container, stdin=stdin, tty=tty, quiet=quiet)
    if restart not in ("Never", "OnFailure"):
        return 0
    wanted = ("Succeeded",) if restart == "OnFailure" else ("Succeeded", "Failed")
    pod = await wait_for_pod(session, path, lambda p: _phase(p) in wanted, within)
    if _phase(pod) == "Succeeded":
        return 0
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    ended = ((statuses[0].get("state") or {}).get("terminated") or {}) if statuses else {}
    code = int(ended.get("exitCode") or 0)
    namespace = pod["metadata"]["namespace"]
    if not code:
        raise CommandError(f"pod {namespace}/{name} failed with unknown exit code")
    # kubectl prints this exit error as it is: no "error: " before it, a newline only if it has none
    text = f"pod {namespace}/{name} terminated ({ended.get('reason', '')})\n{ended.get('message', '')}"
    click.echo(text, err=True, nl=not text.endswith("\n"))
    return code


def debug_container_name(taken: set[str]) -> str:
    """``debugger-xxxxx``: kubectl's generated name, not one of the pod's."""
    while True:
        name = "debugger-" + "".join(random.choice(_SUFFIX_LETTERS) for _ in range(5))
        if name not in taken:
            return name


def ephemeral_container(
    name: str,
    image: str,
    args: tuple[str, ...],
    *,
    arguments_only: bool,
    stdin: bool,
    tty: bool,
    target: str | None,
    env: list[Obj],
    pull_policy: str | None,
) -> Obj:
    """The ephemeral container kubectl's debug adds (the ``legacy`` profile: no changes of its own)."""
    container: Obj = {"name": name, "image": image}
    if args:
        container["args" if arguments_only else "command"] = list(args)
    if env:
        container["env"] = env
    container["resources"] = {}
    container["terminationMessagePolicy"] = "File"
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    if stdin:
        container["stdin"] = True
    if tty:
        container["tty"] = True
    if target:
        container["targetContainerName"] = target
    return container


def _ephemeral_state(pod: Obj, name: str) -> Obj:
    for status in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if status.get("name") == name:
            return status.get("state") or {}
    return {}


def _ephemeral_started(pod: Obj, name: str) -> bool:
    """The debug container runs, or ran already: what kubectl waits for before it attaches."""
    state = _ephemeral_state(pod, name)
    return "running" in state or "terminated" in state


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--image", required=True, help="The image of the debug container.")
@click.option("-c", "--container", default=None, help="The debug container's name (debugger-xxxxx).")
@click.option("--target", "target_container", default=None, help="The container whose processes to share.")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Keep stdin open and attach to it.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a terminal for the debug container.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the container's output.")
@click.option("--attach", "attach_flag", type=bool, default=None, help="Attach (default: with -i).")
@click.option("--arguments-only", is_flag=True, help="The arguments after -- are the image's arguments.")
@click.option("--env", multiple=True, help="An environment variable NAME=VALUE; repeatable.")
@click.option("--image-pull-policy", type=click.Choice(["", "Always", "IfNotPresent", "Never"]), default="")
@click.option("--profile", default="legacy", help="Only legacy: the container as given.")
def debug(
    target: str,
    args: tuple[str, ...],
    image: str,
    container: str | None,
    target_container: str | None,
    interactive: bool,
    tty: bool,
    quiet: bool,
    attach_flag: bool | None,
    arguments_only: bool,
    env: tuple[str, ...],
    image_pull_policy: str,
    profile: str,
) -> None:
    """Create a debugging session in a running pod: an ephemeral container, attached with -i."""
    if profile != "legacy":
        raise click.UsageError(f"pykube kubectl debug has only the legacy profile, not {profile!r}")
    if target.startswith(("node/", "nodes/")):
        raise click.UsageError("pykube kubectl debug does not debug nodes yet: the real kubectl does (debug node/NAME)")
    click.echo(
        "--profile=legacy is deprecated and will be removed in the future. It is recommended to explicitly specify a "
        'profile, for example "--profile=general".',
        err=True,
    )
    joins = interactive if attach_flag is None else attach_flag
    tty = usable_tty(tty, interactive, quiet)
    variables = []
    for e in env:
        key, eq, value = e.partition("=")
        if not eq:
            raise click.BadParameter(f"invalid env {e!r}: expected NAME=VALUE", param_hint="--env")
        variables.append({"name": key, "value": value})

    async def work(session: Session) -> int:
        pod = (await pod_for(session, target)).pod
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        taken = {
            c["name"] for key in ("containers", "initContainers", "ephemeralContainers") for c in spec.get(key) or []
        }
        name = container
        if not name:
            name = debug_container_name(taken)
            if not quiet:
                click.echo(f"Defaulting debug container name to {name}.")
        if target_container and not quiet:
            click.echo(
                f'Targeting container "{target_container}". If you don\'t see processes from this container it may '
                "be because the container runtime doesn't support this feature."
            )
        added = ephemeral_container(
            name,
            image,
            args,
            arguments_only=arguments_only,
            stdin=interactive,
            tty=tty,
            target=target_container,
            env=variables,
            pull_policy=image_pull_policy or None,
        )
        path = f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}"
        # kubectl's two-way patch of the pod: the list's order (existing ones first) and the new container
        order = [{"name": c["name"]} for c in [*(spec.get("ephemeralContainers") or []), added]]
        patch = {"spec": {"$setElementOrder/ephemeralContainers": order, "ephemeralContainers": [added]}}
        try:
            await session.api.patch(f"{path}/ephemeralcontainers", patch, "strategic")
        except ApiError as exc:
            click.echo(error_text(exc), err=True)
            return 1
        if not joins:
            return 0
        pod = await wait_for_pod(session, path, lambda p: _ephemeral_started(p, name), RUNNING_TIMEOUT)
        if "terminated" in _ephemeral_state(pod, name):
            await print_logs(session, path, name)
            return 0
        return await attach_to(session, pod, name, stdin=interactive, tty=tty, quiet=quiet)

    run(work)
