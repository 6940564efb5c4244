"""Endpoints and EndpointSlices against the real server, the scheduler, fake nodes and the real kubectl.

One server with two fake nodes serves the whole module; each test works in its own namespace.
Pods are plain pods the scheduler binds; the fake nodes run them, Running and Ready (or not ready,
by a readiness probe that fails), and tests flip readiness by patching the Ready condition through ``pods/status``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_nodes import in_process_cluster
from support import apply_list as apply

from minikube_py.agent.runtime.fake import NEVER_READY
from minikube_py.testing import ServerEndpoint, eventually

Obj = dict[str, Any]
NODES = ["n1", "n2"]
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D{svc}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerEndpoint]:
    with in_process_cluster(tmp_path_factory.mktemp("endpoints") / "data", NODES) as (running, _):
        yield running


@pytest.fixture
def ns(server: ServerEndpoint, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower()).strip("-")[:50]
    server.kubectl("create", "namespace", name)
    return name


# ------------------------------------------------------------------------------ helpers


def kubectl(server: ServerEndpoint, ns: str, *args: str, input: str | None = None) -> str:
    return server.kubectl("-n", ns, *args, input=input).stdout


def get(server: ServerEndpoint, path: str) -> Obj | None:
    status, body = server.request("GET", path)
    if status == 404:
        return None
    assert status == 200, body
    result: Obj = body
    return result


def service(name: str, app: str, target_port: int | str = 8080, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": target_port}], **spec},
    }


def pod(name: str, app: str, container_port: int = 8080, *, ready: bool = True) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "registry.example/app:1",
                    "ports": [{"name": "web", "containerPort": container_port}],
                    **({} if ready else NEVER_READY),
                }
            ]
        },
    }


def running_pods(server: ServerEndpoint, ns: str, count: int) -> dict[str, Obj]:
    """The namespace's pods by name, once ``count`` of them run with an IP."""

    def check() -> dict[str, Obj] | None:
        items = (get(server, f"/api/v1/namespaces/{ns}/pods") or {})["items"]
        found = {p["metadata"]["name"]: p for p in items if (p.get("status") or {}).get("podIP")}
        return found if len(found) == count else None

    found: dict[str, Obj] = eventually(check, f"{count} running pods")
    return found


def endpoints(server: ServerEndpoint, ns: str, name: str) -> Obj | None:
    return get(server, f"/api/v1/namespaces/{ns}/endpoints/{name}")


def addresses(ep: Obj | None, field: str = "addresses") -> dict[str, str]:
    """pod name -> ip of the Endpoints' ready (or not-ready) addresses."""
    return {a["targetRef"]["name"]: a["ip"] for s in (ep or {}).get("subsets") or () for a in s.get(field) or ()}


def slices(server: ServerEndpoint, ns: str, svc: str) -> list[Obj]:
    return (get(server, SLICES.format(ns=ns, svc=svc)) or {})["items"]


def slice_conditions(server: ServerEndpoint, ns: str, svc: str) -> dict[str, Obj]:
    """pod name -> conditions, over every slice of the service."""
    return {e["targetRef"]["name"]: e["conditions"] for s in slices(server, ns, svc) for e in s.get("endpoints") or ()}


def set_ready(server: ServerEndpoint, ns: str, name: str, ready: bool) -> None:
    status = "True" if ready else "False"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    patch = {"status": {"conditions": [{"type": "Ready", "status": status, "lastTransitionTime": now}]}}
    code, body = server.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/{name}/status",
        patch,
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 200, body


def timed(check: Callable[[], Any], what: str) -> float:
    start = time.monotonic()
    eventually(check, what)
    return time.monotonic() - start


# ------------------------------------------------------------------------------ tests


