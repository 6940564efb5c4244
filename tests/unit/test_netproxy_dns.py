"""The cluster DNS: the record table (every kind of name, updates and deletions, the reply cache) and the
server over real loopback sockets (UDP, TCP, forwarding to a tiny upstream started here, SERVFAIL when
upstreams are silent or absent, garbage that must not stop it)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop
from dnslib import EDNS0, QTYPE, RCODE, RR, A, DNSRecord
from prometheus_client import REGISTRY

from minikube_py.model.endpoints import slice_endpoint
from minikube_py.model.statefulsets import new_pod
from minikube_py.netproxy import dns, dnsrecords
from minikube_py.netproxy.dns import ClusterDns, DnsServer, _bind_pair, upstream_resolvers
from minikube_py.netproxy.dnsrecords import MalformedQuery

Obj = dict[str, Any]
D = "cluster.local"


# ------------------------------------------------------------------------------ objects


def service(
    name: str, ns: str = "default", *, ip: str | None = "10.96.0.10", ports: list[Obj] | None = None, **spec: Any
) -> Obj:
    body: Obj = {"ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}
    if ip is not None:
        body["clusterIP"] = ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": body}


def headless(name: str, ns: str = "default", **spec: Any) -> Obj:
    return service(name, ns, ip="None", **spec)


def endpoint(ip: str, *, ready: bool | None = True, hostname: str | None = None, pod: str | None = None) -> Obj:
    entry: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        entry["hostname"] = hostname
    if pod:
        entry["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "default"}
    return entry


def endpoint_slice(
    name: str, svc: str, endpoints: list[Obj], ns: str = "default", ports: list[Obj] | None = None
) -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def pod(name: str, ip: str | None, ns: str = "default", *, phase: str = "Running", **spec: Any) -> Obj:
    status: Obj = {"phase": phase}
    if ip:
        status["podIP"] = ip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
        "status": status,
    }


def ask(table: ClusterDns, name: str, qtype: str = "A") -> DNSRecord | None:
    reply = table.answer(DNSRecord.question(name, qtype))
    # every reply must survive the wire
    return None if reply is None else DNSRecord.parse(reply.pack())


def values(reply: DNSRecord | None, qtype: str | None = None, section: str = "rr") -> list[str]:
    assert reply is not None
    return [str(rr.rdata) for rr in getattr(reply, section) if qtype is None or rr.rtype == getattr(QTYPE, qtype)]


def rcode(reply: DNSRecord | None) -> str:
    assert reply is not None
    return RCODE[reply.header.rcode]


# ------------------------------------------------------------------------------ the table: services


def test_cluster_ip_service_a_record_case_insensitive_and_echoing_the_question() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    reply = ask(table, "WeB.Default.SVC.cluster.LOCAL.")
    assert rcode(reply) == "NOERROR" and values(reply, "A") == ["10.96.0.10"]
    assert reply is not None and str(reply.q.qname) == "WeB.Default.SVC.cluster.LOCAL."
    assert reply.header.aa and reply.header.qr and reply.rr[0].ttl == 5


def test_srv_for_named_ports_and_on_the_service_name() -> None:
    table = ClusterDns()
    table.on_service(
        None,
        service(
            "web",
            ports=[
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"port": 9000},
            ],
        ),
    )
    reply = ask(table, f"_http._tcp.web.default.svc.{D}", "SRV")
    assert values(reply, "SRV") == [f"0 100 80 web.default.svc.{D}."]
    assert values(reply, "A", "ar") == ["10.96.0.10"]
    assert values(ask(table, f"_dns._udp.web.default.svc.{D}", "SRV")) == [f"0 100 53 web.default.svc.{D}."]
    assert rcode(ask(table, f"_dns._tcp.web.default.svc.{D}", "SRV")) == "NXDOMAIN"
    everything = values(ask(table, f"web.default.svc.{D}", "SRV"), "SRV")
    assert everything == [f"0 33 {port} web.default.svc.{D}." for port in (80, 53, 9000)]
    # the protocol label is an empty non-terminal: NODATA
    assert rcode(ask(table, f"_tcp.web.default.svc.{D}", "SRV")) == "NOERROR"


def test_headless_service_lists_ready_endpoints_with_their_names() -> None:
    table = ClusterDns()
    table.on_service(None, headless("db"))
    table.on_slice(
        None,
        endpoint_slice(
            "db-1",
            "db",
            [
                endpoint("10.244.0.5", hostname="db-0"),
                endpoint("10.244.0.6", ready=None),
                endpoint("10.244.0.7", ready=False),
            ],
        ),
    )
    assert values(ask(table, f"db.default.svc.{D}"), "A") == ["10.244.0.5", "10.244.0.6"]
    assert values(ask(table, f"db-0.db.default.svc.{D}")) == ["10.244.0.5"]
    assert values(ask(table, f"10-244-0-6.db.default.svc.{D}")) == ["10.244.0.6"]
    assert rcode(ask(table, f"10-244-0-7.db.default.svc.{D}")) == "NXDOMAIN"
    reply = ask(table, f"_http._tcp.db.default.svc.{D}", "SRV")
    assert values(reply, "SRV") == [f"0 50 8080 db-0.db.default.svc.{D}.", f"0 50 8080 10-244-0-6.db.default.svc.{D}."]
    assert values(reply, "A", "ar") == ["10.244.0.5", "10.244.0.6"]
    assert [str(rr.rname) for rr in reply.ar] == [f"db-0.db.default.svc.{D}.", f"10-244-0-6.db.default.svc.{D}."]
    assert len(values(ask(table, f"db.default.svc.{D}", "SRV"), "SRV")) == 2


def test_headless_service_publishing_not_ready_addresses() -> None:
    table = ClusterDns()
    table.on_service(None, headless("db", publishNotReadyAddresses=True))
    table.on_slice(None, endpoint_slice("db-1", "db", [endpoint("10.244.0.7", ready=False)]))
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.244.0.7"]


def test_headless_service_without_endpoints_is_nxdomain_as_in_coredns() -> None:
    table = ClusterDns()
    table.on_service(None, headless("db"))
    assert rcode(ask(table, f"db.default.svc.{D}")) == "NXDOMAIN"
    table.on_slice(None, endpoint_slice("db-1", "db", [endpoint("10.244.0.7", ready=False)]))
    assert rcode(ask(table, f"db.default.svc.{D}")) == "NXDOMAIN"


def test_service_without_cluster_ip_yet_exists_without_records() -> None:
    table = ClusterDns()
    table.on_service(None, service("web", ip=None))
    reply = ask(table, f"web.default.svc.{D}")
    assert rcode(reply) == "NOERROR" and values(reply) == []


def test_external_name_service_is_a_cname_followed_inside_the_cluster() -> None:
    table = ClusterDns()
    table.on_service(None, service("ext", ip=None, type="ExternalName", externalName="Example.ORG."))
    reply = ask(table, f"ext.default.svc.{D}")
    assert values(reply) == ["example.org."] and reply is not None and reply.rr[0].rtype == QTYPE.CNAME
    table.on_service(None, service("alias", "other", ip=None, type="ExternalName", externalName=f"web.default.svc.{D}"))
    table.on_service(None, service("web"))
    reply = ask(table, f"alias.other.svc.{D}")
    assert values(reply) == [f"web.default.svc.{D}.", "10.96.0.10"]
    assert values(ask(table, f"alias.other.svc.{D}", "CNAME")) == [f"web.default.svc.{D}."]
    table.on_service(service("web"), None)
    reply = ask(table, f"alias.other.svc.{D}")
    assert rcode(reply) == "NXDOMAIN" and values(reply) == [f"web.default.svc.{D}."]


def test_dual_stack_cluster_ips() -> None:
    table = ClusterDns()
    table.on_service(None, service("web", clusterIPs=["10.96.0.10", "fd00::a"]))
    assert values(ask(table, f"web.default.svc.{D}", "AAAA")) == ["fd00::a"]
    assert values(ask(table, "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "PTR")) == [
        f"web.default.svc.{D}."
    ]


# ------------------------------------------------------------------------------ the table: pods, reverse, the zone


def test_pod_a_records_read_from_the_name() -> None:
    table = ClusterDns()
    assert values(ask(table, f"10-244-1-7.any.pod.{D}")) == ["10.244.1.7"]
    assert values(ask(table, f"fd00--7.any.pod.{D}", "AAAA")) == ["fd00::7"]
    assert rcode(ask(table, f"10-244-1-7.any.pod.{D}", "AAAA")) == "NOERROR"
    assert rcode(ask(table, f"10-244-1-999.any.pod.{D}")) == "NXDOMAIN"
    assert rcode(ask(table, f"x.10-244-1-7.any.pod.{D}")) == "NXDOMAIN"
    assert rcode(ask(table, f"any.pod.{D}")) == "NOERROR"


def test_reverse_names_of_services_endpoints_and_pods() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    table.on_service(None, headless("db"))
    table.on_slice(
        None, endpoint_slice("db-1", "db", [endpoint("10.244.0.5", hostname="db-0"), endpoint("10.244.0.6")])
    )
    table.on_pod(None, pod("loner", "10.244.0.9"))
    table.on_pod(None, pod("db-0", "10.244.0.5"))
    assert values(ask(table, "10.0.96.10.in-addr.arpa", "PTR")) == [f"web.default.svc.{D}."]
    assert values(ask(table, "5.0.244.10.in-addr.arpa", "PTR")) == [f"db-0.db.default.svc.{D}."]
    assert values(ask(table, "6.0.244.10.IN-ADDR.ARPA", "PTR")) == [f"10-244-0-6.db.default.svc.{D}."]
    assert values(ask(table, "9.0.244.10.in-addr.arpa", "PTR")) == [f"10-244-0-9.default.pod.{D}."]
    # the node's resolver answers for addresses the cluster does not know
    assert ask(table, "1.1.168.192.in-addr.arpa", "PTR") is None
    assert ask(table, "0.244.10.in-addr.arpa", "PTR") is None
    # the pod's name takes over when the endpoint goes
    table.on_slice(endpoint_slice("db-1", "db", []), None)
    table.on_pod(None, pod("db-0", "10.244.0.5"))
    assert values(ask(table, "5.0.244.10.in-addr.arpa", "PTR")) == [f"10-244-0-5.default.pod.{D}."]


def test_pod_ptr_follows_pod_updates_and_deletion() -> None:
    table = ClusterDns()
    table.on_pod(None, pod("p", None))
    assert ask(table, "9.0.244.10.in-addr.arpa", "PTR") is None
    table.on_pod(pod("p", None), pod("p", "10.244.0.9"))
    assert values(ask(table, "9.0.244.10.in-addr.arpa", "PTR")) == [f"10-244-0-9.default.pod.{D}."]
    table.on_pod(pod("p", "10.244.0.9"), pod("p", "10.244.0.9", phase="Succeeded"))
    assert ask(table, "9.0.244.10.in-addr.arpa", "PTR") is None
    table.on_pod(None, pod("q", "10.244.0.10"))
    table.on_pod(pod("q", "10.244.0.10"), None)
    assert ask(table, "10.0.244.10.in-addr.arpa", "PTR") is None
    table.on_pod(None, pod("h", "192.168.1.4", hostNetwork=True))
    assert ask(table, "4.1.168.192.in-addr.arpa", "PTR") is None


def test_endpoint_takes_the_hostname_its_pod_asks_for() -> None:
    table = ClusterDns()
    table.on_service(None, headless("db"))
    table.on_slice(None, endpoint_slice("db-1", "db", [endpoint("10.244.0.5", pod="db-0")]))
    assert values(ask(table, f"10-244-0-5.db.default.svc.{D}")) == ["10.244.0.5"]
    table.on_pod(None, pod("db-0", "10.244.0.5", hostname="primary", subdomain="db"))
    assert values(ask(table, f"primary.db.default.svc.{D}")) == ["10.244.0.5"]
    assert rcode(ask(table, f"10-244-0-5.db.default.svc.{D}")) == "NXDOMAIN"
    table.on_pod(pod("db-0", "10.244.0.5"), None)
    assert values(ask(table, f"10-244-0-5.db.default.svc.{D}")) == ["10.244.0.5"]


def test_missing_names_are_nxdomain_with_the_soa_and_missing_types_nodata() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    for name in (f"nope.default.svc.{D}", f"example.org.default.svc.{D}", f"web.nope.svc.{D}", f"x.{D}"):
        reply = ask(table, name)
        assert rcode(reply) == "NXDOMAIN", name
        assert reply is not None and len(reply.auth) == 1
        soa = reply.auth[0]
        assert soa.rtype == QTYPE.SOA and str(soa.rname) == f"{D}." and soa.ttl == 5
        assert str(soa.rdata.mname) == f"ns.dns.{D}." and soa.rdata.times[-1] == 5
    for name, qtype in (
        (f"web.default.svc.{D}", "AAAA"),
        (f"web.default.svc.{D}", "MX"),
        (f"default.svc.{D}", "A"),
        (f"svc.{D}", "A"),
    ):
        reply = ask(table, name, qtype)
        assert rcode(reply) == "NOERROR" and values(reply) == [] and reply is not None and len(reply.auth) == 1
    assert ask(table, "example.org") is None
    assert ask(table, "cluster.localhost") is None
    assert values(ask(table, D, "SOA"))[0].startswith(f"ns.dns.{D}. hostmaster.{D}.")
    assert values(ask(table, D, "NS")) == [f"ns.dns.{D}."]
    assert values(ask(table, f"dns-version.{D}", "TXT")) == ['"1.1.0"']


def test_other_cluster_domain() -> None:
    table = ClusterDns("Corp.Example.")
    table.on_service(None, service("web"))
    assert values(ask(table, "web.default.svc.corp.example")) == ["10.96.0.10"]
    assert ask(table, f"web.default.svc.{D}") is None


# ------------------------------------------------------------------------------ the table: updates


def test_service_updates_and_deletions_take_effect() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    table.on_service(service("web"), service("web", ip="10.96.0.20"))
    assert values(ask(table, f"web.default.svc.{D}")) == ["10.96.0.20"]
    assert ask(table, "10.0.96.10.in-addr.arpa", "PTR") is None
    assert values(ask(table, "20.0.96.10.in-addr.arpa", "PTR")) == [f"web.default.svc.{D}."]
    table.on_service(service("web", ip="10.96.0.20"), service("web", ip="10.96.0.20", ports=[]))
    assert rcode(ask(table, f"_http._tcp.web.default.svc.{D}", "SRV")) == "NXDOMAIN"
    table.on_service(service("web"), None)
    assert rcode(ask(table, f"web.default.svc.{D}")) == "NXDOMAIN"
    assert rcode(ask(table, f"default.svc.{D}")) == "NXDOMAIN"  # no longer has names below it
    assert ask(table, "20.0.96.10.in-addr.arpa", "PTR") is None


def test_slice_updates_moves_and_deletions_take_effect() -> None:
    table = ClusterDns()
    table.on_service(None, headless("db"))
    table.on_service(None, headless("cache"))
    first = endpoint_slice("s1", "db", [endpoint("10.244.0.5")])
    table.on_slice(None, first)
    table.on_slice(None, endpoint_slice("s2", "db", [endpoint("10.244.0.6")]))
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.244.0.5", "10.244.0.6"]
    grown = endpoint_slice("s1", "db", [endpoint("10.244.0.5"), endpoint("10.244.0.8")])
    table.on_slice(first, grown)
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.244.0.5", "10.244.0.8", "10.244.0.6"]
    moved = endpoint_slice("s1", "cache", [endpoint("10.244.0.5")])
    table.on_slice(grown, moved)
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.244.0.6"]
    assert values(ask(table, f"cache.default.svc.{D}")) == ["10.244.0.5"]
    table.on_slice(moved, None)
    assert rcode(ask(table, f"cache.default.svc.{D}")) == "NXDOMAIN"
    # a Service turning headless takes up its slices; one getting a cluster IP drops them
    table.on_service(headless("db"), service("db", ip="10.96.0.30"))
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.96.0.30"]
    table.on_service(service("db", ip="10.96.0.30"), headless("db"))
    assert values(ask(table, f"db.default.svc.{D}")) == ["10.244.0.6"]


def test_events_only_touch_their_own_service() -> None:
    table = ClusterDns()
    for i in range(2000):
        table.on_service(None, service(f"s{i}", ip=f"10.96.{i // 250}.{i % 250}"))
    calls: list[tuple[str, str]] = []
    original = table._service_records

    def counting(key: tuple[str, str]) -> Any:
        calls.append(key)
        return original(key)

    table._service_records = counting  # type: ignore[method-assign]
    table.on_service(service("s7", ip="10.96.0.7"), service("s7", ip="10.96.9.9"))
    table.on_slice(None, endpoint_slice("x", "s8", [endpoint("10.244.0.1")]))  # not headless: nothing to redo
    table.on_service(service("s9", ip="10.96.0.9"), service("s9", ip="10.96.0.9"))  # no change: nothing to redo
    assert calls == [("default", "s7")]
    assert values(ask(table, f"s7.default.svc.{D}")) == ["10.96.9.9"]


# ------------------------------------------------------------------------------ the table: wire and cache


def query(name: str, qtype: str = "A", *, qid: int = 1, edns: int | None = None) -> bytes:
    request = DNSRecord.question(name, qtype)
    request.header.id = qid
    if edns is not None:
        request.add_ar(EDNS0(udp_len=edns))
    return bytes(request.pack())


def test_reply_cache_patches_the_id_and_forgets_changed_names() -> None:
    table = ClusterDns()
    name = f"web.default.svc.{D}"
    first = table.reply(query(name, qid=1))
    assert isinstance(first, bytes) and rcode(DNSRecord.parse(first)) == "NXDOMAIN"
    table.on_service(None, service("web"))
    second = table.reply(query(name, qid=2))
    assert isinstance(second, bytes) and values(DNSRecord.parse(second)) == ["10.96.0.10"]
    hit = table.cached(query(name, qid=0xBEEF))
    assert hit is not None and hit[:2] == b"\xbe\xef" and hit[2:] == second[2:]
    table.on_service(service("web"), service("web", ip="10.96.0.11"))
    assert table.cached(query(name, qid=3)) is None
    assert values(DNSRecord.parse(table.reply(query(name, qid=3)))) == ["10.96.0.11"]  # type: ignore[arg-type]
    # an SRV reply depends on its targets' addresses too
    srv = f"_http._tcp.web.default.svc.{D}"
    table.reply(query(srv, "SRV"))
    table.on_service(service("web"), service("web", ip="10.96.0.12"))
    assert values(DNSRecord.parse(table.reply(query(srv, "SRV"))), "A", "ar") == ["10.96.0.12"]  # type: ignore[arg-type]
    # an empty non-terminal that comes and goes
    table.reply(query(f"other.svc.{D}"))
    table.on_service(None, service("x", "other", ip="10.96.0.40"))
    assert rcode(DNSRecord.parse(table.reply(query(f"other.svc.{D}")))) == "NOERROR"  # type: ignore[arg-type]
    table.on_service(service("x", "other"), None)
    assert rcode(DNSRecord.parse(table.reply(query(f"other.svc.{D}")))) == "NXDOMAIN"  # type: ignore[arg-type]
    assert table.reply(query("example.org")) is None


def test_hand_written_nxdomain_matches_dnslib() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    rng = random.Random(3)
    for i, name in enumerate(
        [
            f"nope.default.svc.{D}",
            f"Example.ORG.default.svc.{D}",
            f"x.{D}",
            f"a-b.web.default.svc.{D}",
            f"_http._udp.web.default.svc.{D}",
        ]
    ):
        for qtype in ("A", "AAAA", "SRV", "ANY"):
            for edns in (None, 512, 4096):
                request = DNSRecord.question("".join(c.upper() if rng.random() < 0.5 else c for c in name), qtype)
                request.header.id, request.header.rd = i, rng.random() < 0.5
                if edns is not None:
                    request.add_ar(EDNS0(udp_len=edns))
                packet = bytes(request.pack())
                assert dnsrecords.read_simple_query(packet) is not None
                fast = DNSRecord.parse(table.reply(packet))  # type: ignore[arg-type]
                slow = table.answer(DNSRecord.parse(packet))
                assert slow is not None
                assert (fast.header.id, fast.header.bitmap) == (slow.header.id, slow.header.bitmap)
                assert [str(q) for q in fast.questions] == [str(q) for q in slow.questions]
                assert [(str(rr.rname), rr.rtype, rr.rclass, rr.ttl, str(rr.rdata)) for rr in fast.auth + fast.ar] == [
                    (str(rr.rname), rr.rtype, rr.rclass, rr.ttl, str(rr.rdata)) for rr in slow.auth + slow.ar
                ]
                assert not fast.rr and rcode(fast) == "NXDOMAIN"


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsrecords, "CACHE_LIMIT", 50)
    table = ClusterDns()
    table.on_service(None, service("web"))
    for i in range(200):
        table.reply(query(f"n{i}.{D}"))
        table.reply(query(f"web.default.svc.{D}", qid=i), udp=False)
    assert len(table._replies[True]) + len(table._replies[False]) == 50
    assert sum(len(linked) if isinstance(linked, set) else 1 for linked in table._replies_of.values()) == 50
    assert table.cached(query(f"n199.{D}")) is not None and table.cached(query(f"n0.{D}")) is None
    table.on_service(service("web"), None)  # forgetting keeps the three in step
    assert len(table._replies[False]) == 0 and len(table._consulted) == len(table._replies[True]) == 49


def test_large_udp_replies_are_truncated_and_whole_over_tcp() -> None:
    table = ClusterDns()
    table.on_service(None, headless("big"))
    table.on_slice(None, endpoint_slice("s", "big", [endpoint(f"10.244.{i // 200}.{i % 200}") for i in range(100)]))
    name = f"big.default.svc.{D}"
    small = table.reply(query(name), udp=True)
    assert isinstance(small, bytes) and len(small) <= 512
    parsed = DNSRecord.parse(small)
    assert parsed.header.tc and 0 < len(parsed.rr) < 100
    larger = DNSRecord.parse(table.reply(query(name, qid=2, edns=4096), udp=True))  # type: ignore[arg-type]
    assert larger.header.tc and len(parsed.rr) < len(larger.rr) < 100 and len(larger.pack()) <= 1232
    whole = DNSRecord.parse(table.reply(query(name), udp=False))  # type: ignore[arg-type]
    assert not whole.header.tc and len(whole.rr) == 100
    # TCP's 2-byte length prefix caps replies there too
    table.on_slice(None, endpoint_slice("s2", "big", [endpoint(f"10.245.{i // 250}.{i % 250}") for i in range(5000)]))
    capped = table.reply(query(name, qid=3), udp=False)
    assert isinstance(capped, bytes) and 60000 < len(capped) <= 65535 and DNSRecord.parse(capped).header.tc
    # additional records go quietly before answers do
    srv = DNSRecord.parse(table.reply(query(f"_http._tcp.{name}", "SRV"), udp=True))  # type: ignore[arg-type]
    assert srv.header.tc and not srv.ar


def test_edns_queries_get_an_opt_and_unknown_versions_badvers() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    reply = DNSRecord.parse(table.reply(query(f"web.default.svc.{D}", edns=1232)))  # type: ignore[arg-type]
    assert [rr.rtype for rr in reply.ar] == [QTYPE.OPT] and values(reply) == ["10.96.0.10"]
    request = DNSRecord.question(f"web.default.svc.{D}")
    request.add_ar(EDNS0(udp_len=1232, version=1))
    reply = DNSRecord.parse(table.reply(bytes(request.pack())))  # type: ignore[arg-type]
    assert not reply.rr and reply.ar[0].edns_rcode == 1


def test_garbage_raises_malformed_query() -> None:
    table = ClusterDns()
    too_long = b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x07cluster\x05local\x00"
    header = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for junk in (b"", b"\x00\x01", header + b"\x05abc", header + too_long + b"\x00\x01\x00\x01"):
        with pytest.raises(MalformedQuery):
            table.reply(junk)


def test_mutated_queries_never_raise_anything_else() -> None:
    table = ClusterDns()
    table.on_service(None, service("web"))
    table.on_service(None, service("ext", ip=None, type="ExternalName", externalName="example.org"))
    seeds = [
        query(name, qtype, edns=edns)
        for name, qtype in (
            (f"web.default.svc.{D}", "A"),
            (f"_http._tcp.web.default.svc.{D}", "SRV"),
            ("10.0.96.10.in-addr.arpa", "PTR"),
            (f"ext.default.svc.{D}", "A"),
            (f"1-2-3-4.a.pod.{D}", "AAAA"),
        )
        for edns in (None, 4096)
    ]
    rng = random.Random(7)
    for _ in range(5000):
        packet = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.7:
                packet[rng.randrange(len(packet))] = rng.randrange(256)
            else:
                del packet[rng.randrange(len(packet)) :]
            if not packet:
                break
        with contextlib.suppress(MalformedQuery):
            table.reply(bytes(packet), udp=rng.random() < 0.5)


# ------------------------------------------------------------------------------ upstream_resolvers


def test_upstream_resolvers_reads_nameservers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver 10.96.0.10\n"
        "nameserver not-an-ip\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:5\n"
        "nameserver 0:0::1\n"
    )
    assert upstream_resolvers(str(conf), exclude=["10.96.0.10", "::1"]) == ["10.0.0.2", "fe80::1%eth0"]
    assert upstream_resolvers(str(tmp_path / "missing")) == []


# ------------------------------------------------------------------------------ the server over loopback


class _Upstream(asyncio.DatagramProtocol):
    """A tiny upstream: answers every A question with 192.0.2.1, ``big.example`` with a truncated reply
    over UDP; counts what it gets."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[DNSRecord] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @staticmethod
    def answer(request: DNSRecord, udp: bool) -> bytes:
        reply = request.reply()
        if udp and str(request.q.qname) == "big.example.":
            reply.header.tc = 1
        elif str(request.q.qname) == "nx.example.":
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A("192.0.2.1")))
        return reply.pack()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        request = DNSRecord.parse(data)
        self.queries.append(request)
        assert self.transport is not None
        self.transport.sendto(self.answer(request, True), addr)


