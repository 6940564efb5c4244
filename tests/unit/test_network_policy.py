"""NetworkPolicy: kube-apiserver's defaults and validation, and what the policies of a cluster allow the
pods of one node (the controller's compilation), as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model.networkpolicy import (
    Allow,
    Firewall,
    PortRange,
    addressable,
    default_network_policy,
    dump_firewalls,
    load_firewalls,
    validate_network_policy,
)
from minikube_py.model.networkpolicy import compile_firewalls as compile_pods

Obj = dict[str, Any]
TCP80 = (PortRange("TCP", 80, 80),)


def policy(spec: Obj, namespace: str = "default", name: str = "p") -> Obj:
    obj = {"metadata": {"name": name, "namespace": namespace}, "spec": spec}
    default_network_policy(obj)
    return obj


def pod(name: str, ip: str, node: str = "n1", namespace: str = "default", ports: Any = (), **labels: str) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": list(ports)}]},
        "status": {"phase": "Running", "podIP": ip},
    }


def namespace(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


NAMESPACES = [namespace("default"), namespace("other", team="blue")]


def compile_firewalls(policies: list[Obj], pods: list[Obj], namespaces: list[Obj], node: str) -> list[Firewall]:
    """The controller's compilation, from pods as the API holds them."""
    return compile_pods(policies, [p for p in map(addressable, pods) if p is not None], namespaces, node)


def messages(spec: Obj) -> list[str]:
    return [f"{e.field}: {e.message}" for e in validate_network_policy({"spec": spec})]


# ------------------------------------------------------------------------------ defaults and validation


def test_defaults_fill_the_selector_protocols_and_policy_types() -> None:
    assert policy({})["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    spec = policy({"egress": [{"ports": [{"port": 53}]}]})["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert policy({"policyTypes": ["Egress"]})["spec"]["policyTypes"] == ["Egress"]


def test_a_well_formed_policy_is_valid() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                    {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {}},
                ],
                "ports": [{"protocol": "TCP", "port": 6379}, {"port": "http"}, {"port": 32000, "endPort": 32768}],
            }
        ],
        "policyTypes": ["Ingress", "Egress"],
    }
    assert messages(spec) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
            'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        ),
        (
            {"ingress": [{"ports": [{"port": 70000}]}]},
            "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ),
        (
            {"egress": [{"ports": [{"port": 90, "endPort": 80}]}]},
            "spec.egress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`",
        ),
        (
            {"egress": [{"ports": [{"port": "http", "endPort": 80}]}]},
            "spec.egress[0].ports[0].endPort: Forbidden: may not be specified when `port` is non-numeric",
        ),
        (
            {"ingress": [{"ports": [{"endPort": 80}]}]},
            "spec.ingress[0].ports[0].port: Required value: when endPort is specified",
        ),
        ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: Required value: must specify a peer"),
        (
            {"egress": [{"to": [{"podSelector": {}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
            "spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer",
        ),
        (
            {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0"}}]}]},
            'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0": not a valid CIDR',
        ),
        (
            {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
            'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`',
        ),
        (
            {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}]},
            'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a strict subset of `cidr`',
        ),
        (
            {"policyTypes": ["Both"]},
            'spec.policyTypes[0]: Unsupported value: "Both": supported values: "Egress", "Ingress"',
        ),
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            "spec.podSelector: Invalid value: ",
        ),
    ],
)
def test_invalid_policies_name_the_field(spec: Obj, expected: str) -> None:
    found = messages(spec)
    assert any(m.startswith(expected) for m in found), found


# ------------------------------------------------------------------------------ compiling


def test_pods_no_policy_selects_get_no_firewall() -> None:
    pods = [pod("web", "10.1.0.2", app="web"), pod("db", "10.1.0.3", app="db")]
    deny_db = policy({"podSelector": {"matchLabels": {"app": "db"}}})
    assert compile_firewalls([deny_db], pods, NAMESPACES, "n1") == [Firewall("default/db", "10.1.0.3", (), None)]


def test_only_the_nodes_own_pods_are_compiled_and_peers_come_from_every_node() -> None:
    pods = [pod("db", "10.1.0.3", app="db"), pod("web", "10.2.0.2", node="n2", app="web")]
    from_web = policy(
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
        }
    )
    assert compile_firewalls([from_web], pods, NAMESPACES, "n2") == []
    (fw,) = compile_firewalls([from_web], pods, NAMESPACES, "n1")
    assert fw.ingress == (Allow(("10.2.0.2/32",), None),)


def test_policies_are_additive_and_only_of_the_pods_namespace() -> None:
    pods = [pod("db", "10.1.0.3", app="db"), pod("a", "10.1.0.4", app="a"), pod("b", "10.1.0.5", app="b")]
    peers = [
        policy({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": name}}}]}]}, name=name)
        for name in ("a", "b")
    ]
    elsewhere = policy({"podSelector": {}}, namespace="other")
    firewalls = compile_firewalls([*peers, elsewhere], pods, NAMESPACES, "n1")
    db = next(f for f in firewalls if f.pod == "default/db")
    assert db.ingress == (Allow(("10.1.0.4/32",), None), Allow(("10.1.0.5/32",), None))


def test_namespace_selectors_alone_and_with_a_pod_selector() -> None:
    pods = [
        pod("db", "10.1.0.3", app="db"),
        pod("blue-web", "10.1.0.7", namespace="other", app="web"),
        pod("blue-job", "10.1.0.8", namespace="other", app="job"),
    ]
    blue = {"namespaceSelector": {"matchLabels": {"team": "blue"}}}
    whole = policy({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [blue]}]})
    both = policy(
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{**blue, "podSelector": {"matchLabels": {"app": "web"}}}]}],
        }
    )
    assert compile_firewalls([whole], pods, NAMESPACES, "n1")[0].ingress == (
        Allow(("10.1.0.7/32", "10.1.0.8/32"), None),
    )
    assert compile_firewalls([both], pods, NAMESPACES, "n1")[0].ingress == (Allow(("10.1.0.7/32",), None),)


