"""ControllerRevisions: the template history of DaemonSets and StatefulSets, as pure functions.

Kubernetes keeps a DaemonSet's or StatefulSet's past pod templates as ControllerRevision objects
owned by it, each holding a strategic merge patch that puts the template back
(``{"spec": {"template": {..., "$patch": "replace"}}}``) and a revision number. kubectl reads them
for ``rollout history`` and applies one's data as a patch for ``rollout undo``; the controllers tell
their pods' revision apart by a label naming the revision.

One revision exists per distinct template: going back to an earlier template (an undo) reuses its
revision and renumbers it as the newest, so numbers only grow and ``rollout history`` lists each
template once. Revisions no pod uses and that are not the current one are trimmed to the owner's
``revisionHistoryLimit``, oldest first.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minikube_py.model.podtemplate import owned_object
from minikube_py.model.rollout import template_hash

Obj = dict[str, Any]

#: the label with a revision's hash on a StatefulSet's revisions (Kubernetes' ControllerRevisionHashLabel)
HASH_LABEL = "controller.kubernetes.io/hash"
#: what an owner's name is cut to before ``-<hash>`` is added, so revision names stay valid
MAX_PREFIX = 223


def revision_data(owner: Obj) -> Obj:
    """The patch that restores ``owner``'s current pod template (what a revision holds)."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Obj) -> Obj:
    """The pod template a revision restores."""
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def revision_hash(owner: Obj) -> str:
    """The hash naming the revision of the owner's template, salted with ``status.collisionCount``
    (bumped when a foreign revision holds the name) as Kubernetes does."""
    return template_hash(
        (owner.get("spec") or {}).get("template") or {}, (owner.get("status") or {}).get("collisionCount")
    )


def revision_name(owner_name: str, hash_: str) -> str:
    return f"{owner_name[:MAX_PREFIX]}-{hash_}"


def new_revision(owner: Obj, number: int, labels: dict[str, str]) -> Obj:
    """A ControllerRevision for the owner's current template, controlled by the owner: the
    template's labels (so the owner's selector finds it, as kubectl looks for it) plus ``labels``,
    and the owner's annotations (``kubernetes.io/change-cause`` shows in ``rollout history``)."""
    md = owner["metadata"]
    template_labels = (((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    meta = {
        "name": revision_name(md["name"], revision_hash(owner)),
        "labels": {**template_labels, **labels},
        "annotations": dict(md.get("annotations") or {}),
    }
    return owned_object(owner, "apps/v1", "ControllerRevision", meta, data=revision_data(owner), revision=number)


def _number(revision: Obj) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) else 0


def by_number(revisions: Iterable[Obj]) -> list[Obj]:
    """Oldest first (by revision number, then name, so the order is total)."""
    return sorted(revisions, key=lambda r: (_number(r), r["metadata"]["name"]))


def same_template(revision: Obj, owner: Obj) -> bool:
    return (revision.get("data") or {}) == revision_data(owner)


@dataclass
class HistoryStep:
    """What keeps an owner's history right for its current template.

    ``update`` is the name of the current template's revision; ``create`` the revision to create
    for it (a template never seen), or ``renumber`` the number an existing one of the same template
    moves to (an undo); ``delete`` the names of revisions beyond the history limit."""

    update: str
    create: Obj | None = None
    renumber: int | None = None
    delete: list[str] = field(default_factory=list)


def plan_history(
    owner: Obj, revisions: list[Obj], *, in_use: Iterable[str] = (), labels: dict[str, str] | None = None
) -> HistoryStep:
    """The history step for ``owner`` given its own ``revisions``; ``in_use`` names revisions that
    must stay whatever the limit (those pods still run, and the owner's current one); ``labels`` are
    the extra labels a new revision gets."""
    ordered = by_number(revisions)
    newest = _number(ordered[-1]) if ordered else 0
    equal = [r for r in ordered if same_template(r, owner)]
    if equal:
        match = equal[-1]
        step = HistoryStep(match["metadata"]["name"])
        if match is not ordered[-1]:
            step.renumber = newest + 1
    else:
        created = new_revision(owner, newest + 1, labels or {})
        step = HistoryStep(created["metadata"]["name"], create=created)
    keep = {step.update, *in_use}
    old = [r["metadata"]["name"] for r in ordered if r["metadata"]["name"] not in keep]
    limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
    limit = 10 if not isinstance(limit, int) else max(limit, 0)
    step.delete = old[: max(len(old) - limit, 0)]
    return step
