"""What NetworkPolicies cost the control plane and a node, in process: the network policy controller's
compilation of one node's firewalls (what each pod change on that node costs) and of every node's
(what a policy change costs), the size of what it publishes, and the rules a node's proxy lays out
from it. Usage::

    .venv/bin/python bench/network_policy.py [--nodes 100] [--pods 5000] [--namespaces 50] [--policies 4]

The cluster: ``--pods`` pods spread over ``--nodes`` nodes and ``--namespaces`` namespaces (labelled by
team), ten apps per namespace; each namespace has ``--policies`` policies of the common shapes: a
default deny of ingress, an app admitting its own pods on a named port, one admitting a team's
namespaces, and an egress policy to an ipBlock with an exception plus DNS.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from minikube_py.model.networkpolicy import addressable, compile_firewalls, default_network_policy, dump_firewalls
from minikube_py.netproxy.policyrules import add_policy_rules
from minikube_py.netproxy.rules import RuleSet

Obj = dict[str, Any]


def cluster(nodes: int, pods: int, namespaces: int) -> tuple[list[Obj], list[Obj]]:
    pod_objs = []
    for i in range(pods):
        ns = f"ns{i % namespaces}"
        pod_objs.append(
            {
                "metadata": {"name": f"p{i}", "namespace": ns, "labels": {"app": f"app{i % 10}", "tier": "web"}},
                "spec": {
                    "nodeName": f"node{i % nodes}",
                    "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
                },
                "status": {"phase": "Running", "podIP": f"10.{(i // 65536) % 256 + 1}.{(i // 256) % 256}.{i % 256}"},
            }
        )
    ns_objs = [
        {"metadata": {"name": f"ns{n}", "labels": {"kubernetes.io/metadata.name": f"ns{n}", "team": f"t{n % 5}"}}}
        for n in range(namespaces)
    ]
    return pod_objs, ns_objs


def policies(namespaces: int, per_namespace: int) -> list[Obj]:
    shapes: list[Obj] = [
        {"podSelector": {}},
        {
            "podSelector": {"matchLabels": {"app": "app1"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "app1"}}}], "ports": [{"port": "http"}]}],
        },
        {
            "podSelector": {"matchLabels": {"app": "app2"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "t1"}}}]}],
        },
        {
            "podSelector": {"matchLabels": {"tier": "web"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]},
                {"ports": [{"protocol": "UDP", "port": 53}]},
            ],
        },
    ]
    found = []
    for n in range(namespaces):
        for k in range(per_namespace):
            obj = {"metadata": {"name": f"np{k}", "namespace": f"ns{n}"}, "spec": dict(shapes[k % len(shapes)])}
            default_network_policy(obj)
            found.append(obj)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--policies", type=int, default=4, help="policies per namespace")
    args = parser.parse_args()
    pod_objs, ns_objs = cluster(args.nodes, args.pods, args.namespaces)
    # the controller keeps this view as pods change; building it is a pod event's share
    started = time.perf_counter()
    view = [p for p in map(addressable, pod_objs) if p is not None]
    viewing = (time.perf_counter() - started) / len(pod_objs)
    policy_objs = policies(args.namespaces, args.policies)
    print(f"{args.pods} pods on {args.nodes} nodes in {args.namespaces} namespaces, {len(policy_objs)} policies")
    one = []
    for n in range(min(args.nodes, 20)):
        started = time.perf_counter()
        firewalls = compile_firewalls(policy_objs, view, ns_objs, f"node{n}")
        one.append(time.perf_counter() - started)
    started = time.perf_counter()
    every = [compile_firewalls(policy_objs, view, ns_objs, f"node{n}") for n in range(args.nodes)]
    all_nodes = time.perf_counter() - started
    firewalls = every[0]
    text = dump_firewalls(firewalls)
    started = time.perf_counter()
    rules = RuleSet()
    add_policy_rules(rules, firewalls)
    layout = time.perf_counter() - started
    print(f"a pod's view: {viewing * 1e6:.1f} µs")
    print(f"compile one node: median {statistics.median(one) * 1000:.1f} ms, max {max(one) * 1000:.1f} ms")
    print(f"compile every node (a policy change): {all_nodes:.2f} s")
    print(
        f"node0: {len(firewalls)} isolated pods, ConfigMap {len(text) / 1024:.1f} KiB, "
        f"{sum(len(r) for r in rules.chains.values())} rules in {len(rules.chains)} chains, laid out in "
        f"{layout * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
