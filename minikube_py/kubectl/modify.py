"""Verbs that change part of an object: ``scale`` (and the legacy ``resize`` and ``stop``), ``label``,
``annotate``, ``patch``, ``cordon`` and ``uncordon``."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import click

from minikube_py.client.errors import NotFoundError
from minikube_py.client.rest import PATCH_CONTENT_TYPES
from minikube_py.kubectl.discovery import Resource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.get import named_objects
from minikube_py.kubectl.session import Session, run
from minikube_py.kubectl.write import DRY_RUN, DRY_RUN_SUFFIX, Picked, filename_options, picking_options, targets

Found = list[tuple[Resource, str | None, str]]


async def objects_of(session: Session, args: tuple[str, ...], picked: Picked) -> Found:
    """The objects of the manifests a verb is given, else those its arguments name or select."""
    if picked.filenames:
        return [(t.resource, t.namespace, t.name) for t in await targets(session, picked.filenames, picked.recursive)]
    return await named_objects(session, args, picked.selector, picked.all_)


async def _scale(session: Session, found: Found, replicas: int, current: int | None) -> None:
    for res, namespace, name in found:
        try:
            await session.api.get(res.path(namespace, name))
        except NotFoundError as exc:
            raise CommandError(f"no objects passed to scale {exc.message}") from None
    for res, namespace, name in found:
        path = res.path(namespace, name, "scale")
        if current is not None:
            scale = await session.api.get(path)
            have = scale.get("spec", {}).get("replicas", 0)
            if have != current:
                raise CommandError(f"Expected replicas to be {current}, was {have}")
        await session.api.patch(path, {"spec": {"replicas": replicas}})
        click.echo(f"{res.kind_ref}/{name} scaled")


def _scale_command(name: str, doc: str) -> click.Command:
    @click.command(name=name, help=doc)
    @click.argument("args", nargs=-1)
    @picking_options
    @click.option("--replicas", type=int, required=True, help="The new desired number of replicas.")
    @click.option("--current-replicas", type=int, default=None, help="Precondition for the current size.")
    def command(args: tuple[str, ...], picked: Picked, replicas: int, current_replicas: int | None) -> None:
        async def work(session: Session) -> None:
            await _scale(session, await objects_of(session, args, picked), replicas, current_replicas)

        run(work)

    return command


scale = _scale_command(
    "scale", "Set a new size for a deployment, replica set, replication controller, or stateful set."
)
#: the 2014 name of scale
resize = _scale_command("resize", "Set a new size for a replication controller (the old name of scale).")


@click.command()
@click.argument("args", nargs=-1)
@filename_options
def stop(args: tuple[str, ...], filenames: tuple[str, ...], recursive: bool) -> None:
    """Gracefully shut down a resource (the old verb): scale it to zero, wait until its pods are gone,
    then delete it."""

    async def work(session: Session) -> None:
        for res, namespace, name in await objects_of(session, args, Picked(filenames, recursive)):
            path = res.path(namespace, name)
            if "scale" in await _subresources(session, res):
                scale = await session.api.patch(res.path(namespace, name, "scale"), {"spec": {"replicas": 0}})
                await until_replicas(session, path, 0)
                await _until_no_pods(session, namespace, (scale.get("status") or {}).get("selector"))
            await session.api.delete(path, propagation_policy="Background")
            click.echo(f'{res.kind_ref} "{name}" deleted')

    run(work)


async def _subresources(session: Session, res: Resource) -> set[str]:
    doc = await session.api.get(f"/api/{res.version}" if not res.group else f"/apis/{res.api_version}")
    return {
        entry["name"].split("/", 1)[1] for entry in doc.get("resources", []) if entry["name"].startswith(f"{res.name}/")
    }


async def until_replicas(session: Session, path: str, count: int) -> None:
    """Until the controller at ``path`` has observed its spec and reports ``count`` replicas (pods on
    their way out no longer count), or is gone."""

    def settled(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        observed = status.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 0)
        return observed and status.get("replicas", 0) == count

    await session.poll(path, settled, delay=0.1)


async def _until_no_pods(session: Session, namespace: str | None, selector: str | None) -> None:
    """Until the pods the controller selected are gone, not only uncounted: ``stop`` leaves nothing behind."""
    if not selector or namespace is None:
        return
    delay = 0.1
    while (await session.api.list(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)).get("items"):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _split_changes(args: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str | None]]:
    """``TYPE NAME k=v k2-`` into the resource arguments and the changes (None removes a key)."""
    resources: list[str] = []
    changes: dict[str, str | None] = {}
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            changes[key] = value
        elif arg.endswith("-") and len(arg) > 1:
            changes[arg[:-1]] = None
        else:
            resources.append(arg)
    if not changes:
        raise CommandError("at least one label update is required")
    return tuple(resources), changes


def _metadata_command(name: str, field: str, verb: str) -> click.Command:
    """``label`` and ``annotate``: merge patches of ``metadata.<field>``."""

    @click.command(name=name)
    @click.argument("args", nargs=-1)
    @picking_options
    @click.option("--overwrite", is_flag=True, help="Replace values already set.")
    @click.option("--dry-run", type=DRY_RUN, default="none")
    def command(args: tuple[str, ...], picked: Picked, overwrite: bool, dry_run: str) -> None:
        resources, changes = _split_changes(args)

        async def work(session: Session) -> None:
            for res, namespace, name in await objects_of(session, resources, picked):
                path = res.path(namespace, name)
                obj = await session.api.get(path)
                have = obj.get("metadata", {}).get(field) or {}
                for key, value in changes.items():
                    if value is not None and key in have and have[key] != value and not overwrite:
                        raise CommandError(
                            f"'{key}' already has a value ({have[key]}), and --overwrite is false"
                            if field == "labels"
                            else "--overwrite is false but found the following declared annotation(s): "
                            f"'{key}' already has a value ({have[key]})"
                        )
                if field == "labels":
                    for key in [k for k, v in changes.items() if v is None and k not in have]:
                        click.echo(f'label "{key}" not found.')
                patch = {
                    k: v
                    for k, v in changes.items()
                    if (v is None and k in have) or (v is not None and have.get(k) != v)
                }
                if patch and dry_run != "client":
                    await session.api.patch(
                        path, {"metadata": {field: patch}}, "merge", f"kubectl-{name}", dry_run=dry_run == "server"
                    )
                message = _change_message(verb, obj, field, changes, overwrite)
                click.echo(f"{res.kind_ref}/{name} {message}")

        run(work)

    command.help = f"Update the {field} on a resource."
    return command


def _change_message(verb: str, obj: dict[str, Any], field: str, changes: dict[str, str | None], overwrite: bool) -> str:
    """kubectl's words for what happened, from the object's JSON before and after the change made
    locally: ``not labeled`` when they are the same, ``unlabeled`` when it shrank (without
    ``--overwrite``), else ``labeled``. (kubectl sets an empty map where there was none, so removing
    an absent label of an object without labels says ``labeled``.) annotate always says ``annotated``."""
    if verb != "labeled":
        return verb
    from minikube_py.kubectl.printing import go_json

    after = copy.deepcopy(obj)
    meta = after.setdefault("metadata", {})
    values = dict(meta.get(field) or {})
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    meta[field] = values
    old, new = go_json(obj, indent=False), go_json(after, indent=False)
    if old == new:
        return "not labeled"
    return "unlabeled" if not overwrite and len(new) < len(old) else verb


label = _metadata_command("label", "labels", "labeled")
annotate = _metadata_command("annotate", "annotations", "annotated")


@click.command()
@click.argument("args", nargs=-1)
@filename_options
@click.option("-p", "--patch", "patch_text", default=None, help="The patch, JSON or YAML.")
@click.option("--patch-file", default=None, help="A file holding the patch.")
@click.option("--type", "patch_type", type=click.Choice(["json", "merge", "strategic"]), default="strategic")
@click.option("--subresource", default=None, help="Patch this subresource (status, scale).")
def patch(
    args: tuple[str, ...],
    filenames: tuple[str, ...],
    recursive: bool,
    patch_text: str | None,
    patch_file: str | None,
    patch_type: str,
    subresource: str | None,
) -> None:
    """Update fields of a resource using strategic merge patch, a JSON merge patch, or a JSON patch."""
    import yaml

    if patch_file:
        with open(patch_file) as f:
            patch_text = f.read()
    if not patch_text:
        raise click.UsageError("must specify -p to patch")
    try:
        body: Any = json.loads(patch_text)
    except ValueError:
        body = yaml.safe_load(patch_text)

    async def work(session: Session) -> None:
        for res, namespace, name in await objects_of(session, args, Picked(filenames, recursive)):
            path = res.path(namespace, name, subresource)
            before = await session.api.get(path)
            after = await session.api.request(
                "PATCH",
                path,
                body=body,
                params={"fieldManager": "kubectl-patch"},
                content_type=PATCH_CONTENT_TYPES[patch_type],
            )
            changed = after != before
            click.echo(f"{res.kind_ref}/{name} patched" + ("" if changed else " (no change)"))

    run(work)


async def set_spec_flag(
    session: Session, path: str, field: str, on: bool, *, field_manager: str | None = None, dry_run: str = "none"
) -> bool:
    """Turn the boolean ``spec.<field>`` of the object at ``path`` on, or off by removing it (the API
    leaves a false one out), as cordon, drain and rollout pause do; False, changing nothing, when it
    already is. ``dry_run`` is the verbs' --dry-run: with ``client`` nothing is sent."""
    obj = await session.api.get(path)
    if bool((obj.get("spec") or {}).get(field)) == on:
        return False
    if dry_run != "client":
        body = {"spec": {field: True if on else None}}
        await session.api.patch(path, body, "strategic", field_manager, dry_run=dry_run == "server")
    return True


