"""Secrets encrypted at rest, as kube-apiserver's EncryptionConfiguration with an ``aesgcm`` provider
for ``secrets`` and k3s' ``--secrets-encryption`` set it up.

Only the datastore sees ciphertext: the store seals a Secret's JSON text when it writes the objects
and events tables and opens it when it reads them back (at start, from history, and on PostgreSQL
from other servers' writes), so the in-memory mirror, LIST, GET, WATCH and every layer above work on
plain objects, as kube-apiserver's watch cache does. A sealed value reads
``k8s:enc:aesgcm:v1:<key name>:`` + base64(nonce + ciphertext), with the object's key as additional
authenticated data (a ciphertext moved to another key does not open); a value without that prefix is
plain JSON, written before encryption was enabled, and is read as it is.

The keys live in the datastore itself, in one record sealed with the cluster token beside the
cluster's bootstrap data (:mod:`minikube_py.store.bootstrap`), so every server of a cluster opens
what any of them wrote, and a datastore dump without the token reveals nothing. A key is dropped
only once no stored value uses it any more; a writer that writes a Secret first makes sure its
write key is the record's current one (on PostgreSQL it reads the record in the same locked
transaction), so no server keeps writing with a key another server is about to drop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from minikube_py import pki
from minikube_py.store.base import Obj

#: the resources whose values are encrypted: Secrets only, as k3s' default EncryptionConfiguration
SECRETS_PREFIX = "/core/secrets/"
#: the sealed key ring; under ``/-/``, which no API resource reaches (see store/bootstrap.py)
KEYRING_KEY = "/-/bootstrap/encryption"
#: what every sealed value starts with, whatever its provider
_MARK = "k8s:enc:"
_PREFIX = "k8s:enc:aesgcm:v1:"
_NONCE = 12
#: binds the sealed ring to its purpose: bootstrap data never opens as a key ring, nor the reverse
_RING_CONTEXT = b"pykube secrets encryption keys v1"
_RING_FILE = "keyring.json"
#: the name plain values are counted under in :func:`key_name` results, as Kubernetes' provider is named
IDENTITY = "identity"


class EncryptionError(Exception):
    """A sealed value cannot be opened: the datastore was written with keys this server lacks (a
    missing or wrong cluster token), or the value was altered."""


class UnknownKey(EncryptionError):
    """A value sealed with a key this server does not know yet: another server added it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a value is sealed with the unknown key {name!r}")
        self.name = name


@dataclass(frozen=True)
class Keyring:
    """The AES-256 keys, oldest first, and the one new writes use (None: write plain values, as
    Kubernetes' ``identity`` provider listed first)."""

    keys: tuple[tuple[str, bytes], ...]
    write: str | None

    @classmethod
    def new(cls) -> Keyring:
        name, secret = _fresh_key()
        return cls(((name, secret),), name)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.keys]

    @property
    def stage(self) -> str:
        """Where a rotation stands, as ``k3s secrets-encrypt status`` tells it: ``start`` (one key),
        ``prepare`` (a newer key is known everywhere but not written yet), ``rotate`` (the newest
        key writes; values sealed with older ones remain until reencrypt)."""
        if len(self.keys) == 1:
            return "start"
        return "rotate" if self.write == self.keys[-1][0] else "prepare"

    def prepare(self) -> Keyring:
        """Add a fresh key that every server can open before any writes with it."""
        if self.stage == "prepare":
            raise ValueError(f"key {self.keys[-1][0]} is already prepared: rotate to it first")
        return replace(self, keys=(*self.keys, _fresh_key()))

    def rotate(self) -> Keyring:
        """Make the newest (prepared) key the write key; the older ones still open what they sealed."""
        if self.stage != "prepare":
            raise ValueError("no prepared key to rotate to: run prepare first")
        return replace(self, write=self.keys[-1][0])

    def retire(self) -> Keyring:
        """Only the write key: once every stored value is sealed with it (see reencrypt)."""
        if self.write is None:
            raise ValueError("encryption is disabled: there is no write key to keep")
        return replace(self, keys=tuple(k for k in self.keys if k[0] == self.write))


def _fresh_key() -> tuple[str, bytes]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"aesgcmkey-{stamp}-{os.urandom(3).hex()}", AESGCM.generate_key(bit_length=256)


