"""ValidatingAdmissionPolicies with the real server (in this process) and the real kubectl: a policy
and its binding refuse, warn about or audit the writes they select, in kube-apiserver's words, with
parameters from ConfigMaps, variables, match conditions, reasons and failure policies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from inprocess import InProcessServer, start_in_process

Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io"
DEPLOYMENTS = [
    {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = start_in_process(tmp_path_factory.mktemp("policies") / "data")
    for namespace in ("guarded", "free"):
        running.kubectl("create", "namespace", namespace)
    running.kubectl("label", "namespace", "guarded", "environment=test")
    yield running
    running.stop()


def policy(name: str, validations: list[Obj], **spec: Any) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"matchConstraints": {"resourceRules": DEPLOYMENTS}, "validations": validations, **spec},
    }


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": policy_name,
            "validationActions": actions,
            "matchResources": {"namespaceSelector": {"matchLabels": {"environment": "test"}}},
            **spec,
        },
    }


def apply(server: InProcessServer, *objs: Obj) -> Any:
    return server.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs), check=False)


def deployment(server: InProcessServer, name: str, replicas: int, namespace: str = "guarded") -> Any:
    return server.kubectl(
        "create", "deployment", name, "--image=busybox", f"--replicas={replicas}", "-n", namespace, check=False
    )


def deployment_body(name: str, replicas: int, **labels: str) -> Obj:
    """A Deployment sent as JSON, for the status codes kubectl does not show."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }


def remove(server: InProcessServer, *objs: Obj) -> None:
    for obj in objs:
        server.kubectl("delete", f"{obj['kind']}.{GROUP}", obj["metadata"]["name"], "--ignore-not-found")


def test_a_binding_denies_what_its_policy_finds_in_the_namespaces_it_selects(server: InProcessServer) -> None:
    checks = policy("replicas.example.com", [{"expression": "object.spec.replicas <= 5"}])
    bound = binding("replicas-test.example.com", "replicas.example.com", ["Deny"])
    assert apply(server, checks, bound).returncode == 0
    try:
        refused = deployment(server, "big", 6)
        assert refused.returncode == 1
        assert (
            "deployments.apps \"big\" is forbidden: ValidatingAdmissionPolicy 'replicas.example.com' with binding "
            "'replicas-test.example.com' denied request: failed expression: object.spec.replicas <= 5"
        ) in refused.stderr
        status, body = server.request("POST", "/apis/apps/v1/namespaces/guarded/deployments", deployment_body("big", 9))
        assert (status, body["reason"], body["details"]["kind"]) == (422, "Invalid", "deployments")
        assert body["details"]["causes"][0]["message"].startswith("ValidatingAdmissionPolicy 'replicas.example.com'")
        assert deployment(server, "small", 2).returncode == 0
        assert deployment(server, "big", 6, "free").returncode == 0  # the binding's namespace selector spares it
        # an update is checked too; /scale is another resource (deployments/scale), which the rules do not name
        patch = ["patch", "deployment", "small", "-n", "guarded", "--type=merge", "-p", '{"spec":{"replicas":7}}']
        assert (
            "denied request: failed expression: object.spec.replicas <= 5" in server.kubectl(*patch, check=False).stderr
        )
        assert server.kubectl("scale", "deployment", "small", "--replicas=7", "-n", "guarded").returncode == 0
        listed = server.kubectl("get", "validatingadmissionpolicies").stdout.split()
        assert listed[:4] == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"] and listed[4:7] == [
            "replicas.example.com",
            "1",
            "<unset>",
        ]
        listed = server.kubectl("get", "validatingadmissionpolicybindings").stdout.split()
        assert listed[:4] == ["NAME", "POLICYNAME", "PARAMREF", "AGE"]
        assert listed[4:7] == ["replicas-test.example.com", "replicas.example.com", "<unset>"]
    finally:
        remove(server, bound, checks)
        server.kubectl("delete", "deployment", "--all", "-n", "guarded")
    assert deployment(server, "big", 6).returncode == 0  # without the binding nothing is checked


