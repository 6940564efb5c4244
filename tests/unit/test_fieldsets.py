"""FieldsV1 sets: the format, the algebra, and the paths objects map to."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api.patch.fieldsets import (
    FieldSet,
    Structure,
    applied_fields,
    changed_fields,
    path_string,
    remove_fields,
)

DEPLOY = Structure.of("Deployment")


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 80}], "args": ["-v"]}]
                },
            },
        },
    }


def fs(*paths: str) -> FieldSet:
    """A set from paths written as element lists separated by ``/``."""
    return FieldSet.from_paths([tuple(p.split("/")) for p in paths])


def test_applied_fields_are_leaves_atomics_and_list_items() -> None:
    got = applied_fields(deployment(), DEPLOY).to_json()
    assert got == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"main"}': {
                            ".": {},
                            "f:args": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                        }
                    }
                },
            },
        },
    }


def test_set_lists_use_value_elements() -> None:
    got = applied_fields({"metadata": {"finalizers": ["a", "b"]}}, Structure.of("ConfigMap")).to_json()
    assert got == {"f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}}


def test_paths_render_as_kubernetes_prints_them() -> None:
    paths = applied_fields(deployment(), DEPLOY).paths()
    rendered = [path_string(p) for p in paths]
    assert ".spec.replicas" in rendered
    assert '.spec.template.spec.containers[name="main"].image' in rendered
    assert '.spec.template.spec.containers[name="main"].ports[containerPort=80,protocol="TCP"]' in rendered
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_union_difference_intersection() -> None:
    a, b = fs("f:spec/f:replicas", "f:data/f:a"), fs("f:data/f:a", "f:data/f:b")
    assert a.union(b) == fs("f:spec/f:replicas", "f:data/f:a", "f:data/f:b")
    assert a.difference(b) == fs("f:spec/f:replicas")
    assert a.intersection(b) == fs("f:data/f:a")
    assert not a.difference(a)
    assert a.union(FieldSet()) == a and FieldSet().union(a) == a


def test_node_membership_is_independent_of_children() -> None:
    node_and_child = fs("f:metadata/f:labels", "f:metadata/f:labels/f:a")
    assert node_and_child.to_json() == {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}}
    assert node_and_child.difference(fs("f:metadata/f:labels")) == fs("f:metadata/f:labels/f:a")
    assert node_and_child.difference(fs("f:metadata/f:labels/f:a")) == fs("f:metadata/f:labels")
    assert ("f:metadata", "f:labels") in node_and_child and ("f:metadata",) not in node_and_child


def test_without_subtrees_and_ancestors() -> None:
    s = fs("f:spec/f:template/f:x", "f:spec/f:replicas", "f:status/f:a")
    assert s.without_subtrees(fs("f:status")) == fs("f:spec/f:template/f:x", "f:spec/f:replicas")
    item = fs('f:c/k:{"name":"a"}', 'f:c/k:{"name":"b"}')
    owned_below = fs('f:c/k:{"name":"a"}/f:image')
    assert item.without_ancestors_of(owned_below) == fs('f:c/k:{"name":"b"}')


def test_json_round_trip_and_validation() -> None:
    raw = {"f:data": {".": {}, "f:a": {}}, "f:spec": {"f:c": {'k:{"name":"x"}': {".": {}}}}}
    assert FieldSet.from_json(raw).to_json() == raw
    for bad in ({"data": {}}, {"f:a": []}, {"f:a": {".": {"f:b": {}}}}, {"k:{nope": {}}, []):
        with pytest.raises(ValueError):
            FieldSet.from_json(bad)


def test_changes_between_objects() -> None:
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["metadata"]["labels"]["tier"] = "web"
    new["metadata"]["uid"] = "other"  # server-owned: never anyone's
    del new["spec"]["template"]["spec"]["containers"][0]["ports"]
    new["spec"]["template"]["spec"]["containers"][0]["args"] = ["-q"]
    changed, removed = changed_fields(old, new, DEPLOY)
    main = 'k:{"name":"main"}'
    assert changed == fs(
        "f:spec/f:replicas", "f:metadata/f:labels/f:tier", f"f:spec/f:template/f:spec/f:containers/{main}/f:args"
    )
    port = 'k:{"containerPort":80,"protocol":"TCP"}'
    ports = f"f:spec/f:template/f:spec/f:containers/{main}/f:ports"
    assert removed == fs(ports, f"{ports}/{port}", f"{ports}/{port}/f:containerPort")


def test_creation_owns_added_maps_but_not_top_level_fields() -> None:
    changed, removed = changed_fields(
        {},
        {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}}, "data": {"k": "v"}},
        Structure.of("ConfigMap"),
    )
    assert changed.to_json() == {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}
    assert not removed


def test_atomic_selector_is_one_value() -> None:
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"]["matchLabels"]["x"] = "y"
    assert changed_fields(old, new, DEPLOY)[0] == fs("f:spec/f:selector")


def test_remove_fields_drops_values_and_emptied_parents() -> None:
    obj = deployment()
    main = 'k:{"name":"main"}'
    port = 'k:{"containerPort":80,"protocol":"TCP"}'
    remove_fields(
        obj,
        fs(
            "f:spec/f:replicas",
            "f:metadata/f:labels/f:app",
            f"f:spec/f:template/f:spec/f:containers/{main}/f:ports/{port}",
            "f:spec/f:missing",
        ),
        DEPLOY,
    )
    assert "replicas" not in obj["spec"] and "labels" not in obj["metadata"]
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "main", "image": "nginx", "args": ["-v"]}]
    remove_fields(obj, fs(f"f:spec/f:template/f:spec/f:containers/{main}"), DEPLOY)
    assert obj["spec"]["template"] == {"metadata": {"labels": {"app": "web"}}}  # emptied parents go too


def test_json_puts_self_first_sorts_elements_and_is_a_fresh_copy() -> None:
    new = {
        "metadata": {"labels": {"zeta": "1", "alpha": "2", "é": "3"}, "finalizers": ["b", "a"]},
        "data": {"y": "1", "x": "2"},
    }
    changed, _ = changed_fields({}, new, Structure.of("ConfigMap"))
    out = changed.to_json()
    labels = out["f:metadata"]["f:labels"]
    assert list(labels) == [".", "f:alpha", "f:zeta", "f:é"]  # "." first, then code point order
    assert list(out["f:metadata"]["f:finalizers"]) == [".", 'v:"a"', 'v:"b"']
    assert list(out) == ["f:data", "f:metadata"] and list(out["f:data"]) == ["f:x", "f:y"]
    labels["f:new"] = {}
    assert ("f:metadata", "f:labels", "f:new") not in changed  # the set itself is untouched


def test_creates_of_one_template_get_the_same_fields_as_a_comparison_finds() -> None:
    """A create's fields are remembered by the value's JSON: creating the same spec again, or one
    that differs only in a list key, gets exactly what comparing with an empty object finds, and
    changing a set taken from a remembered create changes nothing remembered."""
    structure = Structure.of("Deployment")
    first = deployment()
    created, _ = changed_fields({}, first, structure)
    again = changed_fields({}, deployment(), structure)[0]
    assert again == created
    renamed = deployment()
    renamed["spec"]["template"]["spec"]["containers"][0]["name"] = "side"
    got = changed_fields({}, renamed, structure)[0]
    assert got == changed_fields({"kind": "Deployment"}, renamed, structure)[0]  # walked, not remembered
    assert 'k:{"name":"side"}' in str(got.to_json()) and 'k:{"name":"main"}' not in str(got.to_json())
    spec = fs("f:spec/f:replicas")
    assert created.difference(spec) != created and changed_fields({}, deployment(), structure)[0] == created


def test_only_small_values_are_remembered() -> None:
    structure = Structure.of("ConfigMap")
    small = {"metadata": {"name": "a"}, "data": {"k": "v"}}
    large = {"metadata": {"name": "b"}, "data": {"k": "x" * 20_000}}
    assert changed_fields({}, large, structure)[0] == fs("f:data/f:k")
    assert changed_fields({}, small, structure)[0] == fs("f:data/f:k")
    assert [path for path, _ in structure.created] == ["data"]  # the small one only
