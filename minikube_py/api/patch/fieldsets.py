"""Sets of field paths in Kubernetes' FieldsV1 form: what ``metadata.managedFields`` records.

A set is a trie whose keys are path elements, exactly as FieldsV1 spells them:

- ``f:<name>``: a field of a map;
- ``k:{"name":"main"}``: the element of a list that merges by key (the key fields as compact JSON);
- ``v:"x"``: the element of a list that is a set of scalars (``finalizers``);
- ``.``: the node itself is a member, written only when the node also has children.

A node with no children is a member (``"f:replicas": {}``). Keeping that JSON shape as the in-memory
form makes reading and writing ``managedFields`` free, which matters because every write to the API
touches them. Sets are treated as immutable: operations share untouched subtrees between operands
and results.

How an object maps onto paths depends on its structure (which lists merge by which key, which maps
are atomic); :class:`Structure` carries those facts, taken from :mod:`.mergekeys`. A list without a
rule, and a map listed as atomic, is a single leaf, as in Kubernetes' schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from minikube_py.api.patch.mergekeys import ListRule, Rules, atomic_maps_for, rules_for

Trie = dict[str, Any]
Path = tuple[str, ...]

SELF = "."
_PREFIXES = ("f:", "k:", "v:", "i:")
#: key fields Kubernetes defaults before it identifies a list element (a port without a protocol is TCP)
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}
#: fields the server owns: never recorded for any manager (Kubernetes' stripMeta set, plus deletion)
_SERVER_OWNED: Trie = {
    "f:apiVersion": {},
    "f:kind": {},
    "f:metadata": {
        f"f:{name}": {}
        for name in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "selfLink",
            "managedFields",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        )
    },
}


@dataclass(frozen=True)
class Structure:
    """How a kind's lists and maps divide into paths: list merge rules by dotted path (``[]`` steps into
    elements, as in :mod:`.mergekeys`) and the dotted paths of atomic maps."""

    rules: Rules
    atomic: frozenset[str] = frozenset()
    #: the paths of top-level values created lately, by (field, the value's JSON): see :func:`_created`
    created: dict[tuple[str, bytes], Trie] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, kind: str) -> Structure:
        return cls(rules_for(kind) or {}, atomic_maps_for(kind))


class FieldSet:
    """An immutable set of field paths. ``bool(s)`` is whether it has any member."""

    __slots__ = ("trie",)

    def __init__(self, trie: Trie | None = None) -> None:
        self.trie: Trie = trie or {}

    @classmethod
    def from_json(cls, value: Any) -> FieldSet:
        """A set from FieldsV1 JSON; ValueError when it is not FieldsV1."""
        _check(value, root=True)
        return cls(value)

    @classmethod
    def from_paths(cls, paths: list[Path]) -> FieldSet:
        result: Trie = {}
        for path in paths:
            result = _union(result, _single(path), root=True) or {}
        return cls(result)

    def to_json(self) -> Trie:
        """FieldsV1 with ``.`` first and elements sorted, a fresh copy the caller may keep.

        Sorting every key sorts ``.`` first, as path elements all start with a letter; orjson's
        sorted round trip (keys in code point order, like ``sorted``) is ~5x faster than copying the
        trie in Python, and every write to the API encodes its managedFields."""
        return orjson.loads(orjson.dumps(self.trie, option=orjson.OPT_SORT_KEYS))

    def union(self, other: FieldSet) -> FieldSet:
        return FieldSet(_union(self.trie, other.trie, root=True))

    def difference(self, other: FieldSet) -> FieldSet:
        return FieldSet(_difference(self.trie, other.trie, root=True))

    def intersection(self, other: FieldSet) -> FieldSet:
        return FieldSet(_intersection(self.trie, other.trie, root=True))

    def without_subtrees(self, other: FieldSet) -> FieldSet:
        """This set less every path at or under a member of ``other``."""
        return FieldSet(_cut(self.trie, other.trie, root=True))

    def without_ancestors_of(self, other: FieldSet) -> FieldSet:
        """This set less the paths that lie above some member of ``other``: removing such a path from
        an object would take ``other``'s fields with it."""
        return FieldSet(_keep_parents(self.trie, other.trie, root=True))

    def paths(self) -> list[Path]:
        return list(_walk(self.trie, (), root=True))

    def __contains__(self, path: Path) -> bool:
        node = self.trie
        for element in path:
            if element not in node:
                return False
            node = node[element]
        return bool(path) and _member(node)

    def __bool__(self) -> bool:
        return bool(self.trie)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSet) and _canonical(self.trie) == _canonical(other.trie)

    def __hash__(self) -> int:  # pragma: no cover - sets are compared, never hashed; defined for symmetry
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"


