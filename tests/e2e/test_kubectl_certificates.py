"""CertificateSigningRequests with the real kubectl and openssl, as Kubernetes' "create a user"
walk-through goes: a key and request made with openssl, the request created, listed, approved
with ``kubectl certificate approve``, the certificate signed by the cluster's CA and used to log in
as that user; and what refuses: denial, the signer's rules, ``system:masters``, approving or
signing without the signer permission, bad requests."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubectl_helpers import as_user, mint
from pykube_kubectl_helpers import pykube_kubectl, real_kubectl, same_output

from minikube_py.testing import RunningServer
from minikube_py.testing import eventually as wait_for

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def openssl_request(tmp_path: Path, subject: str) -> tuple[Path, bytes]:
    """A new EC key and a PEM certificate request for ``subject`` (``/CN=.../O=...``), made by openssl."""
    key = tmp_path / f"{os.urandom(4).hex()}.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    made = subprocess.run(
        ["openssl", "req", "-new", "-key", str(key), "-subj", subject], check=True, capture_output=True
    )
    return key, made.stdout


def request_manifest(name: str, pem: bytes, usages: list[str], **spec: Any) -> str:
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {"request": base64.b64encode(pem).decode(), "signerName": CLIENT_SIGNER, "usages": usages, **spec},
    }
    return yaml.safe_dump(body)


def unique(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


def csr(server: RunningServer, name: str) -> dict[str, Any]:
    return json.loads(server.kubectl("get", "csr", name, "-o", "json").stdout)


def issued(server: RunningServer, name: str) -> bytes:
    def certificate() -> bytes | None:
        found = csr(server, name).get("status", {}).get("certificate")
        return base64.b64decode(found) if found else None

    return wait_for(certificate, what=f"the certificate of {name}")


def columns(server: RunningServer, name: str) -> dict[str, str]:
    header, row = server.kubectl("get", "csr", name).stdout.splitlines()
    return dict(zip(header.split(), row.split(), strict=True))


def user_kubeconfig(server: RunningServer, tmp_path: Path, user: str, cert: bytes, key: Path) -> Path:
    """The admin kubeconfig's cluster with ``user``'s certificate and key as the credentials."""
    config = yaml.safe_load(server.kubeconfig.read_text())
    config["users"] = [
        {
            "name": user,
            "user": {
                "client-certificate-data": base64.b64encode(cert).decode(),
                "client-key-data": base64.b64encode(key.read_bytes()).decode(),
            },
        }
    ]
    for context in config["contexts"]:
        context["context"]["user"] = user
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_approved_request_gets_a_certificate_the_api_accepts(server: RunningServer, tmp_path: Path) -> None:
    user, name = unique("carol"), unique("carol-csr")
    key, pem = openssl_request(tmp_path, f"/CN={user}/O=devs")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"], expirationSeconds=86400))
    listed = columns(server, name)
    assert listed["SIGNERNAME"] == CLIENT_SIGNER
    assert listed["REQUESTEDDURATION"] == "24h"
    assert listed["CONDITION"] == "Pending"
    spec = csr(server, name)["spec"]
    who = json.loads(server.kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert (spec["username"], spec["groups"]) == (who["username"], who["groups"])  # the server says who asked

    approved = server.kubectl("certificate", "approve", name)
    assert approved.stdout.strip() == f"certificatesigningrequest.certificates.k8s.io/{name} approved"
    cert = issued(server, name)
    assert columns(server, name)["CONDITION"] == "Approved,Issued"
    condition = csr(server, name)["status"]["conditions"][0]
    assert (condition["type"], condition["reason"]) == ("Approved", "KubectlApprove")
    assert condition["lastUpdateTime"] and condition["lastTransitionTime"]

    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-issuer", "-ext", "extendedKeyUsage", "-dates"],
        input=cert,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert f"CN = {user}" in shown and "O = devs" in shown
    assert "TLS Web Client Authentication" in shown
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(server.data_dir / "pki" / "ca.crt")], input=cert, capture_output=True
    )
    assert verified.returncode == 0, verified.stderr

    config = user_kubeconfig(server, tmp_path, user, cert, key)
    whoami = as_user(server, config, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert (info["username"], info["groups"]) == (user, ["devs", "system:authenticated"])
    refused = as_user(server, config, "get", "pods", "-n", "default")
    assert f'User "{user}" cannot list resource "pods"' in refused.stderr


def test_denied_requests_get_no_certificate_and_stay_denied(server: RunningServer, tmp_path: Path) -> None:
    name = unique("denied")
    _, pem = openssl_request(tmp_path, "/CN=mallory")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"]))
    denied = server.kubectl("certificate", "deny", name)
    assert denied.stdout.strip() == f"certificatesigningrequest.certificates.k8s.io/{name} denied"
    assert columns(server, name)["CONDITION"] == "Denied"
    approve = server.kubectl("certificate", "approve", name, check=False)
    assert approve.returncode == 1
    assert f'certificate signing request "{name}" is already Denied' in approve.stderr
    # a denial cannot be withdrawn either, not even by the admin through the subresource
    body = csr(server, name)
    body["status"]["conditions"] = []
    taken_back = server.kubectl(
        "replace", "--raw", f"{CSR_PATH}/{name}/approval", "-f", "-", input=json.dumps(body), check=False
    )
    assert 'status.conditions: Forbidden: updates may not remove a condition of type "Denied"' in taken_back.stderr
    assert "certificate" not in csr(server, name)["status"]


def test_the_signer_fails_requests_its_rules_refuse(server: RunningServer, tmp_path: Path) -> None:
    name = unique("server-usage")
    _, pem = openssl_request(tmp_path, "/CN=web")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth", "server auth"]))
    server.kubectl("certificate", "approve", name)

    def failed() -> dict[str, Any] | None:
        found = [c for c in csr(server, name)["status"].get("conditions", []) if c["type"] == "Failed"]
        return found[0] if found else None

    condition = wait_for(failed, what="the Failed condition")
    assert (condition["reason"], condition["message"]) == (
        "SignerValidationFailure",
        "invalid usage for client certificate: server auth",
    )
    assert columns(server, name)["CONDITION"] == "Approved,Failed"


def test_no_request_to_the_client_signer_asks_for_system_masters(server: RunningServer, tmp_path: Path) -> None:
    name = unique("root")
    _, pem = openssl_request(tmp_path, "/CN=eve/O=system:masters")
    refused = server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"]), check=False)
    assert refused.returncode == 1
    assert (
        f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: use of '
        "kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    ) in refused.stderr
    assert server.kubectl("get", "csr", name, check=False).returncode == 1


def test_approving_and_signing_need_the_signer_permission(server: RunningServer, tmp_path: Path) -> None:
    """Update on ``certificatesigningrequests/approval`` is not enough: the approver also needs
    ``approve`` on the ``signers`` resource named for the signer (or its domain's ``/*``)."""
    approver = unique("approver")
    config = mint(server, tmp_path, approver)
    role = unique("csr-approver")
    server.kubectl(
        "create",
        "clusterrole",
        role,
        "--verb=get,list,update",
        "--resource=certificatesigningrequests,certificatesigningrequests/approval,certificatesigningrequests/status",
    )
    server.kubectl("create", "clusterrolebinding", role, f"--clusterrole={role}", f"--user={approver}")
    name = unique("needs-approver")
    key, pem = openssl_request(tmp_path, "/CN=dave")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"]))

    def approve() -> subprocess.CompletedProcess[str] | None:
        done = as_user(server, config, "certificate", "approve", name)
        return done if "cannot" not in done.stderr else None  # until the binding reaches the authorizer

    refused = wait_for(approve, what="the approver's binding")
    assert refused.returncode == 1
    assert (
        f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: user not permitted to approve '
        f'requests with signerName "{CLIENT_SIGNER}"'
    ) in refused.stderr
    assert columns(server, name)["CONDITION"] == "Pending"

    # nor may they write a certificate of their own making through /status
    own = subprocess.run(
        ["openssl", "req", "-x509", "-new", "-key", str(key), "-subj", "/CN=dave", "-days", "1"],
        check=True,
        capture_output=True,
    ).stdout
    forged = csr(server, name)
    forged["status"]["certificate"] = base64.b64encode(own).decode()
    body = tmp_path / "forged.json"
    body.write_text(json.dumps(forged))
    sign = as_user(server, config, "replace", "--raw", f"{CSR_PATH}/{name}/status", "-f", str(body))
    assert f'user not permitted to sign requests with signerName "{CLIENT_SIGNER}"' in sign.stderr

    # the signer's approver role, which the cluster bootstraps as Kubernetes does
    server.kubectl(
        "create",
        "clusterrolebinding",
        unique("client-approver"),
        "--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver",
        f"--user={approver}",
    )
    wait_for(lambda: as_user(server, config, "certificate", "approve", name).returncode == 0 or None, what="the role")
    issued(server, name)
    assert columns(server, name)["CONDITION"] == "Approved,Issued"

    # that role names one signer; a rule for ``<domain>/*`` covers every signer of the domain
    serving = unique("serving")
    _, pem = openssl_request(tmp_path, "/CN=system:node:n9/O=system:nodes")
    server.kubectl(
        "apply",
        "-f",
        "-",
        input=request_manifest(serving, pem, ["server auth"], signerName="kubernetes.io/kubelet-serving"),
    )
    assert "not permitted to approve" in as_user(server, config, "certificate", "approve", serving).stderr
    rule = {
        "apiGroups": ["certificates.k8s.io"],
        "resources": ["signers"],
        "resourceNames": ["kubernetes.io/*"],
        "verbs": ["approve"],
    }
    signers = unique("signers")
    grant = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": signers}}
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump({**grant, "rules": [rule]}))
    server.kubectl("create", "clusterrolebinding", signers, f"--clusterrole={signers}", f"--user={approver}")
    wait_for(
        lambda: as_user(server, config, "certificate", "approve", serving).returncode == 0 or None,
        what="the domain's rule",
    )
    assert columns(server, serving)["CONDITION"].startswith("Approved")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"usages": []}, "spec.usages: Required value"),
        ({"usages": ["client auth", "client auth"]}, 'spec.usages[1]: Duplicate value: "client auth"'),
        (
            {"signerName": "example"},
            'spec.signerName: Invalid value: "example": must be a fully qualified domain and path of the form '
            "'example.com/signer-name'",
        ),
        (
            {"signerName": "kubernetes.io/legacy-unknown"},
            'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed '
            "via this API version",
        ),
        (
            {"expirationSeconds": 599},
            "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)",
        ),
        ({"request": base64.b64encode(b"junk").decode()}, "PEM block type must be CERTIFICATE REQUEST"),
    ],
)
def test_invalid_requests_are_refused(
    server: RunningServer, tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    name = unique("invalid")
    _, pem = openssl_request(tmp_path, "/CN=x")
    manifest = yaml.safe_load(request_manifest(name, pem, ["client auth"]))
    manifest["spec"].update(spec)
    refused = server.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert refused.returncode == 1
    assert f'The CertificateSigningRequest "{name}" is invalid: ' in refused.stderr
    assert message in refused.stderr


def test_the_requester_and_the_request_cannot_be_changed(server: RunningServer, tmp_path: Path) -> None:
    name = unique("fixed")
    _, pem = openssl_request(tmp_path, "/CN=frank")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"], username="root"))
    before = csr(server, name)
    assert before["spec"]["username"] != "root"
    server.kubectl("patch", "csr", name, "--type=merge", "-p", '{"spec":{"username":"root","usages":["any"]}}')
    server.kubectl("label", "csr", name, "team=a")
    after = csr(server, name)
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == {"team": "a"}
    selected = server.kubectl("get", "csr", "--field-selector", f"spec.signerName={CLIENT_SIGNER}", "-o", "name")
    assert f"certificatesigningrequest.certificates.k8s.io/{name}" in selected.stdout.split()


def test_the_cleaner_removes_requests_decided_over_an_hour_ago(server: RunningServer, tmp_path: Path) -> None:
    """As kube-controller-manager's csrcleaner: the decision's ``lastUpdateTime`` (which a client may
    set, as an approver that decided earlier would) dates the request."""
    name = unique("old-denial")
    _, pem = openssl_request(tmp_path, "/CN=old")
    server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"]))
    body = csr(server, name)
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["status"]["conditions"] = [
        {"type": "Denied", "status": "True", "reason": "Old", "message": "decided earlier", "lastUpdateTime": long_ago}
    ]
    server.kubectl("replace", "--raw", f"{CSR_PATH}/{name}/approval", "-f", "-", input=json.dumps(body))
    wait_for(lambda: server.kubectl("get", "csr", name, check=False).returncode == 1 or None, what="the removal")


def test_pykube_kubectl_decides_as_kubectl(server: RunningServer, tmp_path: Path) -> None:
    """``pykube kubectl certificate approve|deny`` beside the real kubectl: the same requests made,
    the same lines printed, the same conditions written, the same refusals."""
    mine, theirs = unique("ours"), unique("theirs")
    for name in (mine, theirs):
        _, pem = openssl_request(tmp_path, f"/CN={name}")
        server.kubectl("apply", "-f", "-", input=request_manifest(name, pem, ["client auth"]))

    def both(*args: str, rc: int = 0) -> None:
        ours = pykube_kubectl(server, *(mine if a == "NAME" else a for a in args))
        real = real_kubectl(server, *(theirs if a == "NAME" else a for a in args))
        assert (ours.rc, real.rc) == (rc, rc), (ours, real)
        assert (ours.stdout.replace(mine, theirs), ours.stderr.replace(mine, theirs)) == (real.stdout, real.stderr)

    both("certificate", "approve", "NAME")
    both("certificate", "approve", "NAME", "-o", "name")  # decided already: nothing written
    both("certificate", "approve", "NAME", "--force")
    both("certificate", "deny", "NAME", rc=1)
    both("certificate", "deny", rc=1)
    for name in (mine, theirs):
        issued(server, name)
    ours, real = (csr(server, n)["status"]["conditions"] for n in (mine, theirs))
    assert [(c["type"], c["reason"], c["message"]) for c in ours] == [
        (c["type"], c["reason"], c["message"]) for c in real
    ]
    same_output(server, "get", "csr", mine, theirs)


def test_pykube_kubectl_describes_requests_as_kubectl(server: RunningServer, tmp_path: Path) -> None:
    name = unique("described")
    key = tmp_path / "described.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)], check=True)
    pem = subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(key),
            "-subj",
            "/CN=system:node:n1/O=system:nodes/OU=a/OU=b/C=NL",
            "-addext",
            "subjectAltName=DNS:n1.example,DNS:n1,IP:10.0.0.5,email:ops@example.com",
        ],
        check=True,
        capture_output=True,
    ).stdout
    manifest = request_manifest(
        name,
        pem,
        ["digital signature", "server auth"],
        signerName="kubernetes.io/kubelet-serving",
        expirationSeconds=7200,
    )
    server.kubectl("create", "-f", "-", input=manifest)
    same_output(server, "describe", "csr", name)
    server.kubectl("certificate", "approve", name)
    # the kubelet-serving signer takes no email address: the request fails
    wait_for(lambda: columns(server, name)["CONDITION"] == "Approved,Failed" or None, what="the failure")
    server.kubectl("label", "csr", name, "team=a")
    same_output(server, "describe", "csr", name)
