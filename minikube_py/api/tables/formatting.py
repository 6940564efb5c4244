"""Cell formatters shared by the printers, each matching a Kubernetes helper's output exactly.

``layoutContainerCells`` and the "+ N more..." lists are what users grep for in ``kubectl get``
output, so spelling matters more than elegance here. Labels and label selectors are written by
:mod:`minikube_py.model.selectors` (``labels_to_string``, ``selector_to_string``), which kubectl's
own printers use too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NONE = "<none>"

#: how many items list cells show before "+ N more..."
LIST_LIMIT = 3


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's ``spec`` (empty when it has none), for printers that read several of its fields."""
    return obj.get("spec") or {}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's ``status`` (empty before a controller wrote one)."""
    return obj.get("status") or {}


def container_cells(pod_spec: dict[str, Any] | None) -> tuple[str, str]:
    """CONTAINERS and IMAGES of a pod template: names and images, comma separated."""
    containers = (pod_spec or {}).get("containers") or ()
    return (",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers))


def template_cells(obj: dict[str, Any]) -> tuple[str, str]:
    """CONTAINERS and IMAGES of a workload's ``spec.template``."""
    template = (obj.get("spec") or {}).get("template") or {}
    return container_cells(template.get("spec"))


def limited_list(items: Iterable[str], empty: str) -> str:
    """At most three items, then ``+ N more...``; ``empty`` when there is nothing to show."""
    shown: list[str] = []
    count = 0
    for item in items:
        if len(shown) < LIST_LIMIT:
            shown.append(item)
        count += 1
    text = ",".join(shown)
    if count > LIST_LIMIT:
        return f"{text} + {count - LIST_LIMIT} more..."
    return text or empty


def host_port(ip: str, port: int) -> str:
    """``net.JoinHostPort``: IPv6 addresses are bracketed."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