# ------------------------------------------------------------------------------ paths of objects


def applied_fields(obj: dict[str, Any], structure: Structure) -> FieldSet:
    """The fields an applied configuration sets: its leaves, atomic values and list elements (maps
    themselves are not members), as Kubernetes' ``ToFieldSet`` records an applier's intent."""
    trie = _fields_of(obj, "", structure) or {}
    return FieldSet(_cut(trie, _SERVER_OWNED, root=True))


def changed_fields(old: dict[str, Any], new: dict[str, Any], structure: Structure) -> tuple[FieldSet, FieldSet]:
    """``(changed, removed)`` from ``old`` to ``new``: paths added or given another value, and paths
    that are gone. Every node of an added or removed subtree is a member, so a manager that adds a
    label map owns the map (``.``) and each label, as in Kubernetes' Update entries."""
    if not old:
        # a create: every field is new, so each top-level value is taken as a whole, without
        # comparing it against nothing first
        changed = {"f:" + k: _created(v, k, structure) for k, v in new.items()} or None
        removed = None
    else:
        changed, removed = _compare(old, new, "", structure)
    return (
        FieldSet(_cut(_top_level_not_members(changed), _SERVER_OWNED, root=True)),
        FieldSet(_cut(removed or {}, _SERVER_OWNED, root=True)),
    )


def remove_fields(obj: dict[str, Any], fields: FieldSet, structure: Structure) -> None:
    """Remove, in place, every member of ``fields`` (with what lies under it) from ``obj``; a map or
    list left empty by the removal goes too, as a typed server would not serialise it."""
    _remove(obj, fields.trie, "", structure)


def path_string(path: Path) -> str:
    """Kubernetes' text for a path: ``.spec.template.spec.containers[name="main"].image``."""
    out = []
    for element in path:
        kind, rest = element[:2], element[2:]
        if kind == "f:":
            out.append("." + rest)
        elif kind == "k:":
            keys = json.loads(rest)
            out.append("[" + ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in keys.items()) + "]")
        elif kind == "v:":
            out.append("[=" + rest + "]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


# ------------------------------------------------------------------------------ trie algebra


def _member(node: Trie) -> bool:
    return not node or SELF in node


def _build(member: bool, children: Trie, root: bool) -> Trie | None:
    if root:
        return children
    if children:
        return {SELF: {}, **children} if member else children
    return {} if member else None


def _union(a: Trie, b: Trie, root: bool = False) -> Trie | None:
    if a is b or (not b and (root or _member(a))):
        return a
    if not a and root:
        return b
    children = {k: v for k, v in a.items() if k != SELF}
    for k, v in b.items():
        if k != SELF:
            children[k] = _union(children[k], v) if k in children else v
    return _build(_member(a) or _member(b), children, root)


def _difference(a: Trie, b: Trie, root: bool = False) -> Trie | None:
    """``a`` less ``b``; ``a`` itself when they share nothing, so unchanged sets stay the same object."""
    children: Trie | None = None
    for k, v in b.items():
        if k == SELF or k not in a:
            continue
        rest = _difference(a[k], v)
        if rest is a[k]:
            continue
        if children is None:
            children = {c: n for c, n in a.items() if c != SELF}
        if rest is None:
            del children[k]
        else:
            children[k] = rest
    member = _member(a)
    loses_self = member and not root and _member(b)
    if children is None and not loses_self:
        return a
    if children is None:
        children = {c: n for c, n in a.items() if c != SELF}
    return _build(member and not loses_self, children, root)


def _intersection(a: Trie, b: Trie, root: bool = False) -> Trie | None:
    children: Trie = {}
    for k, v in a.items():
        if k != SELF and k in b:
            both = _intersection(v, b[k])
            if both is not None:
                children[k] = both
    return _build(not root and _member(a) and _member(b), children, root)


def _cut(a: Trie, b: Trie, root: bool = False) -> Trie | None:
    """``a`` without the subtrees rooted at members of ``b``."""
    if not b and root:
        return a
    children = {k: v for k, v in a.items() if k != SELF}
    for k, v in b.items():
        if k == SELF or k not in children:
            continue
        rest = None if _member(v) else _cut(children[k], v)
        if rest is None:
            del children[k]
        else:
            children[k] = rest
    return _build(not root and _member(a), children, root)


def _keep_parents(a: Trie, b: Trie, root: bool = False) -> Trie | None:
    children: Trie = {}
    for k, v in a.items():
        if k == SELF:
            continue
        if k in b:
            kept = _keep_parents(v, b[k])
            if kept is not None:
                children[k] = kept
        else:
            children[k] = v
    above_b = not root and any(k != SELF for k in b)
    return _build(_member(a) and not above_b, children, root)


def _single(path: Path) -> Trie:
    node: Trie = {}
    for element in reversed(path):
        node = {element: node}
    return node


def _walk(trie: Trie, prefix: Path, root: bool = False) -> Iterator[Path]:
    if not root and _member(trie):
        yield prefix
    for k in sorted(k for k in trie if k != SELF):
        yield from _walk(trie[k], (*prefix, k))


def _canonical(trie: Trie) -> Trie:
    """Equal sets compare equal whatever the spelling of membership (``{}`` or a lone ``.``)."""
    children = {k: _canonical(v) for k, v in trie.items() if k != SELF}
    if SELF in trie and children:
        children[SELF] = {}
    return children


def _check(value: Any, root: bool = False) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"a FieldsV1 node must be a map, got {type(value).__name__}")
    for k, v in value.items():
        if k == SELF and not root:
            if v != {}:
                raise ValueError('the "." of a FieldsV1 node must be {}')
            continue
        if not isinstance(k, str) or not k.startswith(_PREFIXES):
            raise ValueError(f"invalid FieldsV1 path element {k!r}")
        if k.startswith(("k:", "v:")):
            try:
                json.loads(k[2:])
            except ValueError:
                raise ValueError(f"invalid FieldsV1 path element {k!r}") from None
        _check(v)


