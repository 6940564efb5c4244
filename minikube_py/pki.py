"""The cluster's certificate authority, serving certificate and join tokens.

kubectl refuses certificates without SANs and client libraries refuse unknown CAs, so the server
needs a real (if private) PKI from the first start. The CA is created once and kept: every
kubeconfig and every joined node pins it, so replacing it would lock them all out. The serving
certificate is cheap and is reissued whenever the addresses the server must answer for change or
its expiry draws near.

Join tokens follow k3s (``K10<ca hash>::server:<secret>``): the agent learns the CA from the server
over an unverified connection and accepts it only if its hash matches the one in the token. Unlike
k3s, the hash is taken over the certificate's DER, not its PEM text, so that re-encoding the PEM
(line endings, bundle order) cannot break a token.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "pykube-ca"
SERVER_COMMON_NAME = "pykube-apiserver"
FRONT_PROXY_CA_COMMON_NAME = "pykube-front-proxy-ca"
CA_VALIDITY = dt.timedelta(days=3650)
#: One year, as k3s and kubeadm issue; renewal happens at start-up, so it must outlast an uptime.
LEAF_VALIDITY = dt.timedelta(days=365)
#: A serving certificate closer than this to expiry is reissued at start-up.
RENEW_BEFORE = dt.timedelta(days=30)
#: Clocks of joining nodes may lag the server's a little; a certificate valid "from now" would fail there.
CLOCK_SKEW = dt.timedelta(hours=1)

#: Names the API answers for whatever the configuration says: loopback, and the in-cluster names of
#: the ``kubernetes`` service that pods use.
ALWAYS_HOSTS = (
    "127.0.0.1",
    "::1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

TOKEN_PREFIX = "K10"
#: where a joining agent trades the join token for its node certificate (see api/nodecreds.py)
NODE_CREDENTIALS_PATH = "/pykube/v1/node-credentials"
#: where ``pykube token rotate`` asks a server to re-seal the cluster's bootstrap data (api/clustertoken.py)
CLUSTER_TOKEN_PATH = "/pykube/v1/cluster-token"
_TOKEN_RE = re.compile(r"K10(?P<hash>[0-9a-f]{64})::(?P<user>[^:]+):(?P<secret>.+)")

Name = x509.DNSName | x509.IPAddress


@dataclass(frozen=True)
class Pki:
    """Where the PKI files are, and the CA in memory for tokens and kubeconfigs."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    ca_pem: bytes

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS for the API server. Client certificates are optional but verified against our CA when
        presented, so node and admin certificates authenticate while token users need none."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        ctx.load_verify_locations(cadata=self.ca_pem.decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx


def ensure_pki(directory: Path, *, hosts: Sequence[str]) -> Pki:
    """Load or create the CA and a serving certificate valid for ``hosts`` plus :data:`ALWAYS_HOSTS`
    and this machine's hostname. The caller passes the advertise address, extra names and the first
    IP of the service CIDR (the ``kubernetes`` service's ClusterIP) in ``hosts``."""
    pki = _paths(directory)
    ca_cert, ca_key = _load_or_create_ca(pki)
    wanted = _names([*ALWAYS_HOSTS, socket.gethostname(), *hosts])
    if not _serving_cert_usable(pki, ca_cert, wanted):
        cert, key = _issue(
            ca_cert,
            ca_key,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_COMMON_NAME)]),
            ExtendedKeyUsageOID.SERVER_AUTH,
            sans=sorted(wanted, key=str),
        )
        write_file(pki.server_key, key)
        write_file(pki.server_cert, cert, mode=0o644)
    return dataclasses.replace(pki, ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM))


def ensure_ca(directory: Path) -> None:
    """Create the CA in ``directory`` unless it is there (what a cluster's first server does before it
    shares the CA with the others through the datastore)."""
    _load_or_create_ca(_paths(directory))


def load_pki(directory: Path) -> Pki:
    """The PKI a server created in ``directory``, without changing anything (for minting user
    credentials from the command line while the server runs)."""
    pki = _paths(directory)
    return dataclasses.replace(pki, ca_pem=pki.ca_cert.read_bytes())


