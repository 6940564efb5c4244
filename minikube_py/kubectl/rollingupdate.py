"""``rolling-update``: the 2014 verb that replaces a ReplicationController's pods with another's, one
at a time, never leaving fewer ready pods than wanted (kubectl v1.0's rolling updater; v1.18 dropped
the verb, pykube keeps it for the manifests of that time).

The new controller comes from a file (``-f``, v1 or 2014 v1beta1 JSON) or is the old one with another
image (``--image``); then it takes a temporary name ``<old>-<hash>`` and both controllers get a
``deployment`` selector key so their pods stay apart, and at the end it is renamed to the old name.
Each step raises the new controller by at most one pod above the wanted total and lowers the old one
only by the pods already ready beyond the wanted total, so a ready pod serves at every moment.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import time
from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.modify import until_replicas
from minikube_py.kubectl.session import Session, go_seconds, run
from minikube_py.model.selectors import labels_to_string

Obj = dict[str, Any]
#: the selector key that keeps an ``--image`` update's two sets of pods apart (kubectl's default)
DEPLOYMENT_KEY = "deployment"
DESIRED_ANNOTATION = "kubectl.kubernetes.io/desired-replicas"
SOURCE_ANNOTATION = "kubectl.kubernetes.io/update-source-id"
#: pods allowed above the wanted number during the update (kubectl's rolling updater: maxSurge 1, maxUnavailable 0)
SURGE = 1


def scale_up_to(desired: int, new: int, old: int) -> int:
    """The new controller's next size: towards ``desired``, never above ``desired + SURGE`` pods in all."""
    room = desired + SURGE - (new + old)
    return min(desired, new + max(0, room)) if new < desired else new


def scale_down_to(desired: int, old: int, ready: int) -> int:
    """The old controller's next size: lower by the ready pods beyond ``desired`` only, so as many pods
    as wanted stay ready while the old ones go."""
    return max(0, old - max(0, ready - desired))