@contextlib.asynccontextmanager
async def upstream_server() -> AsyncIterator[tuple[int, _Upstream]]:
    """The tiny upstream on 127.0.0.1, UDP and TCP on one port."""
    udp_sock, tcp_sock = _bind_pair("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Upstream, sock=udp_sock)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                data = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
                request = DNSRecord.parse(data)
                protocol.queries.append(request)
                wire = _Upstream.answer(request, False)
                writer.write(len(wire).to_bytes(2, "big") + wire)
        writer.close()

    tcp = await asyncio.start_server(serve, sock=tcp_sock)
    try:
        yield udp_sock.getsockname()[1], protocol
    finally:
        transport.close()
        tcp.close()
        await tcp.wait_closed()


@contextlib.asynccontextmanager
async def dns_server(upstreams: list[str], forward_timeout: float = 2.0) -> AsyncIterator[tuple[int, ClusterDns]]:
    table = ClusterDns()
    table.on_service(None, service("web"))
    table.on_service(None, service("ext", ip=None, type="ExternalName", externalName="www.example"))
    server = DnsServer(table, upstreams, forward_timeout=forward_timeout)
    port = await server.start("127.0.0.1", 0)
    try:
        yield port, table
    finally:
        await server.stop()


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies.put_nowait(data)


@contextlib.asynccontextmanager
async def udp_client(port: int) -> AsyncIterator[Callable[..., Any]]:
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port))

    async def exchange(packet: bytes, wait: float = 2.0) -> bytes:
        transport.sendto(packet)
        return await asyncio.wait_for(client.replies.get(), wait)

    try:
        yield exchange
    finally:
        transport.close()