def _paths(directory: Path) -> Pki:
    """Where the PKI files live in ``directory`` (made 0700 if missing); the CA is not read yet."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        ca_pem=b"",
    )


def issue_client_cert(
    pki: Pki, common_name: str, organization: str | Sequence[str] = (), *, validity: dt.timedelta | None = None
) -> tuple[bytes, bytes]:
    """A client certificate and key (PEM) signed by the cluster CA, valid for ``validity`` (default:
    :data:`LEAF_VALIDITY`). By
    Kubernetes convention the CN is the user name and each O a group, e.g. ``system:node:n1`` in
    ``system:nodes``."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_pem)
    ca_key = _load_key(pki.ca_key)
    groups = [organization] if isinstance(organization, str) else list(organization)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    return _issue(ca_cert, ca_key, subject, ExtendedKeyUsageOID.CLIENT_AUTH, sans=[], validity=validity)


@dataclass(frozen=True)
class FrontProxy:
    """The API server's identity towards extension API servers (the aggregation layer): a client
    certificate of a CA of its own, whose name and CA the extension servers trust to vouch for the
    user named in a proxied request's headers. A CA apart from the cluster's, so that no client
    certificate the cluster CA signs (a user's, a CSR's) can pass for the proxy."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def client_context(self, ca_bundle: bytes | None, *, verify: bool) -> ssl.SSLContext:
        """TLS towards one extension server: verified against ``ca_bundle`` (the system's roots
        without one), or not at all when its APIService says ``insecureSkipTLSVerify``."""
        ctx = ssl.create_default_context(cadata=ca_bundle.decode() if ca_bundle else None)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        load_client_identity(ctx, self.cert_pem, self.key_pem)
        return ctx


def front_proxy(directory: Path, common_name: str) -> FrontProxy:
    """Load or create the front-proxy CA in ``directory`` and issue a fresh client certificate named
    ``common_name`` from it (each start, as the kubelet client identity is)."""
    ca_cert, ca_key = _load_or_create_ca_at(
        directory / "front-proxy-ca.crt", directory / "front-proxy-ca.key", FRONT_PROXY_CA_COMMON_NAME
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert, key = _issue(ca_cert, ca_key, subject, ExtendedKeyUsageOID.CLIENT_AUTH, sans=[])
    return FrontProxy(ca_cert.public_bytes(serialization.Encoding.PEM), cert, key)


def load_client_identity(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Present ``cert_pem`` with ``key_pem`` from ``ctx`` (the ssl module loads them from a file only:
    a private temporary one, gone at once)."""
    with tempfile.TemporaryDirectory() as tmp:
        chain = Path(tmp) / "client.pem"
        write_file(chain, cert_pem + b"\n" + key_pem)
        ctx.load_cert_chain(chain)


