"""JSON-type checks of request bodies (minikube_py.api.shape)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.shape import check_shape
from minikube_py.model.errors import StatusError


def test_well_typed_objects_and_nulls_pass() -> None:
    check_shape(
        "Pod",
        {
            "metadata": {"name": "p", "labels": {"a": "b"}, "finalizers": ["x/y"], "annotations": None},
            "spec": {"containers": []},
            "status": None,
        },
    )
    check_shape("ConfigMap", {"metadata": {"name": "c"}, "data": {"k": "v"}})


@pytest.mark.parametrize(
    ("kind", "obj", "words"),
    [
        ("Pod", {"metadata": {"finalizers": "x"}}, "ObjectMeta.metadata.finalizers of type array"),
        ("Pod", {"metadata": {"labels": {"a": 1}}}, "cannot unmarshal number"),
        ("Pod", {"metadata": {"labels": {"a": True}}}, "cannot unmarshal bool"),
        ("Pod", {"spec": []}, "Pod.spec of type object"),
        ("ConfigMap", {"data": {"k": ["v"]}}, "ConfigMap.data of elements of type string"),
        ("Endpoints", {"subsets": {}}, "Endpoints.subsets of type array"),
    ],
)
def test_wrong_types_are_bad_requests(kind: str, obj: dict[str, Any], words: str) -> None:
    with pytest.raises(StatusError) as exc:
        check_shape(kind, obj)
    assert exc.value.code == 400 and exc.value.reason == "BadRequest"
    assert words in exc.value.message
