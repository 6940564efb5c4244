"""ControllerRevision history (minikube_py.model.history): what revisions hold, one per template,
renumbering on undo, and trimming to revisionHistoryLimit."""

from __future__ import annotations

from typing import Any

from minikube_py.model.history import (
    new_revision,
    plan_history,
    revision_data,
    revision_hash,
    revision_name,
    template_of,
)

Obj = dict[str, Any]


def owner(image: str = "v1", limit: int = 10, collisions: int | None = None) -> Obj:
    obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "annotations": {"note": "x"}},
        "spec": {
            "revisionHistoryLimit": limit,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }
    if collisions is not None:
        obj["status"] = {"collisionCount": collisions}
    return obj


def revision(image: str, number: int) -> Obj:
    return new_revision(owner(image), number, {})


def test_a_revision_holds_a_patch_that_puts_the_template_back() -> None:
    o = owner("v1")
    data = revision_data(o)
    assert data == {"spec": {"template": {**o["spec"]["template"], "$patch": "replace"}}}
    r = new_revision(o, 7, {"controller.kubernetes.io/hash": "h"})
    assert r["metadata"]["name"] == revision_name("web", revision_hash(o)) == f"web-{revision_hash(o)}"
    assert r["metadata"]["labels"] == {"app": "web", "controller.kubernetes.io/hash": "h"}
    assert r["metadata"]["annotations"] == {"note": "x"}
    assert r["metadata"]["ownerReferences"][0]["uid"] == "u1" and r["metadata"]["ownerReferences"][0]["controller"]
    assert r["revision"] == 7
    assert template_of(r) == o["spec"]["template"]


def test_the_name_follows_the_template_and_the_collision_count() -> None:
    assert revision_hash(owner("v1")) == revision_hash(owner("v1"))
    assert revision_hash(owner("v1")) != revision_hash(owner("v2"))
    assert revision_hash(owner("v1", collisions=1)) != revision_hash(owner("v1"))


def test_a_new_template_gets_the_next_number() -> None:
    assert plan_history(owner("v1"), []).create["revision"] == 1  # type: ignore[index]
    step = plan_history(owner("v3"), [revision("v1", 1), revision("v2", 2)])
    assert step.create is not None and step.create["revision"] == 3 and step.renumber is None
    assert step.update == step.create["metadata"]["name"]


def test_the_newest_revision_of_the_template_is_reused() -> None:
    current = revision("v2", 2)
    step = plan_history(owner("v2"), [revision("v1", 1), current])
    assert (step.update, step.create, step.renumber, step.delete) == (current["metadata"]["name"], None, None, [])


def test_going_back_renumbers_the_old_revision_as_the_newest() -> None:
    first = revision("v1", 1)
    step = plan_history(owner("v1"), [first, revision("v2", 2)])
    assert (step.update, step.create, step.renumber) == (first["metadata"]["name"], None, 3)


def test_history_is_trimmed_oldest_first_keeping_what_is_in_use() -> None:
    old = [revision(f"v{n}", n) for n in range(1, 6)]
    step = plan_history(owner("v6", limit=2), old, in_use={old[0]["metadata"]["name"]})
    # v6 is new; v1 is in use; of v2..v5 the two newest stay
    assert step.delete == [old[1]["metadata"]["name"], old[2]["metadata"]["name"]]
    assert plan_history(owner("v5", limit=0), old).delete == [r["metadata"]["name"] for r in old[:4]]
