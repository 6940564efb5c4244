"""Cell formatters shared by the printers, each matching a Kubernetes helper's output exactly.

``labels.FormatLabels``, ``metav1.FormatLabelSelector``, ``layoutContainerCells`` and the
"+ N more..." lists are what users grep for in ``kubectl get`` output, so spelling matters more
than elegance here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

NONE = "<none>"

#: how many items list cells show before "+ N more..."
LIST_LIMIT = 3


class InvalidSelector(ValueError):
    """A LabelSelector Kubernetes could not turn into a selector (bad operator or value count)."""


def format_labels(labels: dict[str, str] | None) -> str:
    """``a=b,c=d`` sorted by key, ``<none>`` when empty (``labels.FormatLabels``)."""
    if not labels:
        return NONE
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def _requirement(expression: dict[str, Any]) -> tuple[str, str]:
    key, operator = expression.get("key", ""), expression.get("operator")
    values = sorted(expression.get("values") or ())
    if operator in ("In", "NotIn"):
        if not values:
            raise InvalidSelector(f"for '{operator}' operator, values set can't be empty")
        return key, f"{key} {operator.lower()} ({','.join(values)})"
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise InvalidSelector(f"values set must be empty for '{operator}' operator")
        return key, key if operator == "Exists" else f"!{key}"
    raise InvalidSelector(f"{operator!r} is not a valid label selector operator")


def selector_string(selector: dict[str, Any] | None) -> str:
    """``LabelSelectorAsSelector(s).String()``: requirements sorted by key, ``""`` when empty.

    Raises :class:`InvalidSelector` where Kubernetes returns an error.
    """
    if not selector:
        return ""
    requirements = [(key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()]
    requirements += [_requirement(e) for e in selector.get("matchExpressions") or ()]
    requirements.sort(key=lambda item: item[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: dict[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: the selector string, ``<none>`` if empty, ``<error>`` if bad."""
    try:
        return selector_string(selector) or NONE
    except InvalidSelector:
        return "<error>"


def container_cells(pod_spec: dict[str, Any] | None) -> tuple[str, str]:
    """CONTAINERS and IMAGES of a pod template: names and images, comma separated."""
    containers = (pod_spec or {}).get("containers") or ()
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


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
