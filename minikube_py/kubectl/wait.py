"""``wait``: until objects meet a condition (``--for=condition=NAME[=VALUE]``, ``jsonpath=PATH[=VALUE]``,
``delete``, ``create``), each ``<kind>/<name> condition met``, or kubectl's timeout error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import click

from minikube_py.client.errors import NotFoundError
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, go_seconds, run
from minikube_py.kubectl.write import selection_options

Obj = dict[str, Any]
#: how often an object is looked at again while waiting
POLL = 0.25
#: ``--timeout`` below zero: a week, as kubectl
FOREVER = 7 * 24 * 3600.0


def condition_check(spec: str) -> tuple[str, Callable[[Obj], bool]]:
    """What ``--for`` waits for: ``delete`` and ``create`` (judged by the caller), or a test of the object."""
    kind, eq, rest = spec.partition("=")
    if spec in ("delete", "create"):
        return spec, lambda obj: True
    if kind == "condition" and eq and rest:
        name, has_value, value = rest.partition("=")
        wanted = value if has_value else "true"

        def met(obj: Obj) -> bool:
            return any(
                c.get("type", "").lower() == name.lower() and str(c.get("status", "")).lower() == wanted.lower()
                for c in (obj.get("status") or {}).get("conditions") or []
            )

        return "condition", met
    if kind == "jsonpath" and eq and rest:
        from minikube_py.kubectl.jsonpath import evaluate, text

        path, value = rest, None
        if rest.startswith("{"):
            close = rest.find("}")
            path, value = rest[1:close], (rest[close + 2 :] if rest[close + 1 : close + 2] == "=" else None)
        elif "=" in rest:
            path, _, value = rest.partition("=")

        def matches(obj: Obj) -> bool:
            found = evaluate(path, obj)
            if value is None:
                return bool(found)
            return len(found) == 1 and text(found[0]) == value

        return "jsonpath", matches
    raise CommandError(f'unrecognized condition: "{spec}"')


@click.command()
@click.argument("args", nargs=-1)
@click.option("--for", "for_", default="", help="delete, create, condition=NAME[=VALUE] or jsonpath=PATH[=VALUE].")
@click.option("--timeout", default="30s", help="How long to wait (0: look once; negative: a week).")
@selection_options
def wait(args: tuple[str, ...], for_: str, timeout: str, selector: str | None, all_: bool) -> None:
    """Wait for a specific condition on one or many resources."""
    mode, check = condition_check(for_)
    try:
        limit = go_seconds(timeout.lstrip("-"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    limit = FOREVER if timeout.startswith("-") else limit

    async def work(session: Session) -> None:
        from minikube_py.kubectl.get import named_objects

        found = await named_objects(session, args, selector, all_)
        if not found:
            raise CommandError("no matching resources found")
        for res, namespace, name in found:
            path = res.path(namespace, name)
            deadline = time.monotonic() + limit
            existed = False  # a delete of what never was meets its condition silently
            while True:
                try:
                    obj: Obj | None = await session.api.get(path)
                except NotFoundError:
                    if mode not in ("delete", "create"):
                        raise
                    obj = None
                if mode == "delete" and obj is None:
                    if existed:
                        click.echo(f"{res.kind_ref}/{name} condition met")
                    break
                existed = obj is not None
                if mode != "delete" and obj is not None and check(obj):
                    click.echo(f"{res.kind_ref}/{name} condition met")
                    break
                if not limit:
                    raise CommandError(f"condition not met for {res.name}/{name}")
                if time.monotonic() >= deadline:
                    raise CommandError(f"timed out waiting for the condition on {res.name}/{name}")
                await asyncio.sleep(POLL)

    run(work)
