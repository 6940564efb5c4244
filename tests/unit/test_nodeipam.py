"""The node subnet allocator (kube-controller-manager's range allocator, without a cluster)."""

from __future__ import annotations

import ipaddress
import time

import pytest

from minikube_py.model.nodeipam import CidrSet, mask_size_problem, subnet_count


def test_allocates_blocks_in_order_until_exhausted() -> None:
    cidrs = CidrSet("10.244.0.0/22", 24)
    assert (cidrs.size, cidrs.free) == (4, 4)
    assert [cidrs.allocate() for _ in range(4)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    assert (cidrs.used, cidrs.free) == (4, 0)
    assert cidrs.allocate() is None
    assert cidrs.allocate() is None  # and stays so, with nothing changed


def test_a_released_block_is_reused_once_the_cursor_comes_round() -> None:
    cidrs = CidrSet("10.244.0.0/22", 24)
    first, second = cidrs.allocate(), cidrs.allocate()
    assert first is not None and second is not None
    cidrs.release(first)
    assert cidrs.free == 3
    # the cursor moves on: the subnet just given back is the last to be handed out again
    assert cidrs.allocate() == "10.244.2.0/24"
    assert cidrs.allocate() == "10.244.3.0/24"
    assert cidrs.allocate() == first
    assert cidrs.allocate() is None
    cidrs.release(second)
    assert cidrs.allocate() == second


def test_occupied_subnets_are_skipped_and_occupying_twice_counts_once() -> None:
    cidrs = CidrSet("10.244.0.0/16")
    cidrs.occupy("10.244.0.0/24")
    cidrs.occupy("10.244.0.0/24")
    cidrs.occupy("10.244.1.0/24")
    cidrs.occupy("10.244.2.0/23")  # larger than a block, set by hand: both blocks it covers
    assert cidrs.used == 4
    assert cidrs.allocate() == "10.244.4.0/24"
    cidrs.release("10.244.2.0/23")
    assert cidrs.is_free("10.244.2.0/24") and cidrs.is_free("10.244.3.0/24")
    cidrs.release("10.244.2.0/23")  # releasing twice is harmless too
    assert cidrs.used == 3


def test_a_subnet_smaller_than_a_block_takes_the_block_it_lies_in() -> None:
    cidrs = CidrSet("10.244.0.0/16", 24)
    cidrs.occupy("10.244.7.128/25")
    assert not cidrs.is_free("10.244.7.0/24") and cidrs.used == 1


def test_a_subnet_covering_the_whole_range_takes_every_block() -> None:
    cidrs = CidrSet("10.244.0.0/22", 24)
    cidrs.occupy("10.244.0.0/16")
    assert cidrs.free == 0 and cidrs.allocate() is None


def test_exhaustion_then_release_of_a_node_frees_exactly_its_block() -> None:
    cidrs = CidrSet("10.0.0.0/24", 26)
    taken = [cidrs.allocate() for _ in range(4)]
    assert taken == ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"]
    assert cidrs.allocate() is None
    cidrs.release("10.0.0.128/26")
    assert cidrs.allocate() == "10.0.0.128/26"
    assert cidrs.allocate() is None


@pytest.mark.parametrize("cidr", ["10.245.0.0/24", "fd00::/64", "not-a-cidr", "10.244.1000.0/24"])
def test_subnets_outside_the_range_or_garbage_are_errors(cidr: str) -> None:
    cidrs = CidrSet("10.244.0.0/16")
    with pytest.raises(ValueError):
        cidrs.occupy(cidr)
    with pytest.raises(ValueError):
        cidrs.release(cidr)
    assert cidrs.used == 0


def test_ipv6() -> None:
    cidrs = CidrSet("fd00:10:244::/56", 64)
    assert cidrs.size == 256
    assert cidrs.allocate() == "fd00:10:244::/64"
    assert cidrs.allocate() == "fd00:10:244:1::/64"
    cidrs.occupy("fd00:10:244:2::/64")
    assert cidrs.allocate() == "fd00:10:244:3::/64"


def test_a_small_ipv6_cluster_keeps_its_family() -> None:
    # addresses below 2**32 must not turn into IPv4 addresses
    assert CidrSet("::/120", 124).allocate() == "::/124"


def test_mask_size_rules() -> None:
    v4, v6 = ipaddress.ip_network("10.244.0.0/16"), ipaddress.ip_network("fd00::/48")
    assert mask_size_problem(v4, 24) is None and mask_size_problem(v4, 30) is None
    assert "larger than the cluster CIDR's prefix length /16" in (mask_size_problem(v4, 16) or "")
    assert "at most 30 for IPv4" in (mask_size_problem(v4, 31) or "")
    assert mask_size_problem(v6, 64) is None
    assert "at most 16 bits more" in (mask_size_problem(v6, 65) or "")
    with pytest.raises(ValueError, match="node CIDR mask size"):
        CidrSet("10.244.0.0/16", 8)


def test_subnet_count() -> None:
    assert subnet_count("10.244.0.0/16", 24) == 256
    assert subnet_count("10.244.0.0/16", 26) == 1024


def test_allocation_stays_cheap_when_full_or_fragmented() -> None:
    """The reason this exists: a thousand nodes asking a full /16 must not cost a scan each."""
    cidrs = CidrSet("10.0.0.0/8", 24)  # 65,536 blocks
    for _ in range(cidrs.size - 1):
        cidrs.allocate()
    started = time.perf_counter()
    last = cidrs.allocate()
    for _ in range(10_000):
        assert cidrs.allocate() is None
    cidrs.release("10.0.5.0/24")
    again = cidrs.allocate()  # the only free block is behind the cursor: one C-level search
    assert time.perf_counter() - started < 0.5
    assert last == "10.255.255.0/24" and again == "10.0.5.0/24"
