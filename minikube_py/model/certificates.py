"""CertificateSigningRequests (``certificates.k8s.io/v1``): their validation, the conditions that
say where a request stands, and the signers' decisions, as pure functions of the objects.

A user (or a tool) asks the cluster's CA for a certificate by creating a request with a PEM
``CERTIFICATE REQUEST``, the signer that should sign it and the key usages it wants; somebody
allowed to approve for that signer adds the ``Approved`` (or ``Denied``) condition through the
``approval`` subresource (``kubectl certificate approve``); the signer's controller then checks the
request against its signer's rules and either writes the certificate into ``status.certificate`` or
marks the request ``Failed``. Requests are removed an hour after they are decided, or a day after
they were made if nobody decided. The API server writes who asked (``spec.username``, ``groups``,
``uid``, ``extra``) from the request's authentication; the requester cannot choose them.

The rules and messages are Kubernetes' (``pkg/apis/certificates/validation``, the signers and
cleaner of ``pkg/controller/certificates``). Not kept: the leniency kube-apiserver shows to stored
objects that predate a rule (pykube never stored such objects).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from minikube_py.model.errors import FieldError, duplicate, forbidden, invalid_value, not_supported, required
from minikube_py.model.selectors import dns1123_label_errors, dns1123_subdomain_errors
from minikube_py.model.times import parse_time

Obj = dict[str, Any]
Errors = list[FieldError]

GROUP = "certificates.k8s.io"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
#: v1beta1's catch-all signer, which ``certificates.k8s.io/v1`` refuses
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
#: the signers the cluster's CA signs for (kube-controller-manager's ``csrsigning`` controllers)
SIGNERS = (KUBE_APISERVER_CLIENT, KUBELET_CLIENT, KUBELET_SERVING)

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
_DECISIONS = (APPROVED, DENIED)

#: the key usages a request may ask for (``KeyUsage`` in certificates/v1), sorted as Kubernetes lists them
USAGES = (
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
)
#: the shortest certificate a request may ask for
MIN_EXPIRATION_SECONDS = 600
#: how long a signed certificate lives unless the request asks for less
#: (kube-controller-manager's ``--cluster-signing-duration``)
DEFAULT_SIGNING_DURATION = timedelta(days=365)
_SIGNER_NAME_MAX = 253 + 1 + 253

#: how long a decided request is kept, and an undecided one (kube-controller-manager's csrcleaner)
DECIDED_KEPT = timedelta(hours=1)
PENDING_KEPT = timedelta(hours=24)

_USAGES = frozenset(USAGES)
_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
_NODES_GROUP = "system:nodes"
_NODE_PREFIX = "system:node:"
_MASTERS = "system:masters"


# ------------------------------------------------------------------------------ reading


def conditions(obj: Obj) -> list[Obj]:
    """The request's status conditions (an empty list for a malformed status)."""
    status = obj.get("status")
    found = status.get("conditions") if isinstance(status, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def has_condition(obj: Obj, kind: str) -> bool:
    return any(c.get("type") == kind for c in conditions(obj))


def certificate(obj: Obj) -> str:
    """``status.certificate`` as stored (base64 of PEM); "" while none was issued."""
    status = obj.get("status")
    value = status.get("certificate") if isinstance(status, dict) else None
    return value if isinstance(value, str) else ""


def condition_column(obj: Obj) -> str:
    """The CONDITION column of ``kubectl get csr``: the decision (Pending before one), then whether
    it failed and whether it was issued (``Approved,Issued``); condition types count, not statuses."""
    shown = DENIED if has_condition(obj, DENIED) else APPROVED if has_condition(obj, APPROVED) else "Pending"
    if has_condition(obj, FAILED):
        shown += ",Failed"
    if certificate(obj):
        shown += ",Issued"
    return shown


def decode_request(obj: Obj) -> x509.CertificateSigningRequest:
    """The request's PEM ``CERTIFICATE REQUEST``, parsed; ValueError with Kubernetes' reason when it is not one."""
    spec = obj.get("spec")
    encoded = spec.get("request") if isinstance(spec, dict) else None
    try:
        pem = base64.b64decode(encoded or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST") from None
    begin = pem.find(b"-----BEGIN ")
    if begin < 0 or not pem[begin:].startswith(b"-----BEGIN CERTIFICATE REQUEST-----"):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(pem[begin:])
    except ValueError as exc:
        raise ValueError(f"x509: malformed certificate request: {exc}") from None
    if not csr.is_signature_valid:
        raise ValueError("x509: ECDSA verification failure")
    return csr


def _bytes_value(encoded: Any) -> str:
    """Go's ``%#v`` of a ``[]byte`` field, as a message quotes the request it refuses."""
    try:
        raw = base64.b64decode(encoded or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raw = str(encoded).encode()
    if not raw:
        return "[]byte(nil)"
    return "[]byte{" + ", ".join(f"0x{b:x}" for b in raw) + "}"


# ------------------------------------------------------------------------------ validation


def validate(obj: Obj) -> Errors:
    """The checks every write of a request passes (``validateCertificateSigningRequest``)."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    errs: Errors = []
    try:
        decode_request(obj)
    except ValueError as exc:
        value = _bytes_value(spec.get("request"))
        errs.append(FieldError("spec.request", "FieldValueInvalid", f"Invalid value: {value}: {exc}"))
    usages = spec.get("usages")
    if not usages:
        errs.append(required("spec.usages"))
    else:
        seen: set[str] = set()
        for i, usage in enumerate(usages if isinstance(usages, list) else []):
            if usage not in _USAGES:
                errs.append(not_supported(f"spec.usages[{i}]", usage, list(USAGES)))
            elif usage in seen:
                errs.append(duplicate(f"spec.usages[{i}]", usage))
            seen.add(usage)
    signer = spec.get("signerName")
    if signer == LEGACY_UNKNOWN:
        errs.append(
            invalid_value("spec.signerName", signer, "the legacy signerName is not allowed via this API version")
        )
    else:
        errs += signer_name_errors("spec.signerName", str(signer or ""))
    expiration = spec.get("expirationSeconds")
    if isinstance(expiration, int) and expiration < MIN_EXPIRATION_SECONDS:
        errs.append(
            invalid_value(
                "spec.expirationSeconds", expiration, "may not specify a duration less than 600 seconds (10 minutes)"
            )
        )
    errs += _condition_errors(conditions(obj))
    issued = certificate(obj)
    if issued:
        problem = _certificate_problem(issued)
        if problem:
            errs.append(
                FieldError("status.certificate", "FieldValueInvalid", f'Invalid value: "<certificate data>": {problem}')
            )
    return errs


def signer_name_errors(path: str, name: str) -> Errors:
    """``ValidateSignerName``: ``<domain>/<path>``, the domain of DNS labels with at least one dot,
    the path of DNS subdomains separated by dots; each part's first fault only."""
    if not name:
        return [required(path)]
    parts = name.split("/")
    if len(parts) != 2:
        return [
            invalid_value(path, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")
        ]
    domain, tail = parts
    errs: Errors = []
    if len(domain) > 253:
        errs.append(_too_long(path, 253))
    labels = domain.split(".")
    errs += _first_faulty(path, domain, labels, dns1123_label_errors)
    if len(labels) < 2:
        errs.append(invalid_value(path, domain, "should be a domain with at least two segments separated by dots"))
    errs += _first_faulty(path, tail, tail.split("."), dns1123_subdomain_errors)
    if len(name) > _SIGNER_NAME_MAX:
        errs.append(_too_long(path, _SIGNER_NAME_MAX))
    return errs


def _too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def _first_faulty(path: str, whole: str, labels: list[str], check: Any) -> Errors:
    for label in labels:
        problems = check(label)
        if problems:
            return [invalid_value(path, whole, f"validating label {json.dumps(label)}: {p}") for p in problems]
    return []


def _condition_errors(found: list[Obj]) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, condition in enumerate(found):
        path = f"status.conditions[{i}]"
        kind, status = condition.get("type"), condition.get("status")
        if not kind:
            errs.append(required(f"{path}.type"))
        if not status:
            errs.append(required(f"{path}.status"))
        elif kind in (APPROVED, DENIED, FAILED):
            if status != "True":
                errs.append(not_supported(f"{path}.status", status, ["True"]))
        elif status not in ("False", "True", "Unknown"):
            errs.append(not_supported(f"{path}.status", status, ["False", "True", "Unknown"]))
        if kind in _DECISIONS and ({APPROVED, DENIED} - {kind}) & seen:
            errs.append(invalid_value(f"{path}.type", kind, "Approved and Denied conditions are mutually exclusive"))
        if kind and kind in seen:
            errs.append(duplicate(f"{path}.type", kind))
        if kind:
            seen.add(str(kind))
    return errs


def _certificate_problem(encoded: str) -> str:
    """Why ``status.certificate`` is not a chain of PEM certificates ("" when it is)."""
    try:
        pem = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "must contain at least one CERTIFICATE PEM block"
    blocks = 0
    for chunk in pem.split(b"-----BEGIN ")[1:]:
        kind = chunk.split(b"-----", 1)[0].decode(errors="replace")
        if kind != "CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{kind}"'
        if b":" in chunk.split(b"-----END", 1)[0].partition(b"\n")[2]:
            return "no PEM block headers are permitted"
        blocks += 1
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return f"x509: malformed certificate: {exc}"
    return ""


@dataclass(frozen=True)
class UpdatePath:
    """What an update may change beyond metadata: the ``status`` subresource sets the certificate,
    the ``approval`` subresource the Approved and Denied conditions; the main resource neither."""

    certificate: bool = False
    approval: bool = False


MAIN, STATUS, APPROVAL = UpdatePath(), UpdatePath(certificate=True), UpdatePath(approval=True)


def validate_update(new: Obj, old: Obj, path: UpdatePath = MAIN) -> Errors:
    """``validateCertificateSigningRequestUpdate``: no update removes a decision or a failure, only
    the approval subresource adds or changes a decision, and a certificate is set once, through
    the status subresource."""
    errs: Errors = []
    new_conditions, old_conditions = conditions(new), conditions(old)
    for kind in (APPROVED, DENIED, FAILED):
        now = [c for c in new_conditions if c.get("type") == kind]
        before = [c for c in old_conditions if c.get("type") == kind]
        if len(now) < len(before):
            errs.append(forbidden("status.conditions", f'updates may not remove a condition of type "{kind}"'))
        elif kind in _DECISIONS and not path.approval:
            if len(now) > len(before):
                errs.append(forbidden("status.conditions", f'updates may not add a condition of type "{kind}"'))
            elif now != before:
                errs.append(forbidden("status.conditions", f'updates may not modify a condition of type "{kind}"'))
    if certificate(new) != certificate(old):
        if not path.certificate:
            errs.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif certificate(old):
            errs.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
    return errs


def stamp_conditions(new: Obj, old: Obj | None, now: str) -> None:
    """``populateConditionTimestamps``: a condition without ``lastUpdateTime`` was updated now; one
    without ``lastTransitionTime`` keeps an old one of the same type and status, or starts now."""
    before = conditions(old) if old is not None else []
    for condition in conditions(new):
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = now
        if not condition.get("lastTransitionTime"):
            condition["lastTransitionTime"] = next(
                (
                    c["lastTransitionTime"]
                    for c in before
                    if c.get("type") == condition.get("type")
                    and c.get("status") == condition.get("status")
                    and c.get("lastTransitionTime")
                ),
                now,
            )


def keep_decisions(new: Obj, old: Obj) -> None:
    """A status update may not touch the decision: each Approved and Denied condition it sends is
    the stored one again, in order (a different count is for validation to refuse)."""
    new_conditions = conditions(new)
    for kind in _DECISIONS:
        before = [c for c in conditions(old) if c.get("type") == kind]
        now = [i for i, c in enumerate(new_conditions) if c.get("type") == kind]
        if len(before) == len(now):
            for index, stored in zip(now, before, strict=True):
                new_conditions[index] = stored
    if new_conditions and isinstance(new.get("status"), dict):
        new["status"]["conditions"] = new_conditions


def requester(user_name: str, groups: Iterable[str], uid: str, extra: dict[str, Iterable[str]]) -> Obj:
    """The spec fields the API server writes from the creating request's authentication."""
    spec: Obj = {"username": user_name}
    if uid:
        spec["uid"] = uid
    if groups:
        spec["groups"] = list(groups)
    if extra:
        spec["extra"] = {key: list(values) for key, values in extra.items()}
    return spec


def masters_subject(csr: x509.CertificateSigningRequest) -> bool:
    """Whether the request's subject puts its holder in ``system:masters`` (CertificateSubjectRestriction
    refuses such requests to the kube-apiserver-client signer: that group bypasses RBAC)."""
    return _MASTERS in _organizations(csr)


# ------------------------------------------------------------------------------ signers


@dataclass(frozen=True)
class Signing:
    """Sign: the certificate's usages and lifetime."""

    usages: tuple[str, ...]
    lifetime: timedelta


@dataclass(frozen=True)
class Refusal:
    """Do not sign: the request fails with this message (reason ``SignerValidationFailure``)."""

    message: str


def signing_decision(obj: Obj, max_lifetime: timedelta = DEFAULT_SIGNING_DURATION) -> Signing | Refusal | None:
    """What the cluster's signer does with a request: nothing (None) unless it is for one of
    :data:`SIGNERS`, approved, not denied, not failed and not issued yet; else the signer's own
    checks decide between signing and failing it."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    signer = spec.get("signerName")
    if signer not in SIGNERS or certificate(obj) or not has_condition(obj, APPROVED) or has_condition(obj, DENIED):
        return None
    if any(c.get("type") == FAILED and c.get("status") in ("True", "", None) for c in conditions(obj)):
        return None
    usages = tuple(str(u) for u in spec.get("usages") or [])
    try:
        csr = decode_request(obj)
    except ValueError as exc:
        return Refusal(str(exc))
    problem = _signer_problem(str(signer), csr, set(usages))
    if problem:
        return Refusal(problem)
    return Signing(usages, requested_lifetime(spec.get("expirationSeconds"), max_lifetime))


def requested_lifetime(expiration: Any, max_lifetime: timedelta) -> timedelta:
    """The lifetime a request gets: what it asked for, at least ten minutes and at most the signer's."""
    if not isinstance(expiration, int) or isinstance(expiration, bool):
        return max_lifetime
    return min(max(timedelta(seconds=expiration), timedelta(seconds=MIN_EXPIRATION_SECONDS)), max_lifetime)


def _signer_problem(signer: str, csr: x509.CertificateSigningRequest, usages: set[str]) -> str:
    if signer == KUBE_APISERVER_CLIENT:
        for usage in sorted(usages):
            if usage not in _CLIENT_USAGES:
                return f"invalid usage for client certificate: {usage}"
        return "" if "client auth" in usages else "missing required usage for client certificate: client auth"
    names = _alternative_names(csr)
    if _organizations(csr) != [_NODES_GROUP]:
        return "subject organization is not system:nodes"
    if signer == KUBELET_SERVING:
        if not names[x509.DNSName] and not names[x509.IPAddress]:
            return "DNS or IP subjectAltName is required"
        if names[x509.RFC822Name]:
            return "Email subjectAltNames are not allowed"
        if names[x509.UniformResourceIdentifier]:
            return "URI subjectAltNames are not allowed"
        if usages not in (
            {"digital signature", "key encipherment", "server auth"},
            {"digital signature", "server auth"},
        ):
            return "usages did not match [digital signature key encipherment server auth]"
        return (
            "" if _common_name(csr).startswith(_NODE_PREFIX) else "subject common name does not begin with system:node:"
        )
    for kind, what in (
        (x509.DNSName, "DNS"),
        (x509.RFC822Name, "Email"),
        (x509.IPAddress, "IP"),
        (x509.UniformResourceIdentifier, "URI"),
    ):
        if names[kind]:
            return f"{what} subjectAltNames are not allowed"
    if not _common_name(csr).startswith(_NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    if usages not in ({"digital signature", "key encipherment", "client auth"}, {"digital signature", "client auth"}):
        return "usages did not match [client auth digital signature key encipherment]"
    return ""


def _organizations(csr: x509.CertificateSigningRequest) -> list[str]:
    return [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def _common_name(csr: x509.CertificateSigningRequest) -> str:
    found = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else ""


def _alternative_names(csr: x509.CertificateSigningRequest) -> dict[type, list[Any]]:
    kinds: tuple[type, ...] = (x509.DNSName, x509.IPAddress, x509.RFC822Name, x509.UniformResourceIdentifier)
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {kind: [] for kind in kinds}
    return {kind: names.get_values_for_type(kind) for kind in kinds}  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ cleaning


def removal_due(obj: Obj) -> datetime | None:
    """When the cleaner removes the request (None: never): an hour after it was denied, failed or
    issued (by the decision's ``lastUpdateTime``), a day after it was made while nobody decided."""
    found = conditions(obj)
    if not found:
        created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        return created + PENDING_KEPT if created else None
    due: list[datetime] = []
    for condition in found:
        kind = condition.get("type")
        if kind in (DENIED, FAILED) or (kind == APPROVED and certificate(obj)):
            updated = _time(condition.get("lastUpdateTime"))
            if updated is not None:
                due.append(updated + DECIDED_KEPT)
    if has_condition(obj, APPROVED) and certificate(obj):
        expiry = _expiry(certificate(obj))
        if expiry is not None:
            due.append(expiry)
    return min(due) if due else None


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _expiry(encoded: str) -> datetime | None:
    try:
        return x509.load_pem_x509_certificates(base64.b64decode(encoded))[0].not_valid_after_utc
    except (ValueError, IndexError):
        return None
