"""Kubernetes' strategic merge patch over plain JSON objects.

The base is JSON merge patch (maps merge, ``null`` deletes); lists differ. A list with a rule
(:mod:`.mergekeys`) merges element by element, matched by its merge key, or as an ordered set of
scalars; every other list is replaced. kubectl steers the merge with directives, all honoured here:

- ``$patch``: ``replace`` (a map or list becomes the patch's content), ``delete`` (a map field is
  removed; a list element with that key is removed), ``merge`` (the default, accepted explicitly);
- ``$setElementOrder/<list>``: the order the merged list should have (client-side apply sends it);
- ``$retainKeys``: fields of a map not listed are cleared first (``volumes`` items, Deployment strategy);
- ``$deleteFromPrimitiveList/<list>``: scalars to remove from a set-like list.

Element order follows apimachinery's, which users see in ``kubectl get -o yaml``: the patch's elements
take the patch's order (or ``$setElementOrder``'s), elements only the server has keep their place
relative to them, and an element new to the list goes right after the patch element before it, ahead
of server-only ones; so a container added by ``kubectl patch`` without an order hint comes first,
exactly as on Kubernetes.

Two deliberate departures, both toward what a typed Kubernetes server ends up storing: ``$patch: delete``
on a map removes the field instead of leaving ``{}``, and nulls and directives inside values the live
object did not have are dropped rather than copied in.
"""

from __future__ import annotations

import json
from typing import Any

from minikube_py.api.patch.mergekeys import ListRule, Rules
from minikube_py.api.patch.rfc import json_equal
from minikube_py.model.errors import StatusError, bad_request
from minikube_py.model.jsoncopy import json_copy

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder"
DELETE_FROM = "$deleteFromPrimitiveList"


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], rules: Rules) -> dict[str, Any]:
    """``original`` with ``patch`` applied; neither argument is modified."""
    merged = _Merger(rules).map(json_copy(original), patch, "")
    return {} if merged is None else merged


class _Merger:
    """Walks patch and live object together, tracking the dotted path that selects list rules."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def map(self, live: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any] | None:
        """The merged map, or None when the patch deletes it."""
        directive = patch.get(DIRECTIVE)
        if directive == "delete":
            return None
        if directive == "replace":
            live = {}
        elif directive not in (None, "merge"):
            raise _bad_patch_type(directive, patch)
        return self.fields(live, patch, path)

    def fields(self, live: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
        live = _retain_keys(live, patch)
        orders = _parallel_lists(patch, SET_ORDER)
        for field, doomed in _parallel_lists(patch, DELETE_FROM).items():
            if isinstance(live.get(field), list):
                live[field] = [v for v in live[field] if not any(json_equal(v, d) for d in doomed)]
        for key, value in patch.items():
            if _is_directive(key):
                continue
            merged = None if value is None else self.value(live.get(key), value, _child(path, key), orders.get(key))
            if merged is None:
                live.pop(key, None)
            else:
                live[key] = merged
        for field, order in orders.items():
            rule = self.rules.get(_child(path, field))
            if field not in patch and rule is not None and isinstance(live.get(field), list):
                live[field] = _arrange(live[field], _checked_order(order, rule), live[field], rule)
        return live

    def value(self, live: Any, patch: Any, path: str, order: list[Any] | None) -> Any:
        """The merged value of one field; None removes the field."""
        if isinstance(patch, dict):
            return self.map(live if isinstance(live, dict) else {}, patch, path)
        if isinstance(patch, list):
            rule = self.rules.get(path)
            if rule is None:
                return self.atomic(patch, path)
            return self.merge_list(live if isinstance(live, list) else [], patch, rule, path, order)
        return patch

    def atomic(self, patch: list[Any], path: str) -> list[Any]:
        """A replacing list, cleaned of directives and nulls as a typed server would store it."""
        item_path = path + "[]"
        cleaned: list[Any] = []
        for item in patch:
            if isinstance(item, dict):
                if DIRECTIVE not in item:
                    cleaned.append(self.fields({}, item, item_path))
            elif isinstance(item, list):
                cleaned.append(self.atomic(item, item_path))
            else:
                cleaned.append(item)
        return cleaned

    def merge_list(
        self, live: list[Any], patch: list[Any], rule: ListRule, path: str, order: list[Any] | None
    ) -> list[Any]:
        if rule.key is None:
            if any(isinstance(v, dict | list) for v in patch):
                raise bad_request(f"cannot merge lists without merge key for {path}")
            merged = _dedupe(live + patch)
            wanted = patch
        else:
            merged, wanted = self._merge_keyed(live, patch, rule, path + "[]")
        return _arrange(merged, wanted if order is None else _checked_order(order, rule), live, rule)

    def _merge_keyed(
        self, live: list[Any], patch: list[Any], rule: ListRule, item_path: str
    ) -> tuple[list[Any], list[Any]]:
        """Merged elements and the patch's own elements (deletions and markers left out)."""
        merged = list(live)
        plain: list[dict[str, Any]] = []
        replace = False
        for element in patch:
            if not isinstance(element, dict):
                raise bad_request(
                    f"{_show(element)} is not a map: the list {item_path[:-2]} merges by key {rule.key!r}"
                )
            directive = element.get(DIRECTIVE)
            if directive == "delete":
                _require_key(element, rule)
                merged = [m for m in merged if not _same(m, element, rule)]
            elif directive == "replace":
                replace = True
            elif directive is None or (directive == "merge" and rule.key in element):
                _require_key(element, rule)
                plain.append(element)
            elif directive != "merge":
                raise _bad_patch_type(directive, element)
        if replace:
            merged = []
        for element in plain:
            at = _index(merged, element, rule)
            if at < 0:
                merged.append(self.fields({}, element, item_path))
            else:
                merged[at] = self.fields(merged[at], element, item_path)
        return merged, plain


