"""The proxy's pure decisions: which ports to forward where, and the iptables rules that do it."""

from __future__ import annotations

from typing import Any

from minikube_py.netproxy.balancer import ServicePortName
from minikube_py.netproxy.rules import (
    FILTER,
    NAT,
    NODEPORTS,
    POSTROUTING,
    SERVICES,
    Redirect,
    chain_name,
    desired_rules,
)
from minikube_py.netproxy.services import Endpoint, ServicePort, ServiceTable, service_ports

Obj = dict[str, Any]
CIDR = "10.244.0.0/16"


def service(name: str = "web", **spec: Any) -> Obj:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], **spec},
    }


def slice_(
    service_name: str = "web", *endpoints: tuple[str, str, bool], name: str = "web-abc", port: int = 8080
) -> Obj:
    return {
        "metadata": {"namespace": "default", "name": name, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}} for ip, node, ready in endpoints
        ],
    }


def port(*endpoints: Endpoint, **kw: Any) -> ServicePort:
    values: dict[str, Any] = {
        "name": ServicePortName("default", "web", "http", "TCP"),
        "cluster_ip": "10.96.0.20",
        "port": 80,
        "node_port": 0,
        "external_ips": (),
        "external_local": False,
        "affinity_seconds": None,
        "endpoints": tuple(endpoints),
    }
    values.update(kw)
    return ServicePort(**values)


def rules_of(rs: Any, table: str, chain: str) -> list[str]:
    return [" ".join(r) for r in rs.chains.get((table, chain), [])]


def test_only_ready_endpoints_of_matching_ports_are_used() -> None:
    ports = service_ports(service(), [slice_("web", ("10.244.1.5", "b", True), ("10.244.0.7", "a", False))])
    assert ports == [port(Endpoint("10.244.1.5", 8080, "b"))]


def test_headless_and_external_name_services_are_not_proxied() -> None:
    assert service_ports(service(clusterIP="None"), []) == []
    assert service_ports(service(type="ExternalName", externalName="example.org"), []) == []


def test_node_port_external_and_load_balancer_ips_and_affinity_are_carried() -> None:
    svc = service(
        type="LoadBalancer",
        externalIPs=["192.0.2.9"],
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        sessionAffinity="ClientIP",
        ports=[{"name": "http", "port": 80, "nodePort": 30062, "protocol": "TCP"}],
    )
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "10.99.0.1"}, {"ip": "192.0.2.9"}]}}
    (sp,) = service_ports(svc, [])
    assert (sp.node_port, sp.external_ips, sp.external_local, sp.internal_local, sp.affinity_seconds) == (
        30062,
        ("192.0.2.9", "10.99.0.1"),
        True,
        True,
        10800,
    )


def test_table_recomputes_one_service_per_change_and_counts_real_changes() -> None:
    table = ServiceTable()
    table.on_service(None, service())
    assert [p.endpoints for p in table.ports()] == [()]
    before = table.version
    table.on_slice(None, slice_("web", ("10.244.1.5", "b", True)))
    assert table.version == before + 1
    table.on_slice(None, slice_("other", ("10.244.1.6", "b", True), name="other-x"))
    assert table.version == before + 1  # a slice of a service that does not exist changes nothing
    table.on_slice(slice_("web"), None)
    table.on_service(service(), None)
    assert table.ports() == []


def test_endpoints_of_a_port_by_number_or_name_headless_too_and_current() -> None:
    table = ServiceTable()
    table.on_service(None, service(clusterIP="None"))
    table.on_slice(None, slice_("web", ("10.244.1.5", "b", True), ("10.244.1.6", "b", False)))
    ready = (Endpoint("10.244.1.5", 8080, "b"),)
    assert table.ports() == []  # nothing for the kernel proxy: headless
    assert table.endpoints_of("default", "web", 80) == table.endpoints_of("default", "web", "http") == ready
    assert table.endpoints_of("default", "web", 81) == () and table.endpoints_of("default", "nope", 80) == ()
    table.on_slice(None, slice_("web", ("10.244.2.7", "c", True), name="web-def"))
    assert len(table.endpoints_of("default", "web", 80)) == 2  # the cache follows the change
    table.on_service(None, service(type="ExternalName", externalName="example.com"))
    assert table.endpoints_of("default", "web", 80) == ()


