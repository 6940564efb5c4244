"""The cluster DNS record table: Kubernetes' DNS-based service discovery schema (version 1.1.0), answered
the way CoreDNS's ``kubernetes`` plugin answers it, from Services, EndpointSlices and Pods that informers
feed in. Pure: no sockets, no clock after construction.

Names served under the cluster domain ``D``:

- ``<svc>.<ns>.svc.D``: A/AAAA of the cluster IPs; for a headless Service, of its endpoints (ready
  ones, or all when it publishes not-ready addresses; no endpoints: NXDOMAIN, as CoreDNS); for an
  ExternalName Service a CNAME (targets inside ``D`` are followed here, the rest by the server);
  SRV, one per port (and per endpoint when headless);
- ``_<port>._<proto>.<svc>.<ns>.svc.D``: SRV for a named port, targets' addresses in the additional section;
- ``<hostname-or-dashed-ip>.<svc>.<ns>.svc.D``: A/AAAA of one endpoint of a headless Service;
- ``<a-b-c-d>.<ns>.pod.D``: A read from the name itself (CoreDNS's ``pods insecure``);
- ``dns-version.D``: TXT ``1.1.0``; the apex: SOA and NS;
- reverse names (``d.c.b.a.in-addr.arpa``) of cluster IPs, headless endpoints and pod IPs.

Why an index rather than a search per query: every query must cost O(1) whatever the cluster's size, and
so must every informer event. Each Service (and each Pod) *owns* the records it contributes, by name; an
event recomputes only that owner's records and touches only the names whose records differ. Names
that merely have names below them (``<ns>.svc.D``, ``_tcp.<svc>...``) are kept as counted empty
non-terminals, so they answer NODATA rather than NXDOMAIN (RFC 8020: NXDOMAIN denies the whole subtree).

Why a cache of packed replies: dnslib spends far longer parsing and packing a message than a UDP round
trip costs. A reply depends only on the request's bytes after the ID and on the records of the names it
consulted, so the reply to those bytes is kept (minus its ID) and dropped when one of those names
changes; a repeated question costs a dict lookup and a 2-byte splice. Keying on the raw bytes also
echoes the question's exact case (resolvers randomising case, "0x20", accept nothing else).
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from dnslib import (
    AAAA,
    CLASS,
    CNAME,
    EDNS0,
    NS,
    OPCODE,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSHeader,
    DNSLabel,
    DNSRecord,
)

from minikube_py.model.endpoints import SERVICE_NAME_LABEL

Obj = dict[str, Any]

#: CoreDNS's default TTL for records and for negative answers (the SOA minimum)
TTL = 5
#: the DNS schema version Kubernetes' spec says to serve at ``dns-version.<domain>``
SCHEMA_VERSION = "1.1.0"
#: the largest UDP reply sent whatever the client advertises (DNS flag day 2020: never fragment)
MAX_UDP = 1232
#: the largest TCP reply: its length must fit the 2-byte prefix
MAX_TCP = 65535
#: cached replies before the cache starts over (one reply is ~100 bytes: a few MB at most)
CACHE_LIMIT = 50_000
#: in-cluster CNAME hops followed before giving up (ExternalName Services pointing at each other)
CNAME_HOPS = 8

#: who contributes records: ("svc", namespace, name), ("pod", namespace, name) or ("zone",)
Owner = tuple[str, ...]
#: one record: (qtype, value); value is an address or a name, or (port, target) for SRV
Rec = tuple[int, Any]
Records = dict[str, tuple[Rec, ...]]
#: a cached reply: (over UDP?, the request's bytes after its ID)
CacheKey = tuple[bool, bytes]

_A, _AAAA, _CNAME, _PTR, _SRV, _SOA, _NS, _TXT, _ANY, _OPT = (
    QTYPE.A,
    QTYPE.AAAA,
    QTYPE.CNAME,
    QTYPE.PTR,
    QTYPE.SRV,
    QTYPE.SOA,
    QTYPE.NS,
    QTYPE.TXT,
    QTYPE.ANY,
    QTYPE.OPT,
)
_CLASS_ANY = 255
_REVERSE_SUFFIXES = (".in-addr.arpa", ".ip6.arpa")


class MalformedQuery(ValueError):
    """The bytes are not a DNS message dnslib can read."""


# ------------------------------------------------------------------------------ names


def normal_name(name: str) -> str:
    """Lower case, no trailing dot: the form names are indexed under."""
    return name.strip().rstrip(".").lower()


def qname_key(qname: DNSLabel) -> str:
    """A question's name as an index key. Only ASCII letters fold (RFC 4343), and a dot inside a
    label is escaped so that a one-label ``"web.ns"`` cannot pass for two labels."""
    return ".".join(part.lower().replace(b".", b"\\.").decode("latin-1") for part in qname.label)


def _valid_name(name: str) -> bool:
    labels = name.split(".")
    return 0 < len(name) <= 253 and all(0 < len(label) <= 63 for label in labels)


def _ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        return None


def reverse_name(ip: str) -> str:
    """``d.c.b.a.in-addr.arpa`` (or the nibble form under ``ip6.arpa``)."""
    return ipaddress.ip_address(ip).reverse_pointer


def dashed(ip: str) -> str:
    """An address as one DNS label, as Kubernetes spells pod and endpoint names: ``10-1-2-3``."""
    return ip.replace(".", "-").replace(":", "-")


def _address_rec(ip: str) -> Rec:
    return (_AAAA if ":" in ip else _A, ip)


# ------------------------------------------------------------------------------ the objects, reduced


Port = tuple[str, int, str]  # name, number, protocol in lower case


def _ports(entries: Iterable[Obj] | None) -> tuple[Port, ...]:
    ports = []
    for entry in entries or ():
        try:
            number = int(entry["port"])
        except (KeyError, TypeError, ValueError):
            continue  # a slice port without a number stands for all ports: nothing to put in an SRV
        ports.append((str(entry.get("name") or ""), number, str(entry.get("protocol") or "TCP").lower()))
    return tuple(ports)


@dataclass(frozen=True, slots=True)
class _Service:
    """What of a Service its names depend on; an update that leaves this equal does nothing."""

    kind: str  # "cluster" | "headless" | "external" | "pending" (no cluster IP yet)
    ips: tuple[str, ...]
    target: str
    ports: tuple[Port, ...]
    publish_not_ready: bool


def _parse_service(obj: Obj) -> _Service:
    spec = obj.get("spec") or {}
    ports = _ports(spec.get("ports"))
    if spec.get("type") == "ExternalName":
        target = normal_name(str(spec.get("externalName") or ""))
        return _Service("external" if _valid_name(target) else "pending", (), target, ports, False)
    publish = bool(spec.get("publishNotReadyAddresses"))
    if spec.get("clusterIP") == "None":
        return _Service("headless", (), "", ports, publish)
    candidates = spec.get("clusterIPs") or [spec.get("clusterIP")]
    ips = tuple(str(ip) for ip in candidates if ip and _ip(ip) is not None)
    return _Service("cluster" if ips else "pending", ips, "", ports, publish)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    addresses: tuple[str, ...]
    hostname: str
    ready: bool
    pod: str  # the targetRef Pod's name, whose own hostname may name the endpoint


@dataclass(frozen=True, slots=True)
class _Slice:
    service: str
    endpoints: tuple[_Endpoint, ...]
    ports: tuple[Port, ...]


def _parse_slice(obj: Obj) -> _Slice | None:
    """None for a slice that gives no addresses (no service label, or FQDN endpoints)."""
    service = ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service or obj.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
        return None
    endpoints = []
    for entry in obj.get("endpoints") or ():
        addresses = tuple(str(ip) for ip in entry.get("addresses") or () if _ip(ip) is not None)
        if not addresses:
            continue
        ref = entry.get("targetRef") or {}
        endpoints.append(
            _Endpoint(
                addresses,
                str(entry.get("hostname") or "").lower(),
                (entry.get("conditions") or {}).get("ready") is not False,
                str(ref.get("name") or "") if ref.get("kind") == "Pod" else "",
            )
        )
    return _Slice(str(service), tuple(endpoints), _ports(obj.get("ports")))


@dataclass(frozen=True, slots=True)
class _Pod:
    ips: tuple[str, ...]
    hostname: str
    subdomain: str


def _parse_pod(obj: Obj) -> _Pod:
    """A pod's addresses for reverse lookups: none for host-network pods (the address is the node's)
    nor for finished ones (their address is free for the next pod)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ips: tuple[str, ...] = ()
    if not spec.get("hostNetwork") and status.get("phase") not in ("Succeeded", "Failed"):
        found = [status.get("podIP"), *(entry.get("ip") for entry in status.get("podIPs") or ())]
        ips = tuple(dict.fromkeys(str(ip) for ip in found if ip and _ip(ip) is not None))
    return _Pod(ips, str(spec.get("hostname") or "").lower(), str(spec.get("subdomain") or "").lower())


