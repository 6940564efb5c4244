"""The iptables rules a node needs for its services, as a pure function of what it must forward.

The layout follows kube-proxy's iptables proxier, under pykube's own chain names so it never touches
kube-proxy's or Docker's chains:

nat
  PREROUTING, OUTPUT -> PYKUBE-SERVICES: per service port, traffic to its ClusterIP goes to
      PYKUBE-SVC-<hash>, traffic to its external/load-balancer IPs to PYKUBE-EXT-<hash>; the last rule
      sends traffic to any local address to PYKUBE-NODEPORTS.
  PYKUBE-NODEPORTS: per NodePort, to PYKUBE-EXT-<hash>.
  PYKUBE-EXT-<hash>: marks the packet for masquerading (so replies come back through this node) and
      goes to PYKUBE-SVC-<hash>; with externalTrafficPolicy Local, outside traffic goes only to this
      node's endpoints (PYKUBE-SVL-<hash>) and keeps its source address.
  PYKUBE-SVC-<hash>: picks an endpoint at random (``statistic`` probabilities 1/n, 1/(n-1), ... 1),
      or the client's previous one under ClientIP affinity (``recent``), and goes to its
      PYKUBE-SEP-<hash>, which DNATs to the endpoint (masquerading a pod that reaches itself).
  POSTROUTING -> PYKUBE-POSTROUTING: pod traffic leaving the cluster CIDR is masqueraded (pod-to-pod
      traffic across nodes keeps its source address), and so is every packet marked above; source
      ports are picked fully at random, as kube-proxy does, so that many short connections through
      one NodePort do not collide on a port still held by a closing one (a 1 s SYN retry each).
filter
  INPUT -> PYKUBE-EXTERNAL, FORWARD and OUTPUT -> PYKUBE-SERVICES: ports of services without a ready
      endpoint are rejected, so a client is refused at once instead of hanging.
  FORWARD -> PYKUBE-FORWARD: accepts marked and established traffic.

Service ports served by a local listener (userspace mode, the cluster DNS) are REDIRECTed to it
instead of DNATed. The data path of kernel mode never enters Python.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from minikube_py.netproxy.balancer import ServicePortName
from minikube_py.netproxy.services import Endpoint, ServicePort

Rule = tuple[str, ...]

PREFIX = "PYKUBE-"
NAT, FILTER = "nat", "filter"
SERVICES = "PYKUBE-SERVICES"
NODEPORTS = "PYKUBE-NODEPORTS"
POSTROUTING = "PYKUBE-POSTROUTING"
MARK_MASQ = "PYKUBE-MARK-MASQ"
EXTERNAL = "PYKUBE-EXTERNAL"
FORWARD = "PYKUBE-FORWARD"
#: kube-proxy's masquerade bit: shared meaning, but our chains set and clear it themselves
MASQ_MARK = "0x4000/0x4000"


@dataclass(frozen=True)
class Redirect:
    """An address served by a listener of this node itself (the cluster DNS on its ClusterIP)."""

    ip: str
    port: int
    protocol: str
    to_port: int
    comment: str


@dataclass
class RuleSet:
    """Our chains with their rules in order, and the jumps kept at the top of the built-in chains."""

    chains: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)
    jumps: list[tuple[str, str, Rule]] = field(default_factory=list)

    def add(self, table: str, chain: str, *rules: Rule) -> None:
        self.chains.setdefault((table, chain), []).extend(rules)

    def text(self) -> str:
        """iptables-save-like listing, for tests and debugging."""
        lines = [f"-t {t} -I {c} {' '.join(r)}" for t, c, r in self.jumps]
        for (table, chain), rules in self.chains.items():
            lines.append(f"-t {table} -N {chain}")
            lines.extend(f"-t {table} -A {chain} {' '.join(r)}" for r in rules)
        return "\n".join(lines)


def chain_name(kind: str, *parts: object) -> str:
    """``PYKUBE-<KIND>-<16 base32 chars of sha256>``: stable, unique and within iptables' 28 characters."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return f"{PREFIX}{kind}-{base64.b32encode(digest).decode()[:16]}"


def _comment(text: str) -> Rule:
    return ("-m", "comment", "--comment", text)


def _port_match(protocol: str, port: int) -> Rule:
    proto = protocol.lower()
    return ("-p", proto, "-m", proto, "--dport", str(port))


def _to_service_ip(sp: ServicePort, ip: str, comment: str) -> Rule:
    """The match for traffic to ``ip`` (the cluster IP or an external IP) on the service's port."""
    return ("-d", f"{ip}/32", *_comment(comment), *_port_match(sp.protocol, sp.port))


def _to_local_port(protocol: str, port: int, comment: str, verdict: str) -> Rule:
    """``verdict`` (DROP, REJECT) for traffic to ``port`` on any address of this host: a node port
    that has nowhere to send it."""
    return ("-m", "addrtype", "--dst-type", "LOCAL", *_comment(comment), *_port_match(protocol, port), "-j", verdict)