# ------------------------------------------------------------------------------ objects to paths


#: how element names spell their values (compact, sorted keys); one encoder for all, since building
#: one per call (what ``json.dumps`` with options does) costs more than the encoding itself
_ELEMENT_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _scalar_key(value: Any) -> str:
    return "v:" + _ELEMENT_JSON.encode(value)


def _item_key(item: Any, rule: ListRule) -> str | None:
    """``k:{...}`` naming a list element by its key fields, or None when it lacks its key."""
    if not isinstance(item, dict) or rule.key not in item:
        return None
    keys = {rule.key: item[rule.key]}
    for extra in rule.also:
        if extra in item or extra in _KEY_DEFAULTS:
            keys[extra] = item.get(extra, _KEY_DEFAULTS.get(extra))
    return "k:" + _ELEMENT_JSON.encode(keys)


def _keyed(items: list[Any], rule: ListRule) -> dict[str, Any] | None:
    """A keyed list's elements by ``k:`` name; None when some element cannot be named (then the
    list is treated as one atomic value)."""
    named: dict[str, Any] = {}
    for item in items:
        key = _item_key(item, rule)
        if key is None:
            return None
        named.setdefault(key, item)
    return named


def _fields_of(value: Any, path: str, st: Structure) -> Trie | None:
    """What setting ``value`` at ``path`` claims; None for nothing (an empty map)."""
    if isinstance(value, dict) and path not in st.atomic:
        children: Trie = {}
        for k, v in value.items():
            if v is not None:
                sub = _fields_of(v, _child(path, k), st)
                if sub is not None:
                    children["f:" + k] = sub
        return children or None
    if isinstance(value, list):
        rule = st.rules.get(path)
        if rule is not None and rule.key is None:
            return {_scalar_key(v): {} for v in value} or None
        named = _keyed(value, rule) if rule is not None else None
        if named is None:
            return {}
        items: Trie = {}
        for key, item in named.items():
            sub = _fields_of(item, path + "[]", st)
            items[key] = {SELF: {}, **sub} if sub else {}
        return items or None
    return {}


#: the JSON values that have paths below them (a tuple: ``isinstance`` with ``dict | list`` builds the
#: union on every call, and this test runs once per field of an object)
_CONTAINERS = (dict, list)


def _everything(value: Any, path: str, st: Structure) -> Trie:
    """Every path of ``value`` and below, each a member."""
    if isinstance(value, dict) and value and path not in st.atomic:
        # Scalars (most fields) are leaves: no path string is built for them, which halves the cost
        # of recording a create's ownership, where every field of the object is walked.
        trie: Trie = {SELF: {}}
        for k, v in value.items():
            trie["f:" + k] = _everything(v, _child(path, k), st) if v and isinstance(v, _CONTAINERS) else {}
        return trie
    if isinstance(value, list) and value:
        rule = st.rules.get(path)
        if rule is not None and rule.key is None:
            return {SELF: {}, **{_scalar_key(v): {} for v in value}}
        named = _keyed(value, rule) if rule is not None else None
        if named is not None:
            return {SELF: {}, **{k: _everything(item, path + "[]", st) for k, item in named.items()}}
    return {}


