"""Client-side apply's three-way strategic merge patch."""

from __future__ import annotations

from minikube_py.api.patch import patch_object
from minikube_py.api.patch.mergekeys import rules_for
from minikube_py.kubectl.threeway import three_way_patch

RULES = rules_for("Deployment")


def deployment(env: list[dict[str, str]], **meta: object) -> dict:  # type: ignore[type-arg]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", **meta},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "env": env}]}}},
    }


def test_nothing_to_do_is_an_empty_patch() -> None:
    config = deployment([{"name": "A", "value": "1"}])
    live = deployment([{"name": "A", "value": "1"}], uid="u", resourceVersion="5")
    assert three_way_patch(config, config, live, RULES) == {}


def test_dropped_fields_are_deleted_and_others_kept() -> None:
    original = deployment([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], labels={"x": "1", "y": "2"})
    modified = deployment([{"name": "A", "value": "9"}], labels={"x": "1"})
    live = deployment(
        [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
        labels={"x": "1", "y": "2", "other": "3"},
    )
    patch = three_way_patch(original, modified, live, RULES)
    assert patch == {
        "metadata": {"labels": {"y": None}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "c"}],
                    "containers": [
                        {
                            "name": "c",
                            "$setElementOrder/env": [{"name": "A"}],
                            "env": [{"name": "A", "value": "9"}, {"name": "B", "$patch": "delete"}],
                        }
                    ],
                }
            }
        },
    }
    # the server's strategic merge applies it as kube-apiserver would: C (set by someone else) stays
    import json

    merged = patch_object("application/strategic-merge-patch+json", live, json.dumps(patch).encode(), RULES)
    assert merged["metadata"]["labels"] == {"x": "1", "other": "3"}
    assert merged["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "9"},
        {"name": "C", "value": "3"},
    ]


def test_without_rules_lists_are_replaced_whole() -> None:
    original = {"spec": {"items": [1, 2], "keep": True}}
    modified = {"spec": {"items": [1]}}
    live = {"spec": {"items": [1, 2], "keep": True, "server": "x"}}
    assert three_way_patch(original, modified, live, None) == {"spec": {"items": [1], "keep": None}}


def test_first_apply_of_a_live_object_sets_without_deleting() -> None:
    modified = {"metadata": {"labels": {"a": "1"}}}
    live = {"metadata": {"labels": {"b": "2"}}}
    assert three_way_patch(None, modified, live, RULES) == {"metadata": {"labels": {"a": "1"}}}
