"""ServiceAccount tokens: the signing key, TokenRequest (``kubectl create token``), the
authenticator that accepts the tokens, and the OIDC discovery documents that publish the key.

Tokens are JWTs signed ES256 with a P-256 key kept in the data dir (0600, made under the server's
umask), as kube-apiserver's ``--service-account-signing-key-file``. A token authenticates while its
signature, issuer, audience and lifetime hold *and* the ServiceAccount (and the Pod or Secret it is
bound to) still exists with the uid it was issued for: deleting the pod revokes its token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from minikube_py.api.auth import Authenticator, User
from minikube_py.api.registry import Registry
from minikube_py.model import errors
from minikube_py.model.kinds import by_plural
from minikube_py.model.rbac import NODE_USER_PREFIX, NODES_GROUP, UserInfo, service_account_groups, service_account_user
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.serviceaccounts import (
    TokenSpec,
    TokenSubject,
    claimed_subject,
    parse_token_request,
    token_claims,
)
from minikube_py.model.times import instant, rfc3339
from minikube_py.pki import ensure_ec_key

Obj = dict[str, Any]
#: how long a token's successful check is reused (kube-apiserver caches token checks for 10 s too, so a
#: deleted pod's token may work that much longer), and for how many tokens at most
CACHE_SECONDS = 10.0
CACHE_SIZE = 4096
_SERVICE_ACCOUNTS = by_plural("", "v1", "serviceaccounts")
_PODS = by_plural("", "v1", "pods")
_SECRETS = by_plural("", "v1", "secrets")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SigningKey:
    """The P-256 key that signs and verifies ServiceAccount tokens; made on first start."""

    def __init__(self, path: Path) -> None:
        self._key = key = ensure_ec_key(path)
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        #: the key id, as kube-apiserver derives it: the public key's SHA-256, base64url
        self.kid = _b64(hashlib.sha256(public_der).digest())

    def sign(self, claims: Obj) -> str:
        header = {"alg": "ES256", "kid": self.kid}
        signing_input = (
            f"{_b64(json.dumps(header, separators=(',', ':')).encode())}."
            f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        )
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def verify(self, token: str) -> Obj | None:
        """The claims of a token this key signed; None for anything else."""
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            header = json.loads(_unb64(header_b64))
            if not isinstance(header, dict) or header.get("alg") != "ES256":
                return None
            raw = _unb64(signature_b64)
            if len(raw) != 64:
                return None
            signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            self._key.public_key().verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
            claims = json.loads(_unb64(claims_b64))
        except (ValueError, InvalidSignature, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    def jwk(self) -> Obj:
        numbers = self._key.public_key().public_numbers()
        return {
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }


class Authenticated(NamedTuple):
    """Who a token is, and the audiences it was accepted for."""

    user: User
    audiences: tuple[str, ...]


class ServiceAccountTokens:
    """Issues and authenticates ServiceAccount tokens for one cluster (``issuer``), whose API accepts
    tokens for ``audiences`` (by default the issuer, as kube-apiserver's)."""

    def __init__(
        self, key: SigningKey, registry: Registry, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.key = key
        self.registry = registry
        self.issuer = issuer
        self.audiences = (issuer,)
        self._clock = clock
        #: (token, audiences) -> (its user and the audiences it is for, until when that answer holds): an
        #: in-cluster client sends the same token with every request, and checking it costs a signature
        #: and up to three store reads
        self._recent: dict[tuple[str, tuple[str, ...]], tuple[Authenticated, float]] = {}

    async def request(self, namespace: str, name: str, body: Obj, requester: UserInfo) -> Obj:
        """Answer a TokenRequest for ServiceAccount ``namespace/name``: the request with its
        ``status.token`` and ``status.expirationTimestamp``. A node (which the Node authorizer let
        ask for an account one of its pods runs as) gets tokens only bound to such a pod, as
        Kubernetes' NodeRestriction admits."""
        assert _SERVICE_ACCOUNTS is not None
        spec, problems = parse_token_request(body, self.audiences)
        if spec is None:
            raise errors.StatusError(
                422,
                "Invalid",
                f'TokenRequest.authentication.k8s.io "{name}" is invalid: ' + ", ".join(p.render() for p in problems),
                {
                    "name": name,
                    "group": "authentication.k8s.io",
                    "kind": "TokenRequest",
                    "causes": [{"reason": p.reason, "message": p.message, "field": p.field} for p in problems],
                },
            )
        account = await self.registry.get(_SERVICE_ACCOUNTS, namespace, name)
        bound = await self._bound_object(namespace, spec)
        _check_node_request(requester, namespace, name, spec, bound)
        now = int(self._clock())
        claims = token_claims(issuer=self.issuer, namespace=namespace, account=account, spec=spec, now=now, bound=bound)
        metadata = {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": rfc3339(datetime.fromtimestamp(now, UTC)),
        }
        answer_spec: Obj = {"audiences": list(spec.audiences), "expirationSeconds": spec.expiration}
        if bound is not None:
            answer_spec["boundObjectRef"] = {
                "kind": spec.bound_kind,
                "apiVersion": "v1",
                "name": spec.bound_name,
                "uid": bound["metadata"]["uid"],
            }
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": metadata,
            "spec": answer_spec,
            "status": {
                "token": self.key.sign(claims),
                "expirationTimestamp": rfc3339(datetime.fromtimestamp(claims["exp"], UTC)),
            },
        }

    async def _bound_object(self, namespace: str, spec: TokenSpec) -> Obj | None:
        if not spec.bound_kind:
            return None
        rt = _PODS if spec.bound_kind == "Pod" else _SECRETS
        assert rt is not None
        obj = await self.registry.get(rt, namespace, spec.bound_name)
        if spec.bound_uid and obj["metadata"]["uid"] != spec.bound_uid:
            raise errors.conflict(
                rt,
                spec.bound_name,
                "the UID in the bound object reference "
                f"({spec.bound_uid}) does not match the object's ({obj['metadata']['uid']})",
            )
        return obj

    async def authenticate(self, token: str) -> User | None:
        """The ServiceAccount user of a valid token for this API; None when it is not one of ours,
        expired, for another audience, or what it names is gone or was recreated."""
        found = await self.authenticate_for(token, self.audiences)
        return found.user if found is not None else None

    async def authenticate_for(self, token: str, audiences: tuple[str, ...]) -> Authenticated | None:
        """:meth:`authenticate` for any of ``audiences`` (a TokenReview's): the user and the
        audiences both the token and the request name."""
        if token.count(".") != 2:
            return None
        now = self._clock()
        key = (token, audiences)
        recent = self._recent.get(key)
        if recent is not None and now < recent[1]:
            return recent[0]
        found = await self._authenticate(token, audiences)
        if found is not None:
            if len(self._recent) >= CACHE_SIZE:
                self._recent = {k: v for k, v in self._recent.items() if now < v[1]}
                if len(self._recent) >= CACHE_SIZE:  # that many live tokens: start over rather than grow
                    self._recent.clear()
            self._recent[key] = (found, now + CACHE_SECONDS)
        return found

    async def _authenticate(self, token: str, audiences: tuple[str, ...]) -> Authenticated | None:
        claims = self.key.verify(token)
        if claims is None:
            return None
        subject = claimed_subject(claims, issuer=self.issuer, audiences=audiences, now=int(self._clock()))
        if subject is None or not await self._still_valid(subject):
            return None
        extra: list[tuple[str, tuple[str, ...]]] = []
        if subject.jti:
            extra.append(("authentication.kubernetes.io/credential-id", (f"JTI={subject.jti}",)))
        if subject.bound_kind == "Pod":
            extra += [
                ("authentication.kubernetes.io/pod-name", (subject.bound_name,)),
                ("authentication.kubernetes.io/pod-uid", (subject.bound_uid,)),
            ]
        user = User(
            service_account_user(subject.namespace, subject.name),
            admin=False,
            groups=service_account_groups(subject.namespace),
            uid=subject.uid,
            extra=tuple(extra),
        )
        return Authenticated(user, subject.audiences)

    async def _still_valid(self, subject: TokenSubject) -> bool:
        assert _SERVICE_ACCOUNTS is not None and _PODS is not None and _SECRETS is not None
        checks = [(_SERVICE_ACCOUNTS, subject.name, subject.uid)]
        if subject.bound_kind:
            checks.append((_PODS if subject.bound_kind == "Pod" else _SECRETS, subject.bound_name, subject.bound_uid))
        for rt, name, uid in checks:
            try:
                obj = await self.registry.get(rt, subject.namespace, name)
            except errors.StatusError:
                return False
            md = obj["metadata"]
            if md.get("uid") != uid or _deleted_before(md.get("deletionTimestamp"), self._clock()):
                return False
        return True

    def openid_configuration(self, jwks_uri: str) -> Obj:
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    def jwks(self) -> Obj:
        return {"keys": [self.key.jwk()]}


async def review_token(
    authenticator: Authenticator, tokens: ServiceAccountTokens, token: str, audiences: tuple[str, ...]
) -> Authenticated | None:
    """Who ``token`` is for any of ``audiences`` (the API's own when none), as a TokenReview asks. The
    admin and join tokens know no audience: they pass only for a review that names one of the API's,
    and are answered with those, as kube-apiserver treats its audience-agnostic authenticators."""
    audiences = audiences or tokens.audiences
    static = authenticator.authenticate(f"Bearer {token}")
    if static is None:
        return await tokens.authenticate_for(token, audiences)
    shared = tuple(a for a in audiences if a in tokens.audiences)
    return Authenticated(static, shared) if shared else None


def _check_node_request(requester: UserInfo, namespace: str, name: str, spec: TokenSpec, bound: Obj | None) -> None:
    if NODES_GROUP not in requester.groups or not requester.name.startswith(NODE_USER_PREFIX):
        return
    node = requester.name.removeprefix(NODE_USER_PREFIX)
    pod_spec = (bound or {}).get("spec") or {}
    if (
        spec.bound_kind == "Pod"
        and pod_spec.get("nodeName") == node
        and (pod_spec.get("serviceAccountName") or "default") == name
    ):
        return
    raise errors.forbidden_by_policy(
        requester.name,
        RequestInfo("create", "", True, "", "v1", namespace, "serviceaccounts", "token", name),
        f"a node may only request tokens for the service accounts of pods bound to it ({node})",
    )


def _deleted_before(timestamp: str | None, now: float) -> bool:
    """A pod being deleted still holds its token until its deletion time, as in Kubernetes."""
    if not timestamp:
        return False
    return instant(timestamp).timestamp() < now