def test_ip_blocks_lose_their_exceptions() -> None:
    spec = {
        "podSelector": {},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.1.2.0/24"]}}]}],
    }
    (fw,) = compile_firewalls([policy(spec)], [pod("db", "10.1.0.3")], NAMESPACES, "n1")
    assert fw.ingress is not None
    (allow,) = fw.ingress
    assert allow.cidrs is not None and "10.1.0.0/16" not in allow.cidrs and len(allow.cidrs) == 8
    assert "10.0.0.0/16" in allow.cidrs and "10.128.0.0/9" in allow.cidrs


def test_ports_numbers_ranges_protocols_and_named_ports_of_the_destination() -> None:
    web = pod("web", "10.1.0.2", ports=[{"name": "http", "containerPort": 8080}], app="web")
    spec = {
        "podSelector": {},
        "ingress": [
            {"ports": [{"port": "http"}, {"port": 9000, "endPort": 9010}, {"protocol": "UDP"}, {"port": "nope"}]}
        ],
    }
    (fw,) = compile_firewalls([policy(spec)], [web], NAMESPACES, "n1")
    assert fw.ingress == (Allow(None, (PortRange("TCP", 8080, 8080), PortRange("TCP", 9000, 9010), PortRange("UDP"))),)


def test_a_rule_whose_only_named_port_is_unknown_allows_nothing() -> None:
    spec = {"podSelector": {}, "ingress": [{"ports": [{"port": "nope"}]}]}
    assert compile_firewalls([policy(spec)], [pod("web", "10.1.0.2")], NAMESPACES, "n1")[0].ingress == ()


def test_egress_named_ports_resolve_on_each_peer() -> None:
    client = pod("client", "10.1.0.2", app="client")
    dns = pod(
        "dns", "10.2.0.9", node="n2", ports=[{"name": "dns", "containerPort": 5353, "protocol": "UDP"}], app="dns"
    )
    other = pod("other", "10.2.0.10", node="n2", app="other")
    spec = {
        "podSelector": {"matchLabels": {"app": "client"}},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}, {"port": 80}]}],
    }
    (fw,) = compile_firewalls([policy(spec)], [client, dns, other], NAMESPACES, "n1")
    assert fw.ingress is None
    assert fw.egress == (Allow(None, TCP80), Allow(("10.2.0.9/32",), (PortRange("UDP", 5353, 5353),)))


def test_pods_without_an_address_of_their_own_are_neither_isolated_nor_peers() -> None:
    host = pod("host", "10.0.0.1", app="web")
    host["spec"]["hostNetwork"] = True
    done = pod("done", "10.1.0.9", app="web")
    done["status"]["phase"] = "Succeeded"
    pending = pod("pending", "", app="web")
    spec = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}
    firewalls = compile_firewalls([policy(spec)], [host, done, pending, pod("db", "10.1.0.3")], NAMESPACES, "n1")
    assert firewalls == [Firewall("default/db", "10.1.0.3", (), None)]


def test_the_published_form_round_trips_and_refuses_garbage() -> None:
    firewalls = [Firewall("default/db", "10.1.0.3", (Allow(("10.2.0.2/32",), TCP80), Allow(None, None)), ())]
    assert load_firewalls(dump_firewalls(firewalls)) == firewalls
    assert dump_firewalls(firewalls) == dump_firewalls(load_firewalls(dump_firewalls(firewalls)))
    for garbage in ("{", "[1]", '[{"pod": "x"}]'):
        with pytest.raises(ValueError, match="not a list of firewalls"):
            load_firewalls(garbage)


def test_peers_shared_by_many_pods_are_published_once() -> None:
    """A namespace of many peers admitted to many pods would otherwise grow the node's ConfigMap by the product."""
    peers = [pod(f"client{i}", f"10.2.{i // 250}.{i % 250 + 1}", node="n2", app="client") for i in range(500)]
    servers = [pod(f"server{i}", f"10.1.0.{i + 2}", app="server") for i in range(50)]
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
    }
    firewalls = compile_firewalls([policy(spec)], peers + servers, NAMESPACES, "n1")
    text = dump_firewalls(firewalls)
    assert len(firewalls) == 50 and text.count("10.2.0.1/32") == 1 and len(text) < 20_000
    assert load_firewalls(text) == firewalls