def test_kernel_rules_balance_with_decreasing_probabilities() -> None:
    eps = [Endpoint(f"10.244.{i}.5", 8080, f"n{i}") for i in range(3)]
    rs = desired_rules([port(*eps)], node="n0", cluster_cidr=CIDR)
    svc = chain_name("SVC", ServicePortName("default", "web", "http", "TCP"))
    services = rules_of(rs, NAT, SERVICES)
    assert any("-d 10.96.0.20/32" in r and f"--dport 80 -j {svc}" in r for r in services)
    assert services[-1].endswith(
        f"-m addrtype --dst-type LOCAL -m comment --comment pykube service nodeports -j {NODEPORTS}"
    )
    chain = rules_of(rs, NAT, svc)
    assert chain[0].startswith(f"! -s {CIDR} -d 10.96.0.20/32")  # outside traffic is masqueraded
    assert ["0.33333333333" in chain[1], "0.50000000000" in chain[2], "statistic" not in chain[3]] == [True] * 3
    sep = chain_name("SEP", ServicePortName("default", "web", "http", "TCP"), "10.244.1.5", 8080)
    assert rules_of(rs, NAT, sep)[-1].endswith("-j DNAT --to-destination 10.244.1.5:8080")
    assert rules_of(rs, NAT, sep)[0].startswith("-m comment --comment default/web:http -s 10.244.1.5/32")  # hairpin


def test_pod_egress_is_masqueraded_only_outside_the_cluster_cidr() -> None:
    post = rules_of(desired_rules([], node="a", cluster_cidr=CIDR), NAT, POSTROUTING)
    assert post[0].startswith(f"-s {CIDR} ! -d {CIDR}") and post[0].endswith("-j MASQUERADE --random-fully")


def test_no_endpoints_rejects_instead_of_hanging() -> None:
    rs = desired_rules([port(node_port=30062)], node="a", cluster_cidr=CIDR)
    assert any("-d 10.96.0.20/32" in r and r.endswith("-j REJECT") for r in rules_of(rs, FILTER, SERVICES))
    assert any("--dport 30062 -j REJECT" in r for r in rules_of(rs, FILTER, "PYKUBE-EXTERNAL"))
    assert not any("10.96.0.20" in r for r in rules_of(rs, NAT, SERVICES))


def test_node_port_and_external_ips_masquerade_then_balance() -> None:
    rs = desired_rules(
        [port(Endpoint("10.244.1.5", 8080, "b"), node_port=30062, external_ips=("10.99.0.1",))],
        node="a",
        cluster_cidr=CIDR,
    )
    name = ServicePortName("default", "web", "http", "TCP")
    ext = chain_name("EXT", name)
    assert any("--dport 30062" in r and r.endswith(f"-j {ext}") for r in rules_of(rs, NAT, NODEPORTS))
    assert any("-d 10.99.0.1/32" in r and r.endswith(f"-j {ext}") for r in rules_of(rs, NAT, SERVICES))
    assert [r.split()[-1] for r in rules_of(rs, NAT, ext)] == ["PYKUBE-MARK-MASQ", chain_name("SVC", name)]


def test_local_traffic_policy_keeps_outside_clients_on_local_endpoints() -> None:
    name = ServicePortName("default", "web", "http", "TCP")
    eps = (Endpoint("10.244.0.5", 8080, "a"), Endpoint("10.244.1.5", 8080, "b"))
    rs = desired_rules([port(*eps, node_port=30062, external_local=True)], node="a", cluster_cidr=CIDR)
    assert rules_of(rs, NAT, chain_name("EXT", name))[-1].endswith(f"-j {chain_name('SVL', name)}")
    assert [r.split()[-1] for r in rules_of(rs, NAT, chain_name("SVL", name))] == [
        chain_name("SEP", name, "10.244.0.5", 8080)
    ]
    # a node without local endpoints drops outside traffic for the port rather than sending it elsewhere
    other = desired_rules([port(*eps[1:], node_port=30062, external_local=True)], node="a", cluster_cidr=CIDR)
    assert any("--dport 30062 -j DROP" in r for r in rules_of(other, FILTER, "PYKUBE-EXTERNAL"))


