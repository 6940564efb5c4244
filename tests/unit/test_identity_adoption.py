"""How a server takes on its cluster's identity from the datastore (core.adopt_cluster_identity),
with several data directories on one SQLite store standing in for several servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py import pki
from minikube_py.core import IDENTITY_FILES, ClusterIdentityError, adopt_cluster_identity
from minikube_py.store.base import Store
from minikube_py.store.bootstrap import BOOTSTRAP_KEY


def identity(data_dir: Path) -> dict[str, bytes]:
    return {name: (data_dir / name).read_bytes() for name in IDENTITY_FILES}


async def test_the_first_server_seals_its_identity_and_the_next_one_adopts_it(store: Store, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    await adopt_cluster_identity(store, first, "")
    secret = (first / "node-secret").read_text().strip()
    sealed = (await store.get(BOOTSTRAP_KEY))["sealed"]
    assert secret.encode() not in repr(sealed).encode()
    assert pki.unseal(secret, sealed) == identity(first)

    # the full join token works as the cluster token too: its CA pin is checked
    await adopt_cluster_identity(store, second, pki.join_token((first / "pki" / "ca.crt").read_bytes(), secret))
    assert identity(second) == identity(first)
    # a restart needs no token: the node secret in the data directory opens the data
    await adopt_cluster_identity(store, second, "")
    assert identity(second) == identity(first)


async def test_a_server_without_the_right_token_is_refused(store: Store, tmp_path: Path) -> None:
    await adopt_cluster_identity(store, tmp_path / "first", "chosen-cluster-token")
    assert (tmp_path / "first" / "node-secret").read_text().strip() == "chosen-cluster-token"
    with pytest.raises(ClusterIdentityError, match="does not match the one this datastore's cluster was created"):
        await adopt_cluster_identity(store, tmp_path / "wrong", "another-token")
    with pytest.raises(ClusterIdentityError, match="already holds a cluster: start this server with --token"):
        await adopt_cluster_identity(store, tmp_path / "none", "")
    forged_pin = pki.join_token(pki.ensure_pki(tmp_path / "other-ca", hosts=[]).ca_pem, "chosen-cluster-token")
    with pytest.raises(ClusterIdentityError, match="CA does not match the CA hash in --token"):
        await adopt_cluster_identity(store, tmp_path / "pinned", forged_pin)
    assert not (tmp_path / "wrong" / "pki" / "ca.key").exists()  # nothing of the cluster was written


async def test_a_new_cluster_token_must_match_the_data_directorys(store: Store, tmp_path: Path) -> None:
    """A data directory from an earlier cluster keeps its identity only under that cluster's token."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "node-secret").write_text("old-secret\n")
    with pytest.raises(ClusterIdentityError, match="belongs to a cluster with another token"):
        await adopt_cluster_identity(store, tmp_path / "old", "new-secret")
