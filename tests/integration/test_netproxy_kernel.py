"""The proxy's kernel writers against a real kernel: python-iptables (legacy backend) and pyroute2, each
run in a network namespace of the test's own so the host's tables and routes are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

APPLY = """
import sys
from minikube_py.netproxy.balancer import ServicePortName
from minikube_py.netproxy.iptables import PythonIptables
from minikube_py.netproxy.rules import desired_rules
from minikube_py.netproxy.services import Endpoint, ServicePort

def port(name, *ips, node_port=0):
    return ServicePort(ServicePortName("default", name, "", "TCP"), "10.96.0.20" if name == "a" else "10.96.0.21",
                       80, node_port, (), False, None, tuple(Endpoint(ip, 8080, "n") for ip in ips))

writer = PythonIptables()
for step in sys.argv[1:]:
    if step == "both":
        writer.apply(desired_rules([port("a", "10.244.1.5", "10.244.2.5"), port("b", "10.244.1.6", node_port=30080)],
                                   node="n", cluster_cidr="10.244.0.0/16"))
    elif step == "one":
        writer.apply(desired_rules([port("a", "10.244.1.5")], node="n", cluster_cidr="10.244.0.0/16"))
    elif step == "cleanup":
        writer.cleanup()
    elif step == "leftovers":
        from minikube_py.netproxy.proxy import leftovers
        from minikube_py.netproxy.routes import RouteTable
        RouteTable().sync({"10.244.1.0/24": "10.50.0.2"})
        print(" | ".join(leftovers()))
    elif step == "cleanup-all":
        from minikube_py.netproxy.proxy import cleanup, leftovers
        cleanup()
        print(" | ".join(leftovers()))
"""

ROUTES = """
import sys
from minikube_py.netproxy.routes import RouteTable
table = RouteTable()
table.sync(dict(pair.split("=") for pair in sys.argv[1:]))
print(sorted(table.current().items()))
"""


#: a UDP service on this node, served by the userspace proxier, asked from the node itself with a
#: connected socket: the reply must come back from the service address, or the client never sees it
UDP_FROM_SELF = """
import asyncio, socket
from minikube_py.netproxy.balancer import BackendSet, ServicePortName
from minikube_py.netproxy.iptables import PythonIptables
from minikube_py.netproxy.rules import desired_rules
from minikube_py.netproxy.services import Endpoint, ServicePort
from minikube_py.netproxy.userspace import UserspaceProxier

async def main():
    loop = asyncio.get_running_loop()
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.setblocking(False)
    port = echo.getsockname()[1]
    loop.add_reader(echo, lambda: (lambda data, peer: echo.sendto(data.upper(), peer))(*echo.recvfrom(100)))
    name = ServicePortName("default", "echo", "", "UDP")
    proxier = UserspaceProxier()
    local = await proxier.sync({name: BackendSet((("127.0.0.1", port),))})
    service = ServicePort(name, "10.96.0.50", 53, 0, (), False, None, (Endpoint("127.0.0.1", port),))
    PythonIptables().apply(desired_rules([service], node="n", cluster_cidr="", local_ports=local))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(("10.96.0.50", 53))
    client.setblocking(False)
    client.send(b"hello")
    print((await asyncio.wait_for(loop.sock_recv(client, 100), 3)).decode())
    await proxier.close()

asyncio.run(main())
"""


#: the cluster DNS asked from the node itself (as a hostNetwork pod or the node's tools do)
DNS_FROM_SELF = """
import asyncio, socket
from dnslib import DNSRecord
from minikube_py.netproxy.dns import ClusterDns, DnsServer
from minikube_py.netproxy.iptables import PythonIptables
from minikube_py.netproxy.rules import Redirect, desired_rules