def _label(name: ServicePortName) -> str:
    return f"{name.namespace}/{name.name}" + (f":{name.port}" if name.port else "")


def _jump(target: str, comment: str = "") -> Rule:
    return (*(_comment(comment) if comment else ()), "-j", target)


def _balance(rules: RuleSet, chain: str, sp: ServicePort, endpoints: Sequence[Endpoint]) -> None:
    """Spread over ``endpoints``: the i-th of n rules matches with probability 1/(n-i), so each endpoint
    gets 1/n overall; with ClientIP affinity a client seen recently goes back to its endpoint first."""
    label = _label(sp.name)
    seps = [chain_name("SEP", sp.name, e.ip, e.port) for e in endpoints]
    rules.add(NAT, chain)
    if sp.affinity_seconds is not None:
        for sep, ep in zip(seps, endpoints, strict=True):
            rules.add(
                NAT,
                chain,
                (
                    *_comment(f"{label} -> {ep.ip}:{ep.port}"),
                    "-m",
                    "recent",
                    "--name",
                    sep,
                    "--mask",
                    "255.255.255.255",
                    "--rsource",
                    "--rcheck",
                    "--seconds",
                    str(sp.affinity_seconds),
                    "--reap",
                    "-j",
                    sep,
                ),
            )
    n = len(seps)
    for i, (sep, ep) in enumerate(zip(seps, endpoints, strict=True)):
        pick = () if i == n - 1 else ("-m", "statistic", "--mode", "random", "--probability", f"{1 / (n - i):.11f}")
        rules.add(NAT, chain, (*_comment(f"{label} -> {ep.ip}:{ep.port}"), *pick, "-j", sep))
    for sep, ep in zip(seps, endpoints, strict=True):
        if (NAT, sep) in rules.chains:
            continue  # an endpoint in both the cluster-wide and the node-local set
        affinity = (
            ("-m", "recent", "--name", sep, "--mask", "255.255.255.255", "--rsource", "--set")
            if sp.affinity_seconds is not None
            else ()
        )
        rules.add(
            NAT,
            sep,
            (*_comment(label), "-s", f"{ep.ip}/32", "-j", MARK_MASQ),
            (
                *_comment(label),
                "-p",
                sp.protocol.lower(),
                *affinity,
                "-m",
                sp.protocol.lower(),
                "-j",
                "DNAT",
                "--to-destination",
                f"{ep.ip}:{ep.port}",
            ),
        )


def _dnat_port(rules: RuleSet, sp: ServicePort, node: str, cluster_cidr: str) -> None:
    label = _label(sp.name)
    svc = chain_name("SVC", sp.name)
    ext = chain_name("EXT", sp.name)
    svl = chain_name("SVL", sp.name)
    if sp.cluster_ip:
        to_cluster_ip = _to_service_ip(sp, sp.cluster_ip, f"{label} cluster IP")
        local = sp.local_endpoints(node)
        if sp.internal_local and not local:
            # internalTrafficPolicy Local and nothing here to serve it: dropped, as kube-proxy does
            no_local = f"{label} has no local endpoints"
            rules.add(FILTER, SERVICES, (*_to_service_ip(sp, sp.cluster_ip, no_local), "-j", "DROP"))
        else:
            internal = svl if sp.internal_local else svc  # Local: cluster IP traffic stays on this node
            rules.add(NAT, SERVICES, (*to_cluster_ip, "-j", internal))
            if cluster_cidr:  # traffic from outside the pod network must come back through this node
                rules.add(NAT, internal, ("!", "-s", cluster_cidr, *to_cluster_ip, "-j", MARK_MASQ))
            if sp.internal_local:
                _balance(rules, svl, sp, local)
    _balance(rules, svc, sp, sp.endpoints)
    if not (sp.node_port or sp.external_ips):
        return
    for ip in sp.external_ips:
        rules.add(NAT, SERVICES, (*_to_service_ip(sp, ip, f"{label} external IP"), "-j", ext))
    if sp.node_port:
        rules.add(NAT, NODEPORTS, (*_comment(label), *_port_match(sp.protocol, sp.node_port), "-j", ext))
    if not sp.external_local:
        rules.add(NAT, ext, _jump(MARK_MASQ, f"masquerade traffic for {label} external destinations"), _jump(svc))
        return
    # externalTrafficPolicy Local: pods and the node itself may still use every endpoint; outside
    # clients only this node's, with their source address kept (no masquerade)
    local = sp.local_endpoints(node)
    if cluster_cidr:
        rules.add(NAT, ext, ("-s", cluster_cidr, *_comment(f"pod traffic for {label} goes to the service"), "-j", svc))
    rules.add(
        NAT,
        ext,
        ("-m", "addrtype", "--src-type", "LOCAL", "-j", MARK_MASQ),
        ("-m", "addrtype", "--src-type", "LOCAL", "-j", svc),
    )
    if local:
        rules.add(NAT, ext, _jump(svl))
        if (NAT, svl) not in rules.chains:  # laid out already for internal traffic
            _balance(rules, svl, sp, local)
    else:
        no_local = f"{label} has no local endpoints"
        rules.add(FILTER, EXTERNAL, _to_local_port(sp.protocol, sp.node_port or sp.port, no_local, "DROP"))


