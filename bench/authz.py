"""Authorization cost per request, in process: the ``system:masters`` fast path, RBAC for a user
whose groups are bound among many other bindings (the policy is indexed by subject, so the cost must
not grow with the number of bindings), and the Node authorizer for the requests nodes make most
(lease renewals, status writes, their pods' Secrets, their pod watch) in a graph of ``--nodes``
nodes with ``--pods`` pods (dictionary look-ups: the cost must not grow with the cluster). Usage::

    .venv/bin/python bench/authz.py [--bindings 10000] [--requests 200000] [--nodes 1000] [--pods 30000]

Measured on 2 shared cores: a node's lease renewal, pod status write, Secret watch and pod watch cost
2.2-4.0 µs each (mostly reading the request's path), the same with 10 nodes and 300 pods; the
path-pattern policy the Node authorizer replaced took 1.7-3.4 µs for writes and 0.4-1.3 µs for reads
(it allowed every read).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from minikube_py.api.auth import ADMIN, User, authorize
from minikube_py.api.nodeauth import NodeAuthorizer
from minikube_py.model.rbac import Decision, Policy, UserInfo
from minikube_py.model.rbac import authorize as rbac_authorize
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.store.base import Event

G = "rbac.authorization.k8s.io"


def policy(bindings: int) -> Policy:
    result = Policy()
    result.put(
        "ClusterRole",
        {
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    for i in range(bindings):
        result.put(
            "RoleBinding",
            {
                "metadata": {"name": f"b{i}", "namespace": f"ns{i % 100}"},
                "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "reader"},
                "subjects": [{"kind": "User", "name": f"user{i}", "apiGroup": G}],
            },
        )
    result.put(
        "RoleBinding",
        {
            "metadata": {"name": "team", "namespace": "team"},
            "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "Group", "name": "team-a", "apiGroup": G}],
        },
    )
    return result


def node_graph(nodes: int, pods: int) -> NodeAuthorizer:
    """``pods`` pods spread over ``nodes`` nodes, each mounting a Secret and a ConfigMap of its own."""
    graph = NodeAuthorizer(None)  # type: ignore[arg-type]  # fed by hand, as its store watch would
    for i in range(pods):
        pod = {
            "metadata": {"name": f"p{i}", "namespace": f"ns{i % 100}"},
            "spec": {
                "nodeName": f"node-{i % nodes}",
                "containers": [{"name": "c", "image": "x"}],
                "volumes": [
                    {"name": "s", "secret": {"secretName": f"s{i}"}},
                    {"name": "c", "configMap": {"name": f"c{i}"}},
                ],
            },
        }
        graph.observe(Event("ADDED", f"/core/pods/ns{i % 100}/p{i}", i + 1, pod, None))
    return graph


def per_call(fn: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bindings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--pods", type=int, default=30_000)
    args = parser.parse_args()
    rbac = policy(args.bindings)
    alice = User("alice", admin=False, groups=("team-a", "system:authenticated"))

    def decide(user: UserInfo, info: RequestInfo) -> Decision:
        return rbac_authorize(user, info, rbac)

    path, query = "/api/v1/namespaces/team/pods", dict[str, str]()
    masters = per_call(lambda: authorize(ADMIN, "GET", path, query, decide), args.requests)
    member = per_call(lambda: authorize(alice, "GET", path, query, decide), args.requests)
    print(f"  {'system:masters (µs/request)':44}{masters:8.2f}")
    print(f"  {f'RBAC user, {args.bindings:,} bindings (µs/request)':44}{member:8.2f}")

    graph = node_graph(args.nodes, args.pods)
    node = User("system:node:node-7", admin=False, node="node-7", groups=("system:nodes", "system:authenticated"))
    pod = args.nodes + 7  # the second pod of node-7
    requests = {
        "lease renewal": ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-7", {}),
        "pod status write": ("PATCH", f"/api/v1/namespaces/ns{pod % 100}/pods/p{pod}/status", {}),
        "its pod's Secret (watch)": (
            "GET",
            f"/api/v1/namespaces/ns{pod % 100}/secrets",
            {"watch": "true", "fieldSelector": f"metadata.name=s{pod}"},
        ),
        "its pods (watch)": ("GET", "/api/v1/pods", {"watch": "true", "fieldSelector": "spec.nodeName=node-7"}),
    }
    for label, (method, path, q) in requests.items():
        cost = per_call(lambda m=method, p=path, q=q: authorize(node, m, p, q, decide, graph), args.requests)
        print(f"  {f'node: {label} (µs/request)':44}{cost:8.2f}")
    refused = f"/api/v1/namespaces/ns{(pod + 1) % 100}/secrets/s{pod + 1}"  # another node's pod's Secret

    def refuse() -> None:
        try:
            authorize(node, "GET", refused, query, decide, graph)
        except Exception:
            return
        raise AssertionError("another node's Secret was allowed")

    cost = per_call(refuse, args.requests // 4)
    print(f"  {'node: refused, then RBAC (µs/request)':44}{cost:8.2f}")
    print(f"  (graph: {args.nodes:,} nodes, {args.pods:,} pods)")


if __name__ == "__main__":
    main()