def _cordon_command(name: str, unschedulable: bool) -> click.Command:
    """``cordon`` and ``uncordon``: a node's ``spec.unschedulable``, with kubectl's words."""
    verb = "cordoned" if unschedulable else "uncordoned"

    @click.command(name=name, help=f"Mark a node as {'unschedulable' if unschedulable else 'schedulable'}.")
    @click.argument("nodes", nargs=-1)
    @click.option("-l", "--selector", default=None, help="Label selector of the nodes.")
    @click.option("--dry-run", type=DRY_RUN, default="none")
    def command(nodes: tuple[str, ...], selector: str | None, dry_run: str) -> None:
        async def work(session: Session) -> None:
            args = ("nodes", *nodes) if nodes or selector is not None else ()
            if not args:
                raise CommandError(f"{name} needs a node name or a label selector (-l)")
            for res, namespace, node in await named_objects(session, args, selector):
                path = res.path(namespace, node)
                changed = await set_spec_flag(session, path, "unschedulable", unschedulable, dry_run=dry_run)
                click.echo(f"node/{node} {'' if changed else 'already '}{verb}{DRY_RUN_SUFFIX[dry_run]}")

        run(work)

    return command


cordon = _cordon_command("cordon", True)
uncordon = _cordon_command("uncordon", False)


TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TAINT_HELP = "\nSee 'kubectl taint -h' for help and examples"


def _taint(spec: str) -> dict[str, str]:
    """kubectl's ``parseTaint``: ``key``, ``key:Effect`` or ``key=value:Effect``."""
    from minikube_py.model.selectors import label_key_errors

    parts = spec.split(":")
    if len(parts) > 2:
        raise CommandError(f"invalid taint spec: {spec}{TAINT_HELP}")
    taint = {"key": parts[0]}
    if len(parts) == 2:
        if parts[1] not in TAINT_EFFECTS:
            raise CommandError(f"invalid taint effect: {parts[1]}, unsupported taint effect{TAINT_HELP}")
        key, eq, value = parts[0].partition("=")
        taint = {"key": key, "value": value, "effect": parts[1]} if eq else {"key": key, "effect": parts[1]}
    errors = label_key_errors(taint["key"])
    if errors:
        raise CommandError(f"invalid taint spec: {spec}, {'; '.join(errors)}{TAINT_HELP}")
    return taint


def parse_taints(args: tuple[str, ...]) -> tuple[tuple[str, ...], list[dict[str, str]], list[dict[str, str]]]:
    """``TYPE NAME... key=value:Effect key:Effect- key-`` into the resource arguments, the taints to add
    and the taints to remove (no effect: every effect of the key)."""
    resources: list[str] = []
    add: list[dict[str, str]] = []
    remove: list[dict[str, str]] = []
    for arg in args:
        if arg.endswith("-"):
            taint = _taint(arg[:-1])
            remove.append({"key": taint["key"], "effect": taint.get("effect", "")})
        elif ":" in arg or "=" in arg:
            taint = _taint(arg)
            if "effect" not in taint:
                raise CommandError(f"unknown taint spec: {arg}{TAINT_HELP}")
            add.append(taint)
        else:
            resources.append(arg)
    if not add and not remove:
        raise CommandError("at least one taint update is required")
    conflicts = [
        f"{r['key']}={r['effect']}"
        for a in add
        for r in remove
        if a["key"] == r["key"] and r["effect"] in ("", a["effect"])
    ]
    if conflicts:
        raise CommandError(
            "can not both modify and remove the following taint(s) in the same command: " + ", ".join(conflicts)
        )
    return tuple(resources), add, remove


