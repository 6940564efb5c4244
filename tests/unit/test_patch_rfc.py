"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api.patch.rfc import MAX_OPERATIONS, json_equal, json_patch, merge_patch
from minikube_py.model.errors import StatusError

DOC: dict[str, Any] = {
    "metadata": {"name": "web", "annotations": {"a/b": "1", "m~n": "2"}},
    "spec": {"replicas": 1, "paused": False, "ports": [80, 443]},
}


def run(*ops: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(DOC)
    result = json_patch(DOC, list(ops))
    assert before == DOC
    return result


def rejected(*ops: Any) -> StatusError:
    with pytest.raises(StatusError) as caught:
        json_patch(DOC, list(ops))
    return caught.value


def test_add_remove_replace() -> None:
    result = run(
        {"op": "add", "path": "/spec/ports/1", "value": 8080},
        {"op": "add", "path": "/spec/ports/-", "value": 9090},
        {"op": "remove", "path": "/spec/paused"},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels", "value": {"app": "web"}},
    )
    assert result == {
        "metadata": {"name": "web", "annotations": {"a/b": "1", "m~n": "2"}, "labels": {"app": "web"}},
        "spec": {"replicas": 3, "ports": [80, 8080, 443, 9090]},
    }


def test_replace_keeps_field_order() -> None:
    assert list(run({"op": "replace", "path": "/metadata", "value": {}})) == ["metadata", "spec"]


def test_pointer_escapes() -> None:
    result = run(
        {"op": "remove", "path": "/metadata/annotations/a~1b"},
        {"op": "replace", "path": "/metadata/annotations/m~0n", "value": "3"},
    )
    assert result["metadata"]["annotations"] == {"m~n": "3"}


def test_move_and_copy() -> None:
    result = run(
        {"op": "copy", "from": "/spec/ports", "path": "/spec/backup"},
        {"op": "move", "from": "/spec/replicas", "path": "/metadata/replicas"},
    )
    assert result == {
        "metadata": {"name": "web", "annotations": {"a/b": "1", "m~n": "2"}, "replicas": 1},
        "spec": {"paused": False, "ports": [80, 443], "backup": [80, 443]},
    }


def test_test_operation_passes_then_applies() -> None:
    assert (
        run(
            {"op": "test", "path": "/spec/ports", "value": [80, 443]},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
        )["spec"]["replicas"]
        == 2
    )


def test_test_operation_failure_is_all_or_nothing() -> None:
    error = rejected(
        {"op": "replace", "path": "/spec/replicas", "value": 2}, {"op": "test", "path": "/spec/paused", "value": 0}
    )
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == (
        "the server rejected our request due to an error in our request: testing value /spec/paused failed: test failed"
    )
    assert DOC["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (
            {"op": "replace", "path": "/spec/missing", "value": 1},
            "replace operation does not apply: doc is missing path: /spec/missing",
        ),
        ({"op": "remove", "path": "/nope/x"}, "remove operation does not apply: doc is missing path: /nope/x"),
        ({"op": "add", "path": "/nope/x", "value": 1}, "add operation does not apply: doc is missing path: /nope/x"),
        (
            {"op": "add", "path": "/spec/ports/5", "value": 1},
            "add operation does not apply: invalid index '5' in /spec/ports/5",
        ),
        (
            {"op": "remove", "path": "/spec/ports/01"},
            "remove operation does not apply: invalid index '01' in /spec/ports/01",
        ),
        (
            {"op": "remove", "path": "/spec/ports/-"},
            "remove operation does not apply: doc is missing path: /spec/ports/-",
        ),
        (
            {"op": "add", "path": "spec", "value": 1},
            "add operation does not apply: path 'spec' is not a JSON pointer (must start with /)",
        ),
        (
            {"op": "bogus", "path": "/spec"},
            "unknown JSON patch operation 'bogus' (supported: add, remove, replace, move, copy, test)",
        ),
        (
            {"op": "move", "from": "/spec", "path": "/spec/inner"},
            "move operation does not apply: /spec/inner is inside /spec",
        ),
        ({"op": "replace", "path": "", "value": [1]}, "the patched document is not a JSON object"),
    ],
)
def test_operations_that_do_not_fit_are_422(op: dict[str, Any], reason: str) -> None:
    error = rejected(op)
    assert error.code == 422
    assert error.details == {"causes": [{"reason": "FieldValueInvalid", "field": "patch", "message": reason}]}


def test_missing_members_are_rejected() -> None:
    assert "missing the 'value' member" in rejected({"op": "add", "path": "/x"}).message
    assert "missing the 'path' member" in rejected({"op": "remove"}).message
    assert "missing the 'from' member" in rejected({"op": "copy", "path": "/x"}).message


def test_malformed_patch_documents_are_400() -> None:
    assert rejected(1).code == 400
    with pytest.raises(StatusError) as caught:
        json_patch(DOC, {"op": "add"})
    assert caught.value.code == 400


def test_too_many_operations_is_413_as_kube_apiserver_answers() -> None:
    error = rejected(*([{"op": "test", "path": "/spec/replicas", "value": 1}] * (MAX_OPERATIONS + 1)))
    assert error.code == 413
    assert f"maximum operations in a JSON patch is {MAX_OPERATIONS}" in error.message


def test_copies_are_bounded_in_bytes_not_only_in_count() -> None:
    """Each copy doubles ``/a``: twenty would make a gigabyte; the copy limit stops it at a few MiB."""
    doc = {"a": ["x" * 1000]}
    ops = [{"op": "copy", "from": "/a", "path": "/a/-"} for _ in range(20)]
    with pytest.raises(StatusError) as caught:
        json_patch(doc, ops)
    assert caught.value.code == 422 and "exceed the limit" in caught.value.message
    assert len(json_patch(doc, ops[:5])["a"]) == 6  # five copies stay far under it


def test_root_replace_with_an_object() -> None:
    assert run({"op": "replace", "path": "", "value": {"kind": "X"}}) == {"kind": "X"}


def test_json_equality() -> None:
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert not json_equal("1", 1)
    assert not json_equal({"a": 1}, {"a": 1, "b": None})
    assert not json_equal([1], [1, 1])


def test_merge_patch() -> None:
    before = copy.deepcopy(DOC)
    result = merge_patch(
        DOC,
        {
            "metadata": {"annotations": None, "labels": {"x": "1", "y": None}},
            "spec": {"ports": [1], "replicas": None, "template": {"a": {"b": None}}},
        },
    )
    assert before == DOC
    assert result == {
        "metadata": {"name": "web", "labels": {"x": "1"}},
        "spec": {"paused": False, "ports": [1], "template": {"a": {}}},
    }
    result["spec"]["ports"].append(2)
    assert before == DOC
