"""A small kopf operator, run unchanged by ``kopf run --standalone`` against pykube in
test_kopf_operator.py: it reports each Widget's size in its status and records the events it
handled (one line each) in the file ``WIDGET_OPERATOR_LOG`` names. ``WIDGET_GROUP`` is the
CustomResourceDefinition's group (each test run defines its own)."""

from __future__ import annotations

import os
from typing import Any

import kopf

GROUP = os.environ["WIDGET_GROUP"]
LOG = os.environ["WIDGET_OPERATOR_LOG"]


def record(event: str, name: str, size: str) -> None:
    with open(LOG, "a") as log:
        log.write(f"{event} {name} {size}\n")


@kopf.on.create(GROUP, "v1", "widgets")
def created(name: str, spec: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = f"Created-{spec['size']}"
    record("create", name, spec["size"])


@kopf.on.update(GROUP, "v1", "widgets", field="spec")
def updated(name: str, spec: Any, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = f"Updated-{spec['size']}"
    record("update", name, spec["size"])


@kopf.on.delete(GROUP, "v1", "widgets")
def deleted(name: str, spec: Any, **_: Any) -> None:
    record("delete", name, spec["size"])
