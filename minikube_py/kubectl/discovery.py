"""The server's resource types, read from its discovery documents, and kubectl's ways of naming them:
plural, singular, short name, kind, ``plural.group``, categories such as ``all``, and the legacy
``minions``. The server is asked afresh for each command: pykube's is local and answers in
milliseconds, and a cache would show stale types after an upgrade."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from minikube_py.api.discovery import AGGREGATED
from minikube_py.client.rest import ApiClient, resource_path
from minikube_py.kubectl.errors import CommandError

#: names the 2014 API used, still understood: ``kubectl get minions``
LEGACY_NAMES = {"minion": "nodes", "minions": "nodes"}


class UnknownResource(CommandError):
    def __init__(self, name: str) -> None:
        super().__init__(f'the server doesn\'t have a resource type "{name}"')


@dataclass(frozen=True)
class Resource:
    name: str  # plural: pods
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def kind_ref(self) -> str:
        """How ``-o name`` and messages name the type: ``pod``, ``deployment.apps``."""
        return self.kind.lower() + (f".{self.group}" if self.group else "")

    @property
    def qualified(self) -> str:
        """The plural with its group, as the server names the type in errors: ``deployments.apps``."""
        return self.name + (f".{self.group}" if self.group else "")

    def path(self, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        return resource_path(self.api_version, self.name, namespace if self.namespaced else None, name, subresource)


class Discovery:
    def __init__(self, resources: list[Resource]) -> None:
        self.resources = resources

    @classmethod
    async def fetch(cls, api: ApiClient) -> Discovery:
        """Aggregated discovery, two requests, where the server answers it (kubectl's way); else the
        group list and then every group's preferred version's resources."""
        (core, core_aggregated), (groups, groups_aggregated) = await asyncio.gather(
            _document(api, "/api"), _document(api, "/apis")
        )
        if core_aggregated and groups_aggregated:
            return cls([res for doc in (core, groups) for res in _aggregated_resources(doc)])
        paths = [f"/api/{v}" for v in core.get("versions", [])[:1]]
        paths += [
            f"/apis/{g['preferredVersion']['groupVersion']}"
            for g in groups.get("groups", [])
            if g.get("preferredVersion")
        ]
        # a group that fails to answer only drops out, as in kubectl
        lists = await asyncio.gather(*(api.get(p) for p in paths), return_exceptions=True)
        resources: list[Resource] = []
        for doc in lists:
            if isinstance(doc, BaseException):
                continue
            resources += _resources(doc)
        return cls(resources)

    def find(self, name: str) -> Resource:
        """The type ``name`` stands for; the core group wins over others, as kubectl's mapper's order."""
        wanted = LEGACY_NAMES.get(name.lower(), name.lower())
        head, _, group = wanted.partition(".")
        for res in self.resources:
            if group and group not in (res.group, f"{res.version}.{res.group}"):
                continue
            if head in (res.name, res.singular, res.kind.lower()) or head in res.short_names:
                return res
        raise UnknownResource(name)

    def for_kind(self, api_version: str, kind: str) -> Resource:
        """The type of an object from a manifest, at the version the manifest names."""
        group, _, version = api_version.rpartition("/")
        for res in self.resources:
            if res.kind == kind and res.group == group:
                return res if res.version == version else dataclasses.replace(res, version=version)
        raise CommandError(f'no matches for kind "{kind}" in version "{api_version}"')

    def category(self, name: str) -> list[Resource]:
        return [res for res in self.resources if name in res.categories]

    def expand(self, names: str) -> list[Resource]:
        """``pods,svc`` or ``all`` to their types, in the order given, without repeats."""
        found: list[Resource] = []
        for part in names.split(","):
            members = self.category(part) if part and "." not in part and self.category(part) else []
            for res in members or [self.find(part)]:
                if res not in found:
                    found.append(res)
        return found


#: what kubectl 1.32 accepts for ``/api`` and ``/apis``: aggregated discovery first, then the plain lists
_DISCOVERY_ACCEPT = f"{AGGREGATED},application/json"


async def _document(api: ApiClient, path: str) -> tuple[dict[str, Any], bool]:
    """The discovery document at ``path``, and whether it is aggregated: its content type says so,
    as kubectl decides, whatever was asked."""
    async with api.stream("GET", path, accept=_DISCOVERY_ACCEPT) as resp:
        doc = orjson.loads(await resp.read())
        media = resp.headers.get("Content-Type", "").replace(" ", "")
    return doc, set(media.split(";")) >= set(AGGREGATED.split(";"))


def _aggregated_resources(doc: dict[str, Any]) -> list[Resource]:
    """The resources of each group's preferred (first) version in an ``APIGroupDiscoveryList``."""
    out = []
    for group in doc.get("items", []):
        versions = group.get("versions") or []
        if not versions:
            continue
        name, version = group.get("metadata", {}).get("name", ""), versions[0].get("version", "")
        for entry in versions[0].get("resources", []):
            kind = (entry.get("responseKind") or {}).get("kind", "")
            out.append(
                Resource(
                    name=entry["resource"],
                    singular=entry.get("singularResource") or kind.lower(),
                    kind=kind,
                    group=name,
                    version=version,
                    namespaced=entry.get("scope") == "Namespaced",
                    short_names=tuple(entry.get("shortNames") or ()),
                    categories=tuple(entry.get("categories") or ()),
                    verbs=tuple(entry.get("verbs") or ()),
                    subresources=tuple(sub["subresource"] for sub in entry.get("subresources") or ()),
                )
            )
    return out


def _resources(doc: dict[str, Any]) -> list[Resource]:
    group_version = doc.get("groupVersion", "")
    group, _, version = group_version.rpartition("/")
    out = []
    subresources: dict[str, list[str]] = {}
    for entry in doc.get("resources", []):
        parent, _, sub = entry["name"].partition("/")
        if sub:
            subresources.setdefault(parent, []).append(sub)
    for entry in doc.get("resources", []):
        if "/" in entry["name"]:
            continue  # subresources
        out.append(
            Resource(
                name=entry["name"],
                singular=entry.get("singularName") or entry["kind"].lower(),
                kind=entry["kind"],
                group=group,
                version=version,
                namespaced=bool(entry.get("namespaced")),
                short_names=tuple(entry.get("shortNames") or ()),
                categories=tuple(entry.get("categories") or ()),
                verbs=tuple(entry.get("verbs") or ()),
                subresources=tuple(subresources.get(entry["name"], ())),
            )
        )
    return out
