"""CustomResourceDefinitions' own rules (minikube_py.model.crds): validation with Kubernetes'
messages, defaults, status, the resource types they serve, and serving them at run time."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api import openapi
from minikube_py.api.strategies import strategy_for
from minikube_py.api.strategies.custom import CustomStrategy
from minikube_py.model import crds, kinds
from minikube_py.model.errors import StatusError
from minikube_py.model.kindrules import rules_of

SCHEMA = {
    "openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"replicas": {"type": "integer", "default": 1}}}},
    }
}


def crd(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": SCHEMA,
                    "subresources": {
                        "status": {},
                        "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"},
                    },
                },
                {"name": "v1beta1", "served": True, "storage": False, "schema": SCHEMA},
                {"name": "v1alpha1", "served": False, "storage": False, "schema": SCHEMA},
            ],
        },
    }
    obj["spec"].update(changes)
    crds.defaults(obj)
    obj["status"] = crds.status(obj, None)
    return obj


def problems(obj: dict[str, Any]) -> list[str]:
    return [p.render() for p in rules_of("CustomResourceDefinition").validate(obj)]


def test_a_valid_crd_is_defaulted() -> None:
    obj = crd()
    assert problems(obj) == []
    assert obj["spec"]["names"]["singular"] == "widget" and obj["spec"]["names"]["listKind"] == "WidgetList"
    assert obj["spec"]["conversion"] == {"strategy": "None"}


def test_name_must_be_plural_dot_group_and_group_a_domain() -> None:
    wrong = crd()
    wrong["metadata"]["name"] = "gadgets.example.com"
    assert problems(wrong) == [
        'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'
    ]
    assert 'spec.group: Invalid value: "apps": should be a domain with at least one dot' in problems(crd(group="apps"))
    builtin = crd(group="storage.k8s.io")
    builtin["metadata"]["name"] = "widgets.storage.k8s.io"
    assert problems(builtin) == ['spec.group: Invalid value: "storage.k8s.io": is served by the API server itself']


def test_exactly_one_storage_version_and_a_known_scope() -> None:
    two = crd()
    two["spec"]["versions"][1]["storage"] = True
    assert any("must have exactly one version marked as storage version" in p for p in problems(two))
    assert problems(crd(scope="Galaxy")) == [
        'spec.scope: Unsupported value: "Galaxy": supported values: "Namespaced", "Cluster"'
    ]
    unstructured = crd()
    unstructured["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": {"type": "object", "properties": {"a": {}}}}
    assert problems(unstructured) == ["spec.versions[0].schema.openAPIV3Schema.properties[a].type: Required value"]
    bad_scale = crd()
    bad_scale["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] = ".status.items[0]"
    assert problems(bad_scale) == [
        "spec.versions[0].subresources.scale.specReplicasPath: Invalid value: "
        '".status.items[0]": should be a json path under .spec'
    ]
    assert problems(crd(names={"plural": "widgets", "kind": "widget"})) == []  # any case, as Kubernetes
    bad_kind = crd(names={"plural": "widgets", "kind": "Wid_get"})
    assert any(
        p.startswith(
            'spec.names.kind: Invalid value: "Wid_get": may have mixed case, but should otherwise a DNS-1035 label'
        )
        for p in problems(bad_kind)
    )


def test_update_keeps_group_scope_and_stored_versions() -> None:
    old = crd()
    old["status"] = crds.status(old, None)
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    new["spec"]["versions"] = [new["spec"]["versions"][1] | {"storage": True}]
    found = [p.render() for p in rules_of("CustomResourceDefinition").validate(new, old)]
    assert 'spec.scope: Invalid value: "Cluster": field is immutable' in found
    assert 'status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions' in found


def test_a_status_update_may_not_store_a_version_spec_lacks() -> None:
    """A status patch to storedVersions ["v1", "v9"] was stored, and every later update of the CRD
    then failed on it."""
    old = crd()
    old["status"] = crds.status(old, None)
    new = copy.deepcopy(old)
    new["status"]["storedVersions"] = ["v1", "v9"]
    found = [p.render() for p in rules_of("CustomResourceDefinition").validate(new, old)]
    assert found == ['status.storedVersions[1]: Invalid value: "v9": must appear in spec.versions']


def test_status_accepts_names_establishes_and_keeps_stored_versions() -> None:
    obj = crd()
    status = crds.status(obj, None)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"NamesAccepted": "True", "Established": "True"}
    assert status["acceptedNames"]["kind"] == "Widget" and status["storedVersions"] == ["v1"]
    obj["spec"]["versions"][0]["storage"], obj["spec"]["versions"][1]["storage"] = False, True
    assert crds.status(obj, status)["storedVersions"] == ["v1", "v1beta1"]


def test_served_versions_become_resource_types_with_a_custom_strategy() -> None:
    types = crds.resource_types(crd())
    assert [(rt.group, rt.version, rt.plural, rt.namespaced) for rt in types] == [
        ("example.com", "v1", "widgets", True),
        ("example.com", "v1beta1", "widgets", True),
    ]
    v1 = types[0]
    assert v1.subresources == {"status": "", "scale": "Scale"} and types[1].subresources == {}
    assert v1.short_names == ("wd",) and v1.list_kind == "WidgetList"
    assert v1.key("ns", "w") == types[1].key("ns", "w")  # every version reads and writes the same objects
    strategy = strategy_for(v1)
    assert isinstance(strategy, CustomStrategy)
    assert strategy.scale_view({"spec": {"replicas": 3}, "status": {"replicas": 2}}) == (3, 2, "")


def test_serving_and_withdrawing_at_run_time() -> None:
    types = crds.resource_types(crd())
    assert kinds.by_plural("example.com", "v1", "widgets") is None
    kinds.serve("widgets.example.com", types)
    try:
        assert kinds.by_plural("example.com", "v1", "widgets") is types[0]
        assert kinds.by_kind("example.com/v1beta1", "Widget") is types[1]
        assert ("example.com", "v1beta1") in kinds.group_versions()
        assert kinds.by_plural("", "v1", "pods") is not None
    finally:
        kinds.withdraw("widgets.example.com")
    assert kinds.by_plural("example.com", "v1", "widgets") is None
    assert kinds.by_kind("example.com/v1", "Widget") is None


def test_a_custom_kind_named_like_a_builtin_one_gets_only_its_schema() -> None:
    job = crd(names={"plural": "jobs", "kind": "Job"})
    rt = crds.resource_types(job)[0]
    strategy = strategy_for(rt)
    obj = {"apiVersion": "example.com/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "n"}, "spec": {}}
    strategy.default(obj)
    assert obj["spec"] == {"replicas": 1}
    assert strategy.validate(obj) == []


def test_openapi_v3_documents_the_served_versions_without_strategic_merge() -> None:
    kinds.serve("widgets.example.com", crds.resource_types(crd()))
    try:
        index = openapi.root({})["paths"]
        assert {path for path in index if "example.com" in path} == {"apis/example.com/v1", "apis/example.com/v1beta1"}
        assert index["apis/example.com/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/example.com/v1?hash=")
        doc = openapi.document("example.com", "v1")
        assert doc is not None and openapi.document("example.com", "v1alpha1") is None
        schema = doc["components"]["schemas"]["com.example.v1.Widget"]
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": "example.com", "version": "v1", "kind": "Widget"}
        ]
        assert schema["properties"]["spec"]["properties"]["replicas"]["type"] == "integer"
        patch = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
        assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    finally:
        kinds.withdraw("widgets.example.com")
    assert not [path for path in openapi.root({})["paths"] if "example.com" in path]


def test_custom_objects_lose_unknown_fields_of_metadata_and_of_their_schema() -> None:
    strategy = strategy_for(crds.resource_types(crd())[0])
    obj = {"metadata": {"name": "w", "bogus": 1, "labels": {"a": "b"}}, "spec": {"replicas": 2, "other": 1}}
    assert strategy.drop_unknown(obj) == ["metadata.bogus", "spec.other"]
    assert obj == {"metadata": {"name": "w", "labels": {"a": "b"}}, "spec": {"replicas": 2}}


def test_a_name_another_crd_of_the_group_holds_is_not_accepted_and_not_served() -> None:
    first = crd()
    second = crd(names={"plural": "gadgets", "kind": "Gadget", "shortNames": ["wd"]})
    second["metadata"]["name"] = "gadgets.example.com"
    conflict = crds.name_conflict(second, [first, second])
    assert conflict == ("ShortNamesConflict", '"wd" is already in use')
    second["status"] = crds.status(second, None, conflict)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in second["status"]["conditions"]}
    assert conditions == {"NamesAccepted": ("False", "ShortNamesConflict"), "Established": ("False", "NotAccepted")}
    assert crds.resource_types(second) == ()
    other_group = crd(group="example.org", names={"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]})
    assert crds.name_conflict(other_group, [first]) is None
    assert crds.name_conflict(first, [first]) is None


def test_custom_strategy_writes() -> None:
    definition = crd()
    rt = crds.resource_types(definition)[0]
    strategy = strategy_for(rt)
    new = {"metadata": {"name": "w", "namespace": "n"}, "spec": {"replicas": 2, "x": 1}, "status": {"a": 1}}
    strategy.reset_status(new)
    strategy.prepare_for_create(new)
    assert new == {"metadata": {"name": "w", "namespace": "n", "generation": 1}, "spec": {"replicas": 2}}
    status_only = {**new, "metadata": dict(new["metadata"]), "status": {"phase": "P"}}
    strategy.prepare_for_update(status_only, new)
    assert status_only["metadata"]["generation"] == 1  # status has its own subresource: no new generation
    changed = {**new, "metadata": dict(new["metadata"]), "spec": {"replicas": 3}}
    strategy.prepare_for_update(changed, new)
    assert changed["metadata"]["generation"] == 2
    with pytest.raises(StatusError) as refused:
        strategy.patch("application/strategic-merge-patch+json", new, b"{}")
    assert refused.value.code == 415
    assert strategy.patch("application/merge-patch+json", new, b'{"spec":{"replicas":5}}')["spec"] == {"replicas": 5}
    definition["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    with pytest.raises(StatusError) as terminating:
        strategy_for(crds.resource_types(definition)[0]).prepare_for_create({"metadata": {"name": "late"}})
    assert terminating.value.code == 405