def test_service_with_three_pods_lists_three_addresses(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, service("web", "web"), *(pod(f"web-{i}", "web") for i in range(3)), pod("other", "db"))
    found = running_pods(server, ns, 4)
    want = {name: p["status"]["podIP"] for name, p in found.items() if name != "other"}
    ep = eventually(lambda: (e := endpoints(server, ns, "web")) and addresses(e) == want and e, "3 addresses")
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    for address in subset["addresses"]:
        name = address["targetRef"]["name"]
        assert address["nodeName"] == found[name]["spec"]["nodeName"]
        assert address["targetRef"] == {
            "kind": "Pod",
            "namespace": ns,
            "name": name,
            "uid": found[name]["metadata"]["uid"],
        }
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
    line = kubectl(server, ns, "get", "ep", "web", "--no-headers").split()
    assert line[0] == "web" and set(line[1].split(",")) == {f"{ip}:8080" for ip in want.values()}

    [slice_] = eventually(
        lambda: (s := slices(server, ns, "web")) and len(s[0].get("endpoints") or ()) == 3 and s,
        "a slice with 3 endpoints",
    )
    assert slice_["metadata"]["name"].startswith("web-") and slice_["addressType"] == "IPv4"
    assert slice_["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    svc_uid = (get(server, f"/api/v1/namespaces/{ns}/services/web") or {})["metadata"]["uid"]
    assert [(r["kind"], r["uid"], r["controller"]) for r in slice_["metadata"]["ownerReferences"]] == [
        ("Service", svc_uid, True)
    ]
    assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert {e["addresses"][0] for e in slice_["endpoints"]} == set(want.values())
    assert all(
        e["conditions"] == {"ready": True, "serving": True, "terminating": False}
        and e["nodeName"] == found[e["targetRef"]["name"]]["spec"]["nodeName"]
        for e in slice_["endpoints"]
    )


def test_readiness_change_moves_the_address_within_a_second(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, service("web", "web"), *(pod(f"web-{i}", "web") for i in range(3)))
    running_pods(server, ns, 3)
    eventually(lambda: len(addresses(endpoints(server, ns, "web"))) == 3, "3 ready addresses")
    eventually(lambda: len(slice_conditions(server, ns, "web")) == 3, "3 slice endpoints")

    set_ready(server, ns, "web-1", False)
    took = timed(
        lambda: "web-1" in addresses(endpoints(server, ns, "web"), "notReadyAddresses"), "web-1 among notReadyAddresses"
    )
    assert took < 1.0, f"Endpoints took {took:.2f}s"
    assert set(addresses(endpoints(server, ns, "web"))) == {"web-0", "web-2"}
    took = timed(lambda: slice_conditions(server, ns, "web")["web-1"]["ready"] is False, "slice endpoint not ready")
    assert took < 1.0, f"EndpointSlice took {took:.2f}s"
    assert slice_conditions(server, ns, "web")["web-1"] == {"ready": False, "serving": False, "terminating": False}

    set_ready(server, ns, "web-1", True)
    took = timed(
        lambda: set(addresses(endpoints(server, ns, "web"))) == {"web-0", "web-1", "web-2"}, "web-1 ready again"
    )
    assert took < 1.0, f"Endpoints took {took:.2f}s"
    assert "notReadyAddresses" not in endpoints(server, ns, "web")["subsets"][0]  # type: ignore[index]


def test_deleted_pod_leaves_endpoints(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, service("web", "web"), *(pod(f"web-{i}", "web") for i in range(3)))
    running_pods(server, ns, 3)
    eventually(lambda: len(addresses(endpoints(server, ns, "web"))) == 3, "3 ready addresses")
    kubectl(server, ns, "delete", "pod", "web-0", "--wait=false")
    eventually(
        lambda: (
            set(addresses(endpoints(server, ns, "web"))) == {"web-1", "web-2"}
            and not addresses(endpoints(server, ns, "web"), "notReadyAddresses")
        ),
        "web-0 gone from Endpoints",
    )
    eventually(lambda: set(slice_conditions(server, ns, "web")) == {"web-1", "web-2"}, "web-0 gone from slices")


def test_describe_service_shows_endpoints(server: ServerEndpoint, ns: str) -> None:
    apply(server, ns, service("web", "web"), *(pod(f"web-{i}", "web") for i in range(2)))
    ips = {p["status"]["podIP"] for p in running_pods(server, ns, 2).values()}
    eventually(lambda: len(slice_conditions(server, ns, "web")) == 2, "2 slice endpoints")
    described = kubectl(server, ns, "describe", "svc", "web")
    [line] = [line for line in described.splitlines() if line.startswith("Endpoints:")]
    assert set(line.split(None, 1)[1].split(",")) == {f"{ip}:8080" for ip in ips}, described


def test_named_target_port_resolves_per_pod(server: ServerEndpoint, ns: str) -> None:
    apply(
        server,
        ns,
        service("web", "web", target_port="web"),
        pod("a", "web", 8080),
        pod("b", "web", 9090),
        pod("c", "web", 8080),
    )
    found = running_pods(server, ns, 3)
    ip = {name: p["status"]["podIP"] for name, p in found.items()}

    def subsets() -> list[tuple[int, set[str]]] | None:
        ep = endpoints(server, ns, "web")
        got = sorted(
            (s["ports"][0]["port"], set(addresses({"subsets": [s]}).values())) for s in (ep or {}).get("subsets") or ()
        )
        return got if sum(len(names) for _, names in got) == 3 else None

    assert eventually(subsets, "3 addresses") == [(8080, {ip["a"], ip["c"]}), (9090, {ip["b"]})]
    by_port = eventually(
        lambda: (
            (s := slices(server, ns, "web"))
            and sum(len(x.get("endpoints") or ()) for x in s) == 3
            and {x["ports"][0]["port"]: {e["targetRef"]["name"] for e in x["endpoints"]} for x in s}
        ),
        "slices with 3 endpoints",
    )
    assert by_port == {8080: {"a", "c"}, 9090: {"b"}}


def test_publish_not_ready_addresses(server: ServerEndpoint, ns: str) -> None:
    apply(
        server,
        ns,
        service("plain", "web"),
        service("all", "web", publishNotReadyAddresses=True),
        pod("up", "web"),
        pod("down", "web", ready=False),
    )
    running_pods(server, ns, 2)
    eventually(lambda: set(addresses(endpoints(server, ns, "all"))) == {"up", "down"}, "both published")
    eventually(
        lambda: (
            set(addresses(endpoints(server, ns, "plain"))) == {"up"}
            and set(addresses(endpoints(server, ns, "plain"), "notReadyAddresses")) == {"down"}
        ),
        "down not ready",
    )
    assert "notReadyAddresses" not in endpoints(server, ns, "all")["subsets"][0]  # type: ignore[index]
    eventually(lambda: slice_conditions(server, ns, "all").get("down", {}).get("ready") is True, "ready in slice")


def test_selectorless_endpoints_are_left_alone_and_deleting_a_service_removes_its_own(
    server: ServerEndpoint, ns: str
) -> None:
    manual = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "192.0.2.50"}], "ports": [{"port": 5432, "protocol": "TCP"}]}],
    }
    external = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "external"},
        "spec": {"ports": [{"port": 5432}]},
    }
    apply(server, ns, manual, external, service("web", "web"), pod("web-0", "web"))
    running_pods(server, ns, 1)
    eventually(lambda: addresses(endpoints(server, ns, "web")), "web's address")
    assert endpoints(server, ns, "external")["subsets"] == manual["subsets"]  # type: ignore[index]
    assert slices(server, ns, "external") == []
    kubernetes = endpoints(server, "default", "kubernetes")
    assert kubernetes is not None and kubernetes["subsets"][0]["addresses"][0]["ip"]
    assert "targetRef" not in kubernetes["subsets"][0]["addresses"][0]

    kubectl(server, ns, "delete", "svc", "web")
    eventually(lambda: endpoints(server, ns, "web") is None, "web's Endpoints deleted")
    eventually(lambda: slices(server, ns, "web") == [], "web's slices collected")
    assert endpoints(server, ns, "external") is not None
    assert endpoints(server, "default", "kubernetes") == kubernetes


