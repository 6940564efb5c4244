"""A kind's printer: its column definitions (``meta.k8s.io/v1 TableColumnDefinition``) and cells.

Names, types, formats and priorities follow kube-apiserver's printers: kubectl upper-cases the
name into the header and shows ``priority: 1`` columns only with ``-o wide``. Types are the real
server's too, which is why some counts are declared ``string`` although their cells are integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minikube_py.model.times import since


@dataclass(frozen=True)
class Column:
    name: str
    description: str
    type: str = "string"
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def wide(name: str, description: str, type: str = "string") -> Column:
    """A column shown only with ``-o wide``."""
    return Column(name, description, type, priority=1)


NAME = Column(
    "Name",
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    format="name",
)
AGE = Column(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created. It "
    "is not guaranteed to be set in happens-before order across separate operations. Clients may not "
    "set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
    "Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata",
)
CONTAINERS = wide("Containers", "Names of each container in the template.")
IMAGES = wide("Images", "Images referenced by each container in the template.")
SELECTOR = wide("Selector", "A label query over pods that should match the replica count.")
#: the three wide columns every pod-template workload ends with
TEMPLATE = (CONTAINERS, IMAGES, SELECTOR)


@dataclass(frozen=True)
class Printer:
    """How one kind becomes table rows.

    ``cells`` always returns the wide cells too, as kube-apiserver does: the client decides which
    columns to show. ``conditions`` gives a row's ``conditions`` (kubectl marks finished pods).
    """

    columns: tuple[Column, ...]
    cells: Callable[[dict[str, Any], datetime], list[Any]]
    conditions: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
    #: the key a list's rows are sorted by, for the few kinds kube-apiserver lists in an order of
    #: their own (None: the store's, by name)
    order: Callable[[dict[str, Any]], Any] | None = None


def age(obj: dict[str, Any], now: datetime) -> str:
    """The AGE cell: time since ``metadata.creationTimestamp``."""
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def obj_name(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")
