"""Field ownership (``metadata.managedFields``) with Kubernetes' server-side apply rules, as pure functions.

Every write is made by a manager. An *Update* (create, PUT, JSON/merge/strategic patch, status
writes) gives its manager the fields it changed and takes them from everyone else. An *Apply*
declares the whole set of fields its manager wants: changing a field another manager owns is a
conflict (409) unless forced, in which case the field changes hands; fields the manager applied
before but leaves out now are removed from the object unless someone else still owns them. These
are the rules of sigs.k8s.io/structured-merge-diff as kube-apiserver uses them, including its two
helpers for moving from client-side to server-side ``kubectl apply``:

- a ``kubectl`` apply whose conflicts all lie in fields the last-applied annotation still matches
  is forced (the client-side apply owned them for the same user);
- a ``kubectl`` apply keeps an existing last-applied annotation up to date.

The registry calls :func:`prune_for_apply` before it defaults and validates an applied object, then
:func:`record_update` or :func:`record_apply` on the final object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from minikube_py.api.patch.fieldsets import FieldSet, Structure, applied_fields, changed_fields, path_string
from minikube_py.model.errors import StatusError

APPLY = "Apply"
UPDATE = "Update"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: the manager whose applies upgrade client-side apply state (kube-apiserver hard-codes it too)
KUBECTL = "kubectl"
MAX_MANAGER_LENGTH = 128


@dataclass(frozen=True)
class FieldManager:
    """Who writes, as the request names it (``fieldManager``, ``force``)."""

    name: str = "unknown"
    force: bool = False


@dataclass(frozen=True)
class Entry:
    """One ``managedFields`` entry; ``(manager, operation, subresource)`` identifies it."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: FieldSet
    subresource: str = ""
    #: the stored FieldsV1 this entry was read from, written back as is while ``fields`` is unchanged
    stored: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.manager, self.operation, self.subresource

    def describe(self) -> str:
        """The manager as kube-apiserver names it in conflict messages."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = self.stored if self.stored is not None else self.fields.to_json()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


@dataclass(frozen=True)
class Writer:
    """A write in progress: the manager, the kind of operation and the subresource written."""

    manager: FieldManager
    operation: str
    api_version: str
    subresource: str = ""

    def entry(self, fields: FieldSet, time: str) -> Entry:
        return Entry(self.manager.name, self.operation, self.api_version, time, fields, self.subresource)

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.manager.name, self.operation, self.subresource


# ------------------------------------------------------------------------------ encoding


def decode(raw: Any, *, trusted: bool = True) -> list[Entry] | None:
    """Entries from stored or sent ``managedFields``; None when they are not well-formed (then the
    caller keeps what it had). ``trusted`` skips checking the FieldsV1 tries of stored entries."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return None
    entries: list[Entry] = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("manager"), str)
            or item.get("operation") not in (APPLY, UPDATE)
            or item.get("fieldsType", "FieldsV1") != "FieldsV1"
        ):
            return None
        raw_fields = item.get("fieldsV1") or {}
        try:
            fields = FieldSet(raw_fields) if trusted else FieldSet.from_json(raw_fields)
        except ValueError:
            return None
        entries.append(
            Entry(
                item["manager"],
                item["operation"],
                str(item.get("apiVersion") or ""),
                item.get("time"),
                fields,
                str(item.get("subresource") or ""),
                raw_fields if trusted else None,
            )
        )
    return entries


def encode(entries: list[Entry]) -> list[dict[str, Any]]:
    """Entries in kube-apiserver's order: appliers first, then by time, manager, version, subresource."""
    ordered = sorted(entries, key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.to_json() for e in ordered]


def is_reset(raw: Any) -> bool:
    """A body asking to clear ownership: ``managedFields: []`` or ``[{}]``, as Kubernetes reads it."""
    return isinstance(raw, list) and (raw == [] or raw == [{}])


def base_entries(sent: Any, stored: Any, *, from_subresource: bool) -> list[Entry]:
    """The entries a write starts from. Stored ones, unless the body resets them or, on the main
    resource, replaces them with well-formed entries of its own (kubectl migrates client-side
    apply ownership that way, with a JSON patch)."""
    if is_reset(sent):
        return []
    kept = decode(stored) or []
    if from_subresource or sent is None or sent == stored:
        return kept
    proposed = decode(sent, trusted=False)
    return kept if proposed is None else proposed


# ------------------------------------------------------------------------------ ownership rules


