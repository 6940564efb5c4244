"""The kubelet's local storage limits: which a pod has, which a measurement crosses first, and how
what a volume holds is counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minikube_py.agent.localstorage import used_bytes
from minikube_py.model.localstorage import Limit, StorageLimits, StorageUse, exceeded, limits

Obj = dict[str, Any]


def limited(name: str, amount: str | None = None) -> Obj:
    resources = {"limits": {"ephemeral-storage": amount}} if amount else {}
    return {"name": name, "image": "busybox", "resources": resources}


def test_a_pod_without_limits_has_none_to_measure() -> None:
    pod = {"spec": {"containers": [limited("app")], "volumes": [{"name": "scratch", "emptyDir": {}}]}}
    assert not limits(pod)


def test_limits_of_volumes_containers_and_the_pod() -> None:
    pod = {
        "spec": {
            "containers": [limited("a", "1Mi"), limited("b", "512Ki"), limited("c")],
            "initContainers": [limited("setup", "3Mi")],
            "volumes": [
                {"name": "cache", "emptyDir": {"sizeLimit": "64Mi"}},
                {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},  # a sized tmpfs instead
                {"name": "open", "emptyDir": {}},
            ],
        }
    }
    found = limits(pod)
    assert found.volumes == (Limit("cache", 64 << 20, "64Mi"),)
    assert found.containers == (Limit("a", 1 << 20, "1Mi"), Limit("b", 512 << 10, "512Ki"))
    # the pod's limit is its containers' sum, raised to an init container's (Kubernetes' PodLimits),
    # in the notation of the first limit
    assert found.pod == Limit("", 3 << 20, "3Mi")
    sum_pod = {"spec": {"containers": [limited("a", "1Mi"), limited("b", "512Ki")]}}
    assert limits(sum_pod).pod == Limit("", 1536 << 10, "1536Ki")


def test_the_first_limit_crossed_names_the_eviction() -> None:
    found = StorageLimits(
        volumes=(Limit("cache", 100, "100"),), pod=Limit("", 1000, "1k"), containers=(Limit("a", 300, "300"),)
    )
    assert exceeded(found, StorageUse({"cache": 100}, {"a": 300})) is None
    assert exceeded(found, StorageUse({"cache": 101}, {"a": 900})) == (
        'Usage of EmptyDir volume "cache" exceeds the limit "100". '
    )
    assert exceeded(found, StorageUse({"cache": 100}, {"a": 901})) == (
        "Pod ephemeral local storage usage exceeds the total limit of containers 1k. "
    )
    assert (
        exceeded(found, StorageUse({}, {"a": 301})) == 'Container a exceeded its local ephemeral storage limit "300". '
    )


def test_used_bytes_counts_blocks_below_a_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * 100_000)
    with (tmp_path / "sparse").open("wb") as f:  # a large length, no blocks
        f.truncate(1 << 30)
    (tmp_path / "link").symlink_to("/usr")
    used = used_bytes(tmp_path)
    assert 100_000 <= used < 200_000
    assert used_bytes(tmp_path / "missing") == 0