def _arrange(items: list[Any], wanted: list[Any], server: list[Any], rule: ListRule) -> list[Any]:
    """Order merged ``items``: those named in ``wanted`` in its order, interleaved with the others,
    which keep their order; an unnamed item goes first only if the live list (``server``) had it
    before the next named one."""
    named = sorted((x for x in items if _index(wanted, x, rule) >= 0), key=lambda x: _index(wanted, x, rule))
    others = [x for x in items if _index(wanted, x, rule) < 0]
    arranged: list[Any] = []
    while named and others:
        before = _index(server, others[0], rule)
        if 0 <= before < _index(server, named[0], rule):
            arranged.append(others.pop(0))
        else:
            arranged.append(named.pop(0))
    return arranged + named + others


def _retain_keys(live: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    keep = patch.get(RETAIN_KEYS)
    if keep is None:
        return live
    if not isinstance(keep, list):
        raise bad_request("invalid patch format of retainKeys: $retainKeys must be a list of field names")
    for key, value in patch.items():
        if value is not None and not _is_directive(key) and key not in keep:
            raise bad_request(
                f"invalid patch format of retainKeys: the patch sets {key!r}, "
                f"which $retainKeys {_show(keep)} does not list"
            )
    return {k: v for k, v in live.items() if k in keep}


def _parallel_lists(patch: dict[str, Any], prefix: str) -> dict[str, list[Any]]:
    """``{"<prefix>/<field>": [...]}`` entries of a patch map, by field."""
    found: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if not key.startswith(prefix):
            continue
        field = key[len(prefix) + 1 :] if key.startswith(prefix + "/") else ""
        if not field or not isinstance(value, list):
            raise bad_request(
                f'invalid patch format of {prefix}: expected "{prefix}/<list>": [...], got {_show({key: value})}'
            )
        found[field] = value
    return found


def _checked_order(order: list[Any], rule: ListRule) -> list[Any]:
    if rule.key is not None:
        for entry in order:
            if not isinstance(entry, dict):
                raise bad_request(f"invalid patch format of {SET_ORDER}: {_show(entry)} is not a map")
            _require_key(entry, rule)
    return order


def _require_key(element: dict[str, Any], rule: ListRule) -> None:
    if rule.key not in element:
        raise bad_request(f"map: {_show(element)} does not contain declared merge key: {rule.key}")


def _is_directive(key: str) -> bool:
    return key in (DIRECTIVE, RETAIN_KEYS) or key.startswith((SET_ORDER, DELETE_FROM))


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _index(items: list[Any], wanted: Any, rule: ListRule) -> int:
    return next((i for i, item in enumerate(items) if _same(item, wanted, rule)), -1)


def _same(a: Any, b: Any, rule: ListRule) -> bool:
    """Whether two list elements are the same entry: equal scalars, or maps agreeing on the merge key
    (and on each secondary key both of them carry)."""
    if rule.key is None:
        return json_equal(a, b)
    if not (isinstance(a, dict) and isinstance(b, dict) and rule.key in a and rule.key in b):
        return False
    return json_equal(a[rule.key], b[rule.key]) and all(json_equal(a[f], b[f]) for f in rule.also if f in a and f in b)


def _dedupe(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if not any(json_equal(item, u) for u in unique):
            unique.append(item)
    return unique


def _bad_patch_type(directive: Any, where: dict[str, Any]) -> StatusError:
    return bad_request(
        f"unknown patch type: {_show(directive)} in map: {_show(where)} (supported: replace, merge, delete)"
    )


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