async def tcp_exchange(port: int, *packets: bytes) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for packet in packets:
            writer.write(len(packet).to_bytes(2, "big") + packet)
        return [
            await asyncio.wait_for(reader.readexactly(int.from_bytes(await reader.readexactly(2), "big")), 5)
            for _ in packets
        ]
    finally:
        writer.close()


def dns_counts() -> tuple[float, float, float]:
    """coredns_dns_requests_total by protocol, and coredns_forward_requests_total, so far."""

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    return (
        sample("coredns_dns_requests_total", proto="udp"),
        sample("coredns_dns_requests_total", proto="tcp"),
        sample("coredns_forward_requests_total"),
    )


async def test_server_answers_cluster_names_over_udp_and_tcp_on_one_port() -> None:
    udp0, tcp0, forwarded0 = dns_counts()
    async with dns_server([]) as (port, _table), udp_client(port) as exchange:
        for qid in (7, 8):  # the second comes from the cache
            reply = DNSRecord.parse(await exchange(query(f"web.default.svc.{D}", qid=qid)))
            assert reply.header.id == qid and values(reply) == ["10.96.0.10"]
        first, second = await tcp_exchange(port, query(f"web.default.svc.{D}", qid=9), query(f"nope.svc.{D}", qid=10))
        assert DNSRecord.parse(first).header.id == 9 and values(DNSRecord.parse(first)) == ["10.96.0.10"]
        assert rcode(DNSRecord.parse(second)) == "NXDOMAIN"
        # dnslib's own client, from a thread so that the loop keeps serving
        raw = await asyncio.to_thread(
            DNSRecord.question(f"web.default.svc.{D}").send, "127.0.0.1", port, tcp=True, timeout=5
        )
        assert values(DNSRecord.parse(raw)) == ["10.96.0.10"]
    udp, tcp, forwarded = dns_counts()
    assert (udp - udp0, tcp - tcp0, forwarded - forwarded0) == (2, 3, 0)


