"""The iptables rules that enforce NetworkPolicies on one node, as a pure function of its firewalls.

The network policy controller resolves the policies to a :class:`~minikube_py.model.networkpolicy.Firewall`
per isolated pod of this node; this module lays them out in the filter table, in the proxy's rule set
(one writer owns all of pykube's chains):

filter
  FORWARD -> PYKUBE-POLICY, first and for new connections only (replies of allowed ones are never
      looked at again): a connection from an egress-isolated pod goes through its PYKUBE-EGR-<hash>
      chain, one to an ingress-isolated pod through its PYKUBE-ING-<hash> chain.
  PYKUBE-EGR/ING-<hash>: a pod's connections to itself RETURN, then each allowed (address, port)
      RETURNs, and whatever is left is REJECTed (an ICMP port unreachable, so the client learns at
      once rather than after its timeout). A connection that RETURNs from the egress chain of its
      source still meets the ingress chain of its destination when both pods are on this node.

FORWARD is where pod traffic is: between pods of this node (the bridge hands it to iptables), from
and to other nodes' pods, and to Service endpoints after the DNAT of PREROUTING, so a policy sees the
endpoint pod, as Kubernetes requires. Traffic between a pod and its own node passes INPUT and OUTPUT
instead, and so is always allowed, as Kubernetes says it must be (probes, port-forwards, the cluster
DNS this node serves). In userspace proxy mode a Service connection reaches its endpoint from the
proxying node's address, so a podSelector cannot tell its client: use kernel mode with policies.
"""

from __future__ import annotations

from collections.abc import Sequence

from minikube_py.model.networkpolicy import Allow, Firewall, PortRange
from minikube_py.netproxy.rules import FILTER, Rule, RuleSet, chain_name

POLICY = "PYKUBE-POLICY"


def _port(port: PortRange | None) -> Rule:
    if port is None:
        return ()
    proto = port.protocol.lower()
    if not port.first:
        return ("-p", proto)
    ports = str(port.first) if port.last == port.first else f"{port.first}:{port.last}"
    return ("-p", proto, "-m", proto, "--dport", ports)


def _allowed(allows: Sequence[Allow], peer_flag: str) -> list[Rule]:
    """One RETURN per (address, port) an allow names: ``peer_flag`` is ``-s`` for what may reach the
    pod, ``-d`` for what it may reach."""
    rules: list[Rule] = []
    for allow in allows:
        for cidr in allow.cidrs if allow.cidrs is not None else (None,):
            peer = (peer_flag, cidr) if cidr is not None else ()
            for port in allow.ports if allow.ports is not None else (None,):
                rules.append((*peer, *_port(port), "-j", "RETURN"))
    return rules


def _chain(rules: RuleSet, kind: str, firewall: Firewall, allows: Sequence[Allow]) -> str:
    """The chain of one direction of one pod's firewall; its name."""
    ingress = kind == "ING"
    chain = chain_name(kind, firewall.pod, firewall.ip)
    peer_flag = "-s" if ingress else "-d"  # the other end of the connection
    direction = "ingress" if ingress else "egress"
    rules.add(
        FILTER,
        chain,
        (peer_flag, f"{firewall.ip}/32", "-m", "comment", "--comment", f"{firewall.pod} itself", "-j", "RETURN"),
        *_allowed(allows, peer_flag),
        ("-m", "comment", "--comment", f"{firewall.pod} {direction} not allowed by any policy", "-j", "REJECT"),
    )
    return chain


def add_policy_rules(rules: RuleSet, firewalls: Sequence[Firewall]) -> None:
    """Add the chains enforcing ``firewalls`` to ``rules`` (nothing at all without firewalls)."""
    if not firewalls:
        return
    rules.jumps.insert(
        0,
        (
            FILTER,
            "FORWARD",
            ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "pykube policy", "-j", POLICY),
        ),
    )
    rules.add(FILTER, POLICY)
    for firewall in firewalls:
        # the egress check of a connection's source comes before the ingress check of its destination
        for kind, own, allows in (("EGR", "-s", firewall.egress), ("ING", "-d", firewall.ingress)):
            if allows is None:
                continue
            chain = _chain(rules, kind, firewall, allows)
            direction = "egress" if kind == "EGR" else "ingress"
            comment = ("-m", "comment", "--comment", f"{firewall.pod} {direction}")
            rules.add(FILTER, POLICY, (own, f"{firewall.ip}/32", *comment, "-j", chain))