async def main():
    records = ClusterDns()
    records.on_service(None, {"metadata": {"namespace": "default", "name": "web"},
                              "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}})
    server = DnsServer(records, [])
    port = await server.start()
    PythonIptables().apply(desired_rules([], node="n", cluster_cidr="", redirects=[
        Redirect("10.96.0.10", 53, "UDP", port, "cluster DNS")]))
    loop = asyncio.get_running_loop()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.connect(("10.96.0.10", 53))
    client.setblocking(False)
    client.send(DNSRecord.question("web.default.svc.cluster.local").pack())
    answer = DNSRecord.parse(await asyncio.wait_for(loop.sock_recv(client, 512), 3))
    print(answer.rr[0].rdata)
    await server.stop()

asyncio.run(main())
"""


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pykube-test-{os.urandom(3).hex()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for cmd in (
            ["link", "set", "lo", "up"],
            ["link", "add", "t0", "type", "veth", "peer", "name", "t1"],
            ["addr", "add", "10.50.0.1/24", "dev", "t0"],
            ["link", "set", "t0", "up"],
            ["link", "set", "t1", "up"],
            ["route", "add", "default", "via", "10.50.0.2"],
        ):
            subprocess.run(["ip", "-n", name, *cmd], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def inside(netns: str, script: str, *args: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done.stdout


def saved(netns: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-legacy-save"], capture_output=True, text=True, check=True
    ).stdout


def our_lines(netns: str) -> list[str]:
    return sorted(line for line in saved(netns).splitlines() if "PYKUBE" in line and not line.startswith("#"))


def test_a_rule_set_is_written_whole_and_again_without_change(netns: str) -> None:
    inside(netns, APPLY, "both")
    first = our_lines(netns)
    assert any("--dport 30080" in line for line in first)
    assert sum(1 for line in first if "DNAT --to-destination" in line) == 3
    inside(netns, APPLY, "both", "both")
    assert our_lines(netns) == first  # idempotent: no duplicate jumps or rules


def test_chains_of_a_gone_service_are_removed_and_cleanup_removes_everything(netns: str) -> None:
    inside(netns, APPLY, "both", "one")
    lines = our_lines(netns)
    assert not any("10.96.0.21" in line or "30080" in line for line in lines)
    assert sum(1 for line in lines if "DNAT --to-destination" in line) == 1
    inside(netns, APPLY, "cleanup")
    assert our_lines(netns) == []


def test_leftovers_list_what_cleanup_removes(netns: str) -> None:
    """``pykube cleanup --dry-run`` lists our chains, the jumps to them and our routes; cleanup leaves none."""
    listed = inside(netns, APPLY, "both", "leftovers").strip().split(" | ")
    chains = sorted(line.split()[0][1:] for line in our_lines(netns) if line.startswith(":PYKUBE-"))
    assert sorted(line.split()[3] for line in listed if " chain " in line) == chains and chains
    assert "iptables nat PREROUTING jump to PYKUBE-SERVICES" in listed
    assert "route 10.244.1.0/24 via 10.50.0.2" in listed
    assert inside(netns, APPLY, "cleanup-all").strip() == ""
    assert our_lines(netns) == []


def test_routes_to_other_nodes_follow_the_wanted_set(netns: str) -> None:
    got = inside(netns, ROUTES, "10.244.1.0/24=10.50.0.2", "10.244.2.0/24=10.50.0.3")
    assert got.strip() == "[('10.244.1.0/24', '10.50.0.2'), ('10.244.2.0/24', '10.50.0.3')]"
    assert inside(netns, ROUTES, "10.244.1.0/24=10.50.0.4").strip() == "[('10.244.1.0/24', '10.50.0.4')]"
    assert inside(netns, ROUTES).strip() == "[]"
    kernel = subprocess.run(["ip", "-n", netns, "route"], capture_output=True, text=True, check=True).stdout
    assert "10.244." not in kernel


def test_a_udp_service_answers_a_client_on_its_own_node(netns: str) -> None:
    assert inside(netns, UDP_FROM_SELF).strip() == "HELLO"


def test_the_cluster_dns_answers_a_client_on_its_own_node(netns: str) -> None:
    assert inside(netns, DNS_FROM_SELF).strip() == "10.96.0.20"
