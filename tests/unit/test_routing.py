import pytest

from minikube_py.api.routing import NoRoute, parse


def test_namespaced_collection_and_object() -> None:
    t = parse("", "v1", ["namespaces", "default", "pods"])
    assert (t.rt.plural, t.namespace, t.name, t.subresource) == ("pods", "default", None, None)
    t = parse("", "v1", ["namespaces", "default", "pods", "web", "status"])
    assert (t.rt.plural, t.namespace, t.name, t.subresource) == ("pods", "default", "web", "status")


def test_all_namespaces_listing() -> None:
    t = parse("apps", "v1", ["deployments"])
    assert (t.rt.kind, t.namespace, t.name) == ("Deployment", None, None)


def test_namespace_object_and_its_subresources_are_not_collections() -> None:
    t = parse("", "v1", ["namespaces", "kube-system"])
    assert (t.rt.kind, t.name, t.subresource) == ("Namespace", "kube-system", None)
    t = parse("", "v1", ["namespaces", "x", "status"])
    assert (t.rt.kind, t.name, t.subresource) == ("Namespace", "x", "status")
    t = parse("", "v1", ["namespaces", "x", "finalize"])
    assert (t.rt.kind, t.name, t.subresource) == ("Namespace", "x", "finalize")


def test_cluster_scoped_object() -> None:
    t = parse("", "v1", ["nodes", "n1", "status"])
    assert (t.rt.kind, t.namespace, t.name, t.subresource) == ("Node", None, "n1", "status")


@pytest.mark.parametrize(
    "segments",
    [
        ["widgets"],
        ["namespaces", "default", "widgets"],
        ["pods", "x", "nosuchsub"],
        ["namespaces", "default", "pods", "a", "b", "c"],
        ["watch", "pods"],
    ],
)
def test_unknown_paths(segments: list[str]) -> None:
    with pytest.raises(NoRoute):
        parse("", "v1", segments)


def test_group_must_match() -> None:
    with pytest.raises(NoRoute):
        parse("apps", "v1", ["pods"])
