"""Which API servers the ``default/kubernetes`` Endpoints list: those whose Lease is current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from minikube_py.model.apiserverleases import (
    LEASE_SECONDS,
    endpoints_subsets,
    lease_name,
    live_servers,
    server_lease,
    server_urls,
)

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def renewed(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_live_servers_are_those_renewed_within_the_lease_duration() -> None:
    leases = [
        server_lease("host-a_1", "10.0.0.2", 6443, renewed(1)),
        server_lease("host-b_2", "10.0.0.10", 6443, renewed(LEASE_SECONDS - 1)),
        server_lease("host-c_3", "10.0.0.3", 6443, renewed(LEASE_SECONDS + 1)),  # died: expired
        server_lease("host-d_4", "10.0.0.2", 6443, renewed(0)),  # the same address twice counts once
    ]
    assert live_servers(leases, NOW) == [("10.0.0.2", 6443), ("10.0.0.10", 6443)]


def test_malformed_leases_are_ignored() -> None:
    good = server_lease("a", "::1", 6443, renewed(0))
    no_address = server_lease("b", "10.0.0.1", 6443, renewed(0))
    del no_address["metadata"]["annotations"]
    bad_ip = server_lease("c", "not-an-ip", 6443, renewed(0))
    bad_time = server_lease("d", "10.0.0.4", 6443, "yesterday")
    port_zero = server_lease("e", "10.0.0.5", 0, renewed(0))
    assert live_servers([good, no_address, bad_ip, bad_time, port_zero, {}], NOW) == [("::1", 6443)]


def test_endpoints_group_servers_by_port_and_agents_read_them_back_as_urls() -> None:
    servers = [("10.0.0.2", 6443), ("10.0.0.3", 6443), ("::1", 7443)]
    subsets = endpoints_subsets(servers)
    assert subsets == [
        {
            "addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
        {"addresses": [{"ip": "::1"}], "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]},
    ]
    assert server_urls({"subsets": subsets}) == ["https://10.0.0.2:6443", "https://10.0.0.3:6443", "https://[::1]:7443"]
    assert server_urls({}) == [] and endpoints_subsets([]) == []


def test_lease_names_are_fixed_length_and_per_identity() -> None:
    assert lease_name("a") != lease_name("b")
    assert len(lease_name("x" * 300)) == len(lease_name("y")) <= 63
