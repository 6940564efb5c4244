from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from minikube_py import pki as pki_mod
from minikube_py.pki import ca_hash, ensure_pki, issue_client_cert, join_token, new_token, parse_join_token


def _sans(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}


def test_first_start_creates_ca_and_serving_cert_with_all_sans(tmp_path: Path) -> None:
    p = ensure_pki(tmp_path / "tls", hosts=["10.96.0.1", "192.168.5.7", "API.Example.com"])

    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pykube-ca"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)
    assert p.ca_pem == p.ca_cert.read_bytes()

    dns, ips = _sans(p.server_cert)
    assert {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.example.com",
        socket.gethostname().lower(),
    } <= dns
    assert {"127.0.0.1", "::1", "10.96.0.1", "192.168.5.7"} <= ips
    server = x509.load_pem_x509_certificate(p.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku

    for key in (p.ca_key, p.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_restart_reuses_ca_and_serving_cert(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, hosts=["10.96.0.1"])
    server_pem = first.server_cert.read_bytes()
    second = ensure_pki(tmp_path, hosts=["10.96.0.1"])
    assert second.ca_pem == first.ca_pem
    assert second.server_cert.read_bytes() == server_pem


def test_new_host_reissues_serving_cert_under_same_ca(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path, hosts=["10.96.0.1"])
    old = first.server_cert.read_bytes()
    second = ensure_pki(tmp_path, hosts=["10.96.0.1", "10.0.0.9"])
    assert second.ca_pem == first.ca_pem
    assert second.server_cert.read_bytes() != old
    assert "10.0.0.9" in _sans(second.server_cert)[1]


def test_expiring_serving_cert_is_reissued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pki_mod, "LEAF_VALIDITY", dt.timedelta(days=20))
    first = ensure_pki(tmp_path, hosts=[])
    old = first.server_cert.read_bytes()
    monkeypatch.setattr(pki_mod, "LEAF_VALIDITY", dt.timedelta(days=365))
    second = ensure_pki(tmp_path, hosts=[])
    assert second.server_cert.read_bytes() != old
    cert = x509.load_pem_x509_certificate(second.server_cert.read_bytes())
    assert cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)


def test_serving_cert_from_another_ca_is_reissued(tmp_path: Path) -> None:
    ensure_pki(tmp_path / "a", hosts=[])
    other = ensure_pki(tmp_path / "b", hosts=[])
    (tmp_path / "a" / "server.crt").write_bytes(other.server_cert.read_bytes())
    again = ensure_pki(tmp_path / "a", hosts=[])
    ca = x509.load_pem_x509_certificate(again.ca_pem)
    x509.load_pem_x509_certificate(again.server_cert.read_bytes()).verify_directly_issued_by(ca)


def test_ca_hash_is_sha256_of_der_and_ignores_pem_formatting(tmp_path: Path) -> None:
    p = ensure_pki(tmp_path, hosts=[])
    h = ca_hash(p.ca_pem)
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 64
    assert ca_hash(p.ca_pem.replace(b"\n", b"\r\n")) == h


def test_join_token_round_trip(tmp_path: Path) -> None:
    p = ensure_pki(tmp_path, hosts=[])
    secret = new_token()
    assert len(secret) >= 40 and ":" not in secret
    token = join_token(p.ca_pem, secret)
    assert token.startswith("K10") and "::server:" in token
    assert parse_join_token(token) == (ca_hash(p.ca_pem), secret)


def test_short_token_has_no_pin_and_malformed_full_token_is_rejected() -> None:
    assert parse_join_token(" sekret\n") == (None, "sekret")
    with pytest.raises(ValueError, match="malformed join token"):
        parse_join_token("K10abc::server:x")


def test_client_cert_carries_user_and_groups(tmp_path: Path) -> None:
    p = ensure_pki(tmp_path, hosts=[])
    cert_pem, key_pem = issue_client_cert(p, "system:node:n1", ["system:nodes", "extra"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(p.ca_pem))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:nodes",
        "extra",
    ]
    assert ExtendedKeyUsageOID.CLIENT_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert b"PRIVATE KEY" in key_pem


