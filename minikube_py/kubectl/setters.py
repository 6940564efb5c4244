"""``set image`` and ``set env``: change the containers of whatever holds a pod template (pods,
deployments, replica sets and controllers, daemon sets, stateful sets, jobs, cron jobs), as kubectl
does: nothing printed when nothing changed, ``<kind>/<name> image updated`` otherwise."""

from __future__ import annotations

from typing import Any

import click

from minikube_py.kubectl.discovery import Resource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, run
from minikube_py.kubectl.write import Picked, picking_options

Obj = dict[str, Any]


def pod_spec(obj: Obj, res: Resource) -> Obj:
    """The pod spec inside ``obj``, which the caller may change in place."""
    spec = obj.get("spec") or {}
    if res.kind == "Pod":
        return spec
    if res.kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    if not isinstance(template, dict):
        raise CommandError(
            f"{res.name}/{obj['metadata']['name']} the object is not a pod or does not have a pod "
            f"template: *{res.version}.{res.kind}"
        )
    return template.setdefault("spec", {})


def _containers(spec: Obj, name: str) -> list[Obj]:
    """``name`` among the containers and init containers (``*`` for all)."""
    every = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    return [c for c in every if name in ("*", c["name"])]


def _split(args: tuple[str, ...]) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """The resource arguments before the first ``NAME=VALUE``, and the pairs."""
    first = next((i for i, arg in enumerate(args) if "=" in arg), len(args))
    return args[:first], [(a.partition("=")[0], a.partition("=")[2]) for a in args[first:]]


async def _each(session: Session, resources: tuple[str, ...], picked: Picked) -> list[tuple[Resource, str, Obj]]:
    """The objects named, fetched (each with its path)."""
    from minikube_py.kubectl.modify import objects_of

    found = await objects_of(session, resources, picked)
    return [(res, res.path(ns, name), await session.api.get(res.path(ns, name))) for res, ns, name in found]


async def _check_resources(session: Session, resources: tuple[str, ...]) -> None:
    """The resource arguments' form is checked before the changes are, as kubectl does."""
    from minikube_py.kubectl.get import parse_requests

    if resources:
        parse_requests(await session.discovery(), resources)


async def _update(session: Session, path: str, obj: Obj) -> None:
    await session.api.request("PUT", path, body=obj, params={"fieldManager": "kubectl-set"})


@click.group(name="set")
def set_() -> None:
    """Set specific features on objects."""


@set_.command()
@click.argument("args", nargs=-1)
@picking_options
def image(args: tuple[str, ...], picked: Picked) -> None:
    """Update existing container image(s) of resources: ``CONTAINER=IMAGE`` (``*`` for every container)."""
    resources, pairs = _split(args)

    async def work(session: Session) -> None:
        await _check_resources(session, resources)
        if not pairs:
            raise CommandError("at least one image update is required")
        for res, path, obj in await _each(session, resources, picked):
            spec = pod_spec(obj, res)
            changed = False
            for name, new_image in pairs:
                matched = _containers(spec, name)
                if not matched:
                    raise CommandError(f'unable to find container named "{name}"')
                for container in matched:
                    changed = changed or container.get("image") != new_image
                    container["image"] = new_image
            if changed:
                await _update(session, path, obj)
                click.echo(f"{res.kind_ref}/{obj['metadata']['name']} image updated")

    run(work)


def _env_lines(env: list[Obj]) -> list[str]:
    """``--list``: each variable as ``NAME=value``, or a comment saying where its value comes from."""
    lines = []
    for var in env:
        if "valueFrom" not in var:
            lines.append(f"{var['name']}={var.get('value', '')}")
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            lines.append(f"# {var['name']} from field path {source['fieldRef'].get('fieldPath', '')}")
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            lines.append(f"# {var['name']} from configmap {ref.get('name', '')}, key {ref.get('key', '')}")
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            lines.append(f"# {var['name']} from secret {ref.get('name', '')}, key {ref.get('key', '')}")
        else:
            lines.append(f"# {var['name']} from a resource field")
    return lines


@set_.command()
@click.argument("args", nargs=-1)
@picking_options
@click.option("-c", "--containers", "container", default="*", help="The containers to change (a name or *).")
@click.option("-e", "--env", "env_pairs", multiple=True, help="NAME=VALUE (or NAME- to remove); repeatable.")
@click.option("--list", "list_", is_flag=True, help="Print the environment of each container instead.")
@click.option("--overwrite", type=click.BOOL, default=True, help="Replace values already set. [default: true]")
def env(
    args: tuple[str, ...], picked: Picked, container: str, env_pairs: tuple[str, ...], list_: bool, overwrite: bool
) -> None:
    """Update environment variables on a pod template: ``NAME=VALUE`` sets, ``NAME-`` removes."""
    resources = tuple(a for a in args if "=" not in a and not a.endswith("-"))
    changes = [a for a in (*env_pairs, *args) if "=" in a or a.endswith("-")]

    async def work(session: Session) -> None:
        await _check_resources(session, resources)
        for res, path, obj in await _each(session, resources, picked):
            name = obj["metadata"]["name"]
            containers = _containers(pod_spec(obj, res), container)
            if not containers:
                click.echo(f'Warning: {res.kind}/{name} does not have any containers matching "{container}"', err=True)
                continue
            if list_:
                for c in containers:
                    click.echo(f"# {res.kind} {name}, container {c['name']}")
                    for line in _env_lines(c.get("env") or []):
                        click.echo(line)
                continue
            before = [list(c.get("env") or []) for c in containers]
            for c in containers:
                c["env"] = _changed_env(c.get("env") or [], changes, overwrite, f"{res.name}/{name}")
                if not c["env"]:
                    del c["env"]
            if before != [c.get("env") or [] for c in containers]:
                await _update(session, path, obj)
                click.echo(f"{res.kind_ref}/{name} env updated")

    run(work)


def _changed_env(env: list[Obj], changes: list[str], overwrite: bool, ref: str) -> list[Obj]:
    """A container's variables after ``NAME=VALUE`` and ``NAME-`` changes, in kubectl's order: kept
    ones where they were, new ones at the end."""
    out = [dict(var) for var in env]
    for change in changes:
        if "=" not in change:
            out = [var for var in out if var["name"] != change[:-1]]
            continue
        key, _, value = change.partition("=")
        existing = next((var for var in out if var["name"] == key), None)
        if existing is None:
            out.append({"name": key, "value": value})
        elif existing.get("value") != value or "valueFrom" in existing:
            if not overwrite:
                raise CommandError(
                    f"{ref} '{key}' already has a value ({existing.get('value', '')}), and --overwrite is false"
                )
            existing.pop("valueFrom", None)
            existing["value"] = value
    return out
