"""Client-side apply's patch: kubectl's three-way strategic merge.

Three versions of an object meet: the configuration applied last time (the
``kubectl.kubernetes.io/last-applied-configuration`` annotation), the configuration applied now, and
the live object. The patch deletes what the last configuration had and the new one dropped (``null``
in maps, ``$patch: delete`` for keyed list elements, ``$deleteFromPrimitiveList`` for sets), and sets
whatever the new configuration says that the live object does not have; fields only the server or
other clients set stay untouched. Lists merge by their key (containers by name, ports by
containerPort...) as the server's strategic merge does, and carry ``$setElementOrder`` so the
configured order wins; lists without a key are replaced whole. Kinds without merge rules (custom
resources) get a JSON merge patch instead, where every list is atomic.
"""

from __future__ import annotations

from typing import Any

from minikube_py.api.patch.mergekeys import ListRule, Rules

Obj = dict[str, Any]
_MISSING: Any = object()


def three_way_patch(original: Obj | None, modified: Obj, current: Obj, rules: Rules | None) -> Obj:
    """The patch that takes ``current`` to ``modified`` while deleting what ``original`` had and
    ``modified`` dropped; empty when there is nothing to change."""
    return _maps(original or {}, modified, current, "", rules or {})


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _maps(original: Obj, modified: Obj, current: Obj, path: str, rules: Rules) -> Obj:
    patch: Obj = {}
    for key, want in modified.items():
        have = current.get(key, _MISSING)
        before = original.get(key, _MISSING)
        where = _child(path, key)
        rule = rules.get(where)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = _maps(before if isinstance(before, dict) else {}, want, have, where, rules)
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and isinstance(have, list) and rule is not None:
            patch.update(_lists(key, before if isinstance(before, list) else [], want, have, where, rule, rules))
        elif have is _MISSING or have != want:
            patch[key] = want
    for key in original:
        if key not in modified:
            patch[key] = None
    return patch


def _lists(
    name: str, original: list[Any], modified: list[Any], current: list[Any], path: str, rule: ListRule, rules: Rules
) -> Obj:
    if rule.key is None:  # a set of scalars
        added = [x for x in modified if x not in current]
        dropped = [x for x in original if x not in modified]
        out: Obj = {}
        if added:
            out[name] = added
        if dropped:
            out[f"$deleteFromPrimitiveList/{name}"] = dropped
        if out:
            out[f"$setElementOrder/{name}"] = modified
        return out
    key = rule.key
    live = {item.get(key): item for item in current if isinstance(item, dict)}
    before = {item.get(key): item for item in original if isinstance(item, dict)}
    wanted = {item.get(key) for item in modified if isinstance(item, dict)}
    items: list[Any] = []
    for item in modified:
        have = live.get(item.get(key))
        if have is None:
            items.append(item)
            continue
        sub = _maps(before.get(item.get(key)) or {}, item, have, f"{path}[]", rules)
        if sub:
            items.append({key: item[key], **sub})
    items += [{key: k, "$patch": "delete"} for k in before if k not in wanted]
    if not items:
        return {}
    return {f"$setElementOrder/{name}": [{key: item.get(key)} for item in modified], name: items}
