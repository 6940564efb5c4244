"""Object metadata the system owns: UIDs, timestamps, generated names, generations.

These are the rules of Kubernetes' ``rest.BeforeCreate`` / ``rest.BeforeUpdate`` and of the kinds'
``PrepareForCreate`` / ``PrepareForUpdate``: clients may send any metadata, but the server decides
the fields that record identity and history, so that a client cannot forge a UID, back-date an
object or rewrite its deletion. The clock and the random source are parameters, so tests can pin
them; the defaults are the wall clock, the system's CSPRNG for UIDs and, for generated names, a
generator seeded from it (a name is no secret: Kubernetes draws them from ``math/rand``).
"""

from __future__ import annotations

import copy
import os
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from minikube_py.model.kindrules import KindRules, rules_of
from minikube_py.model.times import rfc3339

Clock = Callable[[], datetime]

#: the alphabet of generated name suffixes: no vowels (no words) and no look-alikes (0/o, 1/l)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
_MAX_GENERATED_PREFIX = 63 - _SUFFIX_LENGTH
#: how many suffixes there are
_SUFFIXES = len(NAME_ALPHABET) ** _SUFFIX_LENGTH
#: where generated names come from (seeded from the system's CSPRNG, which costs a system call per
#: draw, where this generator costs none)
_NAMES = random.Random()

#: metadata a client may not set on create: the server records deletion itself
_SYSTEM_ON_CREATE = ("resourceVersion", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
#: metadata that Go serialises with ``omitempty``: an empty value is not stored
_OMIT_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")
_ENVELOPE = ("apiVersion", "kind", "metadata", "status")


class _UidSource:
    """Random (version 4) UUIDs from the system's CSPRNG, read 4 KiB at a time: ``uuid.uuid4()`` makes
    a system call and builds a ``UUID`` object for each, which under load was a tenth of preparing a
    create. The pool is taken under a lock (agent threads make objects too) and dropped in a forked
    child, so no two UIDs come from the same bytes."""

    _POOL_BYTES = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def next(self) -> str:
        with self._lock:
            if self._at + 16 > len(self._pool):
                self._pool, self._at = os.urandom(self._POOL_BYTES), 0
            raw = bytearray(self._pool[self._at : self._at + 16])
            self._at += 16
        raw[6] = raw[6] & 0x0F | 0x40  # version 4
        raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
        text = raw.hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_UIDS = _UidSource()


def new_uid() -> str:
    """A random (version 4) UUID, as Kubernetes gives every object."""
    return _UIDS.next()


def now_rfc3339(clock: Clock | None = None) -> str:
    """The current time as :func:`rfc3339`, from ``clock`` when given (tests fix it)."""
    return rfc3339((clock or _wall_clock)())


def generate_name(prefix: str, rng: random.Random | None = None) -> str:
    """``prefix`` plus five random characters; the prefix is cut so that the name fits 63
    characters, as Kubernetes' ``SimpleNameGenerator`` does."""
    # one draw for the whole suffix, read as base-27 digits: a pod's create generates a name (its
    # token volume's) every time
    draw = (rng or _NAMES).randrange(_SUFFIXES)
    suffix = []
    for _ in range(_SUFFIX_LENGTH):
        draw, digit = divmod(draw, len(NAME_ALPHABET))
        suffix.append(NAME_ALPHABET[digit])
    return prefix[:_MAX_GENERATED_PREFIX] + "".join(suffix)


def prepare_for_create(
    obj: dict[str, Any], *, namespace: str | None, clock: Clock | None = None, uid: str | None = None
) -> None:
    """Stamp a new object: a fresh ``uid`` and ``creationTimestamp``; ``generation`` 1 for kinds
    that track it; ``namespace`` set for namespaced kinds (``namespace`` given) and removed for
    cluster-scoped ones. System fields a client may not choose (``resourceVersion``,
    ``deletionTimestamp``, ``deletionGracePeriodSeconds``, ``selfLink``) are dropped, as are empty
    ``labels``/``annotations``/``finalizers``/``ownerReferences``, which Kubernetes never stores.
    Status is left to the caller: which status a new object starts with depends on the kind."""
    md = obj.setdefault("metadata", {})
    for key in _SYSTEM_ON_CREATE:
        md.pop(key, None)
    md["uid"] = uid or new_uid()
    md["creationTimestamp"] = now_rfc3339(clock)
    if rules_of(obj.get("kind") or "").tracks_generation:
        md["generation"] = 1
    if namespace is not None:
        md["namespace"] = namespace
    else:
        md.pop("namespace", None)
    _drop_empty(md)


def prepare_for_update(new: dict[str, Any], old: dict[str, Any], *, status_only: bool, has_status: bool) -> None:
    """Reconcile an update with the stored object, in place on ``new``.

    - Identity and history come from ``old``: ``creationTimestamp``, ``deletionTimestamp`` and
      ``deletionGracePeriodSeconds`` always; ``uid`` when ``new`` has none (a different uid is
      left for validation to reject as immutable); ``generation`` as the starting point.
    - A status update (``status_only``, the ``/status`` subresource) changes only ``status`` and
      metadata other than labels and owner references: every other top-level field is reset to
      the stored one, so a stale spec sent along cannot undo a concurrent spec change.
    - A main-resource update of a kind with a status subresource keeps the stored ``status``:
      status is written only through ``/status``.
    - For a kind that tracks it (its :class:`KindRules`), ``generation`` goes up by one when
      anything outside metadata and status changed (the spec), and for a kind whose generation
      follows annotations (Deployments) also when they changed; status and metadata updates
      leave it. ``new`` is defaulted (the kind's defaults) before the comparison so a manifest
      that merely omits defaulted fields is not mistaken for a change.
    """
    md, old_md = new.setdefault("metadata", {}), old.get("metadata") or {}
    md.pop("selfLink", None)
    for key in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        _copy_key(old_md, md, key)
    if not md.get("uid"):
        _copy_key(old_md, md, "uid")
    _copy_key(old_md, md, "generation")
    if status_only:
        for key in set(new) | set(old):
            if key not in ("metadata", "status"):
                _copy_key(old, new, key)
        _copy_key(old_md, md, "labels")
        _copy_key(old_md, md, "ownerReferences")
    elif has_status:
        _copy_key(old, new, "status")
    _drop_empty(md)
    rules = rules_of(new.get("kind") or old.get("kind") or "")
    if rules.tracks_generation and not status_only and _spec_changed(rules, new, old):
        md["generation"] = int(old_md.get("generation") or 0) + 1


def _spec_changed(rules: KindRules, new: dict[str, Any], old: dict[str, Any]) -> bool:
    defaulted = rules.defaulted(new)
    if rules.generation_follows_annotations and (
        (defaulted["metadata"].get("annotations") or {}) != (old.get("metadata", {}).get("annotations") or {})
    ):
        return True
    keys = (set(defaulted) | set(old)) - set(_ENVELOPE)
    return any(defaulted.get(k) != old.get(k) for k in keys)


def _copy_key(src: dict[str, Any], dst: dict[str, Any], key: str) -> None:
    """Make ``dst[key]`` what ``src`` has, including being absent."""
    if key in src:
        dst[key] = copy.deepcopy(src[key])
    else:
        dst.pop(key, None)


def _drop_empty(md: dict[str, Any]) -> None:
    for key in _OMIT_EMPTY:
        if key in md and not md[key]:
            del md[key]


def _wall_clock() -> datetime:
    return datetime.now(UTC)
