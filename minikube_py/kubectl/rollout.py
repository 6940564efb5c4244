"""``rollout status|restart|history|undo|pause|resume`` for Deployments, DaemonSets and StatefulSets."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import click

from minikube_py.kubectl.discovery import Resource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.get import named_objects
from minikube_py.kubectl.modify import set_spec_flag
from minikube_py.kubectl.session import Session, run
from minikube_py.kubectl.write import on_by_default
from minikube_py.model.times import rfc3339

Obj = dict[str, Any]
ROLLING = ("Deployment", "DaemonSet", "StatefulSet")


def rollout_message(obj: Obj) -> tuple[str, bool]:
    """What ``rollout status`` says about ``obj`` now, and whether the rollout is done (kubectl's
    status viewers, in their words)."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if obj["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        noun = {"DaemonSet": "daemon set"}.get(kind, kind.lower())
        return f"Waiting for {noun} spec update to be observed...", False
    if kind == "Deployment":
        progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
        if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
            raise CommandError(f'deployment "{name}" exceeded its progress deadline')
        want, updated = spec.get("replicas", 1), status.get("updatedReplicas", 0)
        available = status.get("availableReplicas", 0)
        if updated < want:
            return _waiting("deployment", name, f"{updated} out of {want} new replicas have been updated")
        if status.get("replicas", 0) > updated:
            return _waiting("deployment", name, f"{status['replicas'] - updated} old replicas are pending termination")
        if available < updated:
            return _waiting("deployment", name, f"{available} of {updated} updated replicas are available")
        return f'deployment "{name}" successfully rolled out', True
    if kind == "DaemonSet":
        want, updated = status.get("desiredNumberScheduled", 0), status.get("updatedNumberScheduled", 0)
        available = status.get("numberAvailable", 0)
        if updated < want:
            return _waiting("daemon set", name, f"{updated} out of {want} new pods have been updated")
        if available < want:
            return _waiting("daemon set", name, f"{available} of {want} updated pods are available")
        return f'daemon set "{name}" successfully rolled out', True
    want, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    if ready < want:
        return f"Waiting for {want - ready} pods to be ready...", False
    if status.get("updateRevision") != status.get("currentRevision"):
        return (
            f"waiting for statefulset rolling update to complete {status.get('updatedReplicas', 0)} pods at "
            f"revision {status.get('updateRevision')}..."
        ), False
    return (
        f"statefulset rolling update complete {status.get('currentReplicas', 0)} pods at revision "
        f"{status.get('currentRevision')}..."
    ), True


def _waiting(noun: str, name: str, progress: str) -> tuple[str, bool]:
    """A Deployment's or DaemonSet's rollout still under way, in kubectl's words."""
    return f'Waiting for {noun} "{name}" rollout to finish: {progress}...', False


@click.group()
def rollout() -> None:
    """Manage the rollout of one or many resources."""


@rollout.command()
@click.argument("args", nargs=-1)
@on_by_default("-w", "--watch", help="Watch the status until the rollout is done.")
def status(args: tuple[str, ...], watch: bool) -> None:
    """Show the status of the rollout, following it until it completes."""
    import orjson

    async def work(session: Session) -> None:
        for res, namespace, name in await named_objects(session, args):
            if res.kind not in ROLLING:
                raise CommandError(f"no status viewer has been implemented for {res.kind}")
            obj = await session.api.get(res.path(namespace, name))
            last = ""
            while True:
                message, done = rollout_message({"kind": res.kind, **obj})
                if message != last:
                    click.echo(message)
                    last = message
                if done or not watch:
                    break
                params = {
                    "watch": "true",
                    "fieldSelector": f"metadata.name={name}",
                    "resourceVersion": obj["metadata"].get("resourceVersion"),
                }
                async with session.api.stream("GET", res.path(namespace), params=params, endless=True) as resp:
                    async for line in resp.content:
                        event = orjson.loads(line) if line.strip() else {}
                        if event.get("type") == "DELETED":
                            raise CommandError("object has been deleted")
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            obj = event["object"]
                            break

    run(work)