async def test_server_context_verifies_optional_client_certs_over_loopback(tmp_path: Path) -> None:
    """A real TLS handshake on 127.0.0.1: the CA verifies the server, and the server sees the
    client certificate's subject when one is presented and nothing when none is."""
    p = ensure_pki(tmp_path, hosts=[])
    cert_pem, key_pem = issue_client_cert(p, "admin", "system:masters")
    (tmp_path / "c.crt").write_bytes(cert_pem)
    (tmp_path / "c.key").write_bytes(key_pem)
    seen: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peercert"))
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=p.server_ssl_context())
    port = server.sockets[0].getsockname()[1]
    async with server:
        for with_cert in (True, False):
            ctx = ssl.create_default_context(cadata=p.ca_pem.decode())
            if with_cert:
                ctx.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            assert await reader.read() == b"ok"
            writer.close()
    assert seen[0] is not None
    assert (("commonName", "admin"),) in seen[0]["subject"]  # type: ignore[index]
    assert (("organizationName", "system:masters"),) in seen[0]["subject"]  # type: ignore[index]
    assert not seen[1]


def test_serving_cert_whose_key_was_replaced_is_reissued(tmp_path: Path) -> None:
    p = ensure_pki(tmp_path, hosts=[])
    old = p.server_cert.read_bytes()
    _, stray_key = issue_client_cert(p, "x")
    p.server_key.write_bytes(stray_key)
    again = ensure_pki(tmp_path, hosts=[])
    assert again.server_cert.read_bytes() != old
    again.server_ssl_context()  # load_cert_chain fails on a key that does not match the certificate


def test_sealed_files_open_with_the_token_that_sealed_them() -> None:
    files = {"pki/ca.key": b"-----BEGIN PRIVATE KEY-----\n...", "admin-token": b"s3cret\n", "empty": b""}
    sealed = pki_mod.seal("the-cluster-token", files)
    assert pki_mod.unseal("the-cluster-token", sealed) == files
    # nothing of the plain text shows, and every sealing uses a fresh salt and nonce
    assert b"s3cret" not in repr(sealed).encode() and "admin-token" not in repr(sealed)
    again = pki_mod.seal("the-cluster-token", files)
    assert again["salt"] != sealed["salt"] and again["ciphertext"] != sealed["ciphertext"]


def test_sealed_files_refuse_another_token_and_any_alteration() -> None:
    sealed = pki_mod.seal("right", {"node-secret": b"abc"})
    with pytest.raises(pki_mod.WrongToken):
        pki_mod.unseal("wrong", sealed)
    ciphertext = bytearray(base64.b64decode(sealed["ciphertext"]))
    ciphertext[0] ^= 1
    with pytest.raises(pki_mod.WrongToken):
        pki_mod.unseal("right", {**sealed, "ciphertext": base64.b64encode(bytes(ciphertext)).decode()})
    with pytest.raises(ValueError, match="not sealed bootstrap data"):
        pki_mod.unseal("right", {"kdf": "scrypt", "salt": "AA=="})
    with pytest.raises(ValueError, match="unknown key derivation"):
        pki_mod.unseal("right", {**sealed, "kdf": "md5"})


def test_a_node_serving_cert_names_the_node_and_its_addresses(tmp_path: Path) -> None:
    """The kubelet serving certificate the API server verifies: for the node's name (which the API
    server dials as ``server_hostname``) and IP, server auth only; one issued to another node, or one
    the agent signed itself, does not do."""
    tls = ensure_pki(tmp_path, hosts=[])
    csr, _ = pki_mod.node_csr("n1")
    pem = pki_mod.sign_node_csr(tls, csr, "n1", serving=["10.0.0.5"])
    cert = x509.load_pem_x509_certificate(pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert pki_mod.node_serving_cert_valid(pem, tls.ca_pem, "n1", ["10.0.0.5"])
    assert not pki_mod.node_serving_cert_valid(pem, tls.ca_pem, "n2", ["10.0.0.5"])
    assert not pki_mod.node_serving_cert_valid(pem, tls.ca_pem, "n1", ["10.0.0.6"])
    own, _ = pki_mod.self_signed_serving_cert("n1", ["n1", "10.0.0.5"])
    assert not pki_mod.node_serving_cert_valid(own, tls.ca_pem, "n1", ["10.0.0.5"])
    client = x509.load_pem_x509_certificate(pki_mod.sign_node_csr(tls, csr, "n1"))
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
