"""The JSON-type checks that Go's typed decoding makes in kube-apiserver, before any admission.

kube-apiserver decodes a body into Go structs, so ``"finalizers": "x"`` or ``"spec": "x"`` fail as a
400 before validation runs. pykube keeps objects as plain dicts; without this check such values
reached the defaulting and validation code (500s) or were stored and later misread (a string of
finalizers iterates as characters). The check covers ObjectMeta, which every kind and the registry's
own deletion logic rely on, and the top-level fields of the served kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minikube_py.model import errors

_GO_TYPES = {dict: "object", list: "array", str: "string", int: "int64"}

#: a field's JSON type and, for a list or map, its elements' (None: anything)
FieldType = tuple[type, type | None]
#: the top-level fields of a kind beyond ``spec`` and ``status``, which are objects on every kind
#: that has them; a kind's strategy names its table
Fields = Mapping[str, FieldType]

#: ObjectMeta fields
_META: Fields = {
    "name": (str, None),
    "generateName": (str, None),
    "namespace": (str, None),
    "labels": (dict, str),
    "annotations": (dict, str),
    "finalizers": (list, str),
    "ownerReferences": (list, dict),
    "managedFields": (list, dict),
}

CONFIG_MAP: Fields = {"data": (dict, str), "binaryData": (dict, str)}
SECRET: Fields = {"data": (dict, str), "stringData": (dict, str), "type": (str, None)}
ENDPOINTS: Fields = {"subsets": (list, dict)}
ENDPOINT_SLICE: Fields = {"endpoints": (list, dict), "ports": (list, dict), "addressType": (str, None)}
CONTROLLER_REVISION: Fields = {"revision": (int, None)}
EVENT: Fields = {"involvedObject": (dict, None), "related": (dict, None), "source": (dict, None)}
STORAGE_CLASS: Fields = {
    "provisioner": (str, None),
    "parameters": (dict, str),
    "reclaimPolicy": (str, None),
    "mountOptions": (list, str),
    "volumeBindingMode": (str, None),
    "allowedTopologies": (list, dict),
}
_EVERY_KIND: Fields = {"spec": (dict, None), "status": (dict, None)}


def check_shape(kind: str, obj: dict[str, Any]) -> None:
    """:func:`check_object` by the strategy of the kind named ``kind``."""
    # imported here: the strategies are made of this module's tables
    from minikube_py.api.strategies import strategy_named

    strategy_named(kind).check_shape(obj)


def check_object(obj: dict[str, Any], kind: str, top: Fields) -> None:
    """Raise 400 BadRequest when a field of ``obj`` (of ``kind``, whose top-level fields are ``top``)
    has the wrong JSON type (null counts as absent)."""
    _check_fields(obj, {**_EVERY_KIND, **top}, kind, "")
    md = obj.get("metadata")
    if isinstance(md, dict):
        _check_fields(md, _META, "ObjectMeta", "metadata.")


def _check_fields(obj: dict[str, Any], table: Fields, owner: str, prefix: str) -> None:
    for name, (outer, inner) in table.items():
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, outer):
            _fail(value, owner, prefix + name, outer)
        if inner is not None:
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if not isinstance(item, inner):
                    _fail(item, owner, f"{prefix}{name}", inner, element=True)


def _fail(value: Any, owner: str, field: str, wanted: type, *, element: bool = False) -> None:
    got = (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else ("bool" if isinstance(value, bool) else _GO_TYPES.get(type(value), type(value).__name__))
    )
    what = f"elements of type {_GO_TYPES[wanted]}" if element else f"type {_GO_TYPES[wanted]}"
    raise errors.bad_request(f"json: cannot unmarshal {got} into Go struct field {owner}.{field} of {what}")
