"""Discovery, version and OpenAPI documents, all generated from the kind table.

kubectl learns every resource name, short name, scope and verb from these answers, and the
``/usr/bin/kubectl`` dispatcher picks its own build from ``/version``'s minor number, so pykube
reports 1.32 (the minor kubectl v1.32 expects).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from minikube_py import __version__
from minikube_py.model.kinds import UNSTORED, UNSTORED_GROUP_VERSIONS, ResourceType, group_versions, in_group_version

SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "eviction": ("create",),
    "ephemeralcontainers": ("get", "patch", "update"),
    "approval": ("get", "patch", "update"),
    "finalize": ("update",),
    "log": ("get",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
    "token": ("create",),
    "proxy": ("create", "delete", "get", "patch", "update"),
}

#: /openapi/v2 answers an empty protobuf document: kubectl then has no schema for any kind and
#: skips client-side validation, which lets ``create -f``/``apply -f`` work without --validate=false.
OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def version_info() -> dict[str, str]:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0-pykube.{__version__}",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2026-11-23T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"linux/{machine}",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def group_list(
    extra: Sequence[tuple[str, str]] = (), priorities: Mapping[tuple[str, str], int] | None = None
) -> dict[str, Any]:
    """Every API group: those of the kind table (custom resources' included), those of the
    reviews, then ``extra`` (group, version) pairs served by handlers of their own
    (``metrics.k8s.io``, whose objects are not stored). A group's versions are listed in
    Kubernetes' priority order, the first preferred; a group all of whose versions have a
    ``priorities`` entry (an extension server's, from its APIServices' ``versionPriority``) by those
    first, highest first, as kube-aggregator orders them."""
    versions: dict[str, list[str]] = {}
    for group, version in (*group_versions(), *UNSTORED_GROUP_VERSIONS, *extra):
        if group and version not in versions.setdefault(group, []):
            versions[group].append(version)
    given = priorities or {}
    groups = []
    for group, listed in versions.items():
        if all((group, v) in given for v in listed):
            listed = sorted(listed, key=lambda v: (-given[group, v], version_priority(v)))
        else:
            listed = sorted(listed, key=version_priority)
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in listed]
        groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key putting versions in Kubernetes' order: GA before beta before alpha, higher
    numbers first, then the versions that do not look like Kubernetes versions alphabetically."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0), "")


def group(
    name: str, extra: Sequence[tuple[str, str]] = (), priorities: Mapping[tuple[str, str], int] | None = None
) -> dict[str, Any] | None:
    for entry in group_list(extra, priorities)["groups"]:
        if entry["name"] == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **entry}
    return None


def api_resource_list(group_version: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``GET /apis/<group>/<version>`` (``/api/v1``) answers: the group version's resources."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def api_resource(name: str, kind: str, namespaced: bool, verbs: Iterable[str], singular: str = "") -> dict[str, Any]:
    """One resource of an :func:`api_resource_list`. ``singularName`` stays empty where kube-apiserver
    leaves it so: subresources, reviews, and the APIs served beside the kind table."""
    return {"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": list(verbs)}


def resource_list(group_name: str, version: str) -> dict[str, Any] | None:
    resources = in_group_version(group_name, version)
    unstored = [rt for rt in UNSTORED if (rt.group, rt.version) == (group_name, version)]
    if not resources and not unstored:
        return None
    entries = [_resource_entry(rt) for rt in unstored if rt.verbs == ("create",)]
    for rt in (*resources, *(rt for rt in unstored if rt.verbs != ("create",))):
        entries.append(_resource_entry(rt))
        entries += [_subresource_entry(rt, sub, kind) for sub, kind in rt.subresources.items()]
    return api_resource_list(f"{group_name}/{version}" if group_name else version, entries)


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry = api_resource(rt.plural, rt.kind, rt.namespaced, rt.verbs, rt.singular)
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _subresource_entry(rt: ResourceType, sub: str, kind: str) -> dict[str, Any]:
    entry = api_resource(f"{rt.plural}/{sub}", kind or rt.kind, rt.namespaced, SUBRESOURCE_VERBS[sub])
    if sub == "scale":
        entry.update(group="autoscaling", version="v1")
    elif sub == "eviction":  # kubectl drain uses the eviction API only when discovery names its version
        entry.update(group="policy", version="v1")
    return entry


#: the media type of aggregated discovery (``apidiscovery.k8s.io/v2``), which kubectl asks for first
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGGREGATED_PARAMS = {"g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"}


def wants_aggregated(accept: str) -> bool:
    """Whether ``accept`` prefers aggregated discovery to the plain lists: the first media type of it
    this server can answer decides (kubectl 1.32 lists v2 first, then v2beta1, which is not served,
    then plain JSON; the official Python client asks for JSON alone)."""
    for media in accept.split(","):
        kind, *params = (part.strip() for part in media.split(";"))
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if kind in ("application/json", "application/*", "*/*") and "g" not in values and "as" not in values:
            return False
        if kind == "application/json" and all(values.get(k) == v for k, v in _AGGREGATED_PARAMS.items()):
            return True
    return False


def aggregated(groups: Iterable[tuple[str, Iterable[dict[str, Any]]]]) -> dict[str, Any]:
    """The ``APIGroupDiscoveryList`` of ``groups`` (a name, then its versions' ``APIResourceList``\\ s
    in preference order): the same facts as the plain lists, in one answer, each subresource under
    its resource, so a client learns every group's resources with one request instead of one per
    group version. Resources keep the order of their lists, which is the order kubectl prints."""
    items = []
    for name, lists in groups:
        versions = []
        for listing in lists:
            group, _, version = listing["groupVersion"].rpartition("/")
            resources: dict[str, dict[str, Any]] = {}
            for entry in listing["resources"]:
                base, _, sub = entry["name"].partition("/")
                kind = {
                    "group": entry.get("group", group),
                    "version": entry.get("version", version),
                    "kind": entry["kind"],
                }
                if sub:
                    if base in resources:
                        resources[base].setdefault("subresources", []).append(
                            {"subresource": sub, "responseKind": kind, "verbs": entry["verbs"]}
                        )
                    continue
                resource = {
                    "resource": base,
                    "responseKind": kind,
                    "scope": "Namespaced" if entry["namespaced"] else "Cluster",
                    "singularResource": entry.get("singularName", ""),
                    "verbs": entry["verbs"],
                }
                for key in ("shortNames", "categories"):
                    if entry.get(key):
                        resource[key] = entry[key]
                resources[base] = resource
            versions.append({"version": version, "resources": list(resources.values()), "freshness": "Current"})
        items.append({"metadata": {"name": name}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}