def object_hash(obj: Obj) -> str:
    """A name suffix and selector value that changes with the controller's content (kubectl's was an md5
    of the encoded object too)."""
    return hashlib.md5(json.dumps(obj, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def check_new_controller(new: Obj, old: Obj, source: str) -> None:
    """kubectl's refusals of a new controller read from a file."""
    old_name = old["metadata"]["name"]
    if new.get("kind") != "ReplicationController":
        raise CommandError(f"{source} contains a {new.get('kind')} not a ReplicationController")
    if new["metadata"].get("name") == old_name:
        raise CommandError(f"{source} cannot have the same name as the existing ReplicationController {old_name}")
    old_selector = old["spec"].get("selector") or {}
    new_selector = new["spec"].get("selector") or {}
    if not any(key in old_selector and old_selector[key] != value for key, value in new_selector.items()):
        raise CommandError(f"{source} must specify a matching key with non-equal value in Selector for {old_name}")


def with_image(old: Obj, image: str, container: str | None) -> Obj:
    """The new controller of an ``--image`` update: the old one's spec with ``image`` in the container,
    under a temporary name, its pods set apart by a ``deployment`` key of its own content's hash."""
    containers = old["spec"]["template"]["spec"]["containers"]
    if container is None and len(containers) > 1:
        raise CommandError("Must specify container to update when updating a multi-container pod")
    target = next((c for c in containers if container in (None, c["name"])), None)
    if target is None:
        raise CommandError(f"Couldn't find container named {container} in {old['metadata']['name']}")
    if target["image"] == image:
        raise CommandError("Specified --image must be distinct from existing container image")
    spec = copy.deepcopy(old["spec"])
    for c in spec["template"]["spec"]["containers"]:
        if c["name"] == target["name"]:
            c["image"] = image
    spec["selector"] = {k: v for k, v in (spec.get("selector") or {}).items() if k != DEPLOYMENT_KEY}
    labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
    labels.pop(DEPLOYMENT_KEY, None)
    digest = object_hash(spec)
    spec["selector"][DEPLOYMENT_KEY] = labels[DEPLOYMENT_KEY] = digest
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": f"{old['metadata']['name']}-{digest}", "labels": old["metadata"].get("labels") or {}},
        "spec": spec,
    }


def from_file(filename: str, session: Session) -> tuple[Obj, str]:
    """The one controller the file holds, as a v1 object (2014 v1beta1 JSON converted)."""
    from minikube_py.kubectl.manifests import read

    manifests = read((filename,))
    if len(manifests) != 1:
        raise CommandError(f"{filename} must hold exactly one ReplicationController")
    obj = manifests[0].obj
    if obj.get("apiVersion") == "v1beta1" and obj.get("kind") == "ReplicationController":
        from minikube_py.client.errors import ApiError
        from minikube_py.model.errors import StatusError
        from minikube_py.model.v1beta1 import replication_controller_to_v1

        try:
            obj = replication_controller_to_v1(obj)
        except StatusError as exc:  # reported as the server would report the same file
            raise ApiError(exc.status()) from None
    obj.setdefault("metadata", {}).setdefault("namespace", session.namespace)
    obj.setdefault("spec", {})
    return obj, manifests[0].source


class Updater:
    """One rolling update, printing each step as kubectl v1.0 did."""

    def __init__(self, session: Session, period: float, poll: float, timeout: float) -> None:
        self.session = session
        self.period, self.poll, self.timeout = period, poll, timeout
        self.pods_path = f"/api/v1/namespaces/{session.namespace}/pods"

    def path(self, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/v1/namespaces/{self.session.namespace}/replicationcontrollers"
        return base + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")

    async def set_apart(self, old: Obj) -> Obj:
        """Give the old controller and its pods a ``deployment`` key of their own before an
        ``--image`` update, so the old selector no longer takes the new pods (template first, then
        the pods, then the selector, so the controller never sees its pods unselected)."""
        if DEPLOYMENT_KEY in (old["spec"].get("selector") or {}):
            return old
        digest = object_hash(old["spec"])
        name = old["metadata"]["name"]
        patch = {"spec": {"template": {"metadata": {"labels": {DEPLOYMENT_KEY: digest}}}}}
        await self._patch(self.path(name), patch)
        pods = await self.session.api.list(self.pods_path, label_selector=labels_to_string(old["spec"]["selector"]))
        for pod in pods.get("items", []):
            await self._patch(
                f"{self.pods_path}/{pod['metadata']['name']}", {"metadata": {"labels": {DEPLOYMENT_KEY: digest}}}
            )
        return await self._patch(self.path(name), {"spec": {"selector": {DEPLOYMENT_KEY: digest}}})

    async def _patch(self, path: str, body: Obj) -> Obj:
        return await self.session.api.patch(path, body)

    async def _scale(self, name: str, replicas: int) -> None:
        await self._patch(self.path(name, "scale"), {"spec": {"replicas": replicas}})
        await until_replicas(self.session, self.path(name), replicas)

    async def _ready(self, *selectors: dict[str, str]) -> int:
        from minikube_py.model.replication import is_active, is_ready

        total = 0
        for selector in selectors:
            pods = await self.session.api.list(self.pods_path, label_selector=labels_to_string(selector))
            total += sum(1 for p in pods.get("items", []) if is_active(p) and is_ready(p))
        return total

    async def update(self, old: Obj, new: Obj, desired: int) -> None:
        old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
        old_selector, new_selector = old["spec"]["selector"], new["spec"]["selector"]
        old_count, new_count = old["spec"].get("replicas", 1), new["spec"].get("replicas", 0)
        click.echo(
            f"Scaling up {new_name} from {new_count} to {desired}, scaling down {old_name} from {old_count} "
            f"to 0 (keep {desired} pods available, don't exceed {desired + SURGE} pods)"
        )
        while new_count != desired or old_count:
            up = scale_up_to(desired, new_count, old_count)
            if up != new_count:
                click.echo(f"Scaling {new_name} up to {up}")
                await self._scale(new_name, up)
                new_count = up
            deadline, down = time.monotonic() + self.timeout, old_count
            # the new pods must be ready before old ones go
            while (
                old_count
                and (down := scale_down_to(desired, old_count, await self._ready(old_selector, new_selector)))
                == old_count
            ):
                if time.monotonic() > deadline:
                    raise CommandError("timed out waiting for any update progress to be made")
                await asyncio.sleep(self.poll)
            if down != old_count:
                click.echo(f"Scaling {old_name} down to {down}")
                await self._scale(old_name, down)
                old_count = down
            if new_count != desired or old_count:
                await asyncio.sleep(self.period)

    async def rename(self, rc: Obj, name: str) -> None:
        """The new controller under the old name: the temporary one deleted leaving its pods running,
        then a copy made under ``name``, which adopts them through the same selector (made first, the
        copy would find the pods still owned and start pods of its own)."""
        from minikube_py.kubectl.write import until_gone

        temporary = self.path(rc["metadata"]["name"])
        await self.session.api.delete(temporary, propagation_policy="Orphan")
        await until_gone(self.session, temporary, rc["metadata"]["uid"])
        copied = {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {
                "name": name,
                "labels": rc["metadata"].get("labels") or {},
                "annotations": rc["metadata"].get("annotations") or {},
            },
            "spec": rc["spec"],
        }
        await self.session.api.create(self.path(), copied)


def _duration(text: str, flag: str) -> float:
    try:
        return go_seconds(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


@click.command(name="rolling-update")
@click.argument("old_name")
@click.argument("new_name_arg", required=False)
@click.option("-f", "--filename", default=None, help="File holding the new ReplicationController.")
@click.option("--image", default=None, help="Image for the new controller's container (instead of -f).")
@click.option("--container", default=None, help="The container whose image --image replaces.")
@click.option("--update-period", default="1m0s", help="Time to wait between updating pods.")
@click.option("--poll-interval", default="3s", help="Time between polls of the pods' readiness.")
@click.option("--timeout", default="5m0s", help="Max time to wait for a step to make progress.")
def rolling_update(
    old_name: str,
    new_name_arg: str | None,
    filename: str | None,
    image: str | None,
    container: str | None,
    update_period: str,
    poll_interval: str,
    timeout: str,
) -> None:
    """Replace a replication controller's pods with those of a new one, one pod at a time."""
    period = _duration(update_period, "--update-period")
    poll = _duration(poll_interval, "--poll-interval")
    limit = _duration(timeout, "--timeout")
    if filename and image:
        raise click.UsageError("--filename and --image can not both be specified")
    if not filename and not image:
        raise click.UsageError("Must specify --filename or --image for rolling update")

    async def work(session: Session) -> None:
        from minikube_py.kubectl.write import until_gone

        updater = Updater(session, period, poll, limit)
        old = await session.api.get(updater.path(old_name))
        if filename:
            new, source = from_file(filename, session)
            check_new_controller(new, old, source)
        else:
            assert image is not None
            new = with_image(old, image, container)
            if new_name_arg:
                new["metadata"]["name"] = new_name_arg
        desired = new["spec"].get("replicas") or old["spec"].get("replicas", 1)
        new_name = new["metadata"]["name"]
        annotations = new["metadata"].setdefault("annotations", {})
        annotations[DESIRED_ANNOTATION] = str(desired)
        annotations[SOURCE_ANNOTATION] = f"{old_name}:{old['metadata']['uid']}"
        new["spec"]["replicas"] = 0
        if image:
            old = await updater.set_apart(old)
        new = await session.api.create(updater.path(), new)
        click.echo(f"Created {new_name}")
        await updater.update(old, new, desired)
        click.echo(f"Update succeeded. Deleting {old_name}")
        await session.api.delete(updater.path(old_name), propagation_policy="Background")
        if image and not new_name_arg:
            click.echo(f"Renaming {new_name} to {old_name}")
            await until_gone(session, updater.path(old_name), old["metadata"]["uid"])
            await updater.rename(await session.api.get(updater.path(new_name)), old_name)
            click.echo(f'replicationcontroller "{old_name}" rolling updated')
        else:
            click.echo(f'replicationcontroller "{old_name}" rolling updated to "{new_name}"')

    run(work)