async def test_server_forwards_other_names_over_udp_and_tcp() -> None:
    forwarded0 = dns_counts()[2]
    async with upstream_server() as (up_port, upstream), dns_server([f"127.0.0.1:{up_port}"]) as (port, _t):
        async with udp_client(port) as exchange:
            reply = DNSRecord.parse(await exchange(query("www.example", qid=0x4242)))
            assert reply.header.id == 0x4242 and values(reply) == ["192.0.2.1"]
            truncated = DNSRecord.parse(await exchange(query("big.example", qid=5)))
            assert truncated.header.tc
        (wire,) = await tcp_exchange(port, query("big.example", qid=6))
        reply = DNSRecord.parse(wire)
        assert reply.header.id == 6 and not reply.header.tc and values(reply) == ["192.0.2.1"]
        assert [str(q.q.qname) for q in upstream.queries] == ["www.example.", "big.example.", "big.example."]
    assert dns_counts()[2] - forwarded0 == 3


async def test_external_name_is_followed_upstream() -> None:
    async with (
        upstream_server() as (up_port, _upstream),
        dns_server([f"127.0.0.1:{up_port}"]) as (port, table),
        udp_client(port) as exchange,
    ):
        reply = DNSRecord.parse(await exchange(query(f"ext.default.svc.{D}", qid=3)))
        assert values(reply) == ["www.example.", "192.0.2.1"] and reply.header.id == 3
        table.on_service(None, service("gone", ip=None, type="ExternalName", externalName="nx.example"))
        reply = DNSRecord.parse(await exchange(query(f"gone.default.svc.{D}", qid=4)))
        assert values(reply) == ["nx.example."] and rcode(reply) == "NXDOMAIN"


