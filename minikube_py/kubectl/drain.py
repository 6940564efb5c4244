"""``drain``: cordon a node, then evict its pods through the eviction API (so disruption budgets are
honoured: a refusal is retried every five seconds) and wait until they are gone, with kubectl's
checks (DaemonSet pods, pods with local storage, pods no controller would replace) and words."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.kubectl.modify import set_spec_flag
from minikube_py.kubectl.session import Session, go_seconds, run

Obj = dict[str, Any]
#: how long kubectl waits before asking again when a disruption budget refuses an eviction
EVICTION_RETRY = 5.0
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True)
class Verdict:
    """What drain does with one pod: evict it or not, and the warning or error it says about it."""

    evict: bool
    warning: str = ""
    error: str = ""


def judge(pod: Obj, *, ignore_daemonsets: bool, delete_emptydir: bool, force: bool) -> Verdict:
    """kubectl's filters in their order, the last one run deciding: DaemonSet pods, mirror pods, pods
    with emptyDir volumes, pods without a controller."""
    finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
    verdict = Verdict(True)
    filters: list[Callable[[], Verdict | None]] = [
        lambda: (
            None
            if owner is None or owner.get("kind") != "DaemonSet"
            else (
                Verdict(False, warning="ignoring DaemonSet-managed Pods")
                if ignore_daemonsets
                else Verdict(False, error="cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)")
            )
        ),
        lambda: Verdict(False) if MIRROR_ANNOTATION in (pod["metadata"].get("annotations") or {}) else None,
        lambda: (
            None
            if finished or not any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or [])
            else (
                Verdict(True, warning="deleting Pods with local storage")
                if delete_emptydir
                else Verdict(
                    False, error="cannot delete Pods with local storage (use --delete-emptydir-data to override)"
                )
            )
        ),
        lambda: (
            None
            if finished or owner is not None
            else (
                Verdict(True, warning="deleting Pods that declare no controller")
                if force
                else Verdict(
                    False, error="cannot delete cannot delete Pods that declare no controller (use --force to override)"
                )
            )
        ),  # sic: kubectl says it twice
    ]
    for check in filters:
        verdict = check() or Verdict(True)
        if not verdict.evict:
            break
    return verdict


def grouped(pods: list[tuple[Obj, Verdict]], field: str) -> list[str]:
    """``message: ns/a, ns/b`` per distinct warning or error, in the order first seen."""
    groups: dict[str, list[str]] = {}
    for pod, verdict in pods:
        message = getattr(verdict, field)
        if message:
            groups.setdefault(message, []).append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
    return [f"{message}: {', '.join(names)}" for message, names in groups.items()]


async def _evict(session: Session, pod: Obj, grace_period: int, deadline: float, limit: str) -> str | None:
    """Evict one pod, again every five seconds while a budget refuses, then wait until it is gone; what
    went wrong, in kubectl's words, or None."""
    meta = pod["metadata"]
    ref = f'pods/"{meta["name"]}" -n "{meta["namespace"]}"'
    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
    eviction: Obj = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if grace_period >= 0:
        eviction["deleteOptions"] = {"gracePeriodSeconds": grace_period}
    while True:
        click.echo(f"evicting pod {meta['namespace']}/{meta['name']}")
        if time.monotonic() > deadline:
            return f"error when evicting {ref}: global timeout reached: {limit}"
        try:
            await session.api.request("POST", f"{path}/eviction", body=eviction)
            break
        except NotFoundError:
            return None
        except ApiError as exc:
            if exc.code != 429:
                return f"error when evicting {ref}: {exc.message}"
            click.echo(f"error when evicting {ref} (will retry after 5s): {exc.message}", err=True)
            await asyncio.sleep(EVICTION_RETRY)
    delay = 0.1
    while True:
        try:
            live = await session.api.get(path)
        except NotFoundError:
            break
        if live["metadata"].get("uid") != meta.get("uid"):
            break
        if time.monotonic() > deadline:
            return f'error when waiting for pod "{meta["name"]}" terminating: global timeout reached: {limit}'
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    click.echo(f"pod/{meta['name']} evicted")
    return None


def aggregate(errors: list[str]) -> str:
    """Several errors as Go's aggregate error prints them."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def pending_nodes(node: str, errors: list[str]) -> str:
    return (
        f'error: unable to drain node "{node}" due to error: {aggregate(errors)}, continuing command...\n'
        f"There are pending nodes to be drained:\n {node}\n" + "\n".join(errors)
    )


@click.command()
@click.argument("node")
@click.option("--ignore-daemonsets", is_flag=True, help="Leave DaemonSet-managed pods in place.")
@click.option(
    "--delete-emptydir-data",
    "delete_emptydir",
    is_flag=True,
    help="Evict pods with emptyDir volumes too (their data is lost).",
)
@click.option("--force", is_flag=True, help="Evict pods that no controller would replace too.")
@click.option("--grace-period", type=int, default=-1, help="Seconds given to each pod (-1: the pod's own).")
@click.option("--timeout", default="0s", help="How long to keep trying (0: for ever).")
@click.option("--pod-selector", default=None, help="Only the pods matching this label selector.")
def drain(
    node: str,
    ignore_daemonsets: bool,
    delete_emptydir: bool,
    force: bool,
    grace_period: int,
    timeout: str,
    pod_selector: str | None,
) -> None:
    """Drain a node in preparation for maintenance: cordon it, then evict its pods."""
    try:
        limit = go_seconds(timeout) or 365 * 24 * 3600.0
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None

    async def work(session: Session) -> int:
        changed = await set_spec_flag(session, f"/api/v1/nodes/{node}", "unschedulable", True)
        click.echo(f"node/{node} {'' if changed else 'already '}cordoned")

        async def judged() -> list[tuple[Obj, Verdict]]:
            listed = await session.api.list(
                "/api/v1/pods", field_selector=f"spec.nodeName={node}", label_selector=pod_selector
            )
            return [
                (pod, judge(pod, ignore_daemonsets=ignore_daemonsets, delete_emptydir=delete_emptydir, force=force))
                for pod in listed.get("items", [])
            ]

        pods = await judged()
        errors = grouped(pods, "error")
        if errors:
            click.echo(pending_nodes(node, errors), err=True)
            return 1
        warnings = grouped(pods, "warning")
        if warnings:
            click.echo(f"Warning: {'; '.join(warnings)}", err=True)
        deadline = time.monotonic() + limit
        from minikube_py.model.metrics import go_duration

        shown = go_duration(limit)
        failures = [
            e
            for e in await asyncio.gather(
                *(_evict(session, pod, grace_period, deadline, shown) for pod, v in pods if v.evict)
            )
            if e
        ]
        if failures:
            left = [pod["metadata"]["name"] for pod, verdict in await judged() if verdict.evict]
            if left:
                click.echo(
                    f'There are pending pods in node "{node}" when an error occurred: {aggregate(failures)}\n'
                    + "".join(f"pod/{name}\n" for name in left),
                    err=True,
                    nl=False,
                )
            click.echo(pending_nodes(node, failures), err=True)
            return 1
        click.echo(f"node/{node} drained")
        return 0

    run(work)