def test_internal_local_traffic_policy_keeps_cluster_ip_traffic_on_this_node() -> None:
    name = ServicePortName("default", "web", "http", "TCP")
    eps = (Endpoint("10.244.0.5", 8080, "a"), Endpoint("10.244.1.5", 8080, "b"))
    rs = desired_rules([port(*eps, internal_local=True, node_port=30062)], node="a", cluster_cidr=CIDR)
    svl = chain_name("SVL", name)
    to_cluster_ip = [r for r in rules_of(rs, NAT, SERVICES) if "-d 10.96.0.20/32" in r]
    assert len(to_cluster_ip) == 1 and to_cluster_ip[0].endswith(f"-j {svl}")
    assert rules_of(rs, NAT, svl)[0].startswith(f"! -s {CIDR} -d 10.96.0.20/32")  # a node's own client is masqueraded
    assert [r.split()[-1] for r in rules_of(rs, NAT, svl)[1:]] == [chain_name("SEP", name, "10.244.0.5", 8080)]
    # NodePort traffic still spreads over every endpoint (externalTrafficPolicy Cluster)
    assert rules_of(rs, NAT, chain_name("EXT", name))[-1].endswith(f"-j {chain_name('SVC', name)}")
    # a node without a local endpoint drops cluster IP traffic instead of sending it elsewhere
    other = desired_rules([port(*eps[1:], internal_local=True)], node="a", cluster_cidr=CIDR)
    assert not [r for r in rules_of(other, NAT, SERVICES) if "-d 10.96.0.20/32" in r]
    assert any("-d 10.96.0.20/32" in r and r.endswith("-j DROP") for r in rules_of(other, FILTER, SERVICES))


def test_client_ip_affinity_checks_recent_before_random() -> None:
    rs = desired_rules([port(Endpoint("10.244.1.5", 8080, "b"), affinity_seconds=60)], node="a", cluster_cidr=CIDR)
    name = ServicePortName("default", "web", "http", "TCP")
    sep = chain_name("SEP", name, "10.244.1.5", 8080)
    assert "--rcheck --seconds 60 --reap -j " + sep in rules_of(rs, NAT, chain_name("SVC", name))[1]
    assert "--rsource --set" in rules_of(rs, NAT, sep)[1]


def test_userspace_ports_and_the_cluster_dns_are_redirected_to_local_listeners() -> None:
    name = ServicePortName("default", "web", "http", "TCP")
    rs = desired_rules(
        [port(Endpoint("10.244.1.5", 8080, "b"), node_port=30062)],
        node="a",
        cluster_cidr=CIDR,
        local_ports={name: 41000},
        redirects=[Redirect("10.96.0.10", 53, "UDP", 41053, "cluster DNS")],
    )
    services = rules_of(rs, NAT, SERVICES)
    assert any("-d 10.96.0.10/32" in r and "-p udp" in r and r.endswith("REDIRECT --to-ports 41053") for r in services)
    assert any("-d 10.96.0.20/32" in r and r.endswith("REDIRECT --to-ports 41000") for r in services)
    assert any("--dport 30062 -j REDIRECT --to-ports 41000" in r for r in rules_of(rs, NAT, NODEPORTS))
    assert not any(chain.startswith("PYKUBE-SVC-") for _, chain in rs.chains)


def test_chain_names_fit_iptables_and_are_stable() -> None:
    name = ServicePortName("a-very-long-namespace-name", "a-very-long-service-name", "https", "TCP")
    assert len(chain_name("SVC", name)) <= 28
    assert chain_name("SVC", name) == chain_name("SVC", name) != chain_name("EXT", name)


def test_jumps_sit_in_the_builtin_chains() -> None:
    jumps = {(t, b, r[-1]) for t, b, r in desired_rules([], node="a", cluster_cidr="").jumps}
    assert {
        (NAT, "PREROUTING", SERVICES),
        (NAT, "OUTPUT", SERVICES),
        (NAT, "POSTROUTING", POSTROUTING),
        (FILTER, "INPUT", "PYKUBE-EXTERNAL"),
        (FILTER, "FORWARD", SERVICES),
        (FILTER, "OUTPUT", SERVICES),
    } <= jumps
