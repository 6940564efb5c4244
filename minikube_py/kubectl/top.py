"""``top nodes`` and ``top pods``: CPU and memory use from the resource metrics API (metrics.k8s.io),
laid out as kubectl lays it out (cores in millicores, memory in Mi, a node's share of its allocatable)."""

from __future__ import annotations

from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, run

Obj = dict[str, Any]
METRICS = "/apis/metrics.k8s.io/v1beta1"
MI = 1024 * 1024


def _usage(usages: list[Obj]) -> tuple[int, int]:
    """Millicores and bytes summed over ``usages`` (each a ``{cpu, memory}`` map)."""
    from minikube_py.model.quantity import milli_value, value

    return (sum(milli_value(u.get("cpu", "0")) for u in usages), sum(value(u.get("memory", "0")) for u in usages))


def _table(rows: list[list[str]], no_headers: bool) -> str:
    """kubectl's top layout: a tabwriter with three spaces of padding, every cell tab-terminated."""
    from minikube_py.kubectl.printing import MIN_WIDTH, PADDING, go_tabwriter

    return go_tabwriter("".join("\t".join(row) + "\t\n" for row in rows[no_headers:]), PADDING, MIN_WIDTH)


def node_rows(nodes: list[Obj], metrics: list[Obj], show_capacity: bool) -> list[list[str]]:
    from minikube_py.model.quantity import milli_value

    rows = [["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]]
    by_name = {m["metadata"]["name"]: m for m in metrics}
    for node in nodes:
        name = node["metadata"]["name"]
        metric = by_name.get(name)
        if metric is None:
            rows.append([name] + ["<unknown>"] * 4)
            continue
        cpu, memory = _usage([metric.get("usage") or {}])
        whole = (node.get("status") or {}).get("capacity" if show_capacity else "allocatable") or {}
        cpu_all, memory_all = milli_value(whole.get("cpu", "0")), milli_value(whole.get("memory", "0"))
        rows.append(
            [
                name,
                f"{cpu}m",
                f"{cpu * 100 // cpu_all if cpu_all else 0}%",
                f"{memory // MI}Mi",
                f"{memory * 1000 * 100 // memory_all if memory_all else 0}%",
            ]
        )
    return rows


def pod_rows(metrics: list[Obj], containers: bool, namespaces: bool, sort_by: str | None) -> list[list[str]]:
    entries = []
    for pod in metrics:
        meta = pod["metadata"]
        parts = (
            [(c["name"], _usage([c.get("usage") or {}])) for c in pod.get("containers") or []]
            if containers
            else [(None, _usage([c.get("usage") or {} for c in pod.get("containers") or []]))]
        )
        entries += [(meta.get("namespace", ""), meta["name"], container, use) for container, use in parts]
    if sort_by:
        index = {"cpu": 0, "memory": 1}[sort_by]
        entries.sort(key=lambda e: -e[3][index])
    head = (["NAMESPACE"] if namespaces else []) + (["POD", "NAME"] if containers else ["NAME"])
    rows = [[*head, "CPU(cores)", "MEMORY(bytes)"]]
    for namespace, name, container, (cpu, memory) in entries:
        rows.append(
            ([namespace] if namespaces else [])
            + [name]
            + ([container or ""] if containers else [])
            + [f"{cpu}m", f"{memory // MI}Mi"]
        )
    return rows


@click.group()
def top() -> None:
    """Display resource (CPU/memory) usage of nodes or pods."""


_SORT = click.Choice(["cpu", "memory"])


@top.command(name="node")
@click.argument("name", required=False)
@click.option("-l", "--selector", default=None, help="Label selector of the nodes.")
@click.option("--no-headers", is_flag=True, help="Print no header row.")
@click.option("--sort-by", type=_SORT, default=None, help="Sort by cpu or memory, highest first.")
@click.option("--show-capacity", is_flag=True, help="Shares of the nodes' capacity, not of their allocatable.")
def top_node(
    name: str | None, selector: str | None, no_headers: bool, sort_by: str | None, show_capacity: bool
) -> None:
    """Display resource (CPU/memory) usage of nodes."""

    async def work(session: Session) -> None:
        if name:
            metrics = [await session.api.get(f"{METRICS}/nodes/{name}")]
            nodes = [await session.api.get(f"/api/v1/nodes/{name}")]
        else:
            metrics = (await session.api.list(f"{METRICS}/nodes", label_selector=selector)).get("items", [])
            nodes = (await session.api.list("/api/v1/nodes", label_selector=selector)).get("items", [])
        if not metrics:
            raise CommandError("metrics not available yet")
        if sort_by:
            usage = {m["metadata"]["name"]: _usage([m.get("usage") or {}]) for m in metrics}
            nodes.sort(key=lambda n: -usage.get(n["metadata"]["name"], (0, 0))[sort_by == "memory"])
        click.echo(_table(node_rows(nodes, metrics, show_capacity), no_headers), nl=False)

    run(work)


@top.command(name="pod")
@click.argument("name", required=False)
@click.option("-l", "--selector", default=None, help="Label selector of the pods.")
@click.option("--containers", is_flag=True, help="A row per container.")
@click.option("--no-headers", is_flag=True, help="Print no header row.")
@click.option("--sort-by", type=_SORT, default=None, help="Sort by cpu or memory, highest first.")
def top_pod(name: str | None, selector: str | None, containers: bool, no_headers: bool, sort_by: str | None) -> None:
    """Display resource (CPU/memory) usage of pods."""

    async def work(session: Session) -> int:
        everywhere = session.flags.all_namespaces
        base = f"{METRICS}/pods" if everywhere else f"{METRICS}/namespaces/{session.namespace}/pods"
        if name:
            metrics = [await session.api.get(f"{base}/{name}")]
        else:
            metrics = (await session.api.list(base, label_selector=selector)).get("items", [])
        if not metrics:
            click.echo(
                "No resources found" if everywhere else f"No resources found in {session.namespace} namespace.",
                err=True,
            )
            return 0
        click.echo(_table(pod_rows(metrics, containers, everywhere, sort_by), no_headers), nl=False)
        return 0

    run(work)


for _alias, _command in (("nodes", top_node), ("no", top_node), ("pods", top_pod), ("po", top_pod)):
    top.add_command(_command, _alias)
