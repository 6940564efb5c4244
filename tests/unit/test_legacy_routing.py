"""How /api/v1beta1 paths and query parameters address the 2014 collections."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from minikube_py.api.legacy import parse_path, resource_list
from minikube_py.model import errors


def test_collection_and_object_with_the_namespace_as_a_query_parameter() -> None:
    t = parse_path(["pods"], MultiDict())
    assert (t.resource.kind, t.namespace, t.name, t.watch) == ("Pod", None, None, False)
    t = parse_path(["replicationControllers", "tomcat"], MultiDict(namespace="team-a"))
    assert (t.resource.rt.plural, t.namespace, t.name) == ("replicationcontrollers", "team-a", "tomcat")


def test_namespace_in_the_path_wins_over_the_query() -> None:
    t = parse_path(["namespaces", "team-b", "services", "web"], MultiDict(namespace="team-a"))
    assert (t.resource.kind, t.namespace, t.name) == ("Service", "team-b", "web")


def test_watch_paths_and_the_watch_parameter() -> None:
    t = parse_path(["watch", "pods"], MultiDict())
    assert (t.resource.kind, t.name, t.watch) == ("Pod", None, True)
    t = parse_path(["watch", "namespaces", "x", "pods", "web"], MultiDict())
    assert (t.namespace, t.name, t.watch) == ("x", "web", True)
    assert parse_path(["services"], MultiDict(watch="true")).watch


def test_minions_are_cluster_scoped() -> None:
    t = parse_path(["minions", "node-1"], MultiDict(namespace="default"))
    assert (t.resource.kind, t.resource.rt.kind, t.namespace, t.name) == ("Minion", "Node", None, "node-1")


@pytest.mark.parametrize(
    "segments",
    [
        ["nodes"],
        ["replicationcontrollers"],
        ["pods", "a", "status"],
        ["namespaces", "x", "deployments"],
        ["watch"],
        ["namespaces"],
    ],
)
def test_what_v1beta1_did_not_serve_is_not_found(segments: list[str]) -> None:
    with pytest.raises(errors.StatusError) as caught:
        parse_path(segments, MultiDict())
    assert caught.value.code == 404


def test_resource_list_names_the_four_collections() -> None:
    listing = resource_list()
    assert listing["groupVersion"] == "v1beta1"
    assert [(r["name"], r["kind"], r["namespaced"]) for r in listing["resources"]] == [
        ("pods", "Pod", True),
        ("replicationControllers", "ReplicationController", True),
        ("services", "Service", True),
        ("minions", "Minion", False),
    ]
