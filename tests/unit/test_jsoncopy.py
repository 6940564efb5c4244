"""``json_copy``: a deep copy of a JSON value that shares nothing with the original."""

from __future__ import annotations

from minikube_py.model.jsoncopy import json_copy


def test_the_copy_is_equal_keeps_key_order_and_shares_no_container() -> None:
    value = {"z": 1, "a": [{"b": None, "c": [True, 1.5, "x"]}], "m": {}}
    copied = json_copy(value)
    assert copied == value and list(copied) == ["z", "a", "m"]
    copied["a"][0]["c"].append("y")
    copied["m"]["k"] = 1
    assert value == {"z": 1, "a": [{"b": None, "c": [True, 1.5, "x"]}], "m": {}}


def test_scalars_and_lists_copy_too() -> None:
    assert json_copy([1, [2]]) == [1, [2]]
    assert json_copy("text") == "text" and json_copy(None) is None
