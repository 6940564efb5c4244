"""The revisioned object store: :func:`open_store` picks the backend from a URL."""

from __future__ import annotations

from typing import Any

from minikube_py.store.backend import BACKEND_OPTIONS, backend_for
from minikube_py.store.base import Store
from minikube_py.store.encryption import Encryption
from minikube_py.store.sql import SqlStore, StoreOptions
from minikube_py.store.watch import WatchExpired

__all__ = ["SqlStore", "StoreOptions", "WatchExpired", "open_store"]


def open_store(url: str, *, encryption: Encryption | None = None, **options: Any) -> Store:
    """A store for ``url`` (``sqlite:///PATH`` or ``postgresql://user:pw@host:port/db``), not yet
    started: the caller awaits ``start()``. ``options`` are :class:`StoreOptions` fields plus the
    backend's own (``sqlite_synchronous``, ``read_pool_size``); ``encryption`` holds the cluster
    token that opens the Secrets' keys, if the datastore encrypts them."""
    backend_options = {k: v for k, v in options.items() if k not in StoreOptions.__dataclass_fields__}
    unknown = set(backend_options) - BACKEND_OPTIONS
    if unknown:
        raise TypeError(f"unknown store options: {', '.join(sorted(unknown))}")
    return SqlStore(backend_for(url, backend_options), StoreOptions.pick(options), encryption)
