"""Key management of Secret encryption at rest, as ``k3s secrets-encrypt``: the operations and the
API server's endpoint that ``pykube secrets-encrypt`` calls.

A rotation is three steps, each safe to stop after (a server restart in between loses nothing: the
key ring is in the datastore and every key that sealed a stored value stays in it):

- ``prepare`` adds a fresh key that every server can open, but nobody writes with yet;
- ``rotate`` makes it the write key: new and updated Secrets are sealed with it;
- ``reencrypt`` reseals every stored Secret (current and history) with the write key, then drops
  the keys no stored value uses any more.

``rotate-keys`` runs the three at once. ``status`` says whether encryption is on, the stage, the
keys and how many stored Secret values each key sealed.

The endpoint is a non-resource path (``/pykube/v1/secrets-encryption``), so RBAC's
``nonResourceURLs`` rules govern it; only ``system:masters`` has it by default.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from minikube_py.api.handlers import json_response
from minikube_py.model import errors
from minikube_py.store.base import Create, KeyExists, KeyNotFound, RevisionMismatch, Store, Update, revision_of
from minikube_py.store.encryption import KEYRING_KEY, Keyring, seal_keyring

PATH = "/pykube/v1/secrets-encryption"
ACTIONS = ("prepare", "rotate", "reencrypt", "rotate-keys")


async def enable(store: Store) -> bool:
    """Start sealing Secrets with a fresh key, unless the datastore has a key ring already (then its
    keys stay in force). True if this call created the ring. Secrets stored plain before stay plain
    (and readable) until ``reencrypt``."""
    encryption = store.encryption
    if encryption.keyring is not None:
        return False
    assert encryption.secret, "the cluster token is known once the cluster identity is adopted"
    keyring = Keyring.new()
    record = await asyncio.to_thread(seal_keyring, encryption.secret, keyring)
    try:
        [stored] = await store.commit([Create(KEYRING_KEY, record)])
    except KeyExists:  # another server enabled it at the same moment: use its ring
        stored = await store.get(KEYRING_KEY)
        await encryption.adopt_record_value(stored)
        return False
    encryption.adopt(keyring, revision_of(stored))
    return True


async def status(store: Store) -> dict[str, Any]:
    keyring = await _current(store)
    usage = await store.key_usage()
    return {
        "enabled": keyring is not None and keyring.write is not None,
        "stage": keyring.stage if keyring is not None else "disabled",
        "writeKey": store.encryption.write_key,
        "keys": keyring.names if keyring is not None else [],
        "secretsByKey": dict(sorted(usage.items())),
    }


async def run(store: Store, action: str) -> dict[str, Any]:
    """Apply ``action`` (one of :data:`ACTIONS`); returns the status after it."""
    keyring = await _current(store)
    if keyring is None:
        raise errors.bad_request("Secret encryption is not enabled: start the servers with --secrets-encryption")
    try:
        if action in ("prepare", "rotate-keys"):
            keyring = await _save(store, keyring.prepare())
        if action in ("rotate", "rotate-keys"):
            keyring = await _save(store, keyring.rotate())
        if action in ("reencrypt", "rotate-keys"):
            await store.reencrypt()
            leftover = {
                name: n for name, n in (await store.key_usage()).items() if name != store.encryption.write_key and n
            }
            if leftover:
                raise errors.StatusError(
                    409,
                    "Conflict",
                    f"stored Secrets are still sealed with other keys ({leftover}); run reencrypt again",
                )
            if len(keyring.keys) > 1:
                await _save(store, keyring.retire())
    except ValueError as exc:
        raise errors.StatusError(409, "Conflict", str(exc)) from None
    return await status(store)


async def _current(store: Store) -> Keyring | None:
    """The key ring stored now (another server may have changed it since this one last looked)."""
    try:
        value = await store.get(KEYRING_KEY)
    except KeyNotFound:
        return None
    await store.encryption.adopt_record_value(value)
    return store.encryption.keyring


async def _save(store: Store, keyring: Keyring) -> Keyring:
    encryption = store.encryption
    assert encryption.secret
    record = await asyncio.to_thread(seal_keyring, encryption.secret, keyring)
    try:
        [stored] = await store.commit([Update(KEYRING_KEY, record, expected=encryption.revision)])
    except RevisionMismatch:
        raise errors.StatusError(
            409,
            "Conflict",
            "the encryption keys changed meanwhile (another secrets-encrypt command?); look at the status and retry",
        ) from None
    encryption.adopt(keyring, revision_of(stored))
    return keyring


def routes(store: Store) -> list[tuple[str, str, Any]]:
    """``GET PATH`` (status) and ``POST PATH/<action>``."""

    async def get_status(_: web.Request) -> web.Response:
        return json_response(await status(store))

    async def post_action(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise errors.bad_request(f"unknown secrets-encrypt action {action!r}: one of {', '.join(ACTIONS)}")
        return json_response(await run(store, action))

    return [("GET", PATH, get_status), ("POST", PATH + "/{action}", post_action)]