async def test_servfail_after_forward_timeout_when_the_upstreams_are_silent() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        upstream = f"127.0.0.1:{silent.getsockname()[1]}"
        # two upstreams share the one timeout between them
        async with dns_server([upstream, upstream], forward_timeout=0.5) as (port, _t), udp_client(port) as exchange:
            started = time.monotonic()
            reply = DNSRecord.parse(await exchange(query("www.example", qid=11), wait=5))
            elapsed = time.monotonic() - started
            assert rcode(reply) == "SERVFAIL" and reply.header.id == 11 and str(reply.q.qname) == "www.example."
            assert 0.4 <= elapsed < 1.5
    finally:
        silent.close()


async def test_servfail_at_once_without_upstreams_and_failover_past_a_closed_port() -> None:
    async with dns_server([]) as (port, _t), udp_client(port) as exchange:
        started = time.monotonic()
        reply = DNSRecord.parse(await exchange(query("www.example", qid=12)))
        assert rcode(reply) == "SERVFAIL" and time.monotonic() - started < 0.3
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    dead = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there: the kernel refuses at once
    async with (
        upstream_server() as (up_port, _up),
        dns_server([dead, f"127.0.0.1:{up_port}"], 4.0) as (port, _t),
        udp_client(port) as exchange,
    ):
        started = time.monotonic()
        reply = DNSRecord.parse(await exchange(query("www.example", qid=13)))
        assert values(reply) == ["192.0.2.1"] and time.monotonic() - started < 1.0