def test_service_without_ready_pods_has_empty_endpoints_and_a_placeholder_slice(
    server: ServerEndpoint, ns: str
) -> None:
    apply(server, ns, service("web", "nothing-matches"))
    ep = eventually(lambda: endpoints(server, ns, "web"), "web's Endpoints")
    assert not ep.get("subsets")
    assert kubectl(server, ns, "get", "ep", "web", "--no-headers").split()[1] == "<none>"
    [placeholder] = eventually(lambda: slices(server, ns, "web"), "a placeholder slice")
    assert not placeholder.get("endpoints") and not placeholder.get("ports")


def test_settled_objects_are_not_rewritten(server: ServerEndpoint, ns: str) -> None:
    """Nothing changes, so nothing is written: the stored forms compare equal to the computed ones
    (an unnamed port included), and pod status chatter wakes nothing."""
    unnamed = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(server, ns, unnamed, pod("web-0", "web"), pod("web-1", "web"))
    running_pods(server, ns, 2)
    eventually(lambda: len(addresses(endpoints(server, ns, "web"))) == 2, "2 addresses")
    eventually(lambda: len(slice_conditions(server, ns, "web")) == 2, "2 slice endpoints")

    def versions() -> list[str]:
        ep = endpoints(server, ns, "web")
        assert ep is not None
        return [
            ep["metadata"]["resourceVersion"],
            *sorted(s["metadata"]["resourceVersion"] for s in slices(server, ns, "web")),
        ]

    before = versions()
    kubectl(server, ns, "annotate", "pod", "web-0", "note=chatter")
    time.sleep(1.5)
    assert versions() == before
    assert len(before) == 2  # one Endpoints, one slice