def record_update(
    entries: list[Entry], old: dict[str, Any], new: dict[str, Any], writer: Writer, structure: Structure, now: str
) -> list[Entry]:
    """Entries after an Update: the writer gains what changed, everyone loses what changed or went."""
    changed, removed = changed_fields(old, new, structure)
    if not changed and not removed:
        return entries
    lost = changed.union(removed)
    result: list[Entry] = []
    mine = FieldSet()
    for entry in entries:
        if entry.identity == writer.identity:
            mine = entry.fields.difference(removed)
        else:
            _keep(result, entry, entry.fields.difference(lost))
    _keep(result, writer.entry(mine.union(changed), now), None)
    return result


def record_apply(
    entries: list[Entry],
    old: dict[str, Any],
    new: dict[str, Any],
    applied: FieldSet,
    writer: Writer,
    structure: Structure,
    now: str,
) -> list[Entry]:
    """Entries after an Apply of ``applied`` that turned ``old`` into ``new``; raises a 409 Conflict
    Status when the apply changes fields other managers own and is not forced."""
    changed, removed = changed_fields(old, new, structure)
    conflicts = _conflicts(entries, changed, writer)
    if conflicts and not writer.manager.force:
        conflicts = _not_upgraded_from_client_side(conflicts, old, writer, structure)
        if conflicts:
            raise conflict_error(conflicts)
    lost = changed.union(removed)
    result: list[Entry] = []
    previous: Entry | None = None
    for entry in entries:
        if entry.identity == writer.identity:
            previous = entry
        else:
            _keep(result, entry, entry.fields.difference(lost))
    unchanged = previous is not None and previous.fields == applied and not changed and not removed
    _keep(result, previous if unchanged and previous else writer.entry(applied, now), None)
    return result


def prune_for_apply(entries: list[Entry], applied: FieldSet, writer: Writer) -> FieldSet:
    """The fields an apply drops from the object: those the writer applied last time, leaves out now,
    and nobody else owns (nor owns anything under)."""
    previous = next((e.fields for e in entries if e.identity == writer.identity), FieldSet())
    owned = applied
    for entry in entries:
        if entry.identity != writer.identity:
            owned = owned.union(entry.fields)
    return previous.difference(owned).without_ancestors_of(owned)


def last_applied_update(live: dict[str, Any], config: dict[str, Any], writer: Writer) -> str | None:
    """The new last-applied annotation a ``kubectl`` apply leaves, when the live object has one."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if writer.manager.name != KUBECTL or not annotations.get(LAST_APPLIED):
        return None
    shown = json.loads(json.dumps(config))
    shown_annotations = (shown.get("metadata") or {}).get("annotations")
    if isinstance(shown_annotations, dict):
        shown_annotations.pop(LAST_APPLIED, None)
    return json.dumps(shown, separators=(",", ":"), sort_keys=True) + "\n"


@dataclass(frozen=True)
class Conflict:
    owner: Entry
    path: tuple[str, ...]


def conflict_error(conflicts: list[Conflict]) -> StatusError:
    """kube-apiserver's apply conflict: one line per conflict, grouped by manager when several."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {c.owner.describe()}",
            "field": path_string(c.path),
        }
        for c in conflicts
    ]
    if len(conflicts) == 1:
        only = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {only.owner.describe()}: {path_string(only.path)}"
    else:
        lines: list[str] = []
        for owner in sorted({c.owner.describe() for c in conflicts}):
            lines.append(f"conflicts with {owner}:")
            lines.extend(f"- {path_string(c.path)}" for c in conflicts if c.owner.describe() == owner)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def _conflicts(entries: list[Entry], changed: FieldSet, writer: Writer) -> list[Conflict]:
    found: list[Conflict] = []
    for entry in entries:
        if entry.identity != writer.identity:
            found.extend(Conflict(entry, path) for path in entry.fields.intersection(changed).paths())
    return sorted(found, key=lambda c: (c.owner.manager, c.path))


def _not_upgraded_from_client_side(
    conflicts: list[Conflict], live: dict[str, Any], writer: Writer, structure: Structure
) -> list[Conflict]:
    """The conflicts left once those a ``kubectl`` apply may take over from client-side apply are
    set aside: fields of the last-applied annotation whose live value still matches it."""
    if writer.manager.name != KUBECTL:
        return conflicts
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(raw) if raw else None
    except ValueError:
        return conflicts
    if not isinstance(last, dict) or last.get("apiVersion") != writer.api_version:
        return conflicts
    differ, missing = changed_fields(last, live, structure)
    allowed = applied_fields(last, structure).difference(differ).difference(missing)
    return [c for c in conflicts if c.path not in allowed]


def _keep(result: list[Entry], entry: Entry, fields: FieldSet | None) -> None:
    """Append ``entry`` (with ``fields`` instead of its own, when given) unless it owns nothing."""
    if fields is not None and fields.trie is not entry.fields.trie:
        entry = replace(entry, fields=fields, stored=None)
    if entry.fields:
        result.append(entry)
