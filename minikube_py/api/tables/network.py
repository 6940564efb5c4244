"""Printers for Services, Endpoints, EndpointSlices, Ingresses, IngressClasses and NetworkPolicies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name, wide
from minikube_py.api.tables.formatting import NONE, host_port, limited_list
from minikube_py.model.selectors import labels_to_string, selector_to_string


def _load_balancer_addresses(service: dict[str, Any]) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
    return sorted({entry.get("ip") or entry.get("hostname") for entry in ingress} - {None, ""})


def _external_ip(service: dict[str, Any]) -> str:
    """EXTERNAL-IP: external IPs; load balancers add their ingress and are ``<pending>`` before it."""
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if kind == "LoadBalancer":
        return ",".join(_load_balancer_addresses(service) + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _ports(spec: dict[str, Any]) -> str:
    """``80/TCP``, or ``80:30080/TCP`` when a node port is allocated."""
    pieces = []
    for port in spec.get("ports") or ():
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(pieces) or NONE


def _service(service: dict[str, Any], now: datetime) -> list[Any]:
    spec = service.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    return [
        obj_name(service),
        spec.get("type", "ClusterIP"),
        cluster_ips[0] or NONE,
        _external_ip(service),
        _ports(spec),
        age(service, now),
        labels_to_string(spec.get("selector")),
    ]


SERVICE = Printer(
    (
        NAME,
        Column("Type", "type determines how the Service is exposed."),
        Column("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
        Column(
            "External-IP",
            "externalIPs is a list of IP addresses for which nodes in the cluster will also "
            "accept traffic for this service.",
        ),
        Column("Port(s)", "The list of ports that are exposed by this service."),
        AGE,
        wide("Selector", "Route service traffic to pods with label keys and values matching this selector."),
    ),
    _service,
)


def _endpoint_addresses(endpoints: dict[str, Any]) -> list[str]:
    """Every ready address, once per port (just the IP for port-less headless subsets)."""
    shown = []
    for subset in endpoints.get("subsets") or ():
        ips = [a.get("ip", "") for a in subset.get("addresses") or ()]
        ports = subset.get("ports") or ()
        if not ports:
            shown += ips
        for port in ports:
            shown += [host_port(ip, port.get("port", 0)) for ip in ips]
    return shown


def _endpoints(obj: dict[str, Any], now: datetime) -> list[Any]:
    listed = limited_list(_endpoint_addresses(obj), "") if obj.get("subsets") else NONE
    return [obj_name(obj), listed, age(obj, now)]


ENDPOINTS = Printer(
    (NAME, Column("Endpoints", "The set of all endpoints is the union of all subsets."), AGE), _endpoints
)


def _slice_port(port: dict[str, Any]) -> str:
    if port.get("port") is not None:
        return str(port["port"])
    return port.get("name") or "*"


def _endpoint_slice(obj: dict[str, Any], now: datetime) -> list[Any]:
    addresses = [a for e in obj.get("endpoints") or () for a in e.get("addresses") or ()]
    return [
        obj_name(obj),
        obj.get("addressType", ""),
        limited_list((_slice_port(p) for p in obj.get("ports") or ()), "<unset>"),
        limited_list(addresses, "<unset>"),
        age(obj, now),
    ]


ENDPOINT_SLICE = Printer(
    (
        NAME,
        Column("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
        Column("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
        Column("Endpoints", "endpoints is a list of unique endpoints in this slice."),
        AGE,
    ),
    _endpoint_slice,
)


def _ingress(obj: dict[str, Any], now: datetime) -> list[Any]:
    """kube-apiserver's Ingress row: every rule host (``*`` for a rule without one), the load
    balancer's addresses, and 443 beside 80 when the Ingress has TLS."""
    spec = obj.get("spec") or {}
    hosts = [rule.get("host") or "*" for rule in spec.get("rules") or ()]
    address = ",".join(_load_balancer_addresses(obj))
    return [
        obj_name(obj),
        spec.get("ingressClassName") or NONE,
        limited_list(hosts, "*"),
        address,
        "80, 443" if spec.get("tls") else "80",
        age(obj, now),
    ]


INGRESS = Printer(
    (
        NAME,
        Column("Class", "The name of the IngressClass resource."),
        Column("Hosts", "Host is the fully qualified domain name of a network host, as defined by RFC 3986."),
        Column("Address", "Address is a list containing ingress points for the load-balancer"),
        Column("Ports", "Ports of TLS configurations that open"),
        AGE,
    ),
    _ingress,
)


def _ingress_class(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    parameters = spec.get("parameters") or {}
    shown = NONE
    if parameters:
        kind = parameters.get("kind", "")
        if parameters.get("apiGroup"):
            kind = f"{kind}.{parameters['apiGroup']}"
        shown = f"{kind}/{parameters.get('name', '')}"
    return [obj_name(obj), spec.get("controller", ""), shown, age(obj, now)]


INGRESS_CLASS = Printer(
    (
        NAME,
        Column("Controller", "Controller that is responsible for handling this class"),
        Column("Parameters", "A reference to a resource with additional parameters"),
        AGE,
    ),
    _ingress_class,
)


def _network_policy(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), selector_to_string((obj.get("spec") or {}).get("podSelector")), age(obj, now)]


NETWORK_POLICY = Printer(
    (NAME, Column("Pod-Selector", "The pods of the namespace this policy applies to."), AGE), _network_policy
)
