"""Manifests of the custom resource tests: a ``Widget`` CustomResourceDefinition and its objects."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def widget_crd(group: str, *, versions: list[str] | None = None) -> Obj:
    """A namespaced ``Widget`` with a structural schema, status and scale, and printer columns."""
    schema = {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "string", "enum": ["small", "large"], "description": "How big the widget is."},
                        "replicas": {"type": "integer", "minimum": 0, "default": 1},
                        "color": {"type": "string", "pattern": "^[a-z]+$", "default": "blue"},
                        "port": {"x-kubernetes-int-or-string": True},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "replicas": {"type": "integer"},
                        "selector": {"type": "string"},
                        "phase": {"type": "string"},
                    },
                },
            },
        }
    }
    columns = [
        {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    names = versions or ["v1"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "shortNames": [short_name(group)],
                "categories": [category(group)],
            },
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": v == names[0],
                    "schema": schema,
                    "selectableFields": [{"jsonPath": ".spec.color"}],
                    "additionalPrinterColumns": columns,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                }
                for v in names
            ],
        },
    }


def short_name(group: str) -> str:
    """The CRD's short name, of this test's own (kubectl picks one group's when several share one)."""
    return "w" + group.split(".")[0]


def category(group: str) -> str:
    return "c" + group.split(".")[0]


def widget(group: str, name: str, version: str = "v1", **spec: Any) -> Obj:
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec or {"size": "small"},
    }
