"""CertificateSigningRequests: the API server's side of ``certificates.k8s.io``
(``pkg/registry/certificates`` and the CertificateApproval, CertificateSigning and
CertificateSubjectRestriction admission plugins).

The requester's identity is the request's authentication, never the body; an update of the main
resource changes metadata only; the ``approval`` subresource changes only the conditions (a
decision, which kubectl appends) and the ``status`` subresource the certificate and other
conditions, never the decision. Approving needs the ``approve`` verb and signing the ``sign`` verb
on the ``signers`` resource of the request's signer (``<signer>`` or ``<domain>/*``) beyond the
subresource's own RBAC, so being allowed to update ``certificatesigningrequests/approval`` is not
enough to get any signer's certificates. No request to the client signer may ask for
``system:masters``, the group that bypasses RBAC.
"""

from __future__ import annotations

from typing import ClassVar

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Allocators, Strategy
from minikube_py.api.tables import certificates as printers
from minikube_py.api.webhooks import REQUEST_USER
from minikube_py.model import certificates, errors
from minikube_py.model.errors import FieldError
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.kinds import by_plural
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.times import rfc3339
from minikube_py.store.base import Obj, Op

REQUESTS = by_plural(certificates.GROUP, "v1", "certificatesigningrequests")
assert REQUESTS is not None


def _signer(obj: Obj) -> str:
    spec = obj.get("spec")
    return str(spec.get("signerName") or "") if isinstance(spec, dict) else ""


def _may(allocators: Allocators, verb: str, signer: str) -> bool:
    """``IsAuthorizedForSignerName``: the writer may ``verb`` for this signer, or for every signer of its domain."""
    user = REQUEST_USER.get()
    if user is None or allocators.authorize is None:
        return True  # the server's own bootstrap writes
    for name in (signer, f"{signer.split('/')[0]}/*"):
        info = RequestInfo(verb, "", True, certificates.GROUP, "*", "", "signers", "", name)
        if allocators.authorize(user, info):
            return True
    return False


def _refuse(obj: Obj, why: str) -> errors.StatusError:
    assert REQUESTS is not None
    return errors.forbidden_object(REQUESTS, obj["metadata"]["name"], why)


class CertificateSigningRequestStrategy(Strategy):
    #: what an update through this strategy may change beyond metadata
    path: ClassVar[certificates.UpdatePath] = certificates.MAIN

    def for_subresource(self, subresource: str | None) -> Strategy:
        return {"status": STATUS, "approval": APPROVAL}.get(subresource or "", self)

    def edits_status_only(self, subresource: str | None) -> bool:
        return subresource in ("status", "approval")

    def prepare_for_create(self, obj: Obj) -> None:
        """Who asked is the request's authenticated user, whatever the body says."""
        spec = obj.setdefault("spec", {})
        for key in ("username", "uid", "groups", "extra"):
            spec.pop(key, None)
        user = REQUEST_USER.get()
        if user is not None:
            spec.update(certificates.requester(user.name, user.groups, user.uid, dict(user.extra)))

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        """The main resource edits metadata only: spec and status stay the stored ones."""
        if "spec" in old:
            new["spec"] = json_copy(old["spec"])
        else:
            new.pop("spec", None)

    def validate(self, obj: Obj, old: Obj | None = None) -> list[FieldError]:
        problems = self.rules.validate(obj, old)
        if old is not None:
            problems += certificates.validate_update(obj, old, self.path)
        return problems

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """CertificateSubjectRestriction: the client signer signs nobody into ``system:masters``."""
        if old is None and _signer(obj) == certificates.KUBE_APISERVER_CLIENT:
            try:
                request = certificates.decode_request(obj)
            except ValueError as exc:
                raise _refuse(obj, f"failed to parse CSR: {exc}") from None
            if certificates.masters_subject(request):
                raise _refuse(
                    obj, f"use of {certificates.KUBE_APISERVER_CLIENT} signer with system:masters group is not allowed"
                )
        return [], []


class StatusStrategy(CertificateSigningRequestStrategy):
    """``/status``: the signer's write of the certificate (or of its failure); the decision stays."""

    path = certificates.STATUS

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        certificates.keep_decisions(new, old)
        certificates.stamp_conditions(new, old, rfc3339())

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """CertificateSigning: whoever sets a certificate must be allowed to sign for the signer."""
        assert old is not None
        signer = _signer(old)
        if certificates.certificate(obj) != certificates.certificate(old) and not _may(allocators, "sign", signer):
            raise _refuse(obj, f'user not permitted to sign requests with signerName "{signer}"')
        return [], []


class ApprovalStrategy(CertificateSigningRequestStrategy):
    """``/approval``: only the conditions change (kubectl appends Approved or Denied)."""

    path = certificates.APPROVAL

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        certificates.stamp_conditions(new, old, rfc3339())
        decided = certificates.conditions(new)
        status = json_copy(old.get("status") or {})
        if decided:
            status["conditions"] = decided
        else:
            status.pop("conditions", None)
        new["status"] = status

    async def admit(self, obj: Obj, old: Obj | None, allocators: Allocators) -> tuple[list[Op], list[FieldError]]:
        """CertificateApproval: every approval write needs ``approve`` for the request's signer."""
        assert old is not None
        signer = _signer(old)
        if not _may(allocators, "approve", signer):
            raise _refuse(obj, f'user not permitted to approve requests with signerName "{signer}"')
        return [], []


def _strategy(cls: type[CertificateSigningRequestStrategy]) -> CertificateSigningRequestStrategy:
    return cls(
        "CertificateSigningRequest",
        printer=printers.CERTIFICATE_SIGNING_REQUEST,
        merge_rules=mergekeys.CERTIFICATE_SIGNING_REQUEST,
        shape=shape.CERTIFICATE_SIGNING_REQUEST,
    )


CERTIFICATE_SIGNING_REQUEST = _strategy(CertificateSigningRequestStrategy)
STATUS = _strategy(StatusStrategy)
APPROVAL = _strategy(ApprovalStrategy)
