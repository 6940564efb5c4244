"""The envelope that seals Secrets at rest, and the key ring's rotation stages."""

from __future__ import annotations

import base64

import pytest

from minikube_py.store.encryption import (
    IDENTITY,
    Encryption,
    EncryptionError,
    Keyring,
    UnknownKey,
    key_name,
    open_keyring,
    seal_keyring,
)

SECRET_KEY = "/core/secrets/default/db"
TEXT = '{"metadata":{"name":"db"},"data":{"password":"c2VjcmV0"}}'


def encryption(keyring: Keyring) -> Encryption:
    enc = Encryption("cluster-token")
    enc.adopt(keyring, 7)
    return enc


def test_secrets_are_sealed_with_the_write_key_and_open_again() -> None:
    ring = Keyring.new()
    enc = encryption(ring)
    sealed = enc.seal(SECRET_KEY, TEXT)
    assert sealed.startswith(f"k8s:enc:aesgcm:v1:{ring.write}:")
    assert "c2VjcmV0" not in sealed and "password" not in sealed
    assert key_name(sealed) == ring.write
    assert enc.open(SECRET_KEY, sealed) == TEXT
    assert enc.seal(SECRET_KEY, TEXT) != sealed  # a fresh nonce every time


def test_other_kinds_and_plain_values_pass_through() -> None:
    enc = encryption(Keyring.new())
    assert enc.seal("/core/configmaps/default/db", TEXT) == TEXT
    assert enc.open(SECRET_KEY, TEXT) == TEXT  # written before encryption was enabled
    assert key_name(TEXT) == IDENTITY
    assert Encryption().seal(SECRET_KEY, TEXT) == TEXT  # never enabled


def test_a_ciphertext_is_bound_to_its_key_and_to_its_content() -> None:
    enc = encryption(Keyring.new())
    sealed = enc.seal(SECRET_KEY, TEXT)
    with pytest.raises(EncryptionError, match="does not open"):
        enc.open("/core/secrets/default/other", sealed)  # moved to another object
    prefix, _, body = sealed.rpartition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(EncryptionError, match="altered"):
        enc.open(SECRET_KEY, f"{prefix}:{base64.b64encode(bytes(raw)).decode()}")


def test_a_value_sealed_with_an_unknown_key_says_which() -> None:
    other = encryption(Keyring.new())
    sealed = other.seal(SECRET_KEY, TEXT)
    with pytest.raises(UnknownKey) as caught:
        encryption(Keyring.new()).open(SECRET_KEY, sealed)
    assert caught.value.name == key_name(sealed)


def test_rotation_stages_prepare_rotate_and_retire() -> None:
    ring = Keyring.new()
    assert ring.stage == "start"
    prepared = ring.prepare()
    assert prepared.stage == "prepare" and prepared.write == ring.write and len(prepared.keys) == 2
    with pytest.raises(ValueError, match="already prepared"):
        prepared.prepare()
    with pytest.raises(ValueError, match="run prepare first"):
        ring.rotate()
    rotated = prepared.rotate()
    assert rotated.stage == "rotate" and rotated.write == prepared.names[-1]
    old = encryption(ring).seal(SECRET_KEY, TEXT)
    enc = encryption(rotated)
    assert enc.open(SECRET_KEY, old) == TEXT  # the old key still reads
    resealed = enc.reseal(SECRET_KEY, old)
    assert resealed is not None and key_name(resealed) == rotated.write
    assert enc.reseal(SECRET_KEY, resealed) is None  # already sealed with the write key
    retired = rotated.retire()
    assert retired.names == [rotated.write] and retired.stage == "start"


def test_the_key_ring_is_sealed_with_the_cluster_token() -> None:
    ring = Keyring.new().prepare()
    record = seal_keyring("cluster-token", ring)
    assert base64.b64encode(ring.keys[0][1]).decode() not in str(record)
    assert open_keyring("cluster-token", record) == ring
    with pytest.raises(EncryptionError, match="does not open"):
        open_keyring("another-token", record)


async def test_a_server_without_the_token_cannot_adopt_the_ring() -> None:
    record = seal_keyring("cluster-token", Keyring.new())
    with pytest.raises(EncryptionError, match="--token"):
        await Encryption(None).adopt_record_value({**record, "metadata": {"resourceVersion": "3"}})
