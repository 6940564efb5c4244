"""ServiceAccount tokens: TokenRequest rules and claims (model/serviceaccounts.py), ES256 signing
and verification (api/tokens.py SigningKey), and the token volume the admission adds to pods."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.tokens import SigningKey
from minikube_py.model.serviceaccounts import (
    TOKEN_MOUNT_PATH,
    claimed_subject,
    mount_service_account_token,
    parse_token_request,
    token_claims,
)

ISSUER = "https://kubernetes.default.svc.cluster.local"
ACCOUNT = {"metadata": {"name": "bot", "namespace": "team", "uid": "sa-uid"}}
POD = {"metadata": {"name": "p", "namespace": "team", "uid": "pod-uid"}}


def test_token_request_defaults_and_limits() -> None:
    spec, errs = parse_token_request({}, (ISSUER,))
    assert errs == [] and spec is not None
    assert (spec.audiences, spec.expiration, spec.bound_kind) == ((ISSUER,), 3600, "")
    spec, _ = parse_token_request(
        {
            "spec": {
                "audiences": ["vault"],
                "expirationSeconds": 600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"},
            }
        },
        (ISSUER,),
    )
    assert spec is not None and (spec.audiences, spec.expiration, spec.bound_kind, spec.bound_name) == (
        ("vault",),
        600,
        "Pod",
        "p",
    )
    _, errs = parse_token_request({"spec": {"expirationSeconds": 599}}, (ISSUER,))
    assert [e.render() for e in errs] == [
        "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    ]
    _, errs = parse_token_request({"spec": {"boundObjectRef": {"kind": "Deployment", "name": ""}}}, (ISSUER,))
    assert [e.field for e in errs] == ["spec.boundObjectRef.kind", "spec.boundObjectRef.name"]


def test_bound_claims_name_the_account_and_the_pod() -> None:
    spec, _ = parse_token_request({"spec": {"boundObjectRef": {"kind": "Pod", "name": "p"}}}, (ISSUER,))
    assert spec is not None
    claims = token_claims(issuer=ISSUER, namespace="team", account=ACCOUNT, spec=spec, now=1000, bound=POD)
    assert claims["sub"] == "system:serviceaccount:team:bot"
    assert (claims["iat"], claims["nbf"], claims["exp"], claims["aud"]) == (1000, 1000, 4600, [ISSUER])
    assert claims["kubernetes.io"] == {
        "namespace": "team",
        "serviceaccount": {"name": "bot", "uid": "sa-uid"},
        "pod": {"name": "p", "uid": "pod-uid"},
    }
    subject = claimed_subject(claims, issuer=ISSUER, audiences=(ISSUER,), now=2000)
    assert subject is not None
    assert (subject.namespace, subject.name, subject.uid, subject.bound_kind, subject.bound_uid) == (
        "team",
        "bot",
        "sa-uid",
        "Pod",
        "pod-uid",
    )


def test_a_subject_carries_the_audiences_both_the_token_and_the_check_name() -> None:
    spec, _ = parse_token_request({"spec": {"audiences": ["vault", "api"]}}, (ISSUER,))
    assert spec is not None
    claims = token_claims(issuer=ISSUER, namespace="team", account=ACCOUNT, spec=spec, now=1000)
    subject = claimed_subject(claims, issuer=ISSUER, audiences=("api", "other", "vault"), now=2000)
    assert subject is not None and subject.audiences == ("api", "vault")
    assert claimed_subject(claims, issuer=ISSUER, audiences=(ISSUER,), now=2000) is None


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({}, 4600 + 61),  # expired (beyond a minute of skew)
        ({}, 1000 - 61),  # not yet valid
        ({"iss": "https://elsewhere"}, 2000),
        ({"aud": ["vault"]}, 2000),
        ({"sub": "system:serviceaccount:team:other"}, 2000),
        ({"kubernetes.io": {"namespace": "team"}}, 2000),
    ],
)
def test_tokens_for_others_or_out_of_their_lifetime_are_refused(change: dict[str, Any], now: int) -> None:
    spec, _ = parse_token_request({}, (ISSUER,))
    assert spec is not None
    claims = {**token_claims(issuer=ISSUER, namespace="team", account=ACCOUNT, spec=spec, now=1000), **change}
    assert claimed_subject(claims, issuer=ISSUER, audiences=(ISSUER,), now=now) is None


def test_signed_tokens_verify_with_their_key_only(tmp_path: Path) -> None:
    key = SigningKey(tmp_path / "sa.key")
    assert (tmp_path / "sa.key").stat().st_mode & 0o777 == 0o600
    token = key.sign({"sub": "x", "n": 1})
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "ES256", "kid": key.kid}
    assert key.verify(token) == {"sub": "x", "n": 1}
    assert SigningKey(tmp_path / "sa.key").verify(token) == {"sub": "x", "n": 1}  # the key survives restarts
    assert SigningKey(tmp_path / "other.key").verify(token) is None
    head, body, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"sub": "admin", "n": 1}).encode()).rstrip(b"=").decode()
    assert key.verify(f"{head}.{forged}.{signature}") is None
    none_alg = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    assert key.verify(f"{none_alg}.{body}.") is None
    assert key.verify("not-a-jwt") is None
    jwk = key.jwk()
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "P-256", "ES256", key.kid)


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {
            "containers": [
                {"name": "a"},
                {"name": "b", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]},
            ],
            "initContainers": [{"name": "init"}],
            **spec,
        },
    }


def test_the_admission_mounts_the_token_volume_where_nothing_else_is() -> None:
    p = pod()
    mount_service_account_token(p, ACCOUNT, "kube-api-access-x2b4z")
    [volume] = p["spec"]["volumes"]
    assert volume["name"] == "kube-api-access-x2b4z"
    assert [list(s) for s in volume["projected"]["sources"]] == [
        ["serviceAccountToken"],
        ["configMap"],
        ["downwardAPI"],
    ]
    mounts = {c["name"]: c.get("volumeMounts") for c in p["spec"]["containers"] + p["spec"]["initContainers"]}
    expected = {"name": "kube-api-access-x2b4z", "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}
    assert mounts == {"a": [expected], "init": [expected], "b": [{"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]}


@pytest.mark.parametrize(
    ("pod_says", "account_says", "mounted"),
    [(None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False)],
)
def test_automount_is_the_pods_choice_else_its_accounts(
    pod_says: bool | None, account_says: bool | None, mounted: bool
) -> None:
    p = pod(**({} if pod_says is None else {"automountServiceAccountToken": pod_says}))
    account = {**ACCOUNT, **({} if account_says is None else {"automountServiceAccountToken": account_says})}
    mount_service_account_token(p, account, "kube-api-access-x2b4z")
    assert ("volumes" in p["spec"]) == mounted
