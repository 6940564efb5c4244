"""What a pod makes its node reach, as Kubernetes' Node authorizer reads it from the pod.

A node may read the Secrets, ConfigMaps and PersistentVolumeClaims its pods use, and request tokens
for their ServiceAccounts, and no other object of those kinds: :func:`pod_references` lists those
objects of one pod (all in the pod's namespace), from every place a pod spec names one: volumes
(also inside projected volumes, and the secret references of volume plugins), the environment of
every container (``env`` and ``envFrom``), image pull secrets and the service account. Every node
runs an ingress controller, so every node may also read the TLS Secrets Ingresses name
(:func:`ingress_tls_secrets`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from minikube_py.model.lenient import as_dict, dict_items
from minikube_py.model.volumebinding import pod_claim_names

Obj = dict[str, Any]
#: (resource, name) of an object a pod uses, in the pod's namespace
Reference = tuple[str, str]

SECRETS, CONFIGMAPS, CLAIMS, SERVICE_ACCOUNTS = "secrets", "configmaps", "persistentvolumeclaims", "serviceaccounts"


def pod_references(pod: Obj) -> frozenset[Reference]:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return frozenset()
    found = set(_from_spec(spec))
    return frozenset((resource, name) for resource, name in found if isinstance(name, str) and name)


def _from_spec(spec: Obj) -> Iterator[tuple[str, Any]]:
    yield SERVICE_ACCOUNTS, spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    for ref in dict_items(spec.get("imagePullSecrets")):
        yield SECRETS, ref.get("name")
    for volume in dict_items(spec.get("volumes")):
        yield from _from_volume(volume)
    for claim in pod_claim_names({"spec": spec}):
        yield CLAIMS, claim
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in dict_items(spec.get(key)):
            yield from _from_container(container)


def _from_volume(volume: Obj) -> Iterator[tuple[str, Any]]:
    secret, configmap = as_dict(volume.get("secret")), as_dict(volume.get("configMap"))
    yield SECRETS, secret.get("secretName")
    yield CONFIGMAPS, configmap.get("name")
    for source in dict_items(as_dict(volume.get("projected")).get("sources")):
        yield SECRETS, as_dict(source.get("secret")).get("name")
        yield CONFIGMAPS, as_dict(source.get("configMap")).get("name")
    # the credentials of volume plugins (csi, cephfs, rbd, iscsi, flexVolume...): a secretRef or nodePublishSecretRef
    for plugin in volume.values():
        if isinstance(plugin, dict):
            for key in ("secretRef", "nodePublishSecretRef"):
                yield SECRETS, as_dict(plugin.get(key)).get("name")


def _from_container(container: Obj) -> Iterator[tuple[str, Any]]:
    for var in dict_items(container.get("env")):
        source = as_dict(var.get("valueFrom"))
        yield SECRETS, as_dict(source.get("secretKeyRef")).get("name")
        yield CONFIGMAPS, as_dict(source.get("configMapKeyRef")).get("name")
    for source in dict_items(container.get("envFrom")):
        yield SECRETS, as_dict(source.get("secretRef")).get("name")
        yield CONFIGMAPS, as_dict(source.get("configMapRef")).get("name")


def ingress_tls_secrets(ingress: Obj) -> frozenset[str]:
    """The Secrets (in the Ingress's namespace) whose certificates an Ingress serves."""
    spec = ingress.get("spec")
    tls = dict_items(spec.get("tls")) if isinstance(spec, dict) else []
    return frozenset(name for entry in tls if isinstance(name := entry.get("secretName"), str) and name)