def test_warn_and_audit_admit_the_write_and_say_why(server: InProcessServer) -> None:
    checks = policy(
        "labelled.example.com",
        [
            {
                "expression": "has(object.metadata.labels) && 'team' in object.metadata.labels",
                "message": "a team label is required",
            }
        ],
    )
    bound = binding("labelled-warn.example.com", "labelled.example.com", ["Warn", "Audit"])
    assert apply(server, checks, bound).returncode == 0
    try:
        created = deployment(server, "unlabelled", 1)
        assert created.returncode == 0
        assert (
            "Warning: Validation failed for ValidatingAdmissionPolicy 'labelled.example.com' with binding "
            "'labelled-warn.example.com': a team label is required"
        ) in created.stderr
    finally:
        remove(server, bound, checks)
        server.kubectl("delete", "deployment", "--all", "-n", "guarded")


def test_parameters_variables_conditions_and_reasons(server: InProcessServer) -> None:
    checks = policy(
        "limits.example.com",
        [
            {
                "expression": "object.spec.replicas <= variables.limit",
                "messageExpression": "'at most ' + string(variables.limit) + ' replicas, not ' + string(object.spec.replicas)",
                "reason": "Forbidden",
            }
        ],
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        variables=[{"name": "limit", "expression": "int(params.data.maxReplicas)"}],
        matchConditions=[{"name": "not-exempt", "expression": "!('exempt' in object.metadata.?labels.orValue({}))"}],
    )
    bound = binding(
        "limits-test.example.com",
        "limits.example.com",
        ["Deny"],
        paramRef={"name": "limits", "parameterNotFoundAction": "Deny"},
    )
    assert apply(server, checks, bound).returncode == 0
    try:
        missing = deployment(server, "any", 1)
        assert (
            "denied request: no params found for policy binding with `Deny` parameterNotFoundAction" in missing.stderr
        )
        server.kubectl("create", "configmap", "limits", "--from-literal=maxReplicas=3", "-n", "guarded")
        refused = deployment(server, "four", 4)
        assert "denied request: at most 3 replicas, not 4" in refused.stderr
        status, body = server.request(
            "POST", "/apis/apps/v1/namespaces/guarded/deployments", deployment_body("four", 4)
        )
        assert (status, body["reason"]) == (403, "Forbidden")
        exempt = deployment_body("exempt", 9, exempt="yes")
        assert apply(server, {**exempt, "metadata": {**exempt["metadata"], "namespace": "guarded"}}).returncode == 0
        # the match condition passed it by
        assert deployment(server, "three", 3).returncode == 0
    finally:
        remove(server, bound, checks)
        server.kubectl("delete", "deployment", "--all", "-n", "guarded")
        server.kubectl("delete", "configmap", "limits", "-n", "guarded", "--ignore-not-found")


@pytest.mark.parametrize(("failure_policy", "admitted"), [("Fail", False), ("Ignore", True)])
def test_an_expression_that_errs_follows_the_failure_policy(
    server: InProcessServer, failure_policy: str, admitted: bool
) -> None:
    checks = policy(
        "broken.example.com", [{"expression": "object.spec.nothing.here > 1"}], failurePolicy=failure_policy
    )
    bound = binding("broken-test.example.com", "broken.example.com", ["Deny"])
    assert apply(server, checks, bound).returncode == 0
    try:
        done = deployment(server, "erring", 1)
        assert (done.returncode == 0) is admitted
        if not admitted:
            assert "denied request: expression 'object.spec.nothing.here > 1' resulted in error" in done.stderr
    finally:
        remove(server, bound, checks)
        server.kubectl("delete", "deployment", "--all", "-n", "guarded")


def test_an_invalid_policy_or_binding_is_refused_with_its_causes(server: InProcessServer) -> None:
    broken = policy("invalid.example.com", [{"expression": "object.spec.replicas <", "reason": "Bogus"}])
    refused = apply(server, broken)
    assert refused.returncode == 1
    assert (
        'spec.validations[0].expression: Invalid value: "object.spec.replicas <": compilation failed' in refused.stderr
    )
    assert 'spec.validations[0].reason: Unsupported value: "Bogus"' in refused.stderr
    both = binding("invalid-binding.example.com", "x", ["Deny", "Warn", "Nope"])
    refused = apply(server, both)
    assert 'spec.validationActions[2]: Unsupported value: "Nope"' in refused.stderr
    assert "must not contain both Deny and Warn" in refused.stderr
