"""Objects every Kubernetes cluster has from its first second.

The four system namespaces, and the ``kubernetes`` Service (first address of the service CIDR, port
443) whose Endpoints point at the API servers (this one at first; the servers' endpoint reconciler
keeps them current), so in-cluster clients find them the usual way; the
``kube-dns`` Service (tenth address, port 53) that every node's proxy answers with its built-in DNS;
the built-in PriorityClasses ``system-node-critical`` and ``system-cluster-critical``;
the default StorageClass ``local-path``; the default IngressClass ``pykube`` that every agent's ingress
controller serves; and the ``pykube-cluster`` ConfigMap in kube-system, from which agents learn the cluster-wide
network settings (cluster CIDR, DNS address and domain) instead of each needing the same flags.
The default RBAC roles and bindings (:mod:`minikube_py.model.bootstrappolicy`) are reconciled as
kube-apiserver does: created when missing, and restored to their defaults on start unless their
``rbac.authorization.kubernetes.io/autoupdate`` annotation says "false"; the aggregated roles get
their rules at once, the aggregation controller keeps them current afterwards.

Runs on every start: missing objects are created, and the settings follow the server's current
configuration.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from minikube_py.api.registry import Registry
from minikube_py.model import errors, ingress, priority
from minikube_py.model.apiservices import AUTHENTICATION_CONFIGMAP, merge_bundles
from minikube_py.model.bootstrappolicy import AUTOUPDATE, CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLES
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.rbac import GROUP as RBAC_GROUP
from minikube_py.model.rbac import aggregated_rules
from minikube_py.model.storage import DEFAULT_CLASS_ANNOTATION
from minikube_py.model.volumebinding import LOCAL_PATH_PROVISIONER
from minikube_py.store.base import Obj

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


#: kube-system/<this>: the network settings every agent reads at start
CLUSTER_CONFIG = "pykube-cluster"


#: the default StorageClass, as k3s ships it: a claim gets a directory on the node of its first pod
LOCAL_PATH_CLASS: Obj = {
    "metadata": {"name": "local-path", "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
    "provisioner": LOCAL_PATH_PROVISIONER,
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
}

#: the default IngressClass, served by the ingress controller in every agent
PYKUBE_INGRESS_CLASS: Obj = {
    "metadata": {"name": ingress.DEFAULT_CLASS_NAME, "annotations": {ingress.DEFAULT_CLASS_ANNOTATION: "true"}},
    "spec": {"controller": ingress.CONTROLLER},
}


@dataclass(frozen=True)
class ClusterNetwork:
    cluster_cidr: str
    service_cidr: str
    dns_ip: str
    domain: str


async def ensure_bootstrap_objects(
    registry: Registry,
    *,
    address: str,
    port: int,
    network: ClusterNetwork | None = None,
    extension_authentication: dict[str, str] | None = None,
) -> None:
    """``extension_authentication``: the ``extension-apiserver-authentication`` ConfigMap's data (this
    server's CAs for clients and for the front proxy)."""
    # The writes of each step run at once, so that the store commits them in a few transactions (its
    # group commit) rather than one each: ~80 objects on a first start. Namespaces come first, as the
    # objects in them need them.
    namespaces = _rt("", "namespaces")
    await asyncio.gather(
        *(_create_if_absent(registry, namespaces, None, {"metadata": {"name": name}}) for name in SYSTEM_NAMESPACES)
    )
    labels = {"endpointslice.kubernetes.io/skip-mirror": "true"}
    endpoints = {
        "metadata": {"name": "kubernetes", "labels": labels},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }
    slice_ = {
        "metadata": {
            "name": "kubernetes",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "pykube"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    writes = [
        _create_if_absent(
            registry,
            _rt("", "services"),
            "default",
            {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {
                    "clusterIP": registry.allocator.first_ip,
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                },
            },
        ),
        # from here on each server's endpoint reconciler (reconcilers/apiserverendpoints.py) keeps both current
        _create_if_absent(registry, _rt("", "endpoints"), "default", endpoints),
        _create_if_absent(registry, _rt("discovery.k8s.io", "endpointslices"), "default", slice_),
        _create_if_absent(registry, _rt("storage.k8s.io", "storageclasses"), None, copy.deepcopy(LOCAL_PATH_CLASS)),
        _create_if_absent(
            registry, _rt("networking.k8s.io", "ingressclasses"), None, copy.deepcopy(PYKUBE_INGRESS_CLASS)
        ),
        *(
            _create_if_absent(registry, _rt("scheduling.k8s.io", "priorityclasses"), None, copy.deepcopy(klass))
            for klass in priority.SYSTEM_CLASSES
        ),
        _ensure_rbac_defaults(registry),
    ]
    if network is not None:
        writes.append(_ensure_cluster_dns(registry, network))
    if extension_authentication is not None:
        writes.append(_again_if_raced(lambda: _publish_authentication(registry, extension_authentication)))
    await asyncio.gather(*writes)


async def _ensure_rbac_defaults(registry: Registry) -> None:
    roles = [dict(role) for role in CLUSTER_ROLES]
    by_name = {role["metadata"]["name"]: role for role in roles}
    for name in ("view", "edit", "admin"):  # each aggregates the one before
        by_name[name]["rules"] = aggregated_rules(by_name[name], roles) or []
    await asyncio.gather(
        *(_reconcile_default(registry, _rt(RBAC_GROUP, "clusterroles"), role) for role in roles),
        *(_reconcile_default(registry, _rt(RBAC_GROUP, "clusterrolebindings"), b) for b in CLUSTER_ROLE_BINDINGS),
        *(_reconcile_default(registry, _rt(RBAC_GROUP, "roles"), role, namespace) for namespace, role in ROLES),
    )


async def _reconcile_default(registry: Registry, rt: ResourceType, obj: Obj, namespace: str | None = None) -> None:
    await _again_if_raced(lambda: _reconcile_default_once(registry, rt, obj, namespace))


async def _reconcile_default_once(registry: Registry, rt: ResourceType, obj: Obj, namespace: str | None) -> None:
    name = obj["metadata"]["name"]
    try:
        live = await registry.get(rt, namespace, name)
    except errors.StatusError as exc:
        if exc.code != 404:
            raise
        await _create_if_absent(registry, rt, namespace, obj)
        return
    if (live["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
        return
    fields = ("rules", "aggregationRule") if rt.kind in ("ClusterRole", "Role") else ("subjects",)
    wanted = {k: obj[k] for k in fields if k in obj}
    if rt.kind == "ClusterRole" and "aggregationRule" in obj:
        wanted.pop("rules")  # the aggregation controller owns them
    if all(live.get(k) == v for k, v in wanted.items()):
        return
    await registry.update(rt, namespace, name, {**live, **wanted})


async def _ensure_cluster_dns(registry: Registry, network: ClusterNetwork) -> None:
    try:
        await _create_if_absent(registry, _rt("", "services"), "kube-system", _kube_dns(network))
    except errors.StatusError as exc:  # e.g. a store from before cluster DNS with the address in use
        log.warning("cannot create the kube-dns service on %s: %s", network.dns_ip, exc)
    await _put(
        registry,
        _rt("", "configmaps"),
        "kube-system",
        {
            "metadata": {"name": CLUSTER_CONFIG, "labels": {"app.kubernetes.io/managed-by": "pykube"}},
            "data": {
                "clusterCIDR": network.cluster_cidr,
                "serviceCIDR": network.service_cidr,
                "clusterDNS": network.dns_ip,
                "clusterDomain": network.domain,
            },
        },
    )


async def _publish_authentication(registry: Registry, data: dict[str, str]) -> None:
    """Write kube-system's ``extension-apiserver-authentication``. Each server of a cluster proxies
    with a front-proxy CA of its own, so the CAs the ConfigMap names are the union of all servers'
    (kube-apiserver's controller merges them the same way)."""
    rt = _rt("", "configmaps")
    try:
        live = await registry.get(rt, "kube-system", AUTHENTICATION_CONFIGMAP)
    except errors.StatusError as exc:
        if exc.code != 404:
            raise
        await registry.create(rt, "kube-system", {"metadata": {"name": AUTHENTICATION_CONFIGMAP}, "data": data})
        return
    current = dict(live.get("data") or {})
    merged = {**current, **data}
    for key in ("client-ca-file", "requestheader-client-ca-file"):
        merged[key] = merge_bundles(current.get(key, ""), data[key])
    if merged != current:
        await registry.update(rt, "kube-system", AUTHENTICATION_CONFIGMAP, {**live, "data": merged})


def _kube_dns(network: ClusterNetwork) -> Obj:
    return {
        "metadata": {
            "name": "kube-dns",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"},
        },
        "spec": {
            "clusterIP": network.dns_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    }


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


#: tries of a bootstrap write that other servers starting at the same moment keep racing
_RACE_ATTEMPTS = 5


async def _again_if_raced(write: Callable[[], Awaitable[None]]) -> None:
    """Run ``write`` (a read, then a create or update from it) again when another server starting at
    the same moment on the same datastore wrote the object in between (AlreadyExists, Conflict): a
    server must not fail to start because its peers start too."""
    for attempt in range(_RACE_ATTEMPTS):
        try:
            await write()
            return
        except errors.StatusError as exc:
            if exc.reason not in ("AlreadyExists", "Conflict") or attempt == _RACE_ATTEMPTS - 1:
                raise


async def _put(registry: Registry, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
    await _again_if_raced(lambda: _put_once(registry, rt, namespace, obj))


async def _put_once(registry: Registry, rt: ResourceType, namespace: str | None, obj: Obj) -> None:
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
