"""NetworkPolicies through the real API and the real kubectl, and the network policy controller that
resolves them per node: an in-process server with two fake nodes whose pods the scheduler places.

What the controller publishes in each node's ConfigMap is what that node's proxy enforces (the rules
themselves are checked with real traffic in tests/e2e/test_network_policies.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster
from support import apply_list

from minikube_py.model.networkpolicy import Allow, Firewall, PortRange, load_firewalls
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NODES = ["np1", "np2"]
NS = "netpol"
CONFIG_MAPS = "/api/v1/namespaces/kube-system/configmaps"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("netpol") / "data", NODES) as (running, _):
        running.kubectl("create", "namespace", NS)
        running.kubectl("label", "namespace", NS, "team=red")
        yield running


def apply(server: ServerEndpoint, *manifests: Obj) -> None:
    apply_list(server, NS, *manifests)


def pod(name: str, node: str, **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [
                {"name": "c", "image": "fake.pykube.io/app:1", "ports": [{"name": "http", "containerPort": 8080}]}
            ],
        },
    }


def policy(name: str, spec: Obj) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}, "spec": spec}


def pod_ip(server: ServerEndpoint, name: str) -> str | None:
    status, body = server.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}")
    return (body.get("status") or {}).get("podIP") if status == 200 else None


def published(server: ServerEndpoint, node: str) -> list[Firewall] | None:
    status, body = server.request("GET", f"{CONFIG_MAPS}/pykube-network-policy.{node}")
    if status == 404:
        return None
    assert status == 200, body
    return load_firewalls(body["data"]["firewalls"])


def test_policies_are_served_printed_and_refused_as_kubernetes_does(server: ServerEndpoint) -> None:
    apply(server, policy("deny-all", {"podSelector": {}}))
    table = server.kubectl("-n", NS, "get", "netpol").stdout.split("\n")
    assert table[0].split() == ["NAME", "POD-SELECTOR", "AGE"] and table[1].split()[:2] == ["deny-all", "<none>"]
    stored = json.loads(server.kubectl("-n", NS, "get", "networkpolicy", "deny-all", "-o", "json").stdout)
    assert stored["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]} and stored["metadata"]["generation"] == 1
    described = server.kubectl("-n", NS, "describe", "networkpolicy", "deny-all").stdout
    assert "PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)" in described
    bad = policy("bad", {"podSelector": {}, "ingress": [{"from": [{}], "ports": [{"port": 0}]}]})
    refused = server.kubectl("-n", NS, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode == 1
    assert 'The NetworkPolicy "bad" is invalid' in refused.stderr
    assert "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive" in refused.stderr
    assert "spec.ingress[0].from[0]: Required value: must specify a peer" in refused.stderr
    server.kubectl("-n", NS, "delete", "netpol", "deny-all")


def test_the_controller_publishes_each_nodes_firewalls_and_follows_changes(server: ServerEndpoint) -> None:
    apply(server, pod("db", NODES[0], app="db"), pod("web", NODES[1], app="web"), pod("batch", NODES[1], app="batch"))
    db, web = (eventually(lambda n=n: pod_ip(server, n), f"{n}'s address") for n in ("db", "web"))
    db_only_from_web = policy(
        "db-from-web",
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http"}]}],
        },
    )
    apply(server, db_only_from_web)
    expected = [Firewall(f"{NS}/db", db, (Allow((f"{web}/32",), (PortRange("TCP", 8080, 8080),)),), None)]
    eventually(lambda: published(server, NODES[0]) == expected, "db's node publishes db's firewall")
    assert published(server, NODES[1]) is None  # no pod of its is isolated

    # a new peer joins the allowed set; a relabelled one leaves it
    server.kubectl("-n", NS, "label", "pod", "batch", "app=web", "--overwrite")
    batch = pod_ip(server, "batch")
    eventually(
        lambda: (
            (published(server, NODES[0]) or [Firewall("", "", None, None)])[0].ingress
            == (Allow(tuple(sorted([f"{web}/32", f"{batch}/32"])), (PortRange("TCP", 8080, 8080),)),)
        ),
        "the relabelled pod allowed",
    )
    # a policy in another namespace selects none of these pods; deleting ours lifts the isolation
    server.kubectl("-n", NS, "delete", "netpol", "db-from-web")
    eventually(lambda: published(server, NODES[0]) is None, "db's node stops publishing")


def test_a_namespace_selector_follows_namespace_labels_and_a_tampered_configmap_is_restored(
    server: ServerEndpoint,
) -> None:
    apply(server, pod("cache", NODES[1], app="cache"))
    cache = eventually(lambda: pod_ip(server, "cache"), "cache's address")
    apply(
        server,
        policy(
            "cache-from-blue",
            {
                "podSelector": {"matchLabels": {"app": "cache"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}],
            },
        ),
    )
    isolated = Firewall(f"{NS}/cache", cache, (), ())
    eventually(lambda: published(server, NODES[1]) == [isolated], "cache isolated, no namespace is blue")
    server.kubectl("label", "namespace", NS, "team=blue", "--overwrite")
    peers = eventually(lambda: (published(server, NODES[1]) or [isolated])[0].ingress or None, "peers by namespace")
    assert peers is not None and all(cidr.endswith("/32") for cidr in peers[0].cidrs or ())
    assert f"{cache}/32" in (peers[0].cidrs or ())
    server.request("DELETE", f"{CONFIG_MAPS}/pykube-network-policy.{NODES[1]}")
    eventually(lambda: published(server, NODES[1]) is not None, "the ConfigMap written again")
    server.kubectl("label", "namespace", NS, "team=red", "--overwrite")
    server.kubectl("-n", NS, "delete", "netpol", "cache-from-blue")
    eventually(lambda: published(server, NODES[1]) is None, "no isolated pod left")
