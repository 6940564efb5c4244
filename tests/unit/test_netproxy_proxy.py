"""The proxy glue's own decisions, with a recording rule writer instead of the kernel."""

from __future__ import annotations

import socket
from typing import Any

from minikube_py.netproxy.proxy import ProxyOptions, ServiceProxy
from minikube_py.netproxy.rules import FILTER, NAT, SERVICES, RuleSet

Obj = dict[str, Any]


class Recording:
    def __init__(self) -> None:
        self.applied: list[RuleSet] = []

    def apply(self, rules: RuleSet) -> None:
        self.applied.append(rules)

    def cleanup(self) -> None:
        self.applied.clear()

    def ours(self) -> list[str]:
        return [f"rule set {i}" for i, _ in enumerate(self.applied)]


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def emit(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        self.seen.append((event_type, reason, message))


def service(name: str, namespace: str = "default", **spec: Any) -> Obj:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def proxy(**kw: Any) -> tuple[ServiceProxy, Recording, Events]:
    writer, events = Recording(), Events()
    options = ProxyOptions("n1", dns_ip="10.96.0.10", cluster_cidr="10.244.0.0/16", routes=False, **kw)
    return ServiceProxy(None, options, writer=writer, recorder=events), writer, events  # type: ignore[arg-type]


async def test_the_cluster_dns_address_is_redirected_to_the_local_server_not_rejected() -> None:
    p, writer, _ = proxy()
    p.table.on_service(
        None,
        service(
            "kube-dns",
            "kube-system",
            clusterIP="10.96.0.10",
            ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
        ),
    )
    await p.sync(dns_port=40053)
    rules = writer.applied[-1]
    nat = [" ".join(r) for r in rules.chains[(NAT, SERVICES)]]
    assert sum("-d 10.96.0.10/32" in r and r.endswith("REDIRECT --to-ports 40053") for r in nat) == 2
    assert not any("10.96.0.10" in " ".join(r) for r in rules.chains.get((FILTER, SERVICES), []))


async def test_a_node_port_held_by_another_program_is_a_warning_not_a_crash() -> None:
    with socket.socket() as other:
        other.bind(("0.0.0.0", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        p, writer, events = proxy()
        p._services.cache["default/web"] = service("web")  # what the event is recorded on
        p.table.on_service(
            None,
            service(
                "web",
                clusterIP="10.96.0.30",
                type="NodePort",
                ports=[{"port": 80, "nodePort": taken, "protocol": "TCP"}],
            ),
        )
        await p.sync(dns_port=0)
        await p.sync(dns_port=0)
    assert [(t, r) for t, r, _ in events.seen] == [("Warning", "PortNotAvailable")]  # once, not every sync
    assert f"(:{taken}/tcp)" in events.seen[0][2] and "address already in use" in events.seen[0][2]
    assert len(writer.applied) == 2  # the rules were written all the same