def _redirect_port(rules: RuleSet, sp: ServicePort, to_port: int) -> None:
    label = _label(sp.name)
    target = ("-j", "REDIRECT", "--to-ports", str(to_port))
    if sp.cluster_ip:
        rules.add(NAT, SERVICES, (*_to_service_ip(sp, sp.cluster_ip, f"{label} cluster IP"), *target))
    for ip in sp.external_ips:
        rules.add(NAT, SERVICES, (*_to_service_ip(sp, ip, f"{label} external IP"), *target))
    if sp.node_port:
        rules.add(NAT, NODEPORTS, (*_comment(label), *_port_match(sp.protocol, sp.node_port), *target))


def _reject_port(rules: RuleSet, sp: ServicePort) -> None:
    label = f"{_label(sp.name)} has no endpoints"
    for ip in filter(None, (sp.cluster_ip, *sp.external_ips)):
        rule = (*_to_service_ip(sp, ip, label), "-j", "REJECT")
        rules.add(FILTER, SERVICES, rule)
        rules.add(FILTER, EXTERNAL, rule)
    if sp.node_port:
        rules.add(FILTER, EXTERNAL, _to_local_port(sp.protocol, sp.node_port, label, "REJECT"))


def desired_rules(
    ports: Iterable[ServicePort],
    *,
    node: str,
    cluster_cidr: str,
    local_ports: Mapping[ServicePortName, int] | None = None,
    redirects: Iterable[Redirect] = (),
) -> RuleSet:
    """The whole rule set for this node. ``local_ports`` maps the service ports a local listener
    serves (userspace mode) to its port; the others with endpoints are DNATed in the kernel."""
    local_ports = local_ports or {}
    rules = RuleSet()
    for table, builtin, chain, extra in (
        (NAT, "PREROUTING", SERVICES, ()),
        (NAT, "OUTPUT", SERVICES, ()),
        (NAT, "POSTROUTING", POSTROUTING, ()),
        (FILTER, "INPUT", EXTERNAL, ("-m", "conntrack", "--ctstate", "NEW")),
        (FILTER, "FORWARD", SERVICES, ("-m", "conntrack", "--ctstate", "NEW")),
        (FILTER, "FORWARD", FORWARD, ()),
        (FILTER, "OUTPUT", SERVICES, ("-m", "conntrack", "--ctstate", "NEW")),
    ):
        rules.jumps.append((table, builtin, (*extra, *_comment(f"pykube {chain.lower()[7:]}"), "-j", chain)))
        rules.add(table, chain)
    rules.add(NAT, NODEPORTS)
    rules.add(NAT, MARK_MASQ, ("-j", "MARK", "--or-mark", "0x4000"))
    if cluster_cidr:
        rules.add(
            NAT,
            POSTROUTING,
            (
                "-s",
                cluster_cidr,
                "!",
                "-d",
                cluster_cidr,
                *_comment("pod traffic leaving the cluster network"),
                "-j",
                "MASQUERADE",
                "--random-fully",
            ),
        )
    rules.add(
        NAT,
        POSTROUTING,
        ("-m", "mark", "!", "--mark", MASQ_MARK, "-j", "RETURN"),
        ("-j", "MARK", "--xor-mark", "0x4000"),
        (*_comment("service traffic requiring SNAT"), "-j", "MASQUERADE", "--random-fully"),
    )
    rules.add(
        FILTER,
        FORWARD,
        ("-m", "mark", "--mark", MASQ_MARK, *_comment("service traffic marked by pykube"), "-j", "ACCEPT"),
        ("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"),
    )
    for r in redirects:
        rules.add(
            NAT,
            SERVICES,
            (
                "-d",
                f"{r.ip}/32",
                *_comment(r.comment),
                *_port_match(r.protocol, r.port),
                "-j",
                "REDIRECT",
                "--to-ports",
                str(r.to_port),
            ),
        )
    for sp in ports:
        if not sp.endpoints:
            _reject_port(rules, sp)
        elif sp.name in local_ports:
            _redirect_port(rules, sp, local_ports[sp.name])
        else:
            _dnat_port(rules, sp, node, cluster_cidr)
    # last: anything addressed to this node may be a NodePort
    rules.add(
        NAT, SERVICES, ("-m", "addrtype", "--dst-type", "LOCAL", *_comment("pykube service nodeports"), "-j", NODEPORTS)
    )
    return rules
