"""The questions a client asks about authorization and authentication, answered without storing
anything: SelfSubjectAccessReview (``kubectl auth can-i``), SelfSubjectRulesReview (``can-i
--list``), SubjectAccessReview and LocalSubjectAccessReview (for admins asking about others), and
SelfSubjectReview (``kubectl auth whoami``), and TokenReview (which extension API servers, webhooks
and proxies that delegate authentication send their callers' tokens to). Each echoes the request
with a ``status``, as kube-apiserver does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minikube_py.api import body, shape
from minikube_py.api.rbac import RbacAuthorizer
from minikube_py.api.tokens import Authenticated
from minikube_py.model import errors
from minikube_py.model.rbac import UserInfo
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.store.base import Obj

AUTHORIZATION = "authorization.k8s.io/v1"
AUTHENTICATION = "authentication.k8s.io/v1"

#: the request's authenticated user, as the authentication middleware leaves it
UserOf = Callable[[web.Request], UserInfo]
Handler = Callable[[web.Request], Awaitable[web.Response]]
#: who a bearer token is for any of the given audiences (the API's own when none), or None
ReviewToken = Callable[[str, tuple[str, ...]], Awaitable[Authenticated | None]]


def routes(authorizer: RbacAuthorizer, user_of: UserOf, review_token: ReviewToken) -> list[tuple[str, Handler]]:
    """(path, POST handler) for each review."""

    async def self_access(request: web.Request) -> web.Response:
        review = await _review(request, "SelfSubjectAccessReview", AUTHORIZATION)
        info = _attributes(review, "SelfSubjectAccessReview")
        return _answer(review, _access_status(authorizer, user_of(request), info))

    async def subject_access(request: web.Request) -> web.Response:
        namespace = request.match_info.get("namespace")
        kind = "LocalSubjectAccessReview" if namespace else "SubjectAccessReview"
        review = await _review(request, kind, AUTHORIZATION)
        spec = review["spec"]
        if namespace is not None:
            attributes = spec.get("resourceAttributes")
            if not isinstance(attributes, dict) or attributes.get("namespace", namespace) != namespace:
                raise _invalid(
                    kind, "spec.resourceAttributes.namespace", "must match metadata.namespace and be a resource request"
                )
            attributes["namespace"] = namespace
        if not spec.get("user") and not spec.get("groups"):
            raise _invalid(kind, "spec.user", "at least one of user or group must be specified")
        subject = UserInfo(str(spec.get("user") or ""), tuple(spec.get("groups") or ()), str(spec.get("uid") or ""))
        return _answer(review, _access_status(authorizer, subject, _attributes(review, kind)))

    async def self_rules(request: web.Request) -> web.Response:
        review = await _review(request, "SelfSubjectRulesReview", AUTHORIZATION)
        namespace = review["spec"].get("namespace") or ""
        resource_rules, url_rules = [], []
        for rule in authorizer.policy.rules_for(user_of(request), namespace):
            (url_rules if rule.non_resource_urls else resource_rules).append(rule.to_api())
        return _answer(review, {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False})

    async def self_subject(request: web.Request) -> web.Response:
        review = await _review(request, "SelfSubjectReview", AUTHENTICATION, has_spec=False)
        return _answer(review, {"userInfo": _user_info(user_of(request))})

    async def token(request: web.Request) -> web.Response:
        review = await _review(request, "TokenReview", AUTHENTICATION, has_spec=False)
        spec = review["spec"] = review.get("spec") or {}
        if not spec.get("token"):
            raise errors.bad_request("token is required for TokenReview in authentication")
        found = await review_token(spec["token"], tuple(spec.get("audiences") or ()))
        if found is None:  # Go's zero UserInfo: an empty object, the rest omitted
            return _answer(review, {"user": {}})
        status = {"authenticated": True, "user": _user_info(found.user.info), "audiences": list(found.audiences)}
        return _answer(review, status)

    authz = "/apis/authorization.k8s.io/v1"
    return [
        (f"{authz}/selfsubjectaccessreviews", self_access),
        (f"{authz}/selfsubjectrulesreviews", self_rules),
        (f"{authz}/subjectaccessreviews", subject_access),
        (f"{authz}/namespaces/{{namespace}}/localsubjectaccessreviews", subject_access),
        ("/apis/authentication.k8s.io/v1/selfsubjectreviews", self_subject),
        ("/apis/authentication.k8s.io/v1/tokenreviews", token),
    ]


def _user_info(user: UserInfo) -> Obj:
    info: Obj = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        info["uid"] = user.uid
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra.items()}
    return info


def _access_status(authorizer: RbacAuthorizer, user: UserInfo, info: RequestInfo) -> Obj:
    decision = authorizer.authorize(user, info)
    status: Obj = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


async def _review(request: web.Request, kind: str, api_version: str, *, has_spec: bool = True) -> Obj:
    value = body.decode(await request.read(), request.headers.get("Content-Type"))
    if not isinstance(value, dict):
        raise errors.bad_request("the body of the request must be an object")
    if value.get("kind") not in (None, kind):
        raise errors.bad_request(f"expected {kind}, got {value.get('kind')}")
    if not isinstance(value.get("metadata") or {}, dict):
        raise errors.bad_request("metadata must be an object")
    shape.check_object(value, kind, shape.REVIEWS[kind])
    if has_spec and not isinstance(value.get("spec"), dict):
        raise _invalid(kind, "spec", "Required value")
    return {**value, "kind": kind, "apiVersion": api_version}


def _attributes(review: Obj, kind: str) -> RequestInfo:
    """The request a review asks about: resourceAttributes or nonResourceAttributes, exactly one."""
    spec = review["spec"]
    resource, url = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if bool(resource) == bool(url):
        raise _invalid(
            kind,
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )
    if isinstance(url, dict):
        return RequestInfo(str(url.get("verb") or ""), str(url.get("path") or ""))
    if not isinstance(resource, dict):
        raise _invalid(kind, "spec.resourceAttributes", "must be an object")
    text = {
        k: str(resource.get(k) or "")
        for k in ("verb", "group", "version", "namespace", "resource", "subresource", "name")
    }
    return RequestInfo(
        text["verb"],
        "",
        True,
        text["group"],
        text["version"],
        text["namespace"],
        text["resource"],
        text["subresource"],
        text["name"],
    )


def _answer(review: Obj, status: Obj) -> web.Response:
    answer: dict[str, Any] = {
        **review,
        "metadata": {**(review.get("metadata") or {}), "creationTimestamp": None},
        "status": status,
    }
    return web.Response(body=body.dumps(answer), status=201, content_type="application/json")


def _invalid(kind: str, field: str, message: str) -> errors.StatusError:
    return errors.StatusError(
        422,
        "Invalid",
        f'{kind}.{_group(kind)} "" is invalid: {field}: Invalid value: {message}',
        {
            "kind": kind,
            "group": _group(kind),
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        },
    )


def _group(kind: str) -> str:
    return "authentication.k8s.io" if kind in ("SelfSubjectReview", "TokenReview") else "authorization.k8s.io"
