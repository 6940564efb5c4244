"""ServiceAccount tokens for the pods of this node, as kubelet's token manager keeps them.

A pod's projected ``serviceAccountToken`` source asks for a token of its ServiceAccount for an
audience and a lifetime; the node requests one bound to the pod (TokenRequest with the pod as
``boundObjectRef``, so the token dies with the pod) and requests a new one once 80% of its life
has passed, which the volume then rewrites in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from minikube_py.client.rest import resource_path
from minikube_py.model.times import instant

log = logging.getLogger(__name__)
Obj = dict[str, Any]

#: renew once this share of the token's life has passed (kubelet's 80%)
RENEW_AT = 0.8
#: kubelet's default lifetime when the source names none
DEFAULT_EXPIRATION = 3600


@dataclass(frozen=True, slots=True)
class _Issued:
    token: str
    renew_at: float  # wall-clock seconds


class Creates(Protocol):
    """What the manager needs of the API client: a POST (the agent's :class:`ApiClient`)."""

    async def create(self, path: str, body: Obj) -> Obj: ...


class TokenManager:
    def __init__(self, client: Creates, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock
        self._tokens: dict[tuple[str, str, int], _Issued] = {}

    def wants(self, pod: Obj) -> bool:
        """Whether the pod mounts any ServiceAccount token."""
        return next(self._requests(pod), None) is not None

    @staticmethod
    def _requests(pod: Obj) -> Iterator[Obj]:
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            for source in ((volume.get("projected") or {}).get("sources") or []) if "projected" in volume else ():
                if "serviceAccountToken" in source:
                    yield source["serviceAccountToken"] or {}

    @staticmethod
    def _key(pod: Obj, request: Obj) -> tuple[str, str, int]:
        return (
            pod["metadata"]["uid"],
            request.get("audience") or "",
            int(request.get("expirationSeconds") or DEFAULT_EXPIRATION),
        )

    def get(self, pod: Obj, request: Obj) -> str | None:
        issued = self._tokens.get(self._key(pod, request))
        return issued.token if issued is not None else None

    async def ensure(self, pod: Obj) -> bool:
        """Request the pod's tokens that are missing or due for renewal; True if any changed. A
        failed request raises (the caller reports it and tries again)."""
        changed = False
        for request in self._requests(pod):
            key = self._key(pod, request)
            issued = self._tokens.get(key)
            if issued is not None and self._clock() < issued.renew_at:
                continue
            self._tokens[key] = await self._request(pod, key)
            changed = True
        return changed

    def next_renewal(self, pod: Obj) -> float | None:
        """Seconds until the pod's first token is due for renewal (None: it has none)."""
        due = [issued.renew_at for key, issued in self._tokens.items() if key[0] == pod["metadata"]["uid"]]
        return max(0.0, min(due) - self._clock()) if due else None

    async def _request(self, pod: Obj, key: tuple[str, str, int]) -> _Issued:
        md, spec = pod["metadata"], pod.get("spec") or {}
        _, audience, expiration = key
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [audience] if audience else [],
                "expirationSeconds": expiration,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": md["name"], "uid": md["uid"]},
            },
        }
        account = spec.get("serviceAccountName") or "default"
        answer = await self._client.create(
            resource_path("v1", "serviceaccounts", md["namespace"], account, "token"), body
        )
        status = answer.get("status") or {}
        now = self._clock()
        expires = instant(status["expirationTimestamp"]).timestamp()
        return _Issued(status["token"], now + RENEW_AT * max(expires - now, 0.0))

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == pod_uid]:
            del self._tokens[key]
