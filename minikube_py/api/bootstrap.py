"""Objects every Kubernetes cluster has from its first second.

The four system namespaces, and the ``kubernetes`` Service (first address of the service CIDR, port
443) whose Endpoints point at this API server, so in-cluster clients find it the usual way. Runs on
every start: missing objects are created, and the endpoints follow the server's current address.
"""

from __future__ import annotations

from minikube_py.api.registry import Registry
from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.store.base import Obj

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_bootstrap_objects(registry: Registry, *, address: str, port: int) -> None:
    namespaces = _rt("", "namespaces")
    for name in SYSTEM_NAMESPACES:
        await _create_if_absent(registry, namespaces, None, {"metadata": {"name": name}})
    await _create_if_absent(registry, _rt("", "services"), "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": registry.allocator.first_ip,
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    })
    labels = {"endpointslice.kubernetes.io/skip-mirror": "true"}
    endpoints = {
        "metadata": {"name": "kubernetes", "labels": labels},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }
    await _put(registry, _rt("", "endpoints"), "default", endpoints)
    slice_ = {
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes",
                                                      "endpointslice.kubernetes.io/managed-by": "pykube"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    await _put(registry, _rt("discovery.k8s.io", "endpointslices"), "default", slice_)


def _rt(group: str, plural: str) -> ResourceType:
    rt = by_plural(group, "v1", plural)
    assert rt is not None
    return rt


async def _create_if_absent(registry: Registry, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
    try:
        await registry.create(rt, namespace, obj)
    except errors.StatusError as exc:
        if exc.reason != "AlreadyExists":
            raise


async def _put(registry: Registry, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
    """Create, or overwrite the fields this module owns when the object exists."""
    try:
        live = await registry.get(rt, namespace, obj["metadata"]["name"])
    except errors.StatusError as exc:
        if exc.code != 404:
            raise
        await registry.create(rt, namespace, obj)
        return
    merged = {**live, **{k: v for k, v in obj.items() if k != "metadata"}}
    merged["metadata"] = {**live["metadata"], "labels": obj["metadata"]["labels"]}
    await registry.update(rt, namespace, obj["metadata"]["name"], merged)