async def test_servfail_at_once_past_the_limit_of_forwards_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns, "MAX_FORWARDS", 0)
    async with upstream_server() as (up_port, upstream), dns_server([f"127.0.0.1:{up_port}"]) as (port, _t):
        async with udp_client(port) as exchange:
            assert rcode(DNSRecord.parse(await exchange(query("www.example")))) == "SERVFAIL"
            assert values(DNSRecord.parse(await exchange(query(f"web.default.svc.{D}")))) == ["10.96.0.10"]
        assert upstream.queries == []


async def test_garbage_does_not_stop_the_server() -> None:
    async with dns_server([]) as (port, _t), udp_client(port) as exchange:
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            raw.sendto(b"\x01", ("127.0.0.1", port))  # a runt: dropped
            raw.sendto(
                query(f"web.default.svc.{D}", qid=1)[:2] + b"\x81\x80" + bytes(8), ("127.0.0.1", port)
            )  # a reply
        finally:
            raw.close()
        # a readable header with a broken question: FORMERR
        broken = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fxyz"
        reply = await exchange(broken)
        assert reply[:2] == b"\xab\xcd" and reply[3] & 0x0F == RCODE.FORMERR and reply[2] & 0x80
        reply = DNSRecord.parse(await exchange(query(f"web.default.svc.{D}", qid=14)))
        assert values(reply) == ["10.96.0.10"]
        # over TCP too: garbage, then a good query on the same connection
        first, second = await tcp_exchange(port, broken, query(f"web.default.svc.{D}", qid=15))
        assert first[3] & 0x0F == RCODE.FORMERR and values(DNSRecord.parse(second)) == ["10.96.0.10"]


