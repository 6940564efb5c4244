"""Authorization cost per request, in process: the ``system:masters`` fast path, and RBAC for a user
whose groups are bound among many other bindings (the policy is indexed by subject, so the cost must
not grow with the number of bindings). Usage::

    .venv/bin/python bench/authz.py [--bindings 10000] [--requests 200000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from minikube_py.api.auth import ADMIN, User, authorize
from minikube_py.model.rbac import Decision, Policy, UserInfo
from minikube_py.model.rbac import authorize as rbac_authorize
from minikube_py.model.requestinfo import RequestInfo

G = "rbac.authorization.k8s.io"


def policy(bindings: int) -> Policy:
    result = Policy()
    result.put("ClusterRole", {"metadata": {"name": "reader"},
                               "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    for i in range(bindings):
        result.put("RoleBinding", {"metadata": {"name": f"b{i}", "namespace": f"ns{i % 100}"},
                                   "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "reader"},
                                   "subjects": [{"kind": "User", "name": f"user{i}", "apiGroup": G}]})
    result.put("RoleBinding", {"metadata": {"name": "team", "namespace": "team"},
                               "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "reader"},
                               "subjects": [{"kind": "Group", "name": "team-a", "apiGroup": G}]})
    return result


def per_call(fn: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bindings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200_000)
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


if __name__ == "__main__":
    main()