def retaint(
    node: str, taints: list[dict[str, str]], add: list[dict[str, str]], remove: list[dict[str, str]], overwrite: bool
) -> tuple[str, list[dict[str, str]], list[str]]:
    """kubectl's ``reorganizeTaints``: the new taints first, then the node's others (a taint is its key
    and effect), less the removed ones; the word for what happened, and the removals that found nothing."""
    if not overwrite:
        taken = [a["key"] for a in add if any(t["key"] == a["key"] and t.get("effect") == a["effect"] for t in taints)]
        if taken:
            raise CommandError(
                f"node {node} already has {','.join(taken)} taint(s) with same effect(s) and --overwrite is false"
            )
    out = list(add) + [
        t for t in taints if not any(t["key"] == a["key"] and t.get("effect") == a["effect"] for a in add)
    ]
    added = len(out) != len(taints)
    missing = []
    deleted = False
    for r in remove:
        kept = [t for t in out if not (t["key"] == r["key"] and r["effect"] in ("", t.get("effect")))]
        if len(kept) == len(out):
            missing.append(
                f'taint "{r["key"]}:{r["effect"]}" not found' if r["effect"] else f'taint "{r["key"]}" not found'
            )
        deleted = deleted or len(kept) != len(out)
        out = kept
    if (added and deleted) or overwrite:
        return "modified", out, missing
    return ("tainted" if added else "untainted"), out, missing


@click.command()
@click.argument("args", nargs=-1)
@click.option("--overwrite", is_flag=True, help="Replace a taint of the same key and effect.")
@click.option("-l", "--selector", default=None, help="Label selector of the nodes.")
@click.option("--all", "all_", is_flag=True, help="Every node.")
@click.option("--dry-run", type=DRY_RUN, default="none")
def taint(args: tuple[str, ...], overwrite: bool, selector: str | None, all_: bool, dry_run: str) -> None:
    """Update the taints on one or more nodes: ``key=value:Effect`` adds, ``key:Effect-`` or ``key-`` removes."""
    resources, add, remove = parse_taints(args)

    async def work(session: Session) -> int:
        from minikube_py.kubectl.discovery import UnknownResource
        from minikube_py.kubectl.get import named_objects

        try:  # the first argument is the type, always (kubectl says so without its "error: ")
            (await session.discovery()).find(resources[0] if resources else "nodes")
        except UnknownResource as exc:
            click.echo(str(exc), err=True)
            return 1
        for res, namespace, node in await named_objects(session, resources, selector, all_):
            if res.kind != "Node":
                raise CommandError(
                    f"invalid resource type {resources[0].partition('/')[0]}, only node types are supported"
                )
            path = res.path(namespace, node)
            obj = await session.api.get(path)
            word, taints, missing = retaint(node, (obj.get("spec") or {}).get("taints") or [], add, remove, overwrite)
            if len(missing) == 1:
                raise CommandError(missing[0])
            if missing:  # several failures: kubectl lists them as they are
                click.echo("\n".join(missing), err=True)
                return 1
            if dry_run != "client":
                await session.api.patch(
                    path,
                    {"spec": {"taints": taints or None}},
                    "strategic",
                    "kubectl-taint",
                    dry_run=dry_run == "server",
                )
            click.echo(f"node/{node} {word}")  # kubectl says nothing of a dry run here
        return 0

    run(work)
