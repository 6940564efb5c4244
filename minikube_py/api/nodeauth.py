"""Kubernetes' Node authorizer: what a node's credential may do, from a graph of what it reaches.

A node (user ``system:node:<name>`` in group ``system:nodes``, by certificate or impersonated by a
fleet of fake nodes) may:

- read every Node, and create (only its own: :mod:`.noderestriction`), update, patch and delete its own
  Node and its status, and its own Lease in ``kube-node-lease``;
- get, and list or watch with the field selector ``spec.nodeName=<itself>``, the pods bound to it,
  write their status and delete them (never their spec, never other nodes' pods, never create one);
- get (or list/watch by ``metadata.name``) the Secrets, ConfigMaps and PersistentVolumeClaims those pods
  use, and request tokens for their ServiceAccounts (:mod:`.tokens` checks that the token is bound to
  a pod of the node);
- read what its service proxy and ingress controller serve: Services, Endpoints, EndpointSlices,
  Ingresses, IngressClasses and Namespaces, the TLS Secrets Ingresses name (by name, as its pods'),
  the ``pykube-cluster`` ConfigMap of kube-system, and the node's own ConfigMap of firewalls there
  (what its pods may reach and be reached from: the network policy controller resolves the policies
  centrally, so that a node need not read other nodes' pods);
- read RuntimeClasses (whose handlers its sandboxes are created with; RBAC's ``system:node`` grants it
  in Kubernetes), CSIDrivers and CSINodes, and create (only its own: :mod:`.noderestriction`), update,
  patch and delete its own CSINode, as ``system:node`` and NodeRestriction allow in Kubernetes;
- read PersistentVolumes, and delete the released local-path volumes of its own storage (the agent
  removes their directories; see :mod:`minikube_py.agent.localpath`);
- write Events, and renew its own credentials.

Everything else falls through to RBAC, as the Node authorizer answers "no opinion" and the next
authorizer decides (by default: discovery only). Two widenings over Kubernetes, because the agent
embeds components that Kubernetes runs as pods with their own accounts: every node's ingress
controller reads the TLS Secrets of Ingresses, and the local-path provisioner's node side reads every
PersistentVolume (they carry no secret data; it looks for the released ones of its node).

The graph follows the store (pods, Ingresses, PersistentVolumes: :class:`~.follower.PrefixFollower`), so a
decision is a few dictionary look-ups, whatever the size of the cluster. As in Kubernetes, a node may
hear of a pod bound to it (its own watch) a moment before the graph of the server it asks has it:
the agent retries what was refused (:mod:`minikube_py.client.referenced`, the pod workers' status writes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from minikube_py.api.bootstrap import CLUSTER_CONFIG
from minikube_py.api.follower import PrefixFollower
from minikube_py.model import nodegraph
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.networkpolicy import CONFIG_MAP_NAMESPACE, config_map_name
from minikube_py.model.requestinfo import RequestInfo
from minikube_py.model.volumebinding import LOCAL_PATH_PROVISIONER, PROVISIONED_BY, SELECTED_NODE
from minikube_py.pki import NODE_CREDENTIALS_PATH
from minikube_py.store.base import Event, Obj, Store

_PODS, _VOLUMES = by_plural("", "v1", "pods"), by_plural("", "v1", "persistentvolumes")
_INGRESSES = by_plural("networking.k8s.io", "v1", "ingresses")

_READ = frozenset({"get", "list", "watch"})
_WRITE_OWN = frozenset({"get", "update", "patch", "delete"})
_WRITE_EVENTS = frozenset({"create", "update", "patch"})
#: (API group, resource) a node may read all of
_READ_ALL = frozenset(
    {
        ("", "nodes"),
        ("", "namespaces"),
        ("", "services"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("", "persistentvolumes"),
        ("node.k8s.io", "runtimeclasses"),
        ("storage.k8s.io", "csidrivers"),
        ("storage.k8s.io", "csinodes"),
    }
)
_REFERENCED = frozenset({nodegraph.SECRETS, nodegraph.CONFIGMAPS, nodegraph.CLAIMS})
NODE_LEASE_NAMESPACE = "kube-node-lease"
#: how a bound pod's stored JSON names its node
_NODE_NAME = '"nodeName"'

#: (node, resource, namespace, name) → how many of the node's pods use that object
Edge = tuple[str, str, str, str]


class NodeAuthorizer:
    def __init__(self, store: Store) -> None:
        assert _PODS is not None and _VOLUMES is not None and _INGRESSES is not None
        self._store = store
        self._pods: dict[str, tuple[str, str, str, frozenset[nodegraph.Reference]]] = {}  # key → node, ns, name, refs
        self._pod_node: dict[tuple[str, str], str] = {}
        self._edges: Counter[Edge] = Counter()
        self._volume_node: dict[str, str] = {}  # local-path PersistentVolume → the node that holds its directory
        self._ingresses: dict[str, tuple[str, frozenset[str]]] = {}  # key → namespace, TLS Secrets it names
        self._tls: Counter[tuple[str, str]] = Counter()  # (namespace, Secret) → how many Ingresses name it
        self._pod_follower = PrefixFollower(
            store, _PODS.prefix(), what="node authorizer's pods", load=self._load_pods, apply=self.observe
        )
        self._volume_follower = PrefixFollower(
            store, _VOLUMES.prefix(), what="node authorizer's volumes", load=self._load_volumes, apply=self.observe
        )
        self._ingress_follower = PrefixFollower(
            store,
            _INGRESSES.prefix(),
            what="node authorizer's ingresses",
            load=self._load_ingresses,
            apply=self.observe,
        )

    async def start(self) -> None:
        for follower in (self._pod_follower, self._volume_follower, self._ingress_follower):
            await follower.start()

    async def stop(self) -> None:
        for follower in (self._pod_follower, self._volume_follower, self._ingress_follower):
            await follower.stop()

    # ------------------------------------------------------------------------------ the graph

    async def _load(
        self, rt: ResourceType | None, graph: tuple[MutableMapping[Any, Any], ...], put: Callable[[str, Obj], None]
    ) -> int:
        """List ``rt``'s objects and rebuild their part of the graph: empty the maps of ``graph`` (once
        the listing is in, so that no decision meanwhile meets a half-built graph) and ``put`` each
        object under its store key. Returns the listing's revision."""
        assert rt is not None
        listing = await self._store.list(rt.prefix())
        for part in graph:
            part.clear()
        for obj in listing.items:
            md = obj.get("metadata") or {}
            put(rt.key(md.get("namespace"), md.get("name", "")), obj)
        return listing.revision

    async def _load_pods(self) -> int:
        return await self._load(_PODS, (self._pods, self._pod_node, self._edges), self._put_pod)

    def observe(self, event: Event) -> None:
        """One store event of a pod, an Ingress or a PersistentVolume."""
        assert _PODS is not None and _INGRESSES is not None
        if event.key.startswith(_PODS.prefix()):
            self._remove_pod(event.key)
            # a pod no node holds yet (every pod's create) is not in the graph: its stored text, when
            # it names no nodeName at all, says so without decoding the pod
            if event.type != "DELETED" and (event.text is None or _NODE_NAME in event.text):
                self._put_pod(event.key, event.value)
        elif event.key.startswith(_INGRESSES.prefix()):
            self._remove_ingress(event.key)
            if event.type != "DELETED":
                self._put_ingress(event.key, event.value)
        elif event.type == "DELETED":
            self._volume_node.pop((event.value.get("metadata") or {}).get("name", ""), None)
        else:
            self._put_volume(event.value)

    def _put_pod(self, key: str, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if not isinstance(node, str) or not node:
            return
        md = pod.get("metadata") or {}
        namespace, name = md.get("namespace") or "", md.get("name", "")
        refs = nodegraph.pod_references(pod)
        self._pods[key] = (node, namespace, name, refs)
        self._pod_node[namespace, name] = node
        for resource, ref in refs:
            self._edges[node, resource, namespace, ref] += 1

    def _remove_pod(self, key: str) -> None:
        found = self._pods.pop(key, None)
        if found is None:
            return
        node, namespace, name, refs = found
        self._pod_node.pop((namespace, name), None)
        for resource, ref in refs:
            edge = (node, resource, namespace, ref)
            self._edges[edge] -= 1
            if self._edges[edge] <= 0:
                del self._edges[edge]

    async def _load_ingresses(self) -> int:
        return await self._load(_INGRESSES, (self._ingresses, self._tls), self._put_ingress)

    def _put_ingress(self, key: str, ingress: Obj) -> None:
        namespace = (ingress.get("metadata") or {}).get("namespace") or ""
        names = nodegraph.ingress_tls_secrets(ingress)
        self._ingresses[key] = namespace, names
        for name in names:
            self._tls[namespace, name] += 1

    def _remove_ingress(self, key: str) -> None:
        found = self._ingresses.pop(key, None)
        if found is None:
            return
        namespace, names = found
        for name in names:
            self._tls[namespace, name] -= 1
            if self._tls[namespace, name] <= 0:
                del self._tls[namespace, name]

    async def _load_volumes(self) -> int:
        return await self._load(_VOLUMES, (self._volume_node,), lambda _, volume: self._put_volume(volume))

    def _put_volume(self, volume: Obj) -> None:
        md = volume.get("metadata") or {}
        annotations = md.get("annotations") or {}
        if annotations.get(PROVISIONED_BY) == LOCAL_PATH_PROVISIONER and annotations.get(SELECTED_NODE):
            self._volume_node[md.get("name", "")] = annotations[SELECTED_NODE]
        else:
            self._volume_node.pop(md.get("name", ""), None)

    # ------------------------------------------------------------------------------ decisions

    def pod_node(self, namespace: str, name: str) -> str | None:
        """The node a pod is bound to, as the graph knows it."""
        return self._pod_node.get((namespace, name))

    def reaches(self, node: str, resource: str, namespace: str, name: str) -> bool:
        """Whether a pod of ``node`` uses that object."""
        return (node, resource, namespace, name) in self._edges

    def allows(self, node: str, info: RequestInfo, query: Mapping[str, str]) -> bool:
        """Whether the Node authorizer allows ``node`` this request (False: no opinion, RBAC decides)."""
        if not info.resource_request:
            return info.path == NODE_CREDENTIALS_PATH and info.verb == "post"
        verb, resource, group = info.verb, info.resource, info.api_group
        if verb in _READ and not info.subresource and (group, resource) in _READ_ALL:
            return True
        if group == "":
            if resource == "pods":
                return self._pods_allowed(node, info, query)
            if resource in _REFERENCED:
                if verb not in _READ or not info.name or info.subresource:
                    return False
                key = (info.namespace, info.name)
                return (
                    self.reaches(node, resource, *key)
                    or (resource == nodegraph.SECRETS and key in self._tls)
                    or (resource == nodegraph.CONFIGMAPS and key in (("kube-system", CLUSTER_CONFIG), _firewalls(node)))
                )
            if resource == "nodes":
                if verb == "create":
                    return not info.name  # the name in the body: NodeRestriction checks it is the node's own
                return info.name == node and verb in _WRITE_OWN and info.subresource in ("", "status")
            if resource == "serviceaccounts":
                return (
                    verb == "create"
                    and info.subresource == "token"
                    and self.reaches(node, nodegraph.SERVICE_ACCOUNTS, info.namespace, info.name)
                )
            if resource == "persistentvolumes":
                return verb == "delete" and not info.subresource and self._volume_node.get(info.name) == node
            if resource == "events":
                return verb in _WRITE_EVENTS
            return False
        if group == "coordination.k8s.io" and resource == "leases" and info.namespace == NODE_LEASE_NAMESPACE:
            if verb == "create":
                return not info.name and not info.subresource  # NodeRestriction checks the name
            return info.name == node and verb in _WRITE_OWN and not info.subresource
        if group == "events.k8s.io" and resource == "events":
            return verb in _WRITE_EVENTS
        if group == "storage.k8s.io" and resource == "csinodes" and not info.subresource:
            return not info.name if verb == "create" else info.name == node and verb in _WRITE_OWN
        return False

    def _pods_allowed(self, node: str, info: RequestInfo, query: Mapping[str, str]) -> bool:
        verb = info.verb
        if verb in ("list", "watch"):
            return _selects_node(query.get("fieldSelector", ""), node)
        if self._pod_node.get((info.namespace, info.name)) != node:
            return False
        if info.subresource == "status":
            return verb in ("get", "update", "patch")
        return not info.subresource and verb in ("get", "delete")


def _firewalls(node: str) -> tuple[str, str]:
    """The ConfigMap in which the network policy controller publishes the firewalls of ``node``'s pods."""
    return (CONFIG_MAP_NAMESPACE, config_map_name(node))


def _selects_node(selector: str, node: str) -> bool:
    """Whether a field selector limits a pod listing to ``node``'s pods, as kubelet's watch does."""
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "spec.nodeName" and value.lstrip("=").strip() == node:
            return True
    return False
