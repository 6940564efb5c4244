"""The pure rules of CertificateSigningRequests: validation in kube-apiserver's words, what each
update path may change, the signers' decisions (the client signer's usages, the kubelet signers'
subjects and names), the certificate's lifetime, condition stamping and the cleaner's schedule."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py import pki
from minikube_py.model import certificates as c

Obj = dict[str, Any]
KEY = ec.generate_private_key(ec.SECP256R1())


def request_pem(common_name: str, *organizations: str, names: list[x509.GeneralName] | None = None) -> bytes:
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr(
    pem: bytes, signer: str = c.KUBE_APISERVER_CLIENT, usages: tuple[str, ...] = ("client auth",), **more: Any
) -> Obj:
    spec = {"request": base64.b64encode(pem).decode(), "signerName": signer, "usages": list(usages), **more}
    return {"metadata": {"name": "r", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec, "status": {}}


def decided(obj: Obj, *kinds: str, when: str = "2026-01-01T00:00:00Z") -> Obj:
    obj["status"]["conditions"] = [{"type": k, "status": "True", "lastUpdateTime": when} for k in kinds]
    return obj


def rendered(errors: list[Any]) -> list[str]:
    return [e.render() for e in errors]


def test_a_well_formed_request_is_valid() -> None:
    assert c.validate(csr(request_pem("alice", "devs"))) == []


@pytest.mark.parametrize(
    ("signer", "message"),
    [
        ("", "spec.signerName: Required value"),
        ("a/b/c", "must be a fully qualified domain and path of the form 'example.com/signer-name'"),
        ("example/signer", 'Invalid value: "example": should be a domain with at least two segments separated by dots'),
        ("Example.com/signer", 'Invalid value: "Example.com": validating label "Example": a lowercase RFC 1123 label'),
        ("example.com/Signer", 'Invalid value: "Signer": validating label "Signer": a lowercase RFC 1123 subdomain'),
        ("example.com/" + "a" * 254, "spec.signerName: Invalid value"),
    ],
)
def test_signer_names_are_a_domain_and_a_path(signer: str, message: str) -> None:
    assert any(message in text for text in rendered(c.signer_name_errors("spec.signerName", signer)))


def test_usages_must_be_known_and_unique() -> None:
    errors = rendered(c.validate(csr(request_pem("a"), usages=("client auth", "flying", "client auth"))))
    assert errors[0].startswith('spec.usages[1]: Unsupported value: "flying": supported values: "any", "cert sign"')
    assert errors[1] == 'spec.usages[2]: Duplicate value: "client auth"'


def test_a_request_that_is_not_a_pem_request_is_invalid() -> None:
    cert = pki.self_signed_serving_cert("x", ["localhost"])[0]
    errors = rendered(c.validate(csr(cert)))
    assert errors == [
        "spec.request: Invalid value: []byte{"
        + ", ".join(f"0x{b:x}" for b in cert)
        + "}: PEM block type must be CERTIFICATE REQUEST"
    ]


def test_conditions_are_typed_decided_once_and_true() -> None:
    obj = csr(request_pem("a"))
    obj["status"]["conditions"] = [
        {"type": "Approved", "status": "False"},
        {"type": "Denied", "status": "True"},
        {"type": "Custom", "status": "Maybe"},
        {"type": "Custom", "status": "True"},
        {"status": "True"},
    ]
    assert rendered(c.validate(obj)) == [
        'status.conditions[0].status: Unsupported value: "False": supported values: "True"',
        'status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive',
        'status.conditions[2].status: Unsupported value: "Maybe": supported values: "False", "True", "Unknown"',
        'status.conditions[3].type: Duplicate value: "Custom"',
        "status.conditions[4].type: Required value",
    ]


def test_each_update_path_changes_only_its_part() -> None:
    old = csr(request_pem("a"))
    approved = decided(csr(request_pem("a")), "Approved")
    assert rendered(c.validate_update(approved, old, c.MAIN)) == [
        'status.conditions: Forbidden: updates may not add a condition of type "Approved"'
    ]
    assert c.validate_update(approved, old, c.APPROVAL) == []
    assert rendered(c.validate_update(old, approved, c.APPROVAL)) == [
        'status.conditions: Forbidden: updates may not remove a condition of type "Approved"'
    ]
    issued = decided(csr(request_pem("a")), "Approved")
    issued["status"]["certificate"] = "Y2VydA=="
    assert rendered(c.validate_update(issued, approved, c.APPROVAL)) == [
        "status.certificate: Forbidden: updates may not set certificate content"
    ]
    assert c.validate_update(issued, approved, c.STATUS) == []
    again = decided(csr(request_pem("a")), "Approved")
    again["status"]["certificate"] = "b3RoZXI="
    assert rendered(c.validate_update(again, issued, c.STATUS)) == [
        "status.certificate: Forbidden: updates may not modify existing certificate content"
    ]


def test_a_status_write_keeps_the_decision_and_conditions_get_their_times() -> None:
    old = decided(csr(request_pem("a")), "Approved")
    old["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    new = decided(csr(request_pem("a")), "Approved", when="")
    new["status"]["conditions"][0]["reason"] = "Rewritten"
    new["status"]["conditions"].append({"type": "Failed", "status": "True"})
    c.keep_decisions(new, old)
    c.stamp_conditions(new, old, "2026-02-02T00:00:00Z")
    approved, failed = new["status"]["conditions"]
    assert approved == old["status"]["conditions"][0]
    assert failed["lastUpdateTime"] == failed["lastTransitionTime"] == "2026-02-02T00:00:00Z"


def test_the_requester_is_the_authenticated_user() -> None:
    assert c.requester("alice", ("devs", "system:authenticated"), "", {"scopes": ("a",)}) == {
        "username": "alice",
        "groups": ["devs", "system:authenticated"],
        "extra": {"scopes": ["a"]},
    }


def test_the_signer_acts_only_on_approved_undecided_requests_of_its_signers() -> None:
    pem = request_pem("alice", "devs")
    assert c.signing_decision(csr(pem)) is None  # pending
    assert c.signing_decision(decided(csr(pem), "Denied")) is None
    assert c.signing_decision(decided(csr(pem), "Approved", "Failed")) is None
    assert c.signing_decision(decided(csr(pem, signer="example.com/mine"), "Approved")) is None
    issued = decided(csr(pem), "Approved")
    issued["status"]["certificate"] = "Y2VydA=="
    assert c.signing_decision(issued) is None
    assert c.signing_decision(decided(csr(pem), "Approved")) == c.Signing(("client auth",), c.DEFAULT_SIGNING_DURATION)


@pytest.mark.parametrize(
    ("usages", "refusal"),
    [
        (("client auth", "digital signature", "key encipherment"), None),
        (("digital signature",), "missing required usage for client certificate: client auth"),
        (("client auth", "server auth"), "invalid usage for client certificate: server auth"),
    ],
)
def test_the_client_signer_allows_client_usages_only(usages: tuple[str, ...], refusal: str | None) -> None:
    decision = c.signing_decision(decided(csr(request_pem("a"), usages=usages), "Approved"))
    assert decision == (c.Refusal(refusal) if refusal else c.Signing(usages, c.DEFAULT_SIGNING_DURATION))


NODE_USAGES = ("digital signature", "client auth")
SERVING_USAGES = ("digital signature", "key encipherment", "server auth")
ADDRESS = x509.IPAddress(ipaddress.ip_address("10.0.0.5"))


@pytest.mark.parametrize(
    ("signer", "pem", "usages", "refusal"),
    [
        (c.KUBELET_CLIENT, request_pem("system:node:n1", "system:nodes"), NODE_USAGES, None),
        (
            c.KUBELET_CLIENT,
            request_pem("system:node:n1", "devs"),
            NODE_USAGES,
            "subject organization is not system:nodes",
        ),
        (
            c.KUBELET_CLIENT,
            request_pem("system:node:n1", "system:nodes", names=[ADDRESS]),
            NODE_USAGES,
            "IP subjectAltNames are not allowed",
        ),
        (
            c.KUBELET_CLIENT,
            request_pem("n1", "system:nodes"),
            NODE_USAGES,
            "subject common name does not begin with system:node:",
        ),
        (
            c.KUBELET_CLIENT,
            request_pem("system:node:n1", "system:nodes"),
            ("client auth",),
            "usages did not match [client auth digital signature key encipherment]",
        ),
        (c.KUBELET_SERVING, request_pem("system:node:n1", "system:nodes", names=[ADDRESS]), SERVING_USAGES, None),
        (
            c.KUBELET_SERVING,
            request_pem("system:node:n1", "system:nodes"),
            SERVING_USAGES,
            "DNS or IP subjectAltName is required",
        ),
        (
            c.KUBELET_SERVING,
            request_pem("system:node:n1", "system:nodes", names=[ADDRESS, x509.RFC822Name("a@b.c")]),
            SERVING_USAGES,
            "Email subjectAltNames are not allowed",
        ),
        (
            c.KUBELET_SERVING,
            request_pem("system:node:n1", "system:nodes", names=[ADDRESS]),
            NODE_USAGES,
            "usages did not match [digital signature key encipherment server auth]",
        ),
    ],
)
def test_the_kubelet_signers_sign_node_identities_only(
    signer: str, pem: bytes, usages: tuple[str, ...], refusal: str | None
) -> None:
    decision = c.signing_decision(decided(csr(pem, signer=signer, usages=usages), "Approved"))
    assert decision == (c.Refusal(refusal) if refusal else c.Signing(usages, c.DEFAULT_SIGNING_DURATION))


def test_the_lifetime_is_what_was_asked_within_the_signers_bounds() -> None:
    year = c.DEFAULT_SIGNING_DURATION
    assert c.requested_lifetime(None, year) == year
    assert c.requested_lifetime(3600, year) == dt.timedelta(hours=1)
    assert c.requested_lifetime(10 * 365 * 86400, year) == year
    assert c.requested_lifetime(60, year) == dt.timedelta(minutes=10)


def test_a_signed_certificate_carries_the_request_and_its_usages(tmp_path: Any) -> None:
    ca = pki.ensure_pki(tmp_path, hosts=["localhost"])
    request = x509.load_pem_x509_csr(request_pem("system:node:n1", "system:nodes", names=[ADDRESS]))
    pem = pki.sign_request(ca, request, SERVING_USAGES, dt.timedelta(days=2))
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject == request.subject
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress
    ) == [ipaddress.ip_address("10.0.0.5")]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    lived = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lived == dt.timedelta(days=2)  # five minutes backdated at both ends
    with pytest.raises(ValueError, match="unrecognized usage values"):
        pki.sign_request(ca, request, ("flying",), dt.timedelta(days=1))


def test_the_cleaner_keeps_decided_requests_an_hour_and_pending_ones_a_day() -> None:
    pem = request_pem("a")
    assert c.removal_due(csr(pem)) == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert c.removal_due(decided(csr(pem), "Denied")) == dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)
    assert c.removal_due(decided(csr(pem), "Approved")) is None  # approved, not issued: kept
    assert c.removal_due(decided(csr(pem), "Approved", "Failed")) == dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)


def test_the_condition_column_reads_as_kubectl_shows_it() -> None:
    pem = request_pem("a")
    assert c.condition_column(csr(pem)) == "Pending"
    assert c.condition_column(decided(csr(pem), "Approved", "Failed")) == "Approved,Failed"
    issued = decided(csr(pem), "Approved")
    issued["status"]["certificate"] = "Y2VydA=="
    assert c.condition_column(issued) == "Approved,Issued"
    assert c.condition_column(decided(csr(pem), "Denied")) == "Denied"
