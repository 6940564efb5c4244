"""The printer for CertificateSigningRequests: kube-apiserver's ``printCertificateSigningRequest``,
which ``kubectl get csr`` shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name
from minikube_py.model.certificates import condition_column
from minikube_py.model.times import human_duration


def _certificate_signing_request(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    expiration = spec.get("expirationSeconds")
    requested = human_duration(timedelta(seconds=expiration)) if isinstance(expiration, int) else "<none>"
    return [
        obj_name(obj),
        age(obj, now),
        spec.get("signerName") or "<none>",
        spec.get("username", ""),
        requested,
        condition_column(obj),
    ]


CERTIFICATE_SIGNING_REQUEST = Printer(
    (
        NAME,
        AGE,
        Column("SignerName", "The signer the request asks to sign it."),
        Column("Requestor", "Name of the user which made this request."),
        Column("RequestedDuration", "The validity the request asks for its certificate."),
        Column("Condition", "State of this request."),
    ),
    _certificate_signing_request,
)
