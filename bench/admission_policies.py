"""What ValidatingAdmissionPolicies cost a write, in process: the checks of one Deployment create
against ``--policies`` policies of the common shapes (replica limits from a parameter, required
labels, image registries, a match condition), each bound once; and what the bindings that do not
concern a write cost it (a ConfigMap create). The store and HTTP are left out: bench/api.py measures
those, and with no policy at all the dispatcher skips this work. Usage::

    .venv/bin/python bench/admission_policies.py [--policies 20] [--runs 2000]
"""

from __future__ import annotations

import argparse
from typing import Any

from timing import median_us

from minikube_py.model import admissionpolicies as vap
from minikube_py.model import cel
from minikube_py.model.matchconditions import admission_size, conditions_hold
from minikube_py.model.webhooks import Attributes

Obj = dict[str, Any]
DEPLOYMENTS = {
    "apiGroups": ["apps"],
    "apiVersions": ["v1"],
    "operations": ["CREATE", "UPDATE"],
    "resources": ["deployments"],
}
SHAPES = [
    [{"expression": "object.spec.replicas <= int(params.data.maxReplicas)", "reason": "Forbidden"}],
    [{"expression": "has(object.metadata.labels) && 'team' in object.metadata.labels", "message": "a team label"}],
    [
        {
            "expression": "object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example.com/'))",
            "messageExpression": "'images must come from registry.example.com'",
        }
    ],
]


def policies(count: int) -> tuple[list[Obj], list[Obj]]:
    made, bound = [], []
    for i in range(count):
        spec: Obj = {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{**DEPLOYMENTS, "scope": "*"}]},
            "validations": SHAPES[i % len(SHAPES)],
            "matchConditions": [{"name": "not-system", "expression": "!request.namespace.startsWith('kube-')"}],
        }
        made.append({"metadata": {"name": f"p{i}"}, "spec": spec})
        bound.append({"metadata": {"name": f"b{i}"}, "spec": {"policyName": f"p{i}", "validationActions": ["Deny"]}})
    return made, bound


def deployment() -> Obj:
    containers = [{"name": f"c{i}", "image": f"registry.example.com/app{i}:1"} for i in range(3)]
    return {
        "metadata": {"name": "web", "namespace": "team-a", "labels": {"team": "a", "app": "web"}},
        "spec": {
            "replicas": 3,
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}},
        },
    }


def check(bindings: list[vap.Binding], attrs: Attributes, params: Obj) -> int:
    """The failures of one write: what :class:`~minikube_py.api.admissionpolicies.PolicyChecks` computes."""
    found = 0
    bound: cel.Bound | None = None
    size = 0
    for binding in bindings:
        if not all(vap.rules_apply(m, attrs) for m in binding.matches):
            continue
        if bound is None:
            values = vap.admission_values(attrs, params, None)
            bound, size = vap.bind(values), admission_size(values)
        if not conditions_hold(binding.spec.get("matchConditions"), bound, size):
            continue
        found += len(vap.failures(binding.spec, bound, size))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    bindings = vap.bindings_of(*policies(args.policies))
    params = {"metadata": {"name": "limits"}, "data": {"maxReplicas": "5"}}
    create = Attributes(
        "CREATE", "apps", "v1", "deployments", "Deployment", "", True, "team-a", "web", deployment(), None, False
    )
    other = Attributes(
        "CREATE", "", "v1", "configmaps", "ConfigMap", "", True, "team-a", "c", {"metadata": {"name": "c"}}, None, False
    )
    assert check(bindings, create, params) == 0
    concerned = median_us(args.runs, lambda: check(bindings, create, params))
    unconcerned = median_us(args.runs, lambda: check(bindings, other, params))
    print(f"{args.policies} policies, each bound once")
    print(f"a Deployment they all check     {concerned:9.1f} us  ({concerned / args.policies:.1f} us a binding)")
    print(f"a ConfigMap none of them checks {unconcerned:9.1f} us")


if __name__ == "__main__":
    main()
