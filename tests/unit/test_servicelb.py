"""ServiceLB's pure part: LoadBalancer ingress from the Ready nodes' addresses."""

from __future__ import annotations

from typing import Any

from minikube_py.model.servicelb import ingress_of, ingress_status_patch, node_ingress, status_patch, wants_ingress

Obj = dict[str, Any]


def node(name: str, ip: str, ready: str = "True", **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def lb(**spec: Any) -> Obj:
    return {"metadata": {"namespace": "default", "name": "web"}, "spec": {"type": "LoadBalancer", **spec}}


def test_ready_schedulable_nodes_are_the_ingress_in_address_order() -> None:
    nodes = [
        node("b", "10.99.0.12"),
        node("a", "10.99.0.2"),
        node("c", "10.99.0.13", ready="Unknown"),
        node("d", "10.99.0.14", unschedulable=True),
    ]
    assert ingress_of(ip for n in nodes for ip in node_ingress(n)) == [
        {"ip": "10.99.0.2", "ipMode": "VIP"},
        {"ip": "10.99.0.12", "ipMode": "VIP"},
    ]
    assert node_ingress(None) == frozenset()


def test_status_patch_sets_changes_and_clears() -> None:
    ingress = [{"ip": "10.99.0.2", "ipMode": "VIP"}]
    assert status_patch(lb(), ingress) == {"status": {"loadBalancer": {"ingress": ingress}}}
    assert status_patch({**lb(), "status": {"loadBalancer": {"ingress": ingress}}}, ingress) is None
    was_lb = {**lb(type="ClusterIP"), "status": {"loadBalancer": {"ingress": ingress}}}
    assert status_patch(was_lb, ingress) == {"status": {"loadBalancer": {}}}
    assert status_patch(lb(type="ClusterIP"), ingress) is None


def test_a_service_with_another_load_balancer_class_is_left_alone() -> None:
    assert wants_ingress(lb()) and not wants_ingress(lb(loadBalancerClass="example.com/lb"))


def test_ingress_status_has_the_addresses_without_ip_mode_while_pykube_serves_it() -> None:
    ingress = [{"ip": "10.99.0.2", "ipMode": "VIP"}]
    obj: Obj = {"metadata": {"namespace": "default", "name": "web"}, "spec": {}, "status": {"loadBalancer": {}}}
    assert ingress_status_patch(obj, ingress, served=True) == {
        "status": {"loadBalancer": {"ingress": [{"ip": "10.99.0.2"}]}}
    }
    served = {**obj, "status": {"loadBalancer": {"ingress": [{"ip": "10.99.0.2"}]}}}
    assert ingress_status_patch(served, ingress, served=True) is None
    assert ingress_status_patch(served, ingress, served=False) == {"status": {"loadBalancer": {}}}
    assert ingress_status_patch(obj, ingress, served=False) is None
