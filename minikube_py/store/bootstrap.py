"""The cluster's sealed bootstrap data in the datastore: what lets several servers be one cluster.

Every server of a cluster needs the same CA, ServiceAccount signing key and tokens, or credentials
from one are refused by the others. As k3s does, the first server puts them in the shared datastore,
sealed with the cluster token (see :func:`minikube_py.pki.seal`), and the others open them there.

They live under a key no API resource can reach: object keys start with ``/<group>/``, and an API
group is a DNS subdomain, which never starts with ``-``; so neither the REST API nor a watch of any
resource ever shows them.
"""

from __future__ import annotations

from typing import Any

from minikube_py.store.base import Create, KeyExists, KeyNotFound, Store

BOOTSTRAP_KEY = "/-/bootstrap/cluster"


async def read_sealed(store: Store) -> dict[str, Any] | None:
    """The sealed bootstrap data, or None while no server has stored any."""
    try:
        value = await store.get(BOOTSTRAP_KEY)
    except KeyNotFound:
        return None
    return dict(value["sealed"])


async def publish_sealed(store: Store, sealed: dict[str, Any]) -> bool:
    """Store ``sealed`` unless some server already did: True if this one's was stored. The create is
    conditional on the key's absence, so of servers starting at once exactly one's data wins."""
    try:
        await store.commit([Create(BOOTSTRAP_KEY, {"metadata": {"name": "cluster"}, "sealed": sealed})])
    except KeyExists:
        return False
    return True
