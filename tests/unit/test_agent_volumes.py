"""Pod volumes on disk: projected files with kubelet's atomic ..data swap, modes, items, errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.volumes import VolumeError, VolumeManager

Obj = dict[str, Any]


def pod(volumes: list[Obj], mounts: list[Obj] | None = None) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1", "labels": {"a": "1", "b": "2"}},
        "spec": {"volumes": volumes, "containers": [{"name": "c", "image": "i", "volumeMounts": mounts or []}]},
    }


def secret(**data: str) -> Obj:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_secret_files_are_published_through_the_data_symlink(tmp_path: Path) -> None:
    secrets = {("ns", "s"): secret(user="bob", password="pw")}
    manager = VolumeManager(tmp_path)
    p = pod(
        [{"name": "creds", "secret": {"secretName": "s", "defaultMode": 0o400}}],
        [{"name": "creds", "mountPath": "/etc/creds"}],
    )
    manager.setup(p, secret=lambda ns, n: secrets.get((ns, n)), configmap=lambda ns, n: None)
    [mount] = manager.mounts(p, p["spec"]["containers"][0])
    root = Path(mount.source)
    assert mount.target == "/etc/creds" and mount.read_only
    assert (root / "password").read_text() == "pw"
    assert (root / "password").is_symlink() and os.readlink(root / "password") == "..data/password"
    assert (root / "..data" / "user").stat().st_mode & 0o777 == 0o400


def test_secret_updates_swap_the_whole_set_and_drop_removed_keys(tmp_path: Path) -> None:
    secrets = {("ns", "s"): secret(a="1", b="2")}
    manager = VolumeManager(tmp_path)
    p = pod([{"name": "v", "secret": {"secretName": "s"}}], [{"name": "v", "mountPath": "/v"}])
    lookup = {"secret": lambda ns, n: secrets.get((ns, n)), "configmap": lambda ns, n: None}
    manager.setup(p, **lookup)
    assert not manager.refresh(p, **lookup)  # nothing changed: no rewrite
    old_target = os.readlink(Path(manager.mounts(p, p["spec"]["containers"][0])[0].source) / "..data")
    secrets[("ns", "s")] = secret(a="10")
    assert manager.refresh(p, **lookup)
    root = Path(manager.mounts(p, p["spec"]["containers"][0])[0].source)
    assert (root / "a").read_text() == "10" and not (root / "b").exists()
    assert os.readlink(root / "..data") != old_target and not (root / old_target).exists()


def test_configmap_items_and_downward_api(tmp_path: Path) -> None:
    maps = {("ns", "cm"): {"data": {"k1": "v1", "k2": "v2"}}}
    manager = VolumeManager(tmp_path)
    p = pod(
        [
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "k2", "path": "sub/two", "mode": 0o600}]}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                    ]
                },
            },
        ],
        [{"name": "cfg", "mountPath": "/cfg"}, {"name": "info", "mountPath": "/info"}],
    )
    manager.setup(p, secret=lambda ns, n: None, configmap=lambda ns, n: maps.get((ns, n)))
    cfg, info = (Path(m.source) for m in manager.mounts(p, p["spec"]["containers"][0]))
    assert (cfg / "sub" / "two").read_text() == "v2" and not (cfg / "k1").exists()
    assert (cfg / "..data" / "sub" / "two").stat().st_mode & 0o777 == 0o600
    assert (info / "labels").read_text() == 'a="1"\nb="2"' and (info / "name").read_text() == "p"


def test_missing_secret_fails_with_kubelets_message_unless_optional(tmp_path: Path) -> None:
    manager = VolumeManager(tmp_path)
    with pytest.raises(VolumeError) as raised:
        manager.setup(
            pod([{"name": "v", "secret": {"secretName": "absent"}}]),
            secret=lambda ns, n: None,
            configmap=lambda ns, n: None,
        )
    assert raised.value.message == 'MountVolume.SetUp failed for volume "v" : secret "absent" not found'
    manager.setup(
        pod([{"name": "v", "secret": {"secretName": "absent", "optional": True}}]),
        secret=lambda ns, n: None,
        configmap=lambda ns, n: None,
    )


def test_empty_dir_host_path_and_sub_path(tmp_path: Path) -> None:
    host = tmp_path / "host" / "data"
    manager = VolumeManager(tmp_path / "pods")
    p = pod(
        [
            {"name": "scratch", "emptyDir": {}},
            {"name": "h", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}},
        ],
        [{"name": "scratch", "mountPath": "/s", "subPath": "x"}, {"name": "h", "mountPath": "/h", "readOnly": True}],
    )
    manager.setup(p, secret=lambda ns, n: None, configmap=lambda ns, n: None)
    scratch, hostpath = manager.mounts(p, p["spec"]["containers"][0])
    assert Path(scratch.source).is_dir() and scratch.source.endswith("/scratch/x") and not scratch.read_only
    assert host.is_dir() and hostpath.source == str(host) and hostpath.read_only
    with pytest.raises(VolumeError, match="is not a file"):
        manager.setup(
            pod([{"name": "f", "hostPath": {"path": str(host), "type": "File"}}]),
            secret=lambda ns, n: None,
            configmap=lambda ns, n: None,
        )
    assert manager.existing_pod_uids() == {"uid-1"}
    manager.teardown("uid-1")
    assert manager.existing_pod_uids() == set()


def test_the_projected_token_volume_holds_token_ca_and_namespace_and_follows_renewal(tmp_path: Path) -> None:
    from minikube_py.model.serviceaccounts import TOKEN_MOUNT_PATH, projected_token_volume

    tokens = {"token": "first"}
    maps = {("ns", "kube-root-ca.crt"): {"data": {"ca.crt": "PEM"}}}
    lookup = {
        "secret": lambda ns, n: None,
        "configmap": lambda ns, n: maps.get((ns, n)),
        "token": lambda pod, source: tokens.get(source["path"]),
    }
    manager = VolumeManager(tmp_path)
    p = pod(
        [projected_token_volume("kube-api-access-abcde")],
        [{"name": "kube-api-access-abcde", "mountPath": TOKEN_MOUNT_PATH, "readOnly": True}],
    )
    manager.setup(p, **lookup)
    [mount] = manager.mounts(p, p["spec"]["containers"][0])
    root = Path(mount.source)
    assert mount.target == "/var/run/secrets/kubernetes.io/serviceaccount" and mount.read_only
    assert {f: (root / f).read_text() for f in ("token", "ca.crt", "namespace")} == {
        "token": "first",
        "ca.crt": "PEM",
        "namespace": "ns",
    }
    assert (root / "..data" / "token").stat().st_mode & 0o777 == 0o644
    assert not manager.refresh(p, **lookup)
    tokens["token"] = "renewed"
    assert manager.refresh(p, **lookup)
    assert (root / "token").read_text() == "renewed"


def test_a_projected_token_not_issued_yet_fails_the_mount(tmp_path: Path) -> None:
    from minikube_py.model.serviceaccounts import projected_token_volume

    manager = VolumeManager(tmp_path)
    p = pod([projected_token_volume("kube-api-access-abcde")])
    with pytest.raises(VolumeError, match="failed to fetch token"):
        manager.setup(
            p,
            secret=lambda ns, n: None,
            configmap=lambda ns, n: {"data": {"ca.crt": "x"}},
            token=lambda pod, source: None,
        )


def test_projected_secrets_and_config_maps_are_referenced_for_refresh() -> None:
    p = pod([{"name": "all", "projected": {"sources": [{"secret": {"name": "s"}}, {"configMap": {"name": "c"}}]}}])
    assert VolumeManager.referenced(p) == ({("ns", "s")}, {("ns", "c")})