def seal_keyring(secret: str, keyring: Keyring) -> Obj:
    """The record stored at :data:`KEYRING_KEY`: the ring sealed with the cluster token (scrypt: slow
    on purpose, so run it in a thread)."""
    plain = orjson.dumps(
        {
            "write": keyring.write,
            "keys": [{"name": name, "secret": base64.b64encode(key).decode()} for name, key in keyring.keys],
        }
    )
    return {"metadata": {"name": "encryption"}, "sealed": pki.seal(secret, {_RING_FILE: plain}, _RING_CONTEXT)}


def open_keyring(secret: str, record: Mapping[str, object]) -> Keyring:
    try:
        files = pki.unseal(secret, record["sealed"], _RING_CONTEXT)  # type: ignore[arg-type]
    except pki.WrongToken:
        raise EncryptionError("the cluster token does not open the datastore's encryption keys") from None
    except (KeyError, ValueError) as exc:
        raise EncryptionError(f"the datastore's encryption key record is damaged: {exc}") from None
    ring = orjson.loads(files[_RING_FILE])
    return Keyring(tuple((k["name"], base64.b64decode(k["secret"])) for k in ring["keys"]), ring["write"])


def key_name(text: str) -> str:
    """The name of the key ``text`` is sealed with, or :data:`IDENTITY` for a plain value."""
    return text.split(":", 5)[4] if text.startswith(_MARK) else IDENTITY


class Encryption:
    """The store's transformer of stored values: seals Secrets on their way to the database and
    opens them on their way back. Without a key ring (encryption never enabled) every call is a
    prefix test and returns its argument. ``secret`` is the cluster token that opens the ring."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret
        self.keyring: Keyring | None = None
        #: the revision of the key ring record adopted (0: none)
        self.revision = 0
        self._ciphers: dict[str, AESGCM] = {}
        self._write: tuple[str, AESGCM] | None = None

    def adopt(self, keyring: Keyring, revision: int) -> None:
        """Use ``keyring``, the record's content at ``revision``."""
        self.keyring, self.revision = keyring, revision
        self._ciphers = {name: AESGCM(key) for name, key in keyring.keys}
        self._write = (keyring.write, self._ciphers[keyring.write]) if keyring.write else None

    async def adopt_record(self, text: str, revision: int) -> None:
        """Use the stored record's JSON ``text`` at ``revision`` unless that one is in use already."""
        if revision != self.revision:
            await self.adopt_record_value({**orjson.loads(text), "metadata": {"resourceVersion": str(revision)}})

    async def adopt_record_value(self, record: Obj) -> None:
        """Use the key ring ``record`` as the store handed it out (with its resourceVersion)."""
        revision = int(record["metadata"]["resourceVersion"])
        if revision == self.revision:
            return
        if not self.secret:
            raise EncryptionError("the datastore encrypts Secrets: this server needs the cluster token (--token)")
        self.adopt(await asyncio.to_thread(open_keyring, self.secret, record), revision)

    @property
    def write_key(self) -> str:
        """The name of the key new values are sealed with (:data:`IDENTITY`: plain)."""
        return self._write[0] if self._write else IDENTITY

    def seal(self, key: str, text: str) -> str:
        """``text`` as stored under ``key``: sealed with the write key if ``key`` is a Secret's."""
        if self._write is None or not key.startswith(SECRETS_PREFIX):
            return text
        name, cipher = self._write
        nonce = os.urandom(_NONCE)
        sealed = cipher.encrypt(nonce, text.encode(), key.encode())
        return f"{_PREFIX}{name}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, key: str, text: str) -> str:
        """The plain text of a stored value; raises :class:`UnknownKey` for a key not (yet) known."""
        if not text.startswith(_MARK):
            return text
        if not text.startswith(_PREFIX):
            raise EncryptionError(f"{key}: sealed by an unknown provider ({text[:40]!r})")
        name, _, body = text[len(_PREFIX) :].partition(":")
        cipher = self._ciphers.get(name)
        if cipher is None:
            raise UnknownKey(name)
        raw = base64.b64decode(body)
        try:
            return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], key.encode()).decode()
        except InvalidTag:
            raise EncryptionError(f"{key}: the stored value does not open with key {name} (altered?)") from None

    def reseal(self, key: str, text: str) -> str | None:
        """``text`` sealed with the write key, or None if it already is."""
        if key_name(text) == self.write_key:
            return None
        return self.seal(key, self.open(key, text))