#: top-level values whose paths a Structure remembers, and the longest JSON text remembered: a
#: pod's spec is 1-3 KB, and a large ConfigMap's data is walked rather than kept (32 of them could
#: hold 50 MB), so what a kind remembers stays within a few MB
_CREATED_MEMORY = 32
_CREATED_MAX_TEXT = 16 * 1024


def _created(value: Any, path: str, st: Structure) -> Trie:
    """:func:`_everything` of a created object's top-level field ``path``, remembered by the value's
    JSON text. Objects are mostly made from templates: a ReplicaSet's or a Job's pods share one spec,
    whose walk was most of the time a create spent recording its managedFields, where encoding it
    takes a tenth of that. Metadata (a name and uid of its own every time) is always walked. Tries
    are never changed in place, so one can be shared by every set built from it."""
    if path == "metadata" or not value or not isinstance(value, _CONTAINERS):
        return _everything(value, path, st)
    try:
        key = (path, orjson.dumps(value))
    except TypeError:  # not JSON (orjson's JSONEncodeError is a TypeError): check_stored refuses it later
        return _everything(value, path, st)
    if len(key[1]) > _CREATED_MAX_TEXT:
        return _everything(value, path, st)
    trie = st.created.get(key)
    if trie is None:
        trie = _everything(value, path, st)
        if len(st.created) >= _CREATED_MEMORY:
            del st.created[next(iter(st.created))]
        st.created[key] = trie
    return trie


def _compare(old: Any, new: Any, path: str, st: Structure) -> tuple[Trie | None, Trie | None]:
    if old == new:
        return None, None
    if isinstance(old, dict) and isinstance(new, dict) and path not in st.atomic:
        return _compare_children(
            {"f:" + k: v for k, v in old.items()},
            {"f:" + k: v for k, v in new.items()},
            lambda k: _child(path, k[2:]),
            st,
        )
    if isinstance(old, list) and isinstance(new, list):
        rule = st.rules.get(path)
        if rule is not None and rule.key is None:
            return _compare_children(
                {_scalar_key(v): v for v in old}, {_scalar_key(v): v for v in new}, lambda _k: path + "[]", st
            )
        if rule is not None:
            old_named, new_named = _keyed(old, rule), _keyed(new, rule)
            if old_named is not None and new_named is not None:
                return _compare_children(old_named, new_named, lambda _k: path + "[]", st)
    if type(old) is type(new) or (not isinstance(old, dict | list) and not isinstance(new, dict | list)):
        return {}, None
    return _everything(new, path, st), _everything(old, path, st)


def _compare_children(
    old: dict[str, Any], new: dict[str, Any], path_of: Any, st: Structure
) -> tuple[Trie | None, Trie | None]:
    changed: Trie = {}
    removed: Trie = {}
    for k, v in new.items():
        if k in old:
            c, r = _compare(old[k], v, path_of(k), st)
            if c is not None:
                changed[k] = c
            if r is not None:
                removed[k] = r
        else:
            changed[k] = _everything(v, path_of(k), st)
    for k, v in old.items():
        if k not in new:
            removed[k] = _everything(v, path_of(k), st)
    return changed or None, removed or None


def _top_level_not_members(trie: Trie | None) -> Trie:
    """Top-level fields (``spec``, ``metadata``) are structs that always exist in Kubernetes' typed
    objects, so they are never members themselves, only their contents."""
    if not trie:
        return {}
    return {k: ({c: v2 for c, v2 in v.items() if c != SELF} if len(v) > 1 else v) for k, v in trie.items()}


def _remove(value: Any, trie: Trie, path: str, st: Structure) -> None:
    if isinstance(value, dict):
        for k, sub in trie.items():
            name = k[2:]
            if not k.startswith("f:") or name not in value:
                continue
            if _member(sub):
                del value[name]
            else:
                _remove_below(value, name, sub, _child(path, name), st)
    elif isinstance(value, list):
        rule = st.rules.get(path)
        if rule is None:
            return
        for k, sub in trie.items():
            at = _position(value, k, rule)
            if at is None:
                continue
            if _member(sub):
                del value[at]
            elif isinstance(value[at], dict):
                _remove(value[at], sub, path + "[]", st)


def _remove_below(parent: dict[str, Any], name: str, trie: Trie, path: str, st: Structure) -> None:
    child = parent[name]
    had_content = bool(child) if isinstance(child, dict | list) else False
    _remove(child, trie, path, st)
    if had_content and not child:
        del parent[name]


def _position(items: list[Any], element: str, rule: ListRule) -> int | None:
    for i, item in enumerate(items):
        name = _scalar_key(item) if rule.key is None else _item_key(item, rule)
        if name == element:
            return i
    return None
