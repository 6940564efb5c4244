"""The cluster's sealed bootstrap data in the datastore: what lets several servers be one cluster.

Every server of a cluster needs the same CA, ServiceAccount signing key and tokens, or credentials
from one are refused by the others. As k3s does, the first server puts them in the shared datastore,
sealed with the cluster token (see :func:`minikube_py.pki.seal`), and the others open them there.

After a token rotation the record also carries the new node secret sealed for the servers alone
(``servers``: see :func:`minikube_py.pki.servers_secret`), so that servers already running, which
hold only the old token, learn the new one without anybody handing it to them.

They live under a key no API resource can reach: object keys start with ``/<group>/``, and an API
group is a DNS subdomain, which never starts with ``-``; so neither the REST API nor a watch of any
resource ever shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minikube_py.store.base import Create, KeyExists, KeyNotFound, Store, Update, revision_of

BOOTSTRAP_KEY = "/-/bootstrap/cluster"


@dataclass(frozen=True)
class BootstrapRecord:
    #: the identity files sealed with the cluster token
    sealed: dict[str, Any]
    #: the current node secret sealed for the servers (None until the token was first rotated)
    servers: dict[str, Any] | None
    #: the store revision of the record, for a conditional replacement
    revision: int


async def read_record(store: Store) -> BootstrapRecord | None:
    """The bootstrap record, or None while no server has stored any."""
    try:
        value = await store.get(BOOTSTRAP_KEY)
    except KeyNotFound:
        return None
    servers = value.get("servers")
    return BootstrapRecord(dict(value["sealed"]), dict(servers) if servers else None, revision_of(value))


async def read_sealed(store: Store) -> dict[str, Any] | None:
    """The sealed bootstrap data, or None while no server has stored any."""
    record = await read_record(store)
    return record.sealed if record is not None else None


async def publish_sealed(store: Store, sealed: dict[str, Any]) -> bool:
    """Store ``sealed`` unless some server already did: True if this one's was stored. The create is
    conditional on the key's absence, so of servers starting at once exactly one's data wins."""
    try:
        await store.commit([Create(BOOTSTRAP_KEY, {"metadata": {"name": "cluster"}, "sealed": sealed})])
    except KeyExists:
        return False
    return True


async def replace_sealed(store: Store, read: BootstrapRecord, sealed: dict[str, Any], servers: dict[str, Any]) -> None:
    """Replace the record ``read`` with data sealed under a new token; raises RevisionMismatch when
    another rotation replaced it since it was read, so that one of two racing rotations wins whole."""
    value = {"metadata": {"name": "cluster"}, "sealed": sealed, "servers": servers}
    await store.commit([Update(BOOTSTRAP_KEY, value, read.revision)])
