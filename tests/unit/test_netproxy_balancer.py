"""The userspace proxier's endpoint choice: round robin, exclusion, ClientIP affinity, on a fake clock."""

from __future__ import annotations

from collections import Counter

from minikube_py.netproxy.balancer import BackendSet, LoadBalancer, ServicePortName

SVC = ServicePortName("default", "web", "http", "TCP")
A, B, C, D = ("10.244.0.1", 80), ("10.244.0.2", 80), ("10.244.0.3", 80), ("10.244.0.4", 80)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def balancer(*endpoints: tuple[str, int], affinity: float | None = None) -> tuple[LoadBalancer, FakeClock]:
    clock = FakeClock()
    lb = LoadBalancer(clock=clock)
    lb.update(SVC, BackendSet(endpoints, affinity))
    return lb, clock


def picks(lb: LoadBalancer, n: int, client: str = "192.168.1.1") -> list[tuple[str, int] | None]:
    return [lb.next_endpoint(SVC, client) for _ in range(n)]


def test_round_robin_visits_every_endpoint_in_turn_whatever_the_input_order() -> None:
    lb, _ = balancer(C, A, B)
    assert picks(lb, 6) == [A, B, C, A, B, C]


def test_round_robin_is_shared_by_all_clients() -> None:
    lb, _ = balancer(A, B)
    assert [lb.next_endpoint(SVC, f"192.168.1.{i}") for i in range(4)] == [A, B, A, B]


def test_duplicate_endpoints_count_once() -> None:
    lb, _ = balancer(A, A, B)
    assert picks(lb, 4) == [A, B, A, B]


def test_unchanged_update_keeps_the_rotation() -> None:
    lb, _ = balancer(A, B, C)
    assert picks(lb, 2) == [A, B]
    lb.update(SVC, BackendSet((C, B, A)))
    assert picks(lb, 3) == [C, A, B]


def test_adding_an_endpoint_continues_after_the_last_choice() -> None:
    lb, _ = balancer(A, C)
    assert picks(lb, 1) == [A]
    lb.update(SVC, BackendSet((A, B, C)))
    assert picks(lb, 4) == [B, C, A, B]


def test_removing_the_last_choice_continues_with_its_successor() -> None:
    lb, _ = balancer(A, B, C, D)
    assert picks(lb, 2) == [A, B]
    lb.update(SVC, BackendSet((A, C, D)))
    assert picks(lb, 3) == [C, D, A]


def test_frequent_updates_do_not_favour_the_first_endpoint() -> None:
    lb, _ = balancer(A, B, C)
    seen: Counter[tuple[str, int] | None] = Counter()
    for _ in range(30):
        seen[lb.next_endpoint(SVC, "192.168.1.1")] += 1
        lb.update(SVC, BackendSet((A, B, C)))
    assert seen == {A: 10, B: 10, C: 10}


def test_exclude_skips_failed_endpoints_and_runs_out() -> None:
    lb, _ = balancer(A, B, C)
    assert lb.next_endpoint(SVC, "1.1.1.1", exclude={A}) == B
    assert lb.next_endpoint(SVC, "1.1.1.1", exclude={C}) == A
    assert lb.next_endpoint(SVC, "1.1.1.1", exclude={A, B}) == C
    assert lb.next_endpoint(SVC, "1.1.1.1", exclude={A, B, C}) is None


def test_no_endpoints_or_unknown_service_give_none() -> None:
    lb, _ = balancer()
    assert lb.next_endpoint(SVC, "1.1.1.1") is None
    assert lb.next_endpoint(ServicePortName("default", "other", "", "TCP"), "1.1.1.1") is None
    lb.update(SVC, BackendSet((A,)))
    assert lb.next_endpoint(SVC, "1.1.1.1") == A
    lb.remove(SVC)
    assert lb.next_endpoint(SVC, "1.1.1.1") is None


def test_affinity_sticks_per_client() -> None:
    lb, _ = balancer(A, B, C, affinity=10800)
    assert picks(lb, 3, "1.1.1.1") == [A, A, A]
    assert picks(lb, 3, "2.2.2.2") == [B, B, B]
    assert lb.next_endpoint(SVC, "1.1.1.1") == A


def test_affinity_expires_and_each_use_refreshes_it() -> None:
    lb, clock = balancer(A, B, affinity=100)
    assert lb.next_endpoint(SVC, "1.1.1.1") == A
    for _ in range(5):  # used every 60 s: never idle for 100 s
        clock.now += 60
        assert lb.next_endpoint(SVC, "1.1.1.1") == A
    clock.now += 100
    assert lb.next_endpoint(SVC, "1.1.1.1") == B
    assert lb.next_endpoint(SVC, "1.1.1.1") == B


def test_affinity_endpoint_removed_gives_a_new_sticky_choice() -> None:
    lb, _ = balancer(A, B, C, affinity=10800)
    assert lb.next_endpoint(SVC, "1.1.1.1") == A
    lb.update(SVC, BackendSet((B, C), 10800))
    chosen = lb.next_endpoint(SVC, "1.1.1.1")
    assert chosen in (B, C)
    assert picks(lb, 3, "1.1.1.1") == [chosen] * 3
    lb.update(SVC, BackendSet((A, B, C), 10800))  # A back: the client stays where it is now
    assert lb.next_endpoint(SVC, "1.1.1.1") == chosen


def test_affinity_endpoint_excluded_moves_the_client() -> None:
    lb, _ = balancer(A, B, affinity=10800)
    assert lb.next_endpoint(SVC, "1.1.1.1") == A
    assert lb.next_endpoint(SVC, "1.1.1.1", exclude={A}) == B
    assert lb.next_endpoint(SVC, "1.1.1.1") == B


def test_turning_affinity_off_and_on() -> None:
    lb, _ = balancer(A, B, affinity=10800)
    assert picks(lb, 2) == [A, A]
    lb.update(SVC, BackendSet((A, B)))
    assert picks(lb, 2) == [B, A]
    lb.update(SVC, BackendSet((A, B), 10800))
    assert picks(lb, 3) == [B, B, B]


def test_expired_clients_are_forgotten() -> None:
    lb, clock = balancer(A, B, affinity=30)
    for i in range(100):
        lb.next_endpoint(SVC, f"10.0.0.{i}")
    clock.now += 31
    lb.next_endpoint(SVC, "10.0.1.1")
    state = lb._services[SVC]
    assert list(state.sticky) == ["10.0.1.1"]


def test_services_are_independent() -> None:
    lb, _ = balancer(A, B)
    other = ServicePortName("default", "web", "dns", "UDP")
    lb.update(other, BackendSet((C, D)))
    assert lb.next_endpoint(SVC, "1.1.1.1") == A
    assert lb.next_endpoint(other, "1.1.1.1") == C
    assert lb.next_endpoint(SVC, "1.1.1.1") == B
    assert str(other) == "default/web:dns/UDP"
    assert str(ServicePortName("ns", "svc", "", "TCP")) == "ns/svc/TCP"
