"""Dynamic admission's pure rules: which webhooks a write meets, the review it is sent, what an answer
means and how a refusal reads (model/webhooks.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from minikube_py.model.rbac import UserInfo
from minikube_py.model.webhooks import (
    Attributes,
    InvalidResponse,
    Reinvocation,
    Webhook,
    default_configuration,
    denial,
    exempt,
    review,
    rules_match,
    selectors_match,
    validate_configuration,
    verdict,
    webhooks_of,
)

Obj = dict[str, Any]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}}}
CREATE = Attributes("CREATE", "", "v1", "pods", "Pod", "", True, "ns", "p", POD, None, False)


def hook(mutating: bool = False, **spec: Any) -> Webhook:
    return Webhook("config", mutating, {"name": "h.example.com", **spec})


def rule(resources: list[str], operations: tuple[str, ...] = ("*",), scope: str = "*", **more: Any) -> Obj:
    return {
        "operations": list(operations),
        "apiGroups": more.get("groups", [""]),
        "apiVersions": ["*"],
        "resources": resources,
        "scope": scope,
    }


@pytest.mark.parametrize(
    ("resources", "subresource", "matches"),
    [
        (["pods"], "", True),
        (["pods"], "status", False),
        (["pods/status"], "status", True),
        (["pods/*"], "status", True),
        (["pods/*"], "", False),
        (["*"], "", True),
        (["*"], "status", False),
        (["*/status"], "status", True),
        (["*/*"], "status", True),
        (["services"], "", False),
    ],
)
def test_resource_patterns(resources: list[str], subresource: str, matches: bool) -> None:
    attrs = replace(CREATE, subresource=subresource)
    assert rules_match([rule(resources)], attrs) is matches


def test_operations_groups_and_scope() -> None:
    assert not rules_match([rule(["pods"], ("UPDATE", "DELETE"))], CREATE)
    assert rules_match([rule(["pods"], ("CREATE",))], CREATE)
    assert not rules_match([rule(["pods"], groups=["apps"])], CREATE)
    assert not rules_match([rule(["pods"], scope="Cluster")], CREATE)
    assert rules_match([rule(["pods"], scope="Namespaced")], CREATE)
    node = replace(CREATE, resource="nodes", kind="Node", namespaced=False, namespace="")
    assert rules_match([rule(["nodes"], scope="Cluster")], node)
    assert exempt(replace(CREATE, group="admissionregistration.k8s.io")) and not exempt(CREATE)


def test_selectors_of_namespaces_and_objects() -> None:
    on = hook(namespaceSelector={"matchLabels": {"hooks": "on"}})
    assert selectors_match(on.spec, CREATE, {"hooks": "on"}) and not selectors_match(on.spec, CREATE, {})
    namespace = {"metadata": {"name": "x", "labels": {"hooks": "on"}}}
    ns_create = replace(CREATE, resource="namespaces", namespaced=False, namespace="", object=namespace)
    assert selectors_match(on.spec, ns_create, None)
    assert not selectors_match(on.spec, replace(ns_create, object={"metadata": {"name": "y"}}), None)
    node = replace(CREATE, resource="nodes", namespaced=False, namespace="")
    assert selectors_match(on.spec, node, None)  # other cluster-scoped objects are never judged by it
    absent = hook(objectSelector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]})
    assert selectors_match(absent.spec, CREATE, {})
    deleting = replace(CREATE, operation="DELETE", object=None, old={"metadata": {"labels": {"skip": "1"}}})
    assert not selectors_match(absent.spec, deleting, {})  # the absent new object matches nothing


def test_configurations_are_called_by_name_then_in_order() -> None:
    configs = [
        {"metadata": {"name": "b"}, "webhooks": [{"name": "b1.x.y"}, {"name": "b2.x.y"}]},
        {"metadata": {"name": "a"}, "webhooks": [{"name": "a1.x.y"}]},
    ]
    assert [h.name for h in webhooks_of(configs, mutating=False)] == ["a1.x.y", "b1.x.y", "b2.x.y"]


def test_the_review_tells_who_what_and_how() -> None:
    user = UserInfo("alice", ("devs",), "u-1", {"scopes": ("a",)})
    sent = review(replace(CREATE, user=user, dry_run=True, options={"kind": "CreateOptions"}), "uid-1")
    request = sent["request"]
    assert sent["apiVersion"] == "admission.k8s.io/v1" and request["uid"] == "uid-1"
    assert request["userInfo"] == {"username": "alice", "groups": ["devs"], "uid": "u-1", "extra": {"scopes": ["a"]}}
    assert request["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert request["dryRun"] is True and request["oldObject"] is None and "subResource" not in request


def answer(uid: str = "u", **response: Any) -> Obj:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, **response}}


def test_answers_allow_refuse_patch_and_warn() -> None:
    patch = [{"op": "add", "path": "/metadata/labels/x", "value": "1"}]
    encoded = base64.b64encode(json.dumps(patch).encode()).decode()
    given = verdict(
        hook(mutating=True), answer(allowed=True, patch=encoded, patchType="JSONPatch", warnings=["w"]), "u"
    )
    assert given.allowed and given.patch == patch and given.warnings == ("w",)
    refused = verdict(hook(), answer(allowed=False, status={"message": "no", "code": 422}), "u")
    assert not refused.allowed and refused.status["code"] == 422


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"response": {"uid": "u", "allowed": True}}, "expected webhook response of admission.k8s.io/v1"),
        (answer(uid="other", allowed=True), "expected response.uid='u', got 'other'"),
        (answer(allowed="yes"), "response.allowed must be a boolean"),
        (answer(allowed=True, patch="W10=", patchType="JSONPatch"), "validating webhooks may not return patches"),
    ],
)
def test_answers_that_are_no_review_response(body: Obj, why: str) -> None:
    with pytest.raises(InvalidResponse, match=why.replace("(", r"\(")):
        verdict(hook(), body, "u")


def test_a_mutating_answer_must_carry_a_json_patch() -> None:
    with pytest.raises(InvalidResponse, match="expected patchType JSONPatch"):
        verdict(hook(mutating=True), answer(allowed=True, patch="W10=", patchType="Merge"), "u")
    with pytest.raises(InvalidResponse, match="not base64-encoded JSON"):
        verdict(hook(mutating=True), answer(allowed=True, patch="%%%", patchType="JSONPatch"), "u")


def test_refusals_read_as_kube_apiserver_words_them() -> None:
    plain = denial(hook(), CREATE, {})
    assert plain["code"] == 403 and plain["reason"] == "Forbidden"
    assert (
        plain["message"]
        == 'pods "p" is forbidden: admission webhook "h.example.com" denied the request without explanation'
    )
    assert denial(hook(), CREATE, {"reason": "Nope"})["message"].endswith("denied the request: Nope")
    deployment = replace(CREATE, group="apps", resource="deployments", name="")
    assert denial(hook(), deployment, {"message": "m"})["message"].startswith(
        'deployments.apps "Unknown" is forbidden:'
    )
    internal = denial(hook(), CREATE, {"code": 500, "message": "boom"})
    assert internal["message"] == 'Internal error occurred: admission webhook "h.example.com" denied the request: boom'


def test_defaults_and_validation_of_a_configuration() -> None:
    config = {
        "kind": "MutatingWebhookConfiguration",
        "webhooks": [{"name": "a.b.c", "clientConfig": {"service": {"namespace": "n", "name": "s"}}, "rules": [{}]}],
    }
    default_configuration(config)
    webhook = config["webhooks"][0]
    assert webhook["failurePolicy"] == "Fail" and webhook["timeoutSeconds"] == 10
    assert webhook["reinvocationPolicy"] == "Never" and webhook["clientConfig"]["service"]["port"] == 443
    assert webhook["rules"][0]["scope"] == "*" and webhook["namespaceSelector"] == {}
    duplicate = {
        "webhooks": [
            {"name": "short", "clientConfig": {"url": "https://h/x?q=1"}},
            {"name": "a.b.c", "clientConfig": {"url": "https://h/", "service": {"name": "s"}}},
            {"name": "a.b.c", "clientConfig": {}, "matchConditions": [{"name": "x", "expression": "object.foo("}]},
        ]
    }
    messages = [f"{e.field}: {e.message}" for e in validate_configuration(duplicate)]
    for expected in (
        'webhooks[0].name: Invalid value: "short": should be a domain with at least three segments separated by dots',
        'webhooks[0].clientConfig.url: Invalid value: "https://h/x?q=1": fragments and query parameters are not permitted',
        "webhooks[1].clientConfig: Required value: exactly one of url or service is required",
        'webhooks[2].name: Duplicate value: "a.b.c"',
        'webhooks[2].matchConditions[0].expression: Invalid value: "object.foo(": compilation failed: ERROR: <input>:1:12: '
        "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', ')', '.', '-', '!', 'true', 'false', 'null', "
        "NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n | object.foo(\n | ...........^",
    ):
        assert expected in messages, messages


def test_reinvocation_calls_again_only_if_needed_webhooks_called_before_a_later_change() -> None:
    def hook(name: str, policy: str = "Never") -> Webhook:
        return Webhook("config", True, {"name": name, "reinvocationPolicy": policy})

    early, changer, late, plain = hook("early", "IfNeeded"), hook("changer"), hook("late", "IfNeeded"), hook("plain")
    state = Reinvocation()
    state.start_round({"v": 1})
    for each, changed in ((early, False), (plain, False), (changer, True), (late, False)):
        assert state.calls(each)
        state.called(each, changed)
    state.end_round({"v": 2})
    assert state.wanted
    state.again = True
    state.start_round({"v": 2})  # the built-in plugins changed nothing: only "early" is due
    assert [h.name for h in (early, changer, late, plain) if state.calls(h)] == ["early"]
    # a webhook changing nothing leaves the chain alone; in the second round built-in changes make
    # every IfNeeded webhook called since the last change due
    quiet = Reinvocation()
    quiet.start_round({})
    quiet.called(early, False)
    quiet.end_round({})
    assert not quiet.wanted
    again = Reinvocation()
    again.start_round({})
    again.called(changer, True)
    again.called(late, False)
    again.end_round({"v": 1})
    again.again = True
    again.start_round({"v": 1, "defaults": True})
    assert again.calls(late) and not again.calls(changer)
