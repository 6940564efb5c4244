"""NetworkPolicy (networking.k8s.io/v1): validation and defaults as kube-apiserver's, and what the
policies of a cluster allow, resolved for the pods of one node.

Kubernetes leaves enforcement to the network plugin. pykube resolves the selectors centrally, as the
endpoint controllers resolve a Service's selector so that kube-proxy never watches pods: the network
policy controller (:mod:`minikube_py.reconcilers.networkpolicy`) compiles, for each node, a
:class:`Firewall` for every pod on it that a policy isolates (the addresses and ports it may be reached
from, and may reach) and publishes them in the node's own ConfigMap, which its proxy turns into iptables
rules (:mod:`minikube_py.netproxy.policyrules`). A node so learns only the addresses its own pods deal
with, and the Node authorizer's least privilege stands (a node may not list other nodes' pods).

The semantics are those of Kubernetes' NetworkPolicy documentation:

- a pod is isolated for ingress (egress) once a policy of its namespace selects it with ``Ingress``
  (``Egress``) among its ``policyTypes``; it then accepts (opens) only the connections that some such
  policy allows: the union of their rules, none at all when they have none;
- a rule allows a connection when one of its peers and one of its ports match; a rule without peers
  allows every address, one without ports every port;
- a peer is the pods of the policy's namespace (``podSelector``), every pod of the namespaces a
  ``namespaceSelector`` matches, the pods matching both, or an ``ipBlock``'s CIDR less its exceptions;
- a named port is the port of that name on the destination pod (of ingress rules: the isolated pod
  itself; of egress rules: each peer pod);
- replies, a pod's connections to itself, and traffic between a pod and its own node are always
  allowed; host-network pods are neither isolated nor peers (their address is the node's).

Only IPv4 is enforced: pod addresses are IPv4, and IPv6 ipBlocks are left out.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minikube_py.model.errors import FieldError, forbidden, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list, dict_items
from minikube_py.model.selectors import LabelSelector, stored_selector
from minikube_py.model.validation import label_selector_errors, port_name_errors

Obj = dict[str, Any]
Errors = list[FieldError]

INGRESS, EGRESS = "Ingress", "Egress"
PROTOCOLS = ("SCTP", "TCP", "UDP")
#: where a node's compiled firewalls are published: a ConfigMap of kube-system, under this data key
CONFIG_MAP_NAMESPACE = "kube-system"
CONFIG_MAP_PREFIX = "pykube-network-policy."
CONFIG_MAP_KEY = "firewalls"
#: the label on those ConfigMaps, so the controller finds the ones it wrote
MANAGED_LABEL = "network-policy.pykube.io/node"


def config_map_name(node: str) -> str:
    return f"{CONFIG_MAP_PREFIX}{node}"


# ------------------------------------------------------------------------------ validation


def default_network_policy(obj: Obj) -> None:
    """``SetDefaults_NetworkPolicy``: an absent ``podSelector`` is the empty one (every pod of the
    namespace), ports are TCP unless said, and ``policyTypes`` is Ingress, plus Egress when there are
    egress rules."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("podSelector") is None:
        spec["podSelector"] = {}
    for direction in ("ingress", "egress"):
        for rule in dict_items(spec.get(direction)):
            for port in dict_items(rule.get("ports")):
                port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = policy_types(spec)


def policy_types(spec: Obj) -> list[str]:
    """The directions a policy isolates: its ``policyTypes``, or what they default to."""
    types = as_list(spec.get("policyTypes"))
    if types:
        return [str(t) for t in types]
    return [INGRESS, EGRESS] if as_list(spec.get("egress")) else [INGRESS]


