"""Unknown fields of built-in kinds, dropped (Warn, Ignore) or refused (Strict)."""

from __future__ import annotations

import pytest

from minikube_py.model.errors import StatusError
from minikube_py.model.schema import STRICT, FieldValidation, unknown_fields


def pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"any": "label"}, "x": 1},
        "spec": {
            "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}, "y": 2}],
            "foo": {"deep": True},
        },
        "status": {"anything": "goes"},
    }


def test_unknown_fields_are_removed_and_named_as_kube_apiserver_names_them() -> None:
    obj = pod()
    assert sorted(unknown_fields("Pod", obj)) == ["metadata.x", "spec.containers[0].y", "spec.foo"]
    assert obj["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}}
    assert obj["status"] == {"anything": "goes"} and obj["metadata"]["labels"] == {"any": "label"}


def test_pod_templates_of_workloads_are_pruned_too() -> None:
    obj = {"spec": {"replicas": 1, "template": {"metadata": {"labels": {}}, "spec": {"containers": [], "bar": 1}}}}
    assert unknown_fields("Deployment", obj) == ["spec.template.spec.bar"]


def test_kinds_without_a_table_are_kept_whole() -> None:
    obj = {"spec": {"whatever": 1}}
    assert unknown_fields("Widget", obj) == [] and obj == {"spec": {"whatever": 1}}


def test_modes() -> None:
    warn = FieldValidation.parse(None)
    warn.check("Pod", "v1", pod())
    warn.check("Pod", "v1", pod())  # a retried write does not repeat its warnings
    assert len(warn.warnings) == 3 and 'unknown field "spec.foo"' in warn.warnings
    with pytest.raises(StatusError) as caught:
        FieldValidation(STRICT).check("Pod", "v1", pod())
    assert caught.value.code == 400 and "strict decoding error" in caught.value.message
    ignore = FieldValidation.parse("Ignore")
    ignore.check("Pod", "v1", pod())
    assert ignore.warnings == []
    with pytest.raises(StatusError):
        FieldValidation.parse("Loose")