def _key(old: Obj | None, new: Obj | None) -> tuple[str, str]:
    md = (new if new is not None else old or {}).get("metadata") or {}
    return str(md.get("namespace") or ""), str(md.get("name") or "")


# ------------------------------------------------------------------------------ the table


@dataclass
class Chase:
    """A reply ending in a CNAME that leaves the cluster: the server asks the upstreams for ``target``
    and completes it with :meth:`finish`, as CoreDNS resolves ExternalName targets for its clients
    (stub resolvers do not follow CNAMEs themselves)."""

    reply: DNSRecord
    target: str
    qtype: int
    limit: int

    def finish(self, upstream: DNSRecord | None) -> bytes:
        """The reply with the upstream's answers appended (just the CNAME when there are none)."""
        if upstream is not None:
            for rr in upstream.rr:
                self.reply.add_answer(rr)
            if upstream.header.rcode == RCODE.NXDOMAIN:
                self.reply.header.rcode = RCODE.NXDOMAIN
        return pack_reply(self.reply, self.limit)


class ClusterDns:
    """The record table, fed by informer events; pure (no I/O)."""

    def __init__(self, domain: str = "cluster.local") -> None:
        self.domain = normal_name(domain)
        self._suffix = "." + self.domain
        self._services: dict[tuple[str, str], _Service] = {}
        self._slices: dict[tuple[str, str], _Slice] = {}
        self._slices_of: dict[tuple[str, str], set[str]] = {}
        self._pods: dict[tuple[str, str], _Pod] = {}
        self._records: dict[str, dict[Owner, tuple[Rec, ...]]] = {}  # name -> owner -> its records there
        self._owned: dict[Owner, Records] = {}  # owner -> name -> its records there
        self._below: dict[str, int] = {}  # name -> how many existing names lie below it
        # the reply cache: udp? -> request[2:] -> reply[2:]; each entry's names, oldest entry first; and
        # for each name the entries that consulted it. An entry is in all three or in none.
        self._replies: dict[bool, dict[bytes, bytes]] = {True: {}, False: {}}
        self._consulted: dict[CacheKey, tuple[str, ...]] = {}
        self._replies_of: dict[str, CacheKey | set[CacheKey]] = {}  # one entry as itself, more in a set
        soa_times = (int(time.time()), 7200, 1800, 86400, TTL)
        self._soa = SOA(f"ns.dns.{self.domain}.", f"hostmaster.{self.domain}.", soa_times)
        soa_rdata = (
            _wire_name(f"ns.dns.{self.domain}")
            + _wire_name(f"hostmaster.{self.domain}")
            + struct.pack("!5I", *soa_times)
        )
        self._soa_wire = _wire_name(self.domain) + struct.pack("!HHIH", _SOA, 1, TTL, len(soa_rdata)) + soa_rdata
        self._set_owner(
            ("zone",),
            {
                self.domain: ((_SOA, None), (_NS, f"ns.dns.{self.domain}")),
                f"dns-version.{self.domain}": ((_TXT, SCHEMA_VERSION),),
                f"svc.{self.domain}": (),
                f"pod.{self.domain}": (),
            },
        )

    # -------------------------------------------------------------------------- informer handlers

    def on_service(self, old: Obj | None, new: Obj | None) -> None:
        """A Service added (old None), changed, or deleted (new None): redo its names alone."""
        key = _key(old, new)
        parsed = _parse_service(new) if new is not None else None
        if self._services.get(key) == parsed:
            return
        if parsed is None:
            del self._services[key]
        else:
            self._services[key] = parsed
        self._reindex(key)

    def on_slice(self, old: Obj | None, new: Obj | None) -> None:
        """A discovery.k8s.io/v1 EndpointSlice: redo the names of the headless Service(s) it lists endpoints
        for (before and after a change of its service-name label)."""
        ns, name = _key(old, new)
        before = self._slices.get((ns, name))
        after = _parse_slice(new) if new is not None else None
        if before == after:
            return
        if before is not None:
            members = self._slices_of[(ns, before.service)]
            members.discard(name)
            if not members:
                del self._slices_of[(ns, before.service)]
            del self._slices[(ns, name)]
        if after is not None:
            self._slices[(ns, name)] = after
            self._slices_of.setdefault((ns, after.service), set()).add(name)
        for service in {s.service for s in (before, after) if s is not None}:
            self._reindex_if_headless((ns, service))

    def on_pod(self, old: Obj | None, new: Obj | None) -> None:
        """A Pod: the reverse names of its addresses, and its hostname for the endpoints of the headless
        Service its ``subdomain`` names."""
        ns, name = _key(old, new)
        before = self._pods.get((ns, name))
        after = _parse_pod(new) if new is not None else None
        if before == after:
            return
        if after is None:
            del self._pods[(ns, name)]
        else:
            self._pods[(ns, name)] = after
        if (before and before.ips) != (after and after.ips):
            self._set_owner(
                ("pod", ns, name),
                {
                    reverse_name(ip): ((_PTR, f"{dashed(ip)}.{ns}.pod.{self.domain}"),)
                    for ip in (after.ips if after else ())
                },
            )
        # an endpoint without a hostname of its own takes its pod's, when the pod names the Service
        if (before and (before.hostname, before.subdomain)) != (after and (after.hostname, after.subdomain)):
            for pod in (before, after):
                if pod is not None and pod.subdomain:
                    self._reindex_if_headless((ns, pod.subdomain))

    # -------------------------------------------------------------------------- records of a Service

    def _reindex_if_headless(self, key: tuple[str, str]) -> None:
        service = self._services.get(key)
        if service is not None and service.kind == "headless":
            self._reindex(key)

    def _reindex(self, key: tuple[str, str]) -> None:
        self._set_owner(("svc", *key), self._service_records(key))

    def _service_records(self, key: tuple[str, str]) -> Records:
        service = self._services.get(key)
        if service is None:
            return {}
        ns, name = key
        base = f"{name}.{ns}.svc.{self.domain}".lower()
        if not _valid_name(base):
            return {}
        out: dict[str, list[Rec]] = {base: []}
        if service.kind == "external":
            out[base].append((_CNAME, service.target))
        elif service.kind == "cluster":
            out[base] += [_address_rec(ip) for ip in service.ips]
            for port_name, port, protocol in service.ports:
                self._add_srv(out, base, port_name, protocol, port, base)
            for ip in service.ips:
                out[reverse_name(ip)] = [(_PTR, base)]
        elif service.kind == "headless":
            self._headless_records(out, key, service, base)
            if not out[base]:
                return {}  # no endpoints: NXDOMAIN, as CoreDNS
        return {owner_name: tuple(dict.fromkeys(recs)) for owner_name, recs in out.items()}

    def _headless_records(self, out: dict[str, list[Rec]], key: tuple[str, str], service: _Service, base: str) -> None:
        ns, name = key
        for slice_name in sorted(self._slices_of.get(key, ())):
            slice_ = self._slices[(ns, slice_name)]
            for endpoint in slice_.endpoints:
                if not (endpoint.ready or service.publish_not_ready):
                    continue
                label = endpoint.hostname or self._pod_hostname(ns, endpoint.pod, name) or dashed(endpoint.addresses[0])
                host = f"{label}.{base}"
                if not _valid_name(host):
                    continue
                for ip in endpoint.addresses:
                    out[base].append(_address_rec(ip))
                    out.setdefault(host, []).append(_address_rec(ip))
                    out.setdefault(reverse_name(ip), []).append((_PTR, host))
                for port_name, port, protocol in slice_.ports:
                    self._add_srv(out, base, port_name, protocol, port, host)

    def _pod_hostname(self, ns: str, pod_name: str, service: str) -> str:
        pod = self._pods.get((ns, pod_name)) if pod_name else None
        return pod.hostname if pod is not None and pod.subdomain == service else ""

    @staticmethod
    def _add_srv(out: dict[str, list[Rec]], base: str, port_name: str, protocol: str, port: int, target: str) -> None:
        """SRV on the Service's name for every port, and on ``_<port>._<proto>`` for a named one."""
        out[base].append((_SRV, (port, target)))
        if port_name:
            out.setdefault(f"_{port_name}._{protocol}.{base}".lower(), []).append((_SRV, (port, target)))

    # -------------------------------------------------------------------------- the index

    def _set_owner(self, owner: Owner, records: Records) -> None:
        """Make ``records`` all that ``owner`` contributes, touching only the names that change."""
        old = self._owned.pop(owner, {})
        if records:
            self._owned[owner] = records
        for name in old.keys() - records.keys():
            self._drop(name, owner)
        for name, recs in records.items():
            if old.get(name) != recs:
                self._put(name, owner, recs)

    def _put(self, name: str, owner: Owner, recs: tuple[Rec, ...]) -> None:
        owners = self._records.get(name)
        if owners is None:
            owners = self._records[name] = {}
            self._count_below(name, 1)
        owners[owner] = recs
        self._forget(name)

    def _drop(self, name: str, owner: Owner) -> None:
        owners = self._records[name]
        del owners[owner]
        if not owners:
            del self._records[name]
            self._count_below(name, -1)
        self._forget(name)

    def _ancestors(self, name: str) -> Iterator[str]:
        """The names between ``name`` and the cluster domain (exclusive); none outside the domain."""
        if not name.endswith(self._suffix):
            return
        while True:
            name = name.partition(".")[2]
            if name == self.domain:
                return
            yield name

    def _count_below(self, name: str, delta: int) -> None:
        for parent in self._ancestors(name):
            count = self._below.get(parent, 0) + delta
            if count:
                self._below[parent] = count
            else:
                del self._below[parent]
            if count in (0, delta):  # became or stopped being an empty non-terminal
                self._forget(parent)

    def _exists(self, name: str) -> bool:
        return name in self._records or name in self._below

    def _records_at(self, name: str) -> list[Rec]:
        """Every record at ``name``; a pod's PTR only when no Service names the address (a headless
        endpoint's name says more than the pod's dashed one)."""
        owners = self._records.get(name)
        if not owners:
            return []
        if len(owners) == 1:
            return list(next(iter(owners.values())))
        named = [rec for owner, recs in owners.items() if owner[0] != "pod" for rec in recs]
        types = {rec[0] for rec in named}
        pods = [rec for owner, recs in owners.items() if owner[0] == "pod" for rec in recs if rec[0] not in types]
        return list(dict.fromkeys(named + pods))

    def _pod_address(self, name: str) -> tuple[bool, list[Rec]]:
        """(exists, records) for names under ``pod.D``: ``<dashed-ip>.<ns>.pod.D`` reads as its address;
        ``<ns>.pod.D`` has names below it."""
        labels = name[: -len(self._suffix) - len(".pod")].split(".") if name.endswith(".pod" + self._suffix) else []
        if len(labels) == 1:
            return True, []
        if len(labels) == 2:
            ip = _ip(labels[0].replace("-", ".")) or _ip(labels[0].replace("-", ":"))
            if ip is not None and "%" not in labels[0]:
                return True, [_address_rec(str(ip))]
        return False, []

    # -------------------------------------------------------------------------- queries

    def answer(self, request: DNSRecord) -> DNSRecord | None:
        """The reply for a cluster name (NOERROR/NXDOMAIN), or None when the name is outside the cluster domain
        and must be forwarded."""
        reply, _names, chase = self._answer(request)
        return chase.reply if chase is not None else reply

    def cached(self, packet: bytes, udp: bool = True) -> bytes | None:
        """The cached reply to exactly these bytes (apart from the ID), with the request's ID."""
        wire = self._replies[udp].get(packet[2:])
        return None if wire is None else packet[:2] + wire

    def reply(self, packet: bytes, udp: bool = True) -> bytes | Chase | None:
        """What the server sends for a raw query: the packed reply (truncated to the client's UDP size
        when ``udp``), a :class:`Chase` to finish upstream, or None to forward the query as it is.

        Raises :class:`MalformedQuery` when the bytes do not parse."""
        wire = self.cached(packet, udp)
        if wire is not None:
            return wire
        simple = read_simple_query(packet)
        if simple is not None:
            name, qclass, end, has_opt = simple
            if qclass in (CLASS.IN, _CLASS_ANY):
                if name == self.domain or name.endswith(self._suffix):
                    if not self._exists(name) and not self._pod_address(name)[0]:
                        wire = self._nxdomain(packet, end, has_opt)
                        self._remember(udp, packet[2:], wire[2:], (name,))
                        return wire
                elif not (name.endswith(_REVERSE_SUFFIXES) and name in self._records):
                    return None  # not ours: forward without reading more
        try:
            request = DNSRecord.parse(packet)
        except Exception as exc:  # dnslib raises more than DNSError on garbage (struct, index, unicode errors)
            raise MalformedQuery(str(exc)) from exc
        if any(len(question.qname) > 253 for question in request.questions):
            raise MalformedQuery("name longer than 253 bytes")  # dnslib reads it but cannot write it back
        reply, names, chase = self._answer(request)
        limit = udp_limit(request) if udp else MAX_TCP
        if chase is not None:
            chase.limit = limit
            return chase
        if reply is None:
            return None
        wire = pack_reply(reply, limit)
        self._remember(udp, packet[2:], wire[2:], names)
        return wire

    def _nxdomain(self, packet: bytes, end: int, has_opt: bool) -> bytes:
        """NXDOMAIN written by hand: the commonest miss (every search-path try of every name outside the
        cluster) at a fraction of dnslib's cost. The same message dnslib would write, uncompressed."""
        flags = bytes([0x84 | (packet[2] & 0x79), 0x80 | RCODE.NXDOMAIN])  # QR AA + opcode RD; RA
        counts = b"\x00\x01\x00\x00\x00\x01" + (b"\x00\x01" if has_opt else b"\x00\x00")
        return packet[:2] + flags + counts + packet[12:end] + self._soa_wire + (_OPT_WIRE if has_opt else b"")

    def _remember(self, udp: bool, key: bytes, wire: bytes, names: Iterable[str]) -> None:
        """Cache a reply under the names it consulted. When full, the oldest entry goes: one at a time,
        so that a stream of new names never costs a pause to empty the whole cache."""
        entry = (udp, key)
        self._evict(entry)
        if len(self._consulted) >= CACHE_LIMIT:
            self._evict(next(iter(self._consulted)))
        consulted = tuple(dict.fromkeys(names))
        self._replies[udp][key] = wire
        self._consulted[entry] = consulted
        for name in consulted:
            linked = self._replies_of.get(name)
            if linked is None:
                # most names are consulted by one reply (a new name's NXDOMAIN): no set for them, as a
                # set is one more object for every full garbage collection to walk, and those pause us
                self._replies_of[name] = entry
            elif isinstance(linked, set):
                linked.add(entry)
            elif linked != entry:
                self._replies_of[name] = {linked, entry}

    def _evict(self, entry: CacheKey) -> None:
        names = self._consulted.pop(entry, None)
        if names is None:
            return
        self._replies[entry[0]].pop(entry[1], None)
        for name in names:
            linked = self._replies_of.get(name)
            if isinstance(linked, set):
                linked.discard(entry)
                if not linked:
                    del self._replies_of[name]
            elif linked == entry:
                del self._replies_of[name]

    def _forget(self, name: str) -> None:
        """Drop the cached replies that consulted ``name`` (its records, or its existence, changed)."""
        linked = self._replies_of.get(name)
        for entry in list(linked) if isinstance(linked, set) else [linked] if linked is not None else []:
            self._evict(entry)

    def _answer(self, request: DNSRecord) -> tuple[DNSRecord | None, list[str], Chase | None]:
        """(reply or None to forward, the names the reply depends on, a chase when it leaves the cluster)."""
        if request.header.opcode != OPCODE.QUERY or len(request.questions) != 1:
            rcode = RCODE.NOTIMP if request.header.opcode != OPCODE.QUERY else RCODE.FORMERR
            return self._blank(request, rcode), [], None
        if _edns_version(request):
            return self._blank(request, RCODE.NOERROR), [], None  # BADVERS (set by _blank): nothing else to say
        question = request.q
        if question.qclass not in (CLASS.IN, _CLASS_ANY):
            return None, [], None
        name = qname_key(question.qname)
        if name == self.domain or name.endswith(self._suffix):
            return self._cluster_answer(request, name)
        if name.endswith(_REVERSE_SUFFIXES) and name in self._records:
            reply, names = self._blank(request, RCODE.NOERROR), [name]
            self._add_records(reply, question.qname, self._records_at(name), question.qtype, names)
            return reply, names, None
        return None, [], None

    def _blank(self, request: DNSRecord, rcode: int) -> DNSRecord:
        """A reply carrying the question; an OPT when the query had one (BADVERS for EDNS versions
        other than 0, RFC 6891)."""
        # QR, AA and RA set; opcode and RD copied; the bitmap at once (dnslib's per-flag setters are slow)
        bitmap = 0x8000 | 0x0400 | 0x0080 | (request.header.bitmap & 0x7900) | rcode
        header = DNSHeader(id=request.header.id, bitmap=bitmap)
        reply = DNSRecord(header, q=request.q if request.questions else None)
        if any(rr.rtype == _OPT for rr in request.ar):
            # BADVERS is rcode 16: extended rcode 1 in the OPT, 0 in the header
            reply.add_ar(EDNS0(udp_len=MAX_UDP, ext_rcode=1 if _edns_version(request) else 0))
        return reply

    def _cluster_answer(self, request: DNSRecord, name: str) -> tuple[DNSRecord, list[str], Chase | None]:
        question = request.q
        reply = self._blank(request, RCODE.NOERROR)
        qtype, owner, names = question.qtype, question.qname, [name]
        for _hop in range(CNAME_HOPS):
            exists, records = self._pod_address(name)
            if not exists:
                exists, records = self._exists(name), self._records_at(name)
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
                break
            cname = next((value for rtype, value in records if rtype == _CNAME), None)
            if cname is None or qtype in (_CNAME, _ANY):
                self._add_records(reply, owner, records, qtype, names)
                break
            reply.add_answer(RR(owner, _CNAME, ttl=TTL, rdata=CNAME(cname + ".")))
            if not (cname == self.domain or cname.endswith(self._suffix)):
                return reply, names, Chase(reply, cname, qtype, MAX_TCP)
            name = owner = cname
            names.append(name)
        if not reply.rr or reply.header.rcode == RCODE.NXDOMAIN:
            reply.add_auth(RR(self.domain + ".", _SOA, ttl=TTL, rdata=self._soa))
        return reply, names, None

    def _add_records(
        self, reply: DNSRecord, owner: DNSLabel | str, records: list[Rec], qtype: int, names: list[str]
    ) -> None:
        """The records of ``qtype`` into the answer; for SRV, the targets' addresses as additional
        records (and the targets among the names the reply depends on)."""
        matched = [rec for rec in records if qtype == _ANY or rec[0] == qtype]
        srv_count = sum(1 for rtype, _value in matched if rtype == _SRV)
        targets: dict[str, None] = {}
        for rtype, value in matched:
            if rtype == _SRV:
                port, target = value
                rdata: Any = SRV(priority=0, weight=100 // srv_count, port=port, target=target + ".")
                targets[target] = None
            elif rtype == _A:
                rdata = A(value)
            elif rtype == _AAAA:
                rdata = AAAA(value)
            elif rtype == _SOA:
                rdata = self._soa
            elif rtype == _TXT:
                rdata = TXT(value)
            else:  # PTR, CNAME, NS: a name
                rdata = {_PTR: PTR, _CNAME: CNAME, _NS: NS}[rtype](value + ".")
            reply.add_answer(RR(owner, rtype, ttl=TTL, rdata=rdata))
        for target in targets:
            names.append(target)
            for rtype, value in self._records_at(target):
                if rtype in (_A, _AAAA):
                    reply.add_ar(RR(target + ".", rtype, ttl=TTL, rdata=A(value) if rtype == _A else AAAA(value)))


# ------------------------------------------------------------------------------ wire helpers


def _wire_name(name: str) -> bytes:
    """A name in wire form, uncompressed (so that it can be spliced in anywhere)."""
    return b"".join(bytes([len(label)]) + label for label in name.encode().split(b".") if label) + b"\x00"


#: our OPT record: root owner, our UDP size, extended rcode, version and flags 0, no options
_OPT_WIRE = b"\x00" + struct.pack("!HHIH", _OPT, MAX_UDP, 0, 0)


def read_simple_query(packet: bytes) -> tuple[str, int, int, bool] | None:
    """(name key, qclass, end of the question, has an OPT) for a query of the common shape (opcode
    QUERY, one question, no records but an EDNS version 0 OPT, nothing after), read without dnslib;
    None for anything else, which dnslib then reads (and judges)."""
    if len(packet) < 17 or packet[2] & 0xF8 or packet[4:10] != b"\x00\x01\x00\x00\x00\x00" or packet[10]:
        return None
    records = packet[11]
    offset, labels = 12, []
    while True:
        length = packet[offset]
        if length == 0:
            break
        label = packet[offset + 1 : offset + 1 + length]
        if length > 63 or len(label) != length or b"." in label:  # > 63: a pointer (or junk)
            return None
        labels.append(label)
        offset += 1 + length
        if offset >= len(packet) or offset > 12 + 254:
            return None
    end = offset + 5
    if end > len(packet):
        return None
    qclass = int.from_bytes(packet[end - 2 : end], "big")
    if records == 0:
        has_opt = False
        if end != len(packet):
            return None
    elif records == 1:
        opt = packet[end : end + 11]  # root, type, class (size), extended rcode, version, flags, length
        if len(opt) != 11 or opt[0] != 0 or opt[1:3] != b"\x00\x29" or opt[6] != 0:
            return None
        if end + 11 + int.from_bytes(opt[9:11], "big") != len(packet):
            return None
        has_opt = True
    else:
        return None
    try:
        name = b".".join(labels).lower().decode("ascii")
    except UnicodeDecodeError:
        return None
    return (name, qclass, end, has_opt) if len(name) <= 253 else None


def _edns_version(request: DNSRecord) -> int:
    opt = next((rr for rr in request.ar if rr.rtype == _OPT), None)
    return 0 if opt is None else (opt.ttl >> 16) & 0xFF


def udp_limit(request: DNSRecord) -> int:
    """The largest UDP reply this client takes: 512 bytes, or its EDNS buffer size up to :data:`MAX_UDP`."""
    opt = next((rr for rr in request.ar if rr.rtype == _OPT), None)
    return 512 if opt is None else max(512, min(int(opt.rclass), MAX_UDP))


def pack_reply(reply: DNSRecord, limit: int | None) -> bytes:
    """Pack, fitting ``limit`` bytes when given (any limit under 65,536 for TCP): additional records go first (no TC needed, RFC 2181),
    then trailing answers, with TC set so that the client asks again over TCP."""
    wire = bytes(reply.pack())
    if limit is None or len(wire) <= limit:
        return wire
    reply.ar = [rr for rr in reply.ar if rr.rtype == _OPT]
    wire = bytes(reply.pack())
    if len(wire) <= limit:
        return wire
    reply.auth = []
    answers = reply.rr
    low, high = 0, len(answers)  # the most answers that fit lie in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        reply.rr = answers[:middle]
        if len(reply.pack()) <= limit:
            low = middle
        else:
            high = middle
    reply.rr = answers[:low]
    reply.header.tc = 1
    return bytes(reply.pack())