def validate_network_policy(obj: Obj) -> Errors:
    """``ValidateNetworkPolicySpec``: a valid pod selector, well-formed ports and peers, known policy types."""
    spec = as_dict(obj.get("spec"))
    errs = label_selector_errors(as_dict(spec.get("podSelector")), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(as_list(spec.get(direction))):
            path = f"spec.{direction}[{i}]"
            rule = as_dict(rule)
            for j, port in enumerate(as_list(rule.get("ports"))):
                errs += _port_errors(as_dict(port), f"{path}.ports[{j}]")
            for j, peer in enumerate(as_list(rule.get(peers))):
                errs += _peer_errors(as_dict(peer), f"{path}.{peers}[{j}]")
    types = as_list(spec.get("policyTypes"))
    if len(types) > 2:
        errs.append(invalid_value("spec.policyTypes", types, "may not specify more than two policyTypes"))
    for i, kind in enumerate(types):
        if kind not in (INGRESS, EGRESS):
            errs.append(not_supported(f"spec.policyTypes[{i}]", kind, [EGRESS, INGRESS]))
    return errs


def _port_errors(port: Obj, path: str) -> Errors:
    errs: Errors = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", protocol, list(PROTOCOLS)))
    number, end = port.get("port"), port.get("endPort")
    if isinstance(number, bool):  # JSON true is no IntOrString (Go's decoding refuses it)
        errs.append(invalid_value(f"{path}.port", number, "must be a port number or name"))
    elif isinstance(number, int):
        if not 1 <= number <= 65535:
            errs.append(invalid_value(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
    elif number is not None:
        errs += [invalid_value(f"{path}.port", number, msg) for msg in port_name_errors(str(number))]
    if end is None:
        return errs
    if number is None:
        errs.append(FieldError(f"{path}.port", "FieldValueRequired", "Required value: when endPort is specified"))
    elif not isinstance(number, int):
        errs.append(forbidden(f"{path}.endPort", "may not be specified when `port` is non-numeric"))
    elif isinstance(end, int) and end < number:
        errs.append(invalid_value(f"{path}.endPort", end, "must be greater than or equal to `port`"))
    if isinstance(end, int) and not 1 <= end <= 65535:
        errs.append(invalid_value(f"{path}.endPort", end, "must be between 1 and 65535, inclusive"))
    return errs


def _peer_errors(peer: Obj, path: str) -> Errors:
    errs: Errors = []
    for field in ("podSelector", "namespaceSelector"):
        if peer.get(field) is not None:
            errs += label_selector_errors(peer[field], f"{path}.{field}")
    block = peer.get("ipBlock")
    if block is not None:
        errs += _ip_block_errors(as_dict(block), f"{path}.ipBlock")
    named = sum(peer.get(f) is not None for f in ("podSelector", "namespaceSelector", "ipBlock"))
    if named == 0:
        errs.append(FieldError(path, "FieldValueRequired", "Required value: must specify a peer"))
    elif named > 1 and block is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False) if isinstance(text, str) and "/" in text else None
    except ValueError:
        return None


def _ip_block_errors(block: Obj, path: str) -> Errors:
    cidr = block.get("cidr")
    if not cidr:
        return [required(f"{path}.cidr")]
    network = _network(cidr)
    if network is None:
        return [invalid_value(f"{path}.cidr", cidr, "not a valid CIDR")]
    errs: Errors = []
    for i, text in enumerate(as_list(block.get("except"))):
        excepted = _network(text)
        if excepted is None:
            errs.append(invalid_value(f"{path}.except[{i}]", text, "not a valid CIDR"))
        elif (
            excepted.version != network.version
            or excepted.network_address not in network
            or excepted.prefixlen <= network.prefixlen
        ):
            errs.append(invalid_value(f"{path}.except[{i}]", text, "must be a strict subset of `cidr`"))
    return errs


# ------------------------------------------------------------------------------ what is allowed


@dataclass(frozen=True, order=True)
class PortRange:
    """Ports ``first``..``last`` of ``protocol``; ``first`` 0: every port of it."""

    protocol: str
    first: int = 0
    last: int = 0


@dataclass(frozen=True)
class Allow:
    """Connections one rule allows: from (ingress) or to (egress) ``cidrs`` (None: any address), on
    ``ports`` (None: any port of any protocol)."""

    cidrs: tuple[str, ...] | None
    ports: tuple[PortRange, ...] | None


@dataclass(frozen=True)
class Firewall:
    """One isolated pod of a node: what may reach it (``ingress``) and what it may reach (``egress``);
    None where no policy isolates it in that direction, an empty tuple where nothing is allowed."""

    pod: str  # namespace/name, for rule comments
    ip: str
    ingress: tuple[Allow, ...] | None
    egress: tuple[Allow, ...] | None


@dataclass(frozen=True)
class PolicyPod:
    """What policies see of a pod."""

    key: str
    namespace: str
    ip: str
    node: str
    labels: Mapping[str, str]
    ports: Mapping[str, tuple[str, int]]  # port name -> (protocol, number)


def addressable(pod: Obj | None) -> PolicyPod | None:
    """A pod as policies see it, or None for one without an address of its own (not started, ended,
    or on the host network): what the controller compares to tell whether a pod's change matters."""
    if pod is None:
        return None
    md, spec, status = as_dict(pod.get("metadata")), as_dict(pod.get("spec")), as_dict(pod.get("status"))
    ip = status.get("podIP")
    # an IPv6 address (a colon) is left out: only IPv4 is enforced
    if not isinstance(ip, str) or not ip or ":" in ip or spec.get("hostNetwork"):
        return None
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    ports: dict[str, tuple[str, int]] = {}
    for container in dict_items(spec.get("containers")):
        for port in dict_items(container.get("ports")):
            if port.get("name") and isinstance(port.get("containerPort"), int):
                ports.setdefault(port["name"], (port.get("protocol") or "TCP", port["containerPort"]))
    namespace = str(md.get("namespace") or "")
    return PolicyPod(
        f"{namespace}/{md.get('name', '')}",
        namespace,
        ip,
        str(spec.get("nodeName") or ""),
        as_dict(md.get("labels")),
        ports,
    )


@functools.lru_cache(maxsize=1024)
def _subtract(cidr: str, excepts: tuple[str, ...]) -> list[str]:
    """An ipBlock as plain IPv4 CIDRs: ``cidr`` less every exception (an iptables match takes no
    exceptions, so the block is cut into the networks that remain). Cached: every pod a policy
    selects meets the same blocks."""
    network = _network(cidr)
    if not isinstance(network, ipaddress.IPv4Network):
        return []
    parts = [network]
    for text in excepts:
        excepted = _network(text)
        if not isinstance(excepted, ipaddress.IPv4Network):
            continue
        remaining: list[ipaddress.IPv4Network] = []
        for part in parts:
            if not part.overlaps(excepted):
                remaining.append(part)
            elif not excepted.supernet_of(part):
                remaining.extend(part.address_exclude(excepted))
        parts = remaining
    return [str(p) for p in sorted(parts)]


class _Cluster:
    """The pods and namespace labels the peers of every policy are resolved against."""

    def __init__(self, pods: Iterable[PolicyPod], namespaces: Iterable[Obj]) -> None:
        self.pods = list(pods)
        self.by_namespace: dict[str, list[PolicyPod]] = defaultdict(list)
        for pod in self.pods:
            self.by_namespace[pod.namespace].append(pod)
        self.namespace_labels = {
            str(as_dict(ns.get("metadata")).get("name", "")): as_dict(as_dict(ns.get("metadata")).get("labels"))
            for ns in namespaces
        }

    def peer_pods(self, peer: Obj, namespace: str) -> list[PolicyPod]:
        """The pods a peer with selectors names, seen from a policy of ``namespace``."""
        if peer.get("namespaceSelector") is None:
            namespaces = [namespace]
        else:
            chosen = stored_selector(peer["namespaceSelector"])
            namespaces = [n for n, labels in self.namespace_labels.items() if chosen.matches(labels)]
        pods = stored_selector(peer["podSelector"]) if peer.get("podSelector") is not None else LabelSelector()
        return [p for n in namespaces for p in self.by_namespace.get(n, ()) if pods.matches(p.labels)]


def _ports(entries: list[Obj], named: Mapping[str, tuple[str, int]] | None) -> tuple[PortRange, ...]:
    """A rule's ports as ranges; a named port resolves through ``named`` (the destination pod's ports)
    and names nothing there (or when ``named`` is None) otherwise."""
    ranges: set[PortRange] = set()
    for entry in entries:
        protocol, port = str(entry.get("protocol") or "TCP"), entry.get("port")
        if port is None:
            ranges.add(PortRange(protocol))
        elif isinstance(port, int):
            end = entry.get("endPort")
            ranges.add(PortRange(protocol, port, end if isinstance(end, int) and end >= port else port))
        elif named is not None and str(port) in named and named[str(port)][0] == protocol:
            number = named[str(port)][1]
            ranges.add(PortRange(protocol, number, number))
    return tuple(sorted(ranges))


def _rule_allows(
    rule: Obj, peers_field: str, pod: PolicyPod, namespace: str, cluster: _Cluster, ingress: bool
) -> list[Allow]:
    """What one ingress or egress rule of a policy of ``namespace`` allows ``pod``."""
    entries = dict_items(rule.get("ports"))
    peers = dict_items(rule.get(peers_field))
    numeric = [e for e in entries if not isinstance(e.get("port"), str)]
    by_name = [e for e in entries if isinstance(e.get("port"), str)]
    # the pods this rule names as peers, and the CIDRs of its ipBlocks (None: any address)
    peer_pods: list[PolicyPod] | None = None
    blocks: list[str] = []
    if peers:
        peer_pods = []
        for peer in peers:
            block = peer.get("ipBlock")
            if isinstance(block, dict):
                blocks += _subtract(str(block.get("cidr", "")), tuple(map(str, as_list(block.get("except")))))
            else:
                peer_pods += cluster.peer_pods(peer, namespace)
    addresses = None if peer_pods is None else tuple(sorted({f"{p.ip}/32" for p in peer_pods} | set(blocks)))
    if ingress or not by_name:
        # ingress: named ports are the isolated pod's own; egress without names: one set for every peer
        ports = _ports(entries, pod.ports if ingress else None) if entries else None
        if (ports is not None and not ports) or addresses == ():
            return []
        return [Allow(addresses, ports)]
    # egress naming ports: numeric ports go to every peer, a named one to each peer pod that has it
    allows: list[Allow] = []
    if numeric and (ports := _ports(numeric, None)) and addresses != ():
        allows.append(Allow(addresses, ports))
    for peer in cluster.pods if peer_pods is None else peer_pods:
        if ports := _ports(by_name, peer.ports):
            allows.append(Allow((f"{peer.ip}/32",), ports))
    return allows


def compile_firewalls(
    policies: Iterable[Obj], pods: Iterable[PolicyPod], namespaces: Iterable[Obj], node: str
) -> list[Firewall]:
    """The firewall of every pod of ``node`` that a policy isolates, sorted by pod address. ``pods``
    are the cluster's pods with an address (:func:`addressable`), which the controller keeps as
    they change rather than reading every pod again for each node."""
    cluster = _Cluster(pods, namespaces)
    by_namespace: dict[str, list[Obj]] = defaultdict(list)
    for policy in policies:
        by_namespace[str(as_dict(policy.get("metadata")).get("namespace") or "")].append(policy)
    firewalls = []
    for pod in cluster.pods:
        if pod.node != node:
            continue
        allowed: dict[str, set[Allow] | None] = {INGRESS: None, EGRESS: None}
        for policy in by_namespace.get(pod.namespace, ()):
            spec = as_dict(policy.get("spec"))
            if not stored_selector(spec.get("podSelector", {})).matches(pod.labels):
                continue
            for direction, rules_field, peers_field in ((INGRESS, "ingress", "from"), (EGRESS, "egress", "to")):
                if direction not in policy_types(spec):
                    continue
                found = allowed[direction] = allowed[direction] or set()
                for rule in dict_items(spec.get(rules_field)):
                    found.update(_rule_allows(rule, peers_field, pod, pod.namespace, cluster, direction == INGRESS))
        if allowed[INGRESS] is None and allowed[EGRESS] is None:
            continue
        firewalls.append(
            Firewall(
                pod.key,
                pod.ip,
                None if allowed[INGRESS] is None else tuple(sorted(allowed[INGRESS], key=_order)),
                None if allowed[EGRESS] is None else tuple(sorted(allowed[EGRESS], key=_order)),
            )
        )
    return sorted(firewalls, key=lambda f: (ipaddress.ip_address(f.ip), f.pod))


def _order(allow: Allow) -> tuple[bool, tuple[str, ...], bool, tuple[PortRange, ...]]:
    """A total order over rules ("any" first), so that equal firewalls serialise alike."""
    return (allow.cidrs is not None, allow.cidrs or (), allow.ports is not None, allow.ports or ())


# ------------------------------------------------------------------------------ the node's ConfigMap


class _PeerSets:
    """The distinct address lists of a node's firewalls, each written once: the pods a policy selects
    share their rules' peers (a namespace of a thousand pods is a thousand addresses), so listing
    them per pod would grow the ConfigMap by the product of the two."""

    def __init__(self) -> None:
        self.lists: list[list[str]] = []
        self._index: dict[tuple[str, ...], int] = {}

    def of(self, cidrs: tuple[str, ...]) -> int:
        if cidrs not in self._index:
            self._index[cidrs] = len(self.lists)
            self.lists.append(list(cidrs))
        return self._index[cidrs]

    def allows(self, allows: tuple[Allow, ...] | None) -> list[Obj] | None:
        if allows is None:
            return None
        written = []
        for allow in allows:
            out: Obj = {}
            if allow.cidrs is not None:
                out["peers"] = self.of(allow.cidrs)
            if allow.ports is not None:
                out["ports"] = [[p.protocol, p.first, p.last] for p in allow.ports]
            written.append(out)
        return written


def dump_firewalls(firewalls: Sequence[Firewall]) -> str:
    """The firewalls as the ConfigMap holds them: compact, deterministic JSON, with each distinct list
    of peer addresses once (``peers``) and the rules naming it by its index."""
    sets = _PeerSets()
    written = [
        {"pod": f.pod, "ip": f.ip, "ingress": sets.allows(f.ingress), "egress": sets.allows(f.egress)}
        for f in firewalls
    ]
    return json.dumps({"peers": sets.lists, "firewalls": written}, separators=(",", ":"), sort_keys=True)


def _allows_from(value: Any, peers: list[Any]) -> tuple[Allow, ...] | None:
    if value is None:
        return None
    allows = []
    for item in dict_items(value):
        index, ports = item.get("peers"), item.get("ports")
        allows.append(
            Allow(
                None if index is None else tuple(str(c) for c in as_list(peers[int(index)])),
                None if ports is None else tuple(PortRange(str(p[0]), int(p[1]), int(p[2])) for p in as_list(ports)),
            )
        )
    return tuple(allows)


def load_firewalls(text: str) -> list[Firewall]:
    """The firewalls of a node's ConfigMap (what :func:`dump_firewalls` wrote); ValueError when it is
    not that (the proxy then keeps what it enforces and says why)."""
    try:
        published = json.loads(text)
        peers = as_list(published["peers"])
        return [
            Firewall(
                str(f["pod"]), str(f["ip"]), _allows_from(f.get("ingress"), peers), _allows_from(f.get("egress"), peers)
            )
            for f in published["firewalls"]
        ]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"not a list of firewalls: {exc}") from None
