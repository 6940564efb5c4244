"""ServiceAccount tokens as Kubernetes issues them: the TokenRequest rules and the claims of a bound
token (what ``kubectl create token`` and a pod's projected volume get), pure so that they are
tested without keys or a server. Signing and verifying live in :mod:`minikube_py.api.tokens`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from minikube_py.model.errors import FieldError, invalid_value, not_supported, required
from minikube_py.model.rbac import service_account_user

#: kube-apiserver's floor and default for ``spec.expirationSeconds``
MIN_EXPIRATION = 600
DEFAULT_EXPIRATION = 3600
#: kube-apiserver's ceiling (2^32 seconds)
MAX_EXPIRATION = 1 << 32
BINDABLE_KINDS = ("Pod", "Secret")

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenSpec:
    audiences: tuple[str, ...]
    expiration: int
    bound_kind: str = ""
    bound_name: str = ""
    bound_uid: str = ""


def parse_token_request(request: Obj, default_audiences: tuple[str, ...]) -> tuple[TokenSpec | None, list[FieldError]]:
    """The TokenRequest's spec with Kubernetes' defaults, or the causes of a 422."""
    spec = request.get("spec") if isinstance(request.get("spec"), dict) else {}
    errs: list[FieldError] = []
    audiences = spec.get("audiences") or list(default_audiences)
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        errs.append(invalid_value("spec.audiences", audiences, "must be a list of non-empty strings"))
    expiration = spec.get("expirationSeconds")
    if expiration is None:
        expiration = DEFAULT_EXPIRATION
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        errs.append(invalid_value("spec.expirationSeconds", expiration, "must be an integer"))
    elif expiration < MIN_EXPIRATION:
        errs.append(
            invalid_value("spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes")
        )
    elif expiration > MAX_EXPIRATION:
        errs.append(
            invalid_value("spec.expirationSeconds", expiration, "may not specify a duration larger than 2^32 seconds")
        )
    ref = spec.get("boundObjectRef")
    bound = ("", "", "")
    if isinstance(ref, dict):
        kind, name = ref.get("kind") or "", ref.get("name") or ""
        if kind not in BINDABLE_KINDS:
            errs.append(not_supported("spec.boundObjectRef.kind", kind, list(BINDABLE_KINDS)))
        if not name:
            errs.append(required("spec.boundObjectRef.name"))
        if ref.get("apiVersion") not in (None, "", "v1"):
            errs.append(not_supported("spec.boundObjectRef.apiVersion", ref["apiVersion"], ["v1"]))
        bound = (kind, name, ref.get("uid") or "")
    if errs:
        return None, errs
    return TokenSpec(tuple(audiences), expiration, *bound), []


def token_claims(
    *, issuer: str, namespace: str, account: Obj, spec: TokenSpec, now: int, bound: Obj | None = None
) -> Obj:
    """The claims of a bound ServiceAccount token: who (``sub``, ``kubernetes.io``), for whom
    (``aud``), from when to when (``iat``, ``nbf``, ``exp``), and what it is bound to, whose
    deletion invalidates it."""
    md = account["metadata"]
    private: Obj = {"namespace": namespace, "serviceaccount": {"name": md["name"], "uid": md["uid"]}}
    if bound is not None:
        key = "pod" if spec.bound_kind == "Pod" else "secret"
        private[key] = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
    return {
        "aud": list(spec.audiences),
        "exp": now + spec.expiration,
        "iat": now,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": now,
        "sub": service_account_user(namespace, md["name"]),
    }


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """What a verified token claims to be, still to be checked against the live objects."""

    namespace: str
    name: str
    uid: str
    bound_kind: str = ""
    bound_name: str = ""
    bound_uid: str = ""
    jti: str = ""
    #: the audiences the token was checked for that it names (a TokenReview answers with them)
    audiences: tuple[str, ...] = ()


def claimed_subject(claims: Obj, *, issuer: str, audiences: tuple[str, ...], now: int) -> TokenSubject | None:
    """The ServiceAccount a signed token names, if it is ours, meant for this API and within its
    lifetime (a minute of clock skew allowed, as kube-apiserver does); None otherwise."""
    if claims.get("iss") != issuer:
        return None
    aud = claims.get("aud")
    token_audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    shared = tuple(a for a in audiences if a in token_audiences)
    if not shared:
        return None
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or not isinstance(nbf, int) or now > exp + 60 or now < nbf - 60:
        return None
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict):
        return None
    account = private.get("serviceaccount") or {}
    namespace = private.get("namespace")
    if not isinstance(namespace, str) or not account.get("name") or not account.get("uid"):
        return None
    if claims.get("sub") != service_account_user(namespace, account["name"]):
        return None
    for kind, key in (("Pod", "pod"), ("Secret", "secret")):
        ref = private.get(key)
        if isinstance(ref, dict):
            return TokenSubject(
                namespace,
                account["name"],
                account["uid"],
                kind,
                str(ref.get("name", "")),
                str(ref.get("uid", "")),
                str(claims.get("jti", "")),
                shared,
            )
    return TokenSubject(namespace, account["name"], account["uid"], jti=str(claims.get("jti", "")), audiences=shared)


#: where the ServiceAccount admission mounts the token, the CA and the namespace in every container
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: the token the projected volume asks for: an hour and 7 seconds, as kube-apiserver's admission sets it
PROJECTED_TOKEN_EXPIRATION = 3607
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"


def mounts_token(pod: Obj, account: Obj | None) -> bool:
    """Whether the pod gets a token: its own ``automountServiceAccountToken``, else its account's,
    else yes."""
    spec = pod.get("spec") or {}
    if isinstance(spec.get("automountServiceAccountToken"), bool):
        return bool(spec["automountServiceAccountToken"])
    if account is not None and isinstance(account.get("automountServiceAccountToken"), bool):
        return bool(account["automountServiceAccountToken"])
    return True


def projected_token_volume(name: str) -> Obj:
    """The ``kube-api-access-*`` volume: a bound token, the cluster CA and the pod's namespace."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": PROJECTED_TOKEN_EXPIRATION, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


#: the token volume's name before its random suffix
TOKEN_VOLUME_PREFIX = "kube-api-access-"


def mount_service_account_token(pod: Obj, account: Obj | None, name: str) -> None:
    """What Kubernetes' ServiceAccount admission adds to a new pod that mounts a token: the
    projected volume ``name`` (``kube-api-access-xxxxx``) and a read-only mount of it at
    :data:`TOKEN_MOUNT_PATH` in every container and init container that has nothing mounted there."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or not mounts_token(pod, account):
        return
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or () if isinstance(c, dict)]
    needing = [
        c for c in containers if not any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in c.get("volumeMounts") or ())
    ]
    if not needing:
        return
    # a pod admitted before (its admission run again after a webhook injected a container) keeps
    # the token volume it has, as Kubernetes' plugin reuses one whose name has the prefix
    existing = next(
        (
            v["name"]
            for v in spec.get("volumes") or ()
            if isinstance(v, dict) and str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
        ),
        None,
    )
    if existing is not None:
        name = existing
    else:
        spec.setdefault("volumes", []).append(projected_token_volume(name))
    for container in needing:
        container.setdefault("volumeMounts", []).append({"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
