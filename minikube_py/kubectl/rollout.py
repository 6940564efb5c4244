"""``rollout status`` and ``rollout restart`` for Deployments, DaemonSets and StatefulSets."""

from __future__ import annotations

from typing import Any

import click

from minikube_py.client.rest import PATCH_CONTENT_TYPES
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.get import named_objects
from minikube_py.kubectl.session import Session, run
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
        if updated < want:
            return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas have '
                    "been updated..."), False
        if status.get("replicas", 0) > updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {status["replicas"] - updated} old '
                    "replicas are pending termination..."), False
        if status.get("availableReplicas", 0) < updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {status.get("availableReplicas", 0)} of '
                    f"{updated} updated replicas are available..."), False
        return f'deployment "{name}" successfully rolled out', True
    if kind == "DaemonSet":
        want, updated = status.get("desiredNumberScheduled", 0), status.get("updatedNumberScheduled", 0)
        if updated < want:
            return (f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {want} new pods have '
                    "been updated..."), False
        if status.get("numberAvailable", 0) < want:
            return (f'Waiting for daemon set "{name}" rollout to finish: {status.get("numberAvailable", 0)} of '
                    f"{want} updated pods are available..."), False
        return f'daemon set "{name}" successfully rolled out', True
    want, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    if ready < want:
        return f"Waiting for {want - ready} pods to be ready...", False
    if status.get("updateRevision") != status.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {status.get('updatedReplicas', 0)} pods at "
                f"revision {status.get('updateRevision')}..."), False
    return (f"statefulset rolling update complete {status.get('currentReplicas', 0)} pods at revision "
            f"{status.get('currentRevision')}..."), True


@click.group()
def rollout() -> None:
    """Manage the rollout of one or many resources."""


@rollout.command()
@click.argument("args", nargs=-1)
@click.option("-w", "--watch", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Watch the status until the rollout is done. [default: true]")
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
                params = {"watch": "true", "fieldSelector": f"metadata.name={name}",
                          "resourceVersion": obj["metadata"].get("resourceVersion")}
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
            await session.api.request("PATCH", res.path(namespace, name), body=patch,
                                      params={"fieldManager": "kubectl-rollout"},
                                      content_type=PATCH_CONTENT_TYPES["strategic"])
            click.echo(f"{res.kind_ref}/{name} restarted")

    run(work)