@rollout.command()
@click.argument("args", nargs=-1)
def restart(args: tuple[str, ...]) -> None:
    """Restart a resource: its pods are replaced, one rollout step at a time."""

    async def work(session: Session) -> None:
        now = rfc3339()
        patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}
        for res, namespace, name in await named_objects(session, args):
            if res.kind not in ROLLING:
                raise CommandError(f'{res.qualified} "{name}" restarting is not supported')
            await session.api.patch(res.path(namespace, name), patch, "strategic", "kubectl-rollout")
            click.echo(f"{res.kind_ref}/{name} restarted")

    run(work)


REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
#: a Deployment's own annotations that an undo keeps rather than taking the ReplicaSet's (kubectl's list)
UNDO_KEEPS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


async def revisions(session: Session, obj: Obj) -> dict[int, tuple[Obj, Obj]]:
    """The object's history by revision number: each the pod template it restores and the holder
    (a Deployment's ReplicaSets, a DaemonSet's or StatefulSet's ControllerRevisions), found by the
    object's selector and its controller reference."""
    from minikube_py.model.history import template_of
    from minikube_py.model.selectors import selector_to_string

    meta = obj["metadata"]
    plural = "replicasets" if obj["kind"] == "Deployment" else "controllerrevisions"
    listed = await session.api.list(
        f"/apis/apps/v1/namespaces/{meta['namespace']}/{plural}",
        label_selector=selector_to_string(obj["spec"].get("selector")),
    )
    out: dict[int, tuple[Obj, Obj]] = {}
    for item in listed.get("items", []):
        if not any(
            o.get("controller") and o.get("uid") == meta["uid"] for o in item["metadata"].get("ownerReferences") or []
        ):
            continue
        if obj["kind"] == "Deployment":
            number = (item["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
            if number is None:
                continue
            template = copy.deepcopy((item.get("spec") or {}).get("template") or {})
            cause = (item["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)
            if cause:  # kubectl shows a revision's change cause among its template's annotations
                template.setdefault("metadata", {}).setdefault("annotations", {})[CHANGE_CAUSE] = cause
            out[int(number)] = template, item
        else:
            out[int(item.get("revision", 0))] = template_of(item), item
    return out


def history_text(obj: Obj, history: dict[int, tuple[Obj, Obj]], revision: int) -> str:
    """What ``rollout history`` prints after the object's name: the revisions and their change causes,
    or one revision's pod template as describe shows it (without aligning: kubectl writes it raw)."""
    from minikube_py.kubectl.describe import Text, pod_template
    from minikube_py.kubectl.printing import go_tabwriter

    if revision > 0:
        if revision not in history:
            raise CommandError("unable to find the specified revision")
        w = Text()
        pod_template(w, history[revision][0])
        return f"with revision #{revision}\n" + "".join(w.parts)
    rows = "REVISION\tCHANGE-CAUSE\n" + "".join(
        f"{number}\t{(holder['metadata'].get('annotations') or {}).get(CHANGE_CAUSE) or '<none>'}\n"
        for number, (_, holder) in sorted(history.items())
    )
    return "\n" + go_tabwriter(rows, 2)


async def _rolling(
    session: Session, args: tuple[str, ...], visitor: str
) -> AsyncIterator[tuple[Resource, str | None, str, Obj]]:
    """The objects (with their kind) a history or undo names, read one at a time as the command gets
    to each; each must be of a kind that keeps revisions: kubectl has a ``visitor`` (history viewer,
    rollbacker) for those alone."""
    for res, namespace, name in await named_objects(session, args):
        obj = {"kind": res.kind, **await session.api.get(res.path(namespace, name))}
        if res.kind not in ROLLING:
            raise CommandError(
                f'error retrieving {visitor} for "{res.kind}", no visitor method exists for {{{res.group} {res.kind}}}'
            )
        yield res, namespace, name, obj


#: what a revision verb does with one object: (session, its type, namespace, name, the object, the
#: revision number given, 0 when none is)
Visit = Callable[[Session, Resource, str | None, str, Obj, int], Awaitable[None]]


def _revision_verb(visitor: str, option: str, help: str) -> Callable[[Visit], click.Command]:
    """A rollout verb over named objects of the kinds that keep revisions, with one revision-number
    option (``help`` says what it picks): the decorated ``visit`` runs for each object in turn."""

    def register(visit: Visit) -> click.Command:
        @rollout.command(name=visit.__name__, help=visit.__doc__)
        @click.argument("args", nargs=-1)
        @click.option(option, "number", type=int, default=0, help=help)
        def command(args: tuple[str, ...], number: int) -> None:
            async def work(session: Session) -> None:
                async for res, namespace, name, obj in _rolling(session, args, visitor):
                    await visit(session, res, namespace, name, obj, number)

            run(work)

        return command

    return register


@_revision_verb("history", "--revision", "Show the details of this revision, with its pod template.")
async def history(session: Session, res: Resource, _: str | None, name: str, obj: Obj, revision: int) -> None:
    """View previous rollout revisions and configurations."""
    text = history_text(obj, await revisions(session, obj), revision)
    click.echo(f"{res.kind_ref}/{name} {text}")


def undo_patch(deployment: Obj, replica_set: Obj) -> list[Obj]:
    """The JSON patch that puts a ReplicaSet's template back in its Deployment, with the ReplicaSet's
    annotations (change cause...) but the Deployment's own bookkeeping ones."""
    template = copy.deepcopy((replica_set.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    have = deployment["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in have.items() if k in UNDO_KEEPS}
    annotations.update(
        {k: v for k, v in (replica_set["metadata"].get("annotations") or {}).items() if k not in UNDO_KEEPS}
    )
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def pick_revision(history: dict[int, Any], to_revision: int) -> int:
    """The revision an undo goes back to: the one asked for, else the one before the latest."""
    if to_revision == 0:
        if len(history) <= 1:
            raise CommandError("unable to find specified revision 0 in history")
        return sorted(history)[-2]
    if to_revision not in history:
        raise CommandError(f"unable to find specified revision {to_revision} in history")
    return to_revision


@_revision_verb("rollbacker", "--to-revision", "The revision to go back to (0: the previous one).")
async def undo(session: Session, res: Resource, namespace: str | None, name: str, obj: Obj, to_revision: int) -> None:
    """Roll back to a previous rollout."""
    from minikube_py.model.rollout import equal_ignore_hash

    if res.kind == "Deployment" and obj["spec"].get("paused"):
        raise CommandError(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
        )
    history = await revisions(session, obj)
    number = pick_revision(history, to_revision)
    holder = history[number][1]
    if res.kind != "Deployment":
        await session.api.patch(res.path(namespace, name), holder.get("data") or {}, "strategic")
    elif equal_ignore_hash(holder["spec"].get("template") or {}, obj["spec"].get("template") or {}):
        click.echo(f"{res.kind_ref}/{name} skipped rollback (current template already matches revision {number})")
        return
    else:
        await session.api.patch(res.path(namespace, name), undo_patch(obj, holder), "json")
    click.echo(f"{res.kind_ref}/{name} rolled back")


def _pause_command(name: str, paused: bool) -> click.Command:
    """``pause`` and ``resume``: a Deployment's ``spec.paused``; other kinds cannot pause."""
    verb = "paused" if paused else "resumed"

    @rollout.command(name=name, help=f"Mark the provided resource as {verb}.")
    @click.argument("args", nargs=-1)
    def command(args: tuple[str, ...]) -> None:
        async def work(session: Session) -> None:
            for res, namespace, obj_name in await named_objects(session, args):
                if res.kind != "Deployment":
                    raise CommandError(f'{res.qualified} "{obj_name}" {name[:-1]}ing is not supported')
                path = res.path(namespace, obj_name)
                if not await set_spec_flag(session, path, "paused", paused, field_manager="kubectl-rollout"):
                    raise CommandError(
                        f'{res.qualified} "{obj_name}" is {"already paused" if paused else "not paused"}'
                    )
                click.echo(f"{res.kind_ref}/{obj_name} {verb}")

        run(work)

    return command


pause = _pause_command("pause", True)
resume = _pause_command("resume", False)