def node_csr(node_name: str) -> tuple[bytes, bytes]:
    """A key and a certificate request for a node's client identity; the key stays on the node."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}"),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def sign_node_csr(pki: Pki, csr_pem: bytes, node_name: str, *, serving: Sequence[str] | None = None) -> bytes:
    """Sign a node's request with the cluster CA as ``system:node:<name>`` in ``system:nodes``,
    whatever subject the request asked for: the name is the one thing the server decides. With
    ``serving`` (the node's addresses), a kubelet serving certificate for the node's name and those
    addresses, which the API server verifies when it dials the node; else a client certificate."""
    csr = x509.load_pem_x509_csr(csr_pem)
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature is invalid")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError("the certificate request needs an EC or RSA key")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}"),
        ]
    )
    ca_cert = x509.load_pem_x509_certificate(pki.ca_pem)
    if serving is None:
        return _certificate(
            ca_cert, _load_key(pki.ca_key), subject, ExtendedKeyUsageOID.CLIENT_AUTH, public_key, sans=[]
        )
    sans = sorted(_names([node_name, *serving]), key=str)
    return _certificate(ca_cert, _load_key(pki.ca_key), subject, ExtendedKeyUsageOID.SERVER_AUTH, public_key, sans=sans)


#: kube-controller-manager's signer backdates certificates this much, against clocks that lag its own
SIGNER_BACKDATE = dt.timedelta(minutes=5)
#: a certificate shorter than this is not shortened by the backdate at its end
SIGNER_SHORT = dt.timedelta(hours=8)
_KEY_USAGE_BITS = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXTENDED_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}


def sign_request(pki: Pki, csr: x509.CertificateSigningRequest, usages: Sequence[str], lifetime: dt.timedelta) -> bytes:
    """A certificate (PEM) of the cluster CA for an approved CertificateSigningRequest, as
    kube-controller-manager's signer makes it: the request's subject, alternative names and key,
    none of its other extensions, the key usages it was approved for, backdated five minutes and
    ending ``lifetime`` after now (less the backdate for long lives), never after the CA does."""
    unknown = [u for u in usages if u not in _KEY_USAGE_BITS and u not in _EXTENDED_USAGES]
    if unknown:
        raise ValueError(f"unrecognized usage values: {unknown}")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError("the certificate request needs an EC or RSA key")
    ca_cert = x509.load_pem_x509_certificate(pki.ca_pem)
    now = _now()
    not_after = now + lifetime - (SIGNER_BACKDATE if lifetime >= SIGNER_SHORT else dt.timedelta())
    bits = {bit: False for bit in dict.fromkeys(_KEY_USAGE_BITS.values())}
    bits.update({_KEY_USAGE_BITS[u]: True for u in usages if u in _KEY_USAGE_BITS})
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - SIGNER_BACKDATE)
        .not_valid_after(min(not_after, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
    )
    if any(bits.values()):
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    extended = sorted({_EXTENDED_USAGES[u] for u in usages if u in _EXTENDED_USAGES}, key=lambda o: o.dotted_string)
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(_load_key(pki.ca_key), hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def node_serving_cert_valid(cert_pem: bytes, ca_pem: bytes, node_name: str, hosts: Sequence[str]) -> bool:
    """Whether a kubelet serving certificate can be kept: issued by the cluster CA for this node,
    covering its name and ``hosts``, and not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (
        bool(names)
        and names[0].value == f"system:node:{node_name}"
        and _names([node_name, *hosts]) <= sans
        and cert.not_valid_after_utc - _now() > RENEW_BEFORE
    )


def node_password_hash(password: str) -> str:
    """What the server keeps of a node's password: a SHA-256 (the password is 256 random bits, so a
    slow hash would add nothing)."""
    return hashlib.sha256(password.encode()).hexdigest()


def self_signed_serving_cert(common_name: str, hosts: Sequence[str]) -> tuple[bytes, bytes]:
    """A serving certificate signed by its own key, for a listener nobody issues one to (the ingress
    controller's default certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _self_signed(key, common_name, LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    names = _names(hosts)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(sorted(names, key=str)), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def ca_hash(ca_pem: bytes) -> str:
    """``sha256:<hex>`` of the CA certificate's DER: the pin a join token carries."""
    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def new_token() -> str:
    """A fresh secret for node joins or admin access (256 bits, URL- and header-safe)."""
    return secrets.token_urlsafe(32)


def join_token(ca_pem: bytes, secret: str) -> str:
    """The k3s-style full token, ``K10<ca sha256 hex>::server:<secret>``."""
    return f"{TOKEN_PREFIX}{ca_hash(ca_pem).removeprefix('sha256:')}::server:{secret}"


def parse_join_token(token: str) -> tuple[str | None, str]:
    """Split a token into the CA pin (``sha256:<hex>``, comparable with :func:`ca_hash`) and the
    secret. A bare secret (k3s' "short token") has no pin; then the caller must trust the CA some
    other way. A token that starts like a full one but is malformed is rejected rather than sent
    whole as a secret."""
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        return None, token
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise ValueError("malformed join token: expected K10<64 hex digits>::<user>:<secret>")
    return "sha256:" + match["hash"], match["secret"]


class WrongToken(ValueError):
    """Sealed data that the given token does not open: another token sealed it, or it was altered."""


#: scrypt's cost (2**15 rounds, 32 MiB): a tenth of a second per start, but costly per guess for
#: whoever reads the datastore and tries to find the token offline
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
#: binds the ciphertext to its purpose, so that data sealed for something else never opens as this
SEAL_CONTEXT = b"pykube cluster bootstrap data v1"


def seal(secret: str, files: Mapping[str, bytes], context: bytes = SEAL_CONTEXT) -> dict[str, str]:
    """Encrypt ``files`` (name to content) with a key derived from ``secret``, for a place others can
    read (the shared datastore): AES-256-GCM under a scrypt key with a fresh salt, so that the data
    is both secret and tamper-evident without the token. The result is JSON-ready text. ``context``
    names the purpose: :func:`unseal` opens the data only for the same one."""
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = json.dumps({name: base64.b64encode(data).decode() for name, data in sorted(files.items())}).encode()
    ciphertext = AESGCM(_seal_key(secret, salt)).encrypt(nonce, plain, context)
    return {"kdf": "scrypt", "salt": _b64(salt), "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}


def unseal(secret: str, sealed: Mapping[str, object], context: bytes = SEAL_CONTEXT) -> dict[str, bytes]:
    """The files :func:`seal` encrypted; raises :class:`WrongToken` when ``secret`` is not the one
    that sealed them (or the data was altered), ValueError when it is not sealed data at all."""
    try:
        salt, nonce, ciphertext = (
            base64.b64decode(str(sealed[field]), validate=True) for field in ("salt", "nonce", "ciphertext")
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not sealed bootstrap data: {exc}") from None
    if sealed.get("kdf") != "scrypt":
        raise ValueError(f"sealed with an unknown key derivation {sealed.get('kdf')!r}")
    try:
        plain = AESGCM(_seal_key(secret, salt)).decrypt(nonce, ciphertext, context)
    except InvalidTag:
        raise WrongToken("the token does not open the sealed data") from None
    return {name: base64.b64decode(data) for name, data in json.loads(plain).items()}


def servers_secret(ca_key_pem: bytes) -> str:
    """A secret every server of a cluster holds and nobody else needs: derived from the CA's private
    key (whoever has that can mint any credential anyway). Data sealed with it reaches all servers,
    such as a rotated cluster token, which the old token must not open."""
    return hashlib.sha256(b"pykube servers secret\0" + ca_key_pem).hexdigest()


def _seal_key(secret: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(secret.encode())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_file(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write a file holding secrets (keys, tokens, kubeconfigs) through a temporary file and a
    rename, so a crash never leaves half a key behind, creating it with ``mode`` from the start
    rather than chmod-ing it after others could have opened it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _load_or_create_ca(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return _load_or_create_ca_at(pki.ca_cert, pki.ca_key, CA_COMMON_NAME)


def _load_or_create_ca_at(
    cert_path: Path, key_path: Path, common_name: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if cert_path.exists() and key_path.exists():
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), _load_key(key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _self_signed(key, common_name, CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    write_file(key_path, _key_pem(key))
    write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


def _self_signed(key: ec.EllipticCurvePrivateKey, common_name: str, validity: dt.timedelta) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
    )


def _serving_cert_usable(pki: Pki, ca_cert: x509.Certificate, wanted: set[Name]) -> bool:
    """Whether the serving certificate on disk can be kept: present, issued by this CA, matching its
    key, covering every wanted name and not about to expire."""
    if not (pki.server_cert.exists() and pki.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        sans = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        key_matches = _load_key(pki.server_key).public_key() == cert.public_key()
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return key_matches and wanted <= sans and cert.not_valid_after_utc - _now() > RENEW_BEFORE


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    *,
    sans: Sequence[Name],
    validity: dt.timedelta | None = None,
) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate(ca_cert, ca_key, subject, usage, key.public_key(), sans=sans, validity=validity), _key_pem(key)


def _certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    *,
    sans: Sequence[Name],
    validity: dt.timedelta | None = None,
) -> bytes:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + (validity or LEAF_VALIDITY), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _names(hosts: Sequence[str]) -> set[Name]:
    """IP literals become IP SANs, everything else a (lower-cased) DNS SAN, as TLS clients match them."""
    names: set[Name] = set()
    for host in hosts:
        host = host.strip().strip("[]")
        if not host:
            continue
        try:
            names.add(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.add(x509.DNSName(host.lower()))
    return names


def ensure_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key kept in ``path``, made there (private) on first use."""
    if path.exists():
        return _load_key(path)
    key = ec.generate_private_key(ec.SECP256R1())
    write_file(path, _key_pem(key))
    return key


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