def free_udp_and_tcp_port() -> int:
    """A port free for UDP and TCP both, below the ephemeral range: a port the kernel picked for a UDP
    bind is an ephemeral one, which an outgoing TCP connection of another test could take before the
    server bound it (seen on a busy host)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for candidate in random.sample(range(low // 2, low), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            try:
                udp.bind(("127.0.0.1", candidate))
                tcp.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    raise AssertionError("no free port below the ephemeral range")


async def test_explicit_port_and_stop_releases_it() -> None:
    wanted = free_udp_and_tcp_port()
    server = DnsServer(ClusterDns(), [])
    assert await server.start("127.0.0.1", wanted) == wanted
    hanging_reader, hanging_writer = await asyncio.open_connection("127.0.0.1", wanted)  # an idle connection
    await server.stop()
    assert await hanging_reader.read() == b""
    hanging_writer.close()
    again = DnsServer(ClusterDns(), [])
    assert await again.start("127.0.0.1", wanted) == wanted
    await again.stop()


def test_server_on_uvloop() -> None:
    """The agent may run on uvloop: the same paths (cache, miss, forward over UDP and TCP, chase, SERVFAIL)."""

    async def scenario() -> None:
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            async with upstream_server() as (up_port, _up), dns_server([f"127.0.0.1:{up_port}"]) as (port, _t):
                async with udp_client(port) as exchange:
                    for qid in (1, 2):
                        assert values(DNSRecord.parse(await exchange(query(f"web.default.svc.{D}", qid=qid)))) == [
                            "10.96.0.10"
                        ]
                    assert values(DNSRecord.parse(await exchange(query("www.example", qid=3)))) == ["192.0.2.1"]
                    assert values(DNSRecord.parse(await exchange(query(f"ext.default.svc.{D}", qid=4)))) == [
                        "www.example.",
                        "192.0.2.1",
                    ]
                (wire,) = await tcp_exchange(port, query("big.example", qid=5))
                assert values(DNSRecord.parse(wire)) == ["192.0.2.1"]
            async with (
                dns_server([f"127.0.0.1:{silent.getsockname()[1]}"], 0.3) as (port, _t),
                udp_client(port) as exchange,
            ):
                assert rcode(DNSRecord.parse(await exchange(query("www.example", qid=6)))) == "SERVFAIL"
        finally:
            silent.close()

    uvloop.run(scenario())


def test_statefulset_pods_answer_at_their_stable_names() -> None:
    """``web-0.web.<ns>.svc``: the StatefulSet controller gives each pod hostname ``web-N`` and
    subdomain ``web``; the EndpointSlice controller copies the hostname into the headless Service's
    endpoints, which is what the DNS serves (the name stays when the pod comes back elsewhere)."""
    web = headless("web", selector={"app": "web"})
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "u"},
        "spec": {
            "serviceName": "web",
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    table = ClusterDns()
    table.on_service(None, web)
    endpoints = []
    for ordinal, ip in enumerate(("10.244.0.5", "10.244.1.7")):
        member = new_pod(sts, sts["spec"]["template"], "web-1a2b", ordinal)
        member["metadata"]["uid"] = f"pod-{ordinal}"  # (what the API server stamps on create)
        member["status"] = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        endpoints.append(slice_endpoint(web, member))
    assert [e.get("hostname") for e in endpoints] == ["web-0", "web-1"]
    table.on_slice(None, endpoint_slice("web-x", "web", endpoints))
    assert values(ask(table, f"web-0.web.default.svc.{D}")) == ["10.244.0.5"]
    assert values(ask(table, f"web-1.web.default.svc.{D}")) == ["10.244.1.7"]
    assert sorted(values(ask(table, f"web.default.svc.{D}"))) == ["10.244.0.5", "10.244.1.7"]
