"""The Node authorizer's decisions from its graph (api/nodeauth.py), the references a pod gives its
node (model/nodegraph.py), and NodeRestriction admission (api/noderestriction.py)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api import noderestriction
from minikube_py.api.nodeauth import NodeAuthorizer
from minikube_py.model.errors import StatusError
from minikube_py.model.kinds import by_plural
from minikube_py.model.nodegraph import pod_references
from minikube_py.model.requestinfo import request_info
from minikube_py.store.base import Event

Obj = dict[str, Any]
NODES, LEASES = by_plural("", "v1", "nodes"), by_plural("coordination.k8s.io", "v1", "leases")


def pod(name: str, node: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "team"}, "spec": {"nodeName": node, **spec}}


def graph(*objects: Obj) -> NodeAuthorizer:
    authorizer = NodeAuthorizer(None)  # type: ignore[arg-type]  # fed by hand
    for i, obj in enumerate(objects, 1):
        md = obj["metadata"]
        key = (
            f"/core/pods/{md['namespace']}/{md['name']}"
            if "namespace" in md
            else f"/core/persistentvolumes/{md['name']}"
        )
        authorizer.observe(Event("ADDED", key, i, obj, None))
    return authorizer


def allowed(authorizer: NodeAuthorizer, method: str, path: str, **query: str) -> bool:
    return authorizer.allows("n1", request_info(method, path, query), query)


def test_references_come_from_volumes_env_pull_secrets_and_the_service_account() -> None:
    uses = pod(
        "web",
        "n1",
        serviceAccountName="robot",
        imagePullSecrets=[{"name": "pull"}],
        volumes=[
            {"name": "a", "secret": {"secretName": "vol"}},
            {"name": "b", "configMap": {"name": "cfg"}},
            {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
            {
                "name": "d",
                "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}, {"secret": {"name": "proj"}}]},
            },
            {"name": "e", "csi": {"driver": "x", "nodePublishSecretRef": {"name": "csi"}}},
        ],
        initContainers=[{"name": "i", "envFrom": [{"secretRef": {"name": "init-env"}}]}],
        containers=[
            {
                "name": "c",
                "env": [
                    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm"}}},
                    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-s"}}},
                ],
            }
        ],
    )
    assert pod_references(uses) == {
        ("serviceaccounts", "robot"),
        ("secrets", "pull"),
        ("secrets", "vol"),
        ("configmaps", "cfg"),
        ("persistentvolumeclaims", "data"),
        ("configmaps", "kube-root-ca.crt"),
        ("secrets", "proj"),
        ("secrets", "csi"),
        ("secrets", "init-env"),
        ("configmaps", "env-cm"),
        ("secrets", "env-s"),
    }
    assert pod_references(pod("bare", "n1")) == {("serviceaccounts", "default")}


def test_a_node_reaches_its_own_pods_and_what_they_use_only() -> None:
    authorizer = graph(
        pod(
            "mine",
            "n1",
            volumes=[
                {"name": "s", "secret": {"secretName": "used"}},
                {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
            ],
        ),
        pod("theirs", "n2", volumes=[{"name": "s", "secret": {"secretName": "other"}}]),
    )
    assert allowed(authorizer, "GET", "/api/v1/namespaces/team/pods/mine")
    assert allowed(authorizer, "PATCH", "/api/v1/namespaces/team/pods/mine/status")
    assert allowed(authorizer, "DELETE", "/api/v1/namespaces/team/pods/mine")
    assert not allowed(authorizer, "PATCH", "/api/v1/namespaces/team/pods/mine")  # never the spec or labels
    assert not allowed(authorizer, "POST", "/api/v1/namespaces/team/pods")
    for method, suffix in (("GET", ""), ("PATCH", "/status"), ("DELETE", "")):
        assert not allowed(authorizer, method, f"/api/v1/namespaces/team/pods/theirs{suffix}")
    assert allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets/used")
    assert allowed(
        authorizer, "GET", "/api/v1/namespaces/team/secrets", fieldSelector="metadata.name=used", watch="true"
    )
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets/other")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/elsewhere/secrets/used")
    assert allowed(authorizer, "GET", "/api/v1/namespaces/team/persistentvolumeclaims/data")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/persistentvolumeclaims/theirs")
    assert not allowed(authorizer, "GET", "/api/v1/persistentvolumeclaims")
    assert allowed(authorizer, "POST", "/api/v1/namespaces/team/serviceaccounts/default/token")
    assert not allowed(authorizer, "POST", "/api/v1/namespaces/kube-system/serviceaccounts/default/token")
    # listing pods: only its own, by the field selector kubelet uses
    assert allowed(authorizer, "GET", "/api/v1/pods", fieldSelector="spec.nodeName=n1")
    assert not allowed(authorizer, "GET", "/api/v1/pods", fieldSelector="spec.nodeName=n2")
    assert not allowed(authorizer, "GET", "/api/v1/pods", fieldSelector="spec.nodeName!=n1")


def test_the_graph_follows_pods_as_they_are_deleted_and_rebound() -> None:
    used = pod("mine", "n1", volumes=[{"name": "s", "secret": {"secretName": "used"}}])
    also = pod("twin", "n1", volumes=[{"name": "s", "secret": {"secretName": "used"}}])
    authorizer = graph(used, also)
    authorizer.observe(Event("DELETED", "/core/pods/team/mine", 3, used, None))
    assert allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets/used")  # the twin still uses it
    authorizer.observe(Event("DELETED", "/core/pods/team/twin", 4, also, None))
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets/used")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/pods/mine")


def test_collections_other_nodes_and_their_leases_are_refused() -> None:
    authorizer = graph()
    assert allowed(authorizer, "GET", "/api/v1/nodes/n2") and allowed(authorizer, "GET", "/api/v1/nodes")
    assert allowed(authorizer, "PATCH", "/api/v1/nodes/n1/status")
    assert allowed(authorizer, "POST", "/api/v1/nodes")  # the name is NodeRestriction's to check
    assert not allowed(authorizer, "PATCH", "/api/v1/nodes/n2/status")
    assert not allowed(authorizer, "DELETE", "/api/v1/nodes/n2")
    lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    assert allowed(authorizer, "PUT", f"{lease}/n1") and not allowed(authorizer, "PUT", f"{lease}/n2")
    for collection in ("/api/v1/nodes", lease, "/api/v1/namespaces/team/pods", "/api/v1/namespaces/team/events"):
        assert not allowed(authorizer, "DELETE", collection)
    assert allowed(authorizer, "POST", "/api/v1/namespaces/team/events")
    assert allowed(authorizer, "GET", "/apis/discovery.k8s.io/v1/endpointslices", watch="true")
    assert not allowed(authorizer, "DELETE", "/api/v1/namespaces/team/services/web")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/configmaps/settings")
    assert allowed(authorizer, "GET", "/api/v1/namespaces/kube-system/configmaps/pykube-cluster")
    assert not allowed(authorizer, "GET", "/api/v1/secrets", fieldSelector="type=kubernetes.io/tls")


def test_every_node_reads_the_tls_secrets_ingresses_name() -> None:
    """Every node runs an ingress controller: the certificates of Ingresses, by name, and no others."""
    ingress = {
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {"tls": [{"hosts": ["a.example"], "secretName": "web-tls"}]},
    }
    authorizer = graph()
    authorizer.observe(Event("ADDED", "/networking.k8s.io/ingresses/team/web", 1, ingress, None))
    assert allowed(
        authorizer, "GET", "/api/v1/namespaces/team/secrets", fieldSelector="metadata.name=web-tls", watch="true"
    )
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/other/secrets/web-tls")
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets")
    authorizer.observe(Event("DELETED", "/networking.k8s.io/ingresses/team/web", 2, ingress, None))
    assert not allowed(authorizer, "GET", "/api/v1/namespaces/team/secrets/web-tls")


def test_a_node_deletes_only_the_local_path_volumes_it_holds() -> None:
    def volume(name: str, node: str) -> Obj:
        return {
            "metadata": {
                "name": name,
                "annotations": {
                    "pv.kubernetes.io/provisioned-by": "pykube.io/local-path",
                    "volume.kubernetes.io/selected-node": node,
                },
            }
        }

    authorizer = graph(volume("pvc-1", "n1"), volume("pvc-2", "n2"))
    assert allowed(authorizer, "DELETE", "/api/v1/persistentvolumes/pvc-1")
    assert not allowed(authorizer, "DELETE", "/api/v1/persistentvolumes/pvc-2")
    for method in ("PUT", "PATCH", "POST"):
        assert not allowed(authorizer, method, "/api/v1/persistentvolumes/pvc-1")


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints} if taints else {}}


@pytest.fixture
def as_n1() -> Any:
    token = noderestriction.ACTING_NODE.set("n1")
    yield
    noderestriction.ACTING_NODE.reset(token)


@pytest.mark.usefixtures("as_n1")
def test_node_restriction_keeps_a_node_to_its_own_node_and_lease() -> None:
    assert NODES is not None and LEASES is not None
    noderestriction.admit(NODES, node("n1", {"zone": "a"}), None)
    noderestriction.admit(NODES, node("n1", {"zone": "b"}), node("n1", {"zone": "a"}))
    refusals = [
        (NODES, node("n2"), None, "node 'n1' is not allowed to modify node 'n2'"),
        (
            NODES,
            node("n1", {"node-restriction.kubernetes.io/trusted": "yes"}),
            None,
            "not allowed to modify labels: node-restriction.kubernetes.io/trusted",
        ),
        (
            NODES,
            node("n1"),
            node("n1", {"node-restriction.kubernetes.io/trusted": "yes"}),
            "not allowed to modify labels",
        ),
        (NODES, node("n1"), node("n1", taints=[{"key": "k", "effect": "NoSchedule"}]), "not allowed to modify taints"),
        (LEASES, {"metadata": {"name": "n2", "namespace": "kube-node-lease"}}, None, "may only create its own Lease"),
    ]
    for rt, new, old, message in refusals:
        with pytest.raises(StatusError) as refused:
            noderestriction.admit(rt, new, old)
        assert refused.value.code == 403 and message in refused.value.message


def test_node_restriction_leaves_other_users_alone() -> None:
    assert NODES is not None
    noderestriction.admit(NODES, node("n2", {"node-restriction.kubernetes.io/trusted": "yes"}), None)
