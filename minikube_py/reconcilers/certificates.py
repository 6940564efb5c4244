"""The cluster's certificate signer and the cleaner of CertificateSigningRequests, as
kube-controller-manager's ``csrsigning`` and ``csrcleaner`` controllers.

An approved request for one of the signers the cluster CA serves (:data:`certificates.SIGNERS`)
is checked against its signer's rules (:func:`certificates.signing_decision`) and either gets its
certificate in ``status.certificate`` or a ``Failed`` condition saying why. Every request is
then kept until the cleaner's time for it (:func:`certificates.removal_due`): the key is queued
again for that moment, so no periodic listing is needed. Writes go through the ``status``
subresource with the cached resourceVersion; a conflict retries the key.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from minikube_py import pki
from minikube_py.client.errors import ConflictError, NotFoundError
from minikube_py.client.rest import ApiClient, Obj
from minikube_py.model import certificates
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.times import rfc3339
from minikube_py.reconcilers.base import Controller

_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


class CertificateSigningController(Controller):
    name = "csrsigning"

    def __init__(self, client: ApiClient, ca: pki.Pki, lifetime: timedelta = certificates.DEFAULT_SIGNING_DURATION):
        super().__init__(client)
        self.ca = ca
        self.lifetime = lifetime
        self.requests = self.informer(_PATH, self.enqueue)

    async def reconcile(self, key: object) -> None:
        request = self.requests.get(str(key))
        if request is None:
            return
        decision = certificates.signing_decision(request, self.lifetime)
        if isinstance(decision, certificates.Signing):
            try:
                pem = pki.sign_request(
                    self.ca, certificates.decode_request(request), decision.usages, decision.lifetime
                )
            except ValueError as exc:
                decision = certificates.Refusal(str(exc))
            else:
                await self._write_status(request, certificate=base64.b64encode(pem).decode())
                return
        if isinstance(decision, certificates.Refusal):
            failed = {
                "type": certificates.FAILED,
                "status": "True",
                "reason": "SignerValidationFailure",
                "message": decision.message,
                "lastUpdateTime": rfc3339(),
            }
            await self._write_status(request, condition=failed)
            return
        due = certificates.removal_due(request)
        if due is None:
            return
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait > 0:
            self.queue.add_after(key, wait)
            return
        try:
            await self.client.delete(f"{_PATH}/{key}", uid=request["metadata"].get("uid"))
        except (NotFoundError, ConflictError):
            return  # gone already, or another request of the same name

    async def _write_status(self, request: Obj, *, certificate: str = "", condition: Obj | None = None) -> None:
        """Write the certificate or a failure through ``/status``; a conflict (changed meanwhile)
        fails the key, retried once the informer has the change."""
        updated = json_copy(request)
        status = updated.setdefault("status", {})
        if certificate:
            status["certificate"] = certificate
        if condition is not None:
            status["conditions"] = [*certificates.conditions(request), condition]
        try:
            await self.client.replace(f"{_PATH}/{request['metadata']['name']}/status", updated)
        except NotFoundError:
            return
