"""The filter rules that enforce a node's firewalls, as the pure layout of netproxy.policyrules."""

from __future__ import annotations

from minikube_py.model.networkpolicy import Allow, Firewall, PortRange
from minikube_py.netproxy.policyrules import POLICY, add_policy_rules
from minikube_py.netproxy.rules import FILTER, RuleSet, chain_name, desired_rules


def test_no_firewalls_leave_the_rule_set_as_it_was() -> None:
    rules = desired_rules([], node="n1", cluster_cidr="10.244.0.0/16")
    before = rules.text()
    add_policy_rules(rules, [])
    assert rules.text() == before and (FILTER, POLICY) not in rules.chains


def test_each_direction_of_each_pod_gets_its_chain_first_in_forward() -> None:
    rules = desired_rules([], node="n1", cluster_cidr="10.244.0.0/16")
    db = Firewall(
        "default/db",
        "10.244.1.3",
        (Allow(("10.244.2.2/32", "10.9.0.0/16"), (PortRange("TCP", 5432, 5432), PortRange("UDP", 7000, 7010))),),
        (Allow(None, (PortRange("UDP"),)),),
    )
    closed = Firewall("default/closed", "10.244.1.4", (), None)
    add_policy_rules(rules, [db, closed])
    assert rules.jumps[0] == (
        FILTER,
        "FORWARD",
        ("-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "pykube policy", "-j", POLICY),
    )
    ing, egr = chain_name("ING", "default/db", "10.244.1.3"), chain_name("EGR", "default/db", "10.244.1.3")
    assert [r[:2] + r[-2:] for r in rules.chains[FILTER, POLICY]] == [
        ("-s", "10.244.1.3/32", "-j", egr),
        ("-d", "10.244.1.3/32", "-j", ing),
        ("-d", "10.244.1.4/32", "-j", chain_name("ING", "default/closed", "10.244.1.4")),
    ]
    ingress = [" ".join(r) for r in rules.chains[FILTER, ing]]
    assert ingress[0].startswith("-s 10.244.1.3/32 ") and ingress[0].endswith("-j RETURN")  # itself
    assert ingress[1:5] == [
        "-s 10.244.2.2/32 -p tcp -m tcp --dport 5432 -j RETURN",
        "-s 10.244.2.2/32 -p udp -m udp --dport 7000:7010 -j RETURN",
        "-s 10.9.0.0/16 -p tcp -m tcp --dport 5432 -j RETURN",
        "-s 10.9.0.0/16 -p udp -m udp --dport 7000:7010 -j RETURN",
    ]
    assert ingress[-1].endswith("-j REJECT") and len(ingress) == 6
    assert [" ".join(r) for r in rules.chains[FILTER, egr]][1] == "-p udp -j RETURN"
    closed_rules = rules.chains[FILTER, chain_name("ING", "default/closed", "10.244.1.4")]
    assert len(closed_rules) == 2 and closed_rules[-1][-2:] == ("-j", "REJECT")


def test_an_allow_of_anything_returns_unconditionally() -> None:
    rules = RuleSet()
    add_policy_rules(rules, [Firewall("default/web", "10.244.1.2", (Allow(None, None),), None)])
    chain = chain_name("ING", "default/web", "10.244.1.2")
    assert rules.chains[FILTER, chain][1] == ("-j", "RETURN")
