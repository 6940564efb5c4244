"""The two IETF patch formats: JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386).

JSON Patch is written here rather than borrowed from the ``jsonpatch`` package so that failures read
like kube-apiserver's (``testing value /spec/replicas failed``) instead of quoting Python types, and so
that ``true`` never tests equal to ``1``. Failures while applying operations are 422 (the patch is
well-formed but does not fit the object), as kube-apiserver answers; a document that is not a list of
operations is 400.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from minikube_py.api.limits import MAX_JSON_PATCH_COPY_BYTES
from minikube_py.model.errors import StatusError, bad_request
from minikube_py.model.jsoncopy import json_copy

#: kube-apiserver refuses JSON patches with more operations than this (413)
MAX_OPERATIONS = 10000


def merge_patch(document: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386: maps merge recursively, ``null`` removes a field, anything else replaces."""
    return _merge(json_copy(document), patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902: apply ``operations`` in order to a copy of ``document``; all or nothing."""
    if not isinstance(operations, list):
        raise bad_request(
            'a JSON patch must be a list of operations, e.g. [{"op":"replace","path":"/spec/replicas","value":3}]'
        )
    if len(operations) > MAX_OPERATIONS:
        raise StatusError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {len(operations)}",
        )
    result: Any = json_copy(document)
    copied = [0]
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_request(f"a JSON patch operation must be an object, got {operation!r}")
        try:
            result = _apply(result, operation, copied)
        except RecursionError:
            # a copy of a value into itself doubles its depth; the result is refused whole, so
            # stopping when the copying runs out of stack loses nothing
            raise _rejected(
                f"{operation.get('op')} operation does not apply: the result is nested too deeply"
            ) from None
    if not isinstance(result, dict):
        raise _rejected("the patched document is not a JSON object")
    return result


_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


def _apply(doc: Any, op: dict[str, Any], copied: list[int]) -> Any:
    """One operation; ``copied`` accumulates the encoded bytes ``copy`` operations added so far, which
    may not pass :data:`MAX_JSON_PATCH_COPY_BYTES`: each copy can double the document, so twenty of
    them would build a gigabyte from a kilobyte of patch."""
    name = op.get("op")
    if name not in _OPERATIONS:
        raise _rejected(f"unknown JSON patch operation {name!r} (supported: {', '.join(_OPERATIONS)})")
    path = _string_member(op, "path", name)
    if name == "test":
        if not json_equal(_get(doc, path, name), _value(op)):
            raise _rejected(f"testing value {path} failed: test failed")
        return doc
    if name == "remove":
        _get(doc, path, name)
        return _remove(doc, path)
    if name == "replace":
        _get(doc, path, name)
        return _replace(doc, path, copy.deepcopy(_value(op)))
    if name == "add":
        return _add(doc, path, copy.deepcopy(_value(op)), name)
    source = _string_member(op, "from", name)
    found = _get(doc, source, name)
    if name == "copy":
        copied[0] += _size(found)
        if copied[0] > MAX_JSON_PATCH_COPY_BYTES:
            raise _rejected(
                f"copy operation does not apply: the values copied by the patch exceed the limit of "
                f"{MAX_JSON_PATCH_COPY_BYTES} bytes"
            )
    value = copy.deepcopy(found)
    if name == "move":
        if path.startswith(source + "/"):
            raise _rejected(f"move operation does not apply: {path} is inside {source}")
        doc = _remove(doc, source)
    return _add(doc, path, value, name)


def _size(value: Any) -> int:
    """Encoded bytes of a value about to be copied; one that cannot be encoded counts as too large."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return MAX_JSON_PATCH_COPY_BYTES + 1


def _add(doc: Any, path: str, value: Any, name: str) -> Any:
    tokens = _tokens(path, name)
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path, name)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        at = len(parent) if last == "-" else _list_index(last, len(parent), path, name)
        parent.insert(at, value)
    else:
        raise _missing(name, path)
    return doc


def _remove(doc: Any, path: str) -> Any:
    """Remove an element known to exist (the caller looked it up first)."""
    tokens = _tokens(path, "remove")
    if not tokens:
        return None
    parent = _resolve(doc, tokens[:-1], path, "remove")
    del parent[tokens[-1] if isinstance(parent, dict) else int(tokens[-1])]
    return doc


def _replace(doc: Any, path: str, value: Any) -> Any:
    """Replace an element known to exist, in place so that a map keeps its field order."""
    tokens = _tokens(path, "replace")
    if not tokens:
        return value
    parent = _resolve(doc, tokens[:-1], path, "replace")
    parent[tokens[-1] if isinstance(parent, dict) else int(tokens[-1])] = value
    return doc


def _get(doc: Any, path: str, name: str) -> Any:
    return _resolve(doc, _tokens(path, name), path, name)


def _resolve(doc: Any, tokens: list[str], path: str, name: str) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token != "-":
            node = node[_list_index(token, len(node) - 1, path, name)]
        else:
            raise _missing(name, path)
    return node


def _tokens(pointer: str, name: str) -> list[str]:
    """RFC 6901 reference tokens of a JSON pointer."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _rejected(f"{name} operation does not apply: path {pointer!r} is not a JSON pointer (must start with /)")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _list_index(token: str, highest: int, path: str, name: str) -> int:
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or int(token) > highest:
        raise _rejected(f"{name} operation does not apply: invalid index {token!r} in {path}")
    return int(token)


def _string_member(op: dict[str, Any], member: str, name: Any) -> str:
    value = op.get(member)
    if not isinstance(value, str):
        raise _rejected(f"{name} operation is missing the {member!r} member: {op}")
    return value


def _value(op: dict[str, Any]) -> Any:
    if "value" not in op:
        raise _rejected(f"{op.get('op')} operation is missing the 'value' member: {op}")
    return op["value"]


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality, recursively; unlike Python's ``==``, ``true`` is not ``1``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return (numbers or type(a) is type(b)) and bool(a == b)


def _missing(name: Any, path: str) -> StatusError:
    return _rejected(f"{name} operation does not apply: doc is missing path: {path}")


def _rejected(why: str) -> StatusError:
    """kube-apiserver's answer to a patch that cannot be applied: 422 with the reason as a cause."""
    return StatusError(
        422,
        "Invalid",
        f"the server rejected our request due to an error in our request: {why}",
        {"causes": [{"reason": "FieldValueInvalid", "field": "patch", "message": why}]},
    )
