"""``create -f``, ``apply -f`` (client-side three-way merge, or ``--server-side``) and ``delete``."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.client.rest import PATCH_CONTENT_TYPES
from minikube_py.kubectl.discovery import Discovery, Resource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.manifests import Manifest, read
from minikube_py.kubectl.printing import Obj, go_json
from minikube_py.kubectl.session import Session, error_text, run

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
F = TypeVar("F", bound=Callable[..., Any])
DRY_RUN = click.Choice(["none", "client", "server"])
DRY_RUN_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def filename_options(command: Any) -> Any:
    command = click.option("-R", "--recursive", is_flag=True, help="Process the directory used in -f recursively.")(
        command
    )
    return click.option(
        "-f", "--filename", "filenames", multiple=True, help="A file, a directory or - (standard input); repeatable."
    )(command)


def selection_options(command: Any) -> Any:
    """``-l/--selector`` and ``--all``: the objects of the named types a verb takes besides those it names."""
    command = click.option("--all", "all_", is_flag=True, help="Every resource of the given types.")(command)
    return click.option("-l", "--selector", default=None, help="Label selector.")(command)


@dataclass(frozen=True)
class Picked:
    """The objects a verb is given by option rather than by name: manifests (``-f``, ``-R``) or the
    objects of the named types that ``-l`` selects (or all of them, ``--all``)."""

    filenames: tuple[str, ...] = ()
    recursive: bool = False
    selector: str | None = None
    all_: bool = False


def picking_options(command: F) -> F:
    """:func:`filename_options` and :func:`selection_options`, handed to ``command`` as one
    ``picked`` (a :class:`Picked`) for the verbs that take either."""

    @functools.wraps(command)
    def picking(
        *args: Any, filenames: tuple[str, ...], recursive: bool, selector: str | None, all_: bool, **kw: Any
    ) -> Any:
        return command(*args, picked=Picked(filenames, recursive, selector, all_), **kw)

    return filename_options(selection_options(picking))


class Target:
    """One object of a manifest, placed: its type, namespace and name."""

    def __init__(self, session: Session, discovery: Discovery, manifest: Manifest) -> None:
        obj = copy.deepcopy(manifest.obj)
        meta = obj.setdefault("metadata", {})
        try:
            self.resource = discovery.for_kind(obj["apiVersion"], obj["kind"])
        except CommandError as exc:
            raise CommandError(
                f'resource mapping not found for name: "{meta.get("name", "")}" namespace: '
                f'"{meta.get("namespace", "")}" from "{manifest.source}": {exc}\n'
                "ensure CRDs are installed first"
            ) from None
        self.namespace: str | None = None
        if self.resource.namespaced:
            given = meta.get("namespace")
            if given and session.explicit_namespace and given != session.namespace:
                raise CommandError(
                    f'the namespace from the provided object "{given}" does not match the namespace '
                    f"\"{session.namespace}\". You must pass '--namespace={given}' to perform this "
                    "operation."
                )
            self.namespace = meta["namespace"] = given or session.namespace
        self.obj = obj
        self.name: str = meta.get("name", "")
        self.source = manifest.source

    @property
    def ref(self) -> str:
        return f"{self.resource.kind_ref}/{self.name}"

    def path(self, named: bool = True) -> str:
        return self.resource.path(self.namespace, self.name if named else None)


async def targets(session: Session, filenames: tuple[str, ...], recursive: bool) -> list[Target]:
    manifests = read(filenames, recursive)
    discovery = await session.discovery()
    return [Target(session, discovery, m) for m in manifests]


def on_by_default(*decls: str, help: str) -> Callable[[F], F]:
    """A Go boolean flag that is on unless turned off, as kubectl's are: ``--wait`` alone or
    ``--wait=true`` keeps it, ``--wait=false`` turns it off."""
    return click.option(
        *decls, type=click.BOOL, default=True, is_flag=False, flag_value=True, help=f"{help} [default: true]"
    )


def write_params(manager: str, dry_run: str) -> dict[str, str]:
    params = {"fieldManager": manager, "fieldValidation": "Strict"}
    if dry_run == "server":
        params["dryRun"] = "All"
    return params


def report_failure(exc: ApiError, verb: str, source: str) -> None:
    """kubectl names the file of a failed write: ``Error from server (AlreadyExists): error when
    creating "m.yaml": pods "x" already exists``; invalid objects as ``The Pod "x" is invalid: ...``."""
    if exc.reason == "Invalid" or not exc.reason:
        click.echo(error_text(exc), err=True)
    else:
        click.echo(f'Error from server ({exc.reason}): error when {verb} "{source}": {exc.message}', err=True)


def create_from_files(filenames: tuple[str, ...], recursive: bool, dry_run: str, output: str) -> None:
    """``create -f``: POST each object of the manifests, as kubectl does, one after the other."""

    async def work(session: Session) -> int:
        failed = False
        for target in await targets(session, filenames, recursive):
            if dry_run != "client":
                try:
                    await session.api.request(
                        "POST",
                        target.path(named=False),
                        body=target.obj,
                        params=write_params("kubectl-create", dry_run),
                    )
                except ApiError as exc:
                    report_failure(exc, "creating", target.source)
                    failed = True
                    continue
            click.echo(target.ref if output == "name" else f"{target.ref} created{DRY_RUN_SUFFIX[dry_run]}")
        return 1 if failed else 0

    run(work)


@click.command()
@filename_options
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
def replace(filenames: tuple[str, ...], recursive: bool, dry_run: str) -> None:
    """Replace a resource by file name or stdin: the object becomes what the file says."""

    async def work(session: Session) -> int:
        failed = False
        for target in await targets(session, filenames, recursive):
            try:
                if not target.obj["metadata"].get("resourceVersion"):
                    # no precondition in the file: replace whatever is there now, as kubectl does
                    live = await session.api.get(target.path())
                    target.obj["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
                if dry_run != "client":
                    await session.api.request(
                        "PUT", target.path(), body=target.obj, params=write_params("kubectl-replace", dry_run)
                    )
            except ApiError as exc:
                report_failure(exc, "replacing", target.source)
                failed = True
                continue
            click.echo(f"{target.ref} replaced{DRY_RUN_SUFFIX[dry_run]}")
        return 1 if failed else 0

    run(work)


def modified_configuration(obj: Obj) -> tuple[Obj, str]:
    """The object to apply with its last-applied annotation, and that annotation: the object itself
    (without the annotation) as compact JSON with sorted keys and a newline, as kubectl writes it."""
    config = copy.deepcopy(obj)
    annotations = config["metadata"].get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    config["metadata"]["annotations"] = annotations
    text = go_json(config, indent=False) + "\n"
    applied = copy.deepcopy(config)
    applied["metadata"]["annotations"][LAST_APPLIED] = text
    return applied, text


def merge_rules(kind: str) -> Any:
    from minikube_py.api.patch.mergekeys import rules_for

    return rules_for(kind)


@click.command()
@filename_options
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("--server-side", is_flag=True, help="Apply on the server (server-side apply).")
@click.option("--force-conflicts", is_flag=True, help="With --server-side: take fields other managers own.")
@click.option("--field-manager", default=None, help="The name of the manager applying.")
def apply(
    filenames: tuple[str, ...],
    recursive: bool,
    dry_run: str,
    server_side: bool,
    force_conflicts: bool,
    field_manager: str | None,
) -> None:
    """Apply a configuration to a resource by file name or stdin."""

    async def work(session: Session) -> int:
        failed = False
        for target in await targets(session, filenames, recursive):
            try:
                if server_side:
                    message = await _apply_server_side(
                        session, target, dry_run, force_conflicts, field_manager or "kubectl"
                    )
                else:
                    message = await _apply_client_side(
                        session, target, dry_run, field_manager or "kubectl-client-side-apply"
                    )
            except ApiError as exc:
                report_failure(exc, exc.verb if isinstance(exc, _Failure) else "applying", target.source)
                failed = True
                continue
            click.echo(f"{target.ref} {message}{DRY_RUN_SUFFIX[dry_run] if message != 'unchanged' else ''}")
        return 1 if failed else 0

    run(work)


async def _apply_server_side(session: Session, target: Target, dry_run: str, force: bool, manager: str) -> str:
    if dry_run != "client":
        params = {**write_params(manager, dry_run), "force": "true" if force else "false"}
        await session.api.request(
            "PATCH", target.path(), body=target.obj, params=params, content_type=PATCH_CONTENT_TYPES["apply"]
        )
    return "serverside-applied"


async def _apply_client_side(session: Session, target: Target, dry_run: str, manager: str) -> str:
    from minikube_py.kubectl.threeway import three_way_patch

    applied, _ = modified_configuration(target.obj)
    try:
        live = await session.api.get(target.path())
    except NotFoundError:
        if dry_run != "client":
            try:
                await session.api.request(
                    "POST", target.path(named=False), body=applied, params=write_params(manager, dry_run)
                )
            except ApiError as exc:
                raise _Failure(exc, "creating") from exc
        return "created"
    annotations = live.get("metadata", {}).get("annotations") or {}
    if LAST_APPLIED not in annotations:
        click.echo(
            f"Warning: resource {target.resource.name}/{target.name} is missing the {LAST_APPLIED} "
            "annotation which is required by kubectl apply. kubectl apply should only be used on resources "
            "created declaratively by either kubectl create --save-config or kubectl apply. The missing "
            "annotation will be patched automatically.",
            err=True,
        )
    try:
        original = json.loads(annotations[LAST_APPLIED]) if LAST_APPLIED in annotations else None
    except ValueError:
        original = None
    rules = merge_rules(target.obj["kind"])
    patch = three_way_patch(original, applied, live, rules)
    if not patch:
        return "unchanged"
    if dry_run != "client":
        await session.api.request(
            "PATCH",
            target.path(),
            body=patch,
            params=write_params(manager, dry_run),
            content_type=PATCH_CONTENT_TYPES["strategic" if rules else "merge"],
        )
    return "configured"


class _Failure(ApiError):
    """A write that failed inside apply, with the verb kubectl names in the message."""

    def __init__(self, cause: ApiError, verb: str) -> None:
        super().__init__(cause.status)
        self.verb = verb


@click.command()
@click.argument("args", nargs=-1)
@filename_options
@click.option("-l", "--selector", default=None, help="Label selector of the objects to delete.")
@click.option("--all", "all_", is_flag=True, help="Delete all resources of the given types in the namespace.")
@click.option("--grace-period", type=int, default=-1, help="Seconds given to terminate gracefully (-1: the object's).")
@click.option("--force", is_flag=True, help="With --grace-period=0: remove at once, without waiting.")
@click.option("--now", is_flag=True, help="Signal to stop at once (grace period 1).")
@click.option("--ignore-not-found", is_flag=True, help="Treat 'resource not found' as a successful delete.")
@on_by_default("--wait", help="Wait for the objects to be gone before returning.")
@click.option(
    "--cascade",
    type=click.Choice(["background", "foreground", "orphan", "true", "false"]),
    default="background",
    help="How dependents are deleted.",
)
def delete(
    args: tuple[str, ...],
    filenames: tuple[str, ...],
    recursive: bool,
    selector: str | None,
    all_: bool,
    grace_period: int,
    force: bool,
    now: bool,
    ignore_not_found: bool,
    wait: bool,
    cascade: str,
) -> None:
    """Delete resources by file names, stdin, resources and names, or by resources and label selector."""
    if now:
        grace_period = 1
    if force and grace_period < 0:
        grace_period = 0
    policy = {"true": "Background", "false": "Orphan"}.get(cascade, cascade.capitalize())

    async def work(session: Session) -> int:
        from minikube_py.kubectl.get import named_objects

        sources: list[str | None] = []
        if filenames:
            placed = await targets(session, filenames, recursive)
            found = [(t.resource, t.namespace, t.name) for t in placed]
            sources = [t.source for t in placed]
        else:
            found = await named_objects(session, args, selector, all_)
        if not found and (selector is not None or all_):
            click.echo("No resources found")  # kubectl's delete says so on standard output
            return 0
        if grace_period == 0 and force:
            click.echo(
                "Warning: Immediate deletion does not wait for confirmation that the running resource has "
                "been terminated. The resource may continue to run on the cluster indefinitely.",
                err=True,
            )
        failed = False
        pending: list[tuple[Resource, str | None, str, str]] = []
        for i, (res, namespace, name) in enumerate(found):
            try:
                answer = await session.api.delete(
                    res.path(namespace, name),
                    propagation_policy=policy,
                    grace_period_seconds=grace_period if grace_period >= 0 else None,
                )
            except NotFoundError as exc:
                if not ignore_not_found:
                    if sources:
                        report_failure(exc, "deleting", sources[i] or "")
                    else:
                        click.echo(error_text(exc), err=True)
                    failed = True
                continue
            click.echo(f'{res.kind_ref} "{name}" {"force deleted" if force and grace_period == 0 else "deleted"}')
            if answer.get("kind") != "Status":
                pending.append((res, namespace, name, answer.get("metadata", {}).get("uid", "")))
        if wait:
            sys.stdout.flush()
            await asyncio.gather(*(until_gone(session, res.path(ns, name), uid) for res, ns, name, uid in pending))
        return 1 if failed else 0

    run(work)


async def until_gone(session: Session, path: str, uid: str) -> None:
    """Until the object (that incarnation of the name) is gone: finalizers and grace periods take time."""
    await session.poll(path, lambda obj: obj.get("metadata", {}).get("uid") != uid, delay=0.05)
