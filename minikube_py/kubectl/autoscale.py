"""``autoscale``: a HorizontalPodAutoscaler (``autoscaling/v1``, as kubectl 1.32 writes it) for each
named object whose resource discovery lists with a ``scale`` subresource (Deployments, ReplicaSets,
ReplicationControllers, StatefulSets, custom resources with one), scaling it between ``--min`` and
``--max`` replicas on its pods' CPU use."""

from __future__ import annotations

from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, run
from minikube_py.kubectl.write import DRY_RUN


def autoscaler(
    name: str, target: dict[str, str], max_replicas: int, min_replicas: int, cpu_percent: int
) -> dict[str, Any]:
    """The object kubectl builds: only the bounds given (``--min`` and ``--cpu-percent`` are left to the
    server's defaults when not), in the field order kubectl's encoder writes."""
    spec: dict[str, Any] = {"scaleTargetRef": target}
    if min_replicas > 0:
        spec["minReplicas"] = min_replicas
    spec["maxReplicas"] = max_replicas
    if cpu_percent >= 0:
        spec["targetCPUUtilizationPercentage"] = cpu_percent
    return {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "creationTimestamp": None},
        "spec": spec,
        "status": {"currentReplicas": 0, "desiredReplicas": 0},
    }


def bounds_error(max_replicas: int, min_replicas: int) -> str | None:
    """kubectl's refusal of the bounds, before it reads anything."""
    if max_replicas < 1:
        return f"--max=MAXPODS is required and must be at least 1, max: {max_replicas}"
    if max_replicas < min_replicas:
        return f"--max=MAXPODS must be larger or equal to --min=MINPODS, max: {max_replicas}, min: {min_replicas}"
    return None


@click.command()
@click.argument("args", nargs=-1)
@click.option("--max", "max_replicas", type=int, default=-1, help="The upper limit for the number of pods.")
@click.option("--min", "min_replicas", type=int, default=-1, help="The lower limit for the number of pods.")
@click.option("--cpu-percent", type=int, default=-1, help="The target average CPU utilization over all the pods.")
@click.option("--name", default="", help="The name of the autoscaler. [default: the target's]")
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name"]), default="")
def autoscale(
    args: tuple[str, ...], max_replicas: int, min_replicas: int, cpu_percent: int, name: str, dry_run: str, output: str
) -> None:
    """Create an autoscaler that scales a deployment, replica set, stateful set or replication controller."""
    from minikube_py.kubectl.generate import submit
    from minikube_py.kubectl.get import named_objects

    async def work(session: Session) -> int:
        problem = bounds_error(max_replicas, min_replicas)
        if problem:
            raise CommandError(problem)
        found = await named_objects(session, args)
        for res, namespace, obj_name in found:
            await session.api.get(res.path(namespace, obj_name))  # a missing target is kubectl's NotFound
            if "scale" not in res.subresources:
                raise CommandError(
                    f"cannot autoscale a {res.kind}: could not find scale subresource for "
                    f"{res.group}/{res.version}, Resource={res.name} in discovery information"
                )
            target = {"kind": res.kind, "name": obj_name, "apiVersion": res.api_version}
            hpa = autoscaler(name or obj_name, target, max_replicas, min_replicas, cpu_percent)
            path = f"/apis/autoscaling/v1/namespaces/{session.namespace}/horizontalpodautoscalers"
            ref = f"horizontalpodautoscaler.autoscaling/{hpa['metadata']['name']}"
            if await submit(
                session, hpa, path, ref, dry_run=dry_run, output=output, manager="kubectl-autoscale", verb="autoscaled"
            ):
                return 1
        if not found:
            raise CommandError("no objects passed to autoscale")
        return 0

    run(work)
