"""Input limits without a server: depth, encodability, object size, YAML alias expansion."""

from __future__ import annotations

import time
from typing import Any

import pytest

from minikube_py.api.limits import MAX_DEPTH, MAX_OBJECT_BYTES, check_decoded, check_depth, check_stored, load_yaml
from minikube_py.model.errors import StatusError


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": [value]} if depth % 2 else {"a": value}
    return value


def code(call: Any, *args: Any) -> int:
    with pytest.raises(StatusError) as caught:
        call(*args)
    return caught.value.code


def test_depth_bound_counts_maps_and_lists() -> None:
    check_decoded(nested(MAX_DEPTH))
    assert code(check_decoded, nested(MAX_DEPTH + 1)) == 400
    assert code(check_decoded, nested(100_000)) == 400  # iterative: no RecursionError


def test_values_json_cannot_encode_are_400() -> None:
    assert code(check_decoded, {"a": {1: "x"}}) == 400
    assert code(check_decoded, {"a": [2**64]}) == 400
    check_decoded({"a": [2**63 - 1, -(2**63), True, 1.5, None]})


def test_yaml_lone_surrogates_are_400_not_a_failed_copy() -> None:
    """YAML reads ``"\\ud800"`` as a lone surrogate, which no later JSON encoding takes: a PUT of such
    a body answered 500 from the registry's copy of it."""
    for body in (b'metadata: {name: "\\ud800"}', b'metadata: {"\\udfff": x}'):
        with pytest.raises(StatusError) as caught:
            check_decoded(load_yaml(body))
        assert (caught.value.code, caught.value.message) == (
            400,
            "the object has a string that is not valid Unicode (a lone surrogate)",
        )
    check_decoded(load_yaml('metadata: {name: "\\U0001f600 名前"}'.encode()))


def test_stored_objects_are_bounded_in_size() -> None:
    check_stored({"data": {"k": "x" * (MAX_OBJECT_BYTES - 100)}})
    assert code(check_stored, {"data": {"k": "x" * MAX_OBJECT_BYTES}}) == 413


def test_yaml_aliases_may_not_expand_past_a_body() -> None:
    levels = ["a0: &a0 [" + ",".join(["lol"] * 9) + "]"]
    levels += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    started = time.monotonic()
    assert code(load_yaml, "\n".join(levels).encode()) == 400
    assert time.monotonic() - started < 0.5
    assert load_yaml(b"a: &x {k: v}\nb: *x\n") == {"a": {"k": "v"}, "b": {"k": "v"}}


def test_yaml_recursive_alias_and_deep_nesting_are_400() -> None:
    assert code(load_yaml, b"a: &x [1, *x]\n") == 400
    assert code(load_yaml, b"[" * 5000 + b"]" * 5000) == 400


def test_the_depth_check_alone_bounds_json_values() -> None:
    check_depth(nested(MAX_DEPTH))
    assert code(check_depth, nested(MAX_DEPTH + 1)) == 400
    assert code(check_depth, [nested(MAX_DEPTH)]) == 400  # lists count as levels too
    assert code(check_depth, nested(100_000)) == 400
    check_depth("scalar")


@pytest.mark.parametrize("wrap", [lambda v: [v], lambda v: {"k": v}], ids=["lists", "maps"])
def test_the_depth_bound_is_exact(wrap: Any) -> None:
    value: Any = 0
    for _ in range(MAX_DEPTH):
        value = wrap(value)
    check_depth(value)
    assert code(check_depth, wrap(value)) == 400


def test_values_orjson_cannot_encode_are_still_measured() -> None:
    shallow: Any = {1: [[{"a": "b"}]], "t": (1, 2)}
    check_depth(shallow)  # not JSON, but only four levels deep: encoding it is check_decoded's business
    deep: Any = {1: "x"}
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert code(check_depth, deep) == 400
