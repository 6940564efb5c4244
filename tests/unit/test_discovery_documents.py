"""Aggregated discovery: which clients get it (content negotiation), and that its one document tells
``pykube kubectl`` exactly what the group lists tell it, request by request fewer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from minikube_py.api.discovery import AGGREGATED, aggregated, core_versions, group_list, resource_list, wants_aggregated
from minikube_py.client import ApiClient, ClientConfig
from minikube_py.kubectl.discovery import Discovery


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (
            f"{AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
            True,
        ),
        ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", True),  # parameters in any order
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
        ("application/json", False),
        (f"application/json,{AGGREGATED}", False),  # the client prefers the plain lists
        ("*/*", False),
        ("", False),
    ],
)
def test_aggregated_discovery_goes_to_the_clients_that_prefer_it(accept: str, wanted: bool) -> None:
    assert wants_aggregated(accept) is wanted


def test_subresources_sit_under_their_resource_with_their_own_kind() -> None:
    listing = resource_list("apps", "v1")
    assert listing is not None
    doc = aggregated([("apps", [listing])])
    (group,) = doc["items"]
    deployments = next(r for r in group["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert deployments["scope"] == "Namespaced" and deployments["shortNames"] == ["deploy"]
    subresources = {s["subresource"]: s["responseKind"] for s in deployments["subresources"]}
    assert subresources == {
        "status": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "scale": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
    }


@asynccontextmanager
async def discovery_server(aggregate: bool, asked: list[str]) -> AsyncIterator[str]:
    """The server's discovery documents on a loopback port: aggregated when ``aggregate`` and the
    client asks, else only the lists (as an older API server answers)."""

    def answer(request: web.Request, plain: object, groups: list[tuple[str, list[dict[str, object]]]]) -> web.Response:
        asked.append(request.path)
        if aggregate and wants_aggregated(request.headers.get("Accept", "")):
            return web.Response(text=json.dumps(aggregated(groups)), headers={"Content-Type": AGGREGATED})
        return web.json_response(plain)

    async def api(request: web.Request) -> web.Response:
        return answer(request, core_versions("127.0.0.1"), [("", [resource_list("", "v1") or {}])])

    async def apis(request: web.Request) -> web.Response:
        listed = group_list()
        groups = [
            (g["name"], [resource_list(g["name"], v["version"]) or {} for v in g["versions"]]) for g in listed["groups"]
        ]
        return answer(request, listed, groups)

    async def version_list(request: web.Request) -> web.Response:
        asked.append(request.path)
        info = request.match_info
        return web.json_response(resource_list(info.get("group", ""), info["version"]))

    app = web.Application()
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/{version}", version_list)
    app.router.add_get("/apis/{group}/{version}", version_list)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_pykube_kubectl_reads_the_same_types_from_either_form() -> None:
    found = {}
    requests = {}
    for aggregate in (True, False):
        asked: list[str] = []
        async with discovery_server(aggregate, asked) as url, ApiClient(ClientConfig(server=url)) as client:
            found[aggregate] = (await Discovery.fetch(client)).resources
        requests[aggregate] = asked
    assert sorted(requests[True]) == ["/api", "/apis"]
    assert len(requests[False]) > 10  # a list per group's preferred version
    assert found[True] == found[False]
    deployments = next(r for r in found[True] if r.name == "deployments")
    assert (deployments.kind, deployments.group, deployments.subresources) == (
        "Deployment",
        "apps",
        ("status", "scale"),
    )
