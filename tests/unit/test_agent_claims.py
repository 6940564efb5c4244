"""The node's side of persistent volumes: a pod's claim volumes resolved to directories (kubelet's
messages while a claim is missing or unbound), mounted read-only when the pod says so, and the
local-path cleaner that removes only directories directly under the node's own storage root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.localpath import remove_volume_directory, storage_root
from minikube_py.agent.volumes import VolumeError, VolumeManager, claim_sources

Obj = dict[str, Any]


def pod(read_only: bool = False) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"},
        "spec": {
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "db", "readOnly": read_only}}],
            "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        },
    }


def claim(phase: str = "Bound", volume: str = "pv1") -> Obj:
    return {"metadata": {"name": "db", "namespace": "ns"}, "spec": {"volumeName": volume}, "status": {"phase": phase}}


def resolve(claims: dict[str, Obj], volumes: dict[str, Obj]) -> dict[str, Obj]:
    return claim_sources(pod(), lambda ns, name: claims.get(f"{ns}/{name}"), volumes.get)


def test_missing_and_unbound_claims_keep_the_pod_waiting_with_kubelet_s_words() -> None:
    with pytest.raises(VolumeError) as missing:
        resolve({}, {})
    assert missing.value.message == (
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process "
        'volumes=[data]: error processing PVC ns/db: failed to fetch PVC from API server: persistentvolumeclaims "db" '
        "not found"
    )
    with pytest.raises(VolumeError) as unbound:
        resolve({"ns/db": claim("Pending", "")}, {})
    assert unbound.value.message.endswith("error processing PVC ns/db: PVC is not bound")
    with pytest.raises(VolumeError) as no_volume:
        resolve({"ns/db": claim()}, {})
    assert 'persistentvolumes "pv1" not found' in no_volume.value.message


def test_host_path_and_local_volumes_resolve_to_their_directories_nfs_does_not() -> None:
    host = {"pv1": {"spec": {"hostPath": {"path": "/srv/a", "type": "DirectoryOrCreate"}}}}
    assert resolve({"ns/db": claim()}, host) == {"data": {"path": "/srv/a", "type": "DirectoryOrCreate"}}
    local = {"pv1": {"spec": {"local": {"path": "/mnt/disk"}, "nodeAffinity": {}}}}
    assert resolve({"ns/db": claim()}, local) == {"data": {"path": "/mnt/disk", "type": "Directory"}}
    with pytest.raises(VolumeError) as nfs:
        resolve({"ns/db": claim()}, {"pv1": {"spec": {"capacity": {"storage": "1Gi"}, "nfs": {"server": "s"}}}})
    assert (
        nfs.value.message == 'MountVolume.SetUp failed for volume "pv1" : volumes of type nfs cannot be mounted on '
        "this node"
    )


def test_a_claim_volume_is_made_and_bind_mounted(tmp_path: Path) -> None:
    manager = VolumeManager(tmp_path / "pods")
    directory = tmp_path / "storage" / "pvc-1_ns_db"
    sources = {"data": {"path": str(directory), "type": "DirectoryOrCreate"}}
    p = pod(read_only=True)
    manager.setup(p, secret=lambda ns, n: None, configmap=lambda ns, n: None, claims=sources)
    assert directory.is_dir()
    [mount] = manager.mounts(p, p["spec"]["containers"][0], sources)
    assert (mount.source, mount.target, mount.read_only) == (str(directory), "/data", True)
    with pytest.raises(VolumeError):
        manager.mounts(p, p["spec"]["containers"][0], {})
    manager.teardown("uid-1")
    assert directory.is_dir()  # the claim's data outlives the pod


def test_the_cleaner_removes_only_volume_directories_under_its_root(tmp_path: Path) -> None:
    root = storage_root(tmp_path)
    assert root == tmp_path / "storage"
    volume = root / "pvc-1_ns_db"
    (volume / "deep").mkdir(parents=True)
    (volume / "deep" / "file").write_text("x")
    assert remove_volume_directory(volume, root) is None and not volume.exists()
    assert remove_volume_directory(volume, root) is None  # gone already is fine
    outside = tmp_path / "precious"
    outside.mkdir()
    assert "refusing to delete" in (remove_volume_directory(outside, root) or "")
    assert "refusing to delete" in (remove_volume_directory(root / ".." / "precious", root) or "")
    assert "refusing to delete" in (remove_volume_directory(root, root) or "")
    (root / "link").symlink_to(outside)
    assert "refusing to delete" in (remove_volume_directory(root / "link", root) or "")
    assert outside.is_dir()
