"""PATCH bodies, all four kinds kubectl sends, applied to an object as pure functions (no I/O).

Which client sends what (see the kubectl protocol notes, §7):

- ``application/strategic-merge-patch+json``: client-side ``kubectl apply``, ``set image``, ``taint``,
  ``cordon``, ``rollout restart|pause|resume`` (:mod:`.strategic`, rules in :mod:`.mergekeys`);
- ``application/merge-patch+json``: ``label``, ``annotate``, ``scale`` (:func:`.rfc.merge_patch`);
- ``application/json-patch+json``: ``rollout undo`` (:func:`.rfc.json_patch`);
- ``application/apply-patch+yaml``: ``kubectl apply --server-side``.

Server-side apply merges the applied configuration into the live object (:func:`merge_config`: the
fields it sets win, lists merge by key as Kubernetes' ``listType=map`` lists do); which fields it then
removes and whom it conflicts with is field ownership, :mod:`.managed` over the path sets of
:mod:`.fieldsets`, which the registry applies around the merge. Creating the object when absent is the
caller's job (apply to ``{}``).
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from minikube_py.api.body import media_type
from minikube_py.api.limits import check_decoded, check_depth, load_yaml
from minikube_py.api.patch.mergekeys import Rules, rules_for
from minikube_py.api.patch.rfc import json_patch, merge_patch
from minikube_py.api.patch.strategic import strategic_merge
from minikube_py.model.errors import StatusError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

#: the PATCH content types pykube accepts, in the order kube-apiserver lists them
PATCH_TYPES: tuple[str, ...] = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_MERGE_PATCH)

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "PATCH_TYPES",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "is_apply",
    "is_patch_type",
    "merge_applied",
    "merge_config",
    "parse_applied",
    "patch_object",
]


def is_patch_type(content_type: str) -> bool:
    return media_type(content_type) in PATCH_TYPES


def is_apply(content_type: str) -> bool:
    return media_type(content_type) == APPLY_PATCH


def apply_patch(content_type: str, obj: dict[str, Any], patch_body: bytes, kind: str) -> dict[str, Any]:
    """:func:`patch_object` with the merge rules of the kind named ``kind``."""
    return patch_object(content_type, obj, patch_body, rules_for(kind))


def patch_object(content_type: str, obj: dict[str, Any], patch_body: bytes, rules: Rules | None) -> dict[str, Any]:
    """``obj`` with the patch applied, as a new object; ``obj`` is left untouched. ``rules`` are the
    merge rules of its kind (:mod:`.mergekeys`).

    Raises :class:`StatusError`: 400 for a body that does not parse or a malformed directive, 422 for a
    JSON patch that does not fit the object (a failed ``test`` included), 415 for another content type.
    Kinds without merge rules (none today; custom resources later) get merge-patch semantics for
    strategic merge and apply patches."""
    media = media_type(content_type)
    if media == JSON_PATCH:
        return json_patch(obj, _json(patch_body))
    if media == MERGE_PATCH:
        return merge_patch(obj, _json_object(patch_body))
    if media == STRATEGIC_MERGE_PATCH:
        return _strategic(obj, _json_object(patch_body), rules)
    if media == APPLY_PATCH:
        return _strategic(obj, parse_applied(patch_body), rules)
    raise StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(PATCH_TYPES)} (got {media!r})",
    )


def _strategic(obj: dict[str, Any], patch: dict[str, Any], rules: Rules | None) -> dict[str, Any]:
    return merge_patch(obj, patch) if rules is None else strategic_merge(obj, patch, rules)


def _json(body: bytes) -> Any:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"error decoding patch: {exc}") from None
    check_depth(value, "the patch")  # JSON: orjson yields only string keys and 64-bit integers
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    return _object(_json(body), "the patch")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be a JSON object, got {type(value).__name__ if value is not None else 'null'}")
    return value


class _ApplyLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it into JSON: timestamps stay strings, they are not ``datetime``."""


_ApplyLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def merge_applied(obj: dict[str, Any], config: dict[str, Any], kind: str) -> dict[str, Any]:
    """:func:`merge_config` with the merge rules of the kind named ``kind``."""
    return merge_config(obj, config, rules_for(kind))


def merge_config(obj: dict[str, Any], config: dict[str, Any], rules: Rules | None) -> dict[str, Any]:
    """``obj`` with an applied configuration merged in by ``rules``, as a new object."""
    return _strategic(obj, config, rules)


def parse_applied(body: bytes) -> dict[str, Any]:
    """The server-side apply body: YAML or JSON (YAML's subset) text of one object."""
    try:
        config = _object(load_yaml(body, _ApplyLoader), "the applied configuration")
    except yaml.YAMLError as exc:
        raise bad_request(f"error decoding YAML: {exc}") from None
    check_decoded(config, "the applied configuration")
    metadata = config.get("metadata")
    if isinstance(metadata, dict) and metadata.get("managedFields"):
        raise bad_request("metadata.managedFields must be nil")
    return config
