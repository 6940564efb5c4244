"""Service ClusterIP and NodePort allocation through kubectl: ranges, conflicts, and no leaks on delete."""

from __future__ import annotations

import ipaddress
import json

import pytest
from kubectl_helpers import Kubectl, service

pytestmark = pytest.mark.kubectl

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


def test_cluster_ips_are_allocated_from_the_service_cidr(k: Kubectl) -> None:
    k.apply(*(service(f"s{i}") for i in range(5)))
    ips = [k.obj("service", f"s{i}")["spec"]["clusterIP"] for i in range(5)]
    assert len(set(ips)) == 5
    for ip in ips:
        assert ipaddress.ip_address(ip) in SERVICE_CIDR
        assert ip != "10.96.0.1"  # the kubernetes service holds the first address
    live = k.obj("service", "s0")
    assert live["spec"]["clusterIPs"] == [live["spec"]["clusterIP"]]


def test_node_ports_are_allocated_from_the_range(k: Kubectl) -> None:
    k.apply(*(service(f"np{i}", type="NodePort") for i in range(3)))
    ports = [k.obj("service", f"np{i}")["spec"]["ports"][0]["nodePort"] for i in range(3)]
    assert len(set(ports)) == 3
    assert all(30000 <= p <= 32767 for p in ports)


def test_explicit_cluster_ip_is_honoured_and_exclusive(k: Kubectl) -> None:
    ip = _free_ip(k, 0x2F00)
    k.apply(service("mine", clusterIP=ip))
    assert k.obj("service", "mine")["spec"]["clusterIP"] == ip
    done = k.fails("apply", "-f", "-", input=json.dumps(service("thief", clusterIP=ip)))
    assert done.stderr.startswith('The Service "thief" is invalid: spec.clusterIPs: Invalid value: ')
    assert done.stderr.strip().endswith(f"failed to allocate IP {ip}: provided IP is already allocated")
    assert not k.exists("service", "thief")


def test_cluster_ip_outside_the_range_is_invalid(k: Kubectl) -> None:
    done = k.fails("apply", "-f", "-", input=json.dumps(service("outside", clusterIP="192.168.1.1")))
    assert done.stderr.startswith('The Service "outside" is invalid: ')
    assert "192.168.1.1" in done.stderr
    assert not k.exists("service", "outside")


def test_taken_node_port_is_422(k: Kubectl) -> None:
    port = _free_port(k, 31555)
    k.apply(service("first", type="NodePort", nodePort=port))
    assert k.obj("service", "first")["spec"]["ports"][0]["nodePort"] == port
    done = k.fails("create", "-f", "-", input=json.dumps(service("second", type="NodePort", nodePort=port)))
    assert done.stderr.strip() == (
        f'The Service "second" is invalid: spec.ports[0].nodePort: Invalid value: {port}: '
        "provided port is already allocated"
    )
    assert not k.exists("service", "second")


def test_node_port_outside_the_range_is_422(k: Kubectl) -> None:
    done = k.fails("create", "-f", "-", input=json.dumps(service("low", type="NodePort", nodePort=8080)))
    assert done.stderr.startswith(
        'The Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 8080: '
        "provided port is not in the valid range"
    )


def test_deleting_a_service_frees_its_ip_and_port(k: Kubectl) -> None:
    ip, port = _free_ip(k, 0x3A00), _free_port(k, 32111)
    k.apply(service("holder", type="NodePort", clusterIP=ip, nodePort=port))
    k.run("delete", "service", "holder")
    k.apply(service("reuser", type="NodePort", clusterIP=ip, nodePort=port))
    live = k.obj("service", "reuser")
    assert live["spec"]["clusterIP"] == ip
    assert live["spec"]["ports"][0]["nodePort"] == port


def test_changing_type_to_clusterip_frees_the_node_port(k: Kubectl) -> None:
    port = _free_port(k, 32222)
    k.apply(service("flip", type="NodePort", nodePort=port))
    k.run(
        "patch",
        "service",
        "flip",
        "--type=json",
        "-p",
        json.dumps(
            [
                {"op": "replace", "path": "/spec/type", "value": "ClusterIP"},
                {"op": "remove", "path": "/spec/ports/0/nodePort"},
            ]
        ),
    )
    assert "nodePort" not in k.obj("service", "flip")["spec"]["ports"][0]
    k.apply(service("taker", type="NodePort", nodePort=port))
    assert k.obj("service", "taker")["spec"]["ports"][0]["nodePort"] == port


def test_cluster_ip_is_immutable(k: Kubectl) -> None:
    k.apply(service("fixed"))
    ip = k.obj("service", "fixed")["spec"]["clusterIP"]
    other = _free_ip(k, 0x4B00)
    done = k.fails(
        "patch",
        "service",
        "fixed",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"clusterIP": other, "clusterIPs": [other]}}),
    )
    assert done.stderr.startswith('The Service "fixed" is invalid: ')
    assert "may not change once set" in done.stderr
    assert k.obj("service", "fixed")["spec"]["clusterIP"] == ip


# ------------------------------------------------------------------------------------------ helpers
# Tests share one server, so an explicitly requested address or port is picked among those no
# service holds right now, starting from a per-test offset.


def _taken(k: Kubectl) -> tuple[set[str], set[int]]:
    listing = json.loads(k.server.kubectl("get", "services", "-A", "-o", "json").stdout)
    ips = {s["spec"].get("clusterIP") for s in listing["items"]}
    ports = {p.get("nodePort") for s in listing["items"] for p in s["spec"].get("ports") or []}
    return {ip for ip in ips if ip}, {p for p in ports if p}


def _free_ip(k: Kubectl, offset: int) -> str:
    ips, _ = _taken(k)
    for i in range(offset, offset + 256):
        candidate = str(SERVICE_CIDR.network_address + i)
        if candidate not in ips:
            return candidate
    raise AssertionError("no free service IP near the offset")


def _free_port(k: Kubectl, start: int) -> int:
    _, ports = _taken(k)
    return next(p for p in range(start, 32767) if p not in ports)
