"""Ingress end to end: the real kubectl, ``pykube server`` with its embedded agent running busybox
httpd pods in Docker, and requests through the node's ingress controller (IngressClass ``pykube``)
on free high ports rather than 80/443, so that parallel test servers do not collide.

Two Deployments answer their version (v1, v2) behind Services ``web-v1`` and ``web-v2``; each test
puts its own Ingresses in front of them, on hosts of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_helpers import Obj, start_agent_server, wait_for
from aiohttp import web
from kubectl_helpers import Kubectl, header, row
from support import BUSYBOX_IMAGE, ensure_docker

from minikube_py.pki import self_signed_serving_cert
from minikube_py.testing import RunningServer, free_port, remove_node_containers

NODE = "pykube-e2e-ingress"
NAMESPACE = "ingress-e2e"
HTTP_PORT, HTTPS_PORT = free_port(), free_port()

#: httpd answering its version at / and under /v1/, /v2/ and /api/
VERSION_HTTPD = (
    "mkdir -p /www/v1 /www/v2 /www/api && for d in /www /www/v1 /www/v2 /www/api; do "
    "echo $VERSION > $d/index.html; done && exec httpd -f -p 8080 -h /www"
)


def _deployment(version: str) -> Obj:
    labels = {"app": "web", "version": version}
    container = {
        "name": "httpd",
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", VERSION_HTTPD],
        "env": [{"name": "VERSION", "value": version}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"web-{version}"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }


def _service(name: str, selector: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def _ingress(name: str, rules: list[Obj], annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"rules": rules, **spec},
    }


def _rule(host: str, *paths: tuple[str, str, str]) -> Obj:
    return {
        "host": host,
        "http": {
            "paths": [
                {"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": {"number": 80}}}}
                for path, path_type, service in paths
            ]
        },
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    ensure_docker()
    remove_node_containers(NODE)
    running = start_agent_server(
        tmp_path_factory.mktemp("ingress") / "data",
        NODE,
        "--proxy-mode",
        "none",
        "--ingress-http-port",
        str(HTTP_PORT),
        "--ingress-https-port",
        str(HTTPS_PORT),
        cluster_cidr="10.181.0.0/16",
    )
    yield running
    running.stop()
    remove_node_containers(NODE)


@pytest.fixture(scope="module")
def k(cluster: RunningServer) -> Iterator[Kubectl]:
    cluster.kubectl("create", "namespace", NAMESPACE)
    kubectl = Kubectl(cluster, NAMESPACE)
    kubectl.apply(
        _deployment("v1"),
        _deployment("v2"),
        _service("web-v1", {"app": "web", "version": "v1"}),
        _service("web-v2", {"app": "web", "version": "v2"}),
    )
    for version in ("v1", "v2"):
        wait_for(
            lambda v=version: _ready_endpoints(kubectl, f"web-{v}"), f"a ready endpoint of web-{version}", timeout=120
        )
    yield kubectl
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _ready_endpoints(k: Kubectl, service: str) -> bool:
    slices = json.loads(k.out("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}", "-o", "json"))
    return any((e.get("conditions") or {}).get("ready") for s in slices["items"] for e in s.get("endpoints") or ())


class Client:
    """One keep-alive connection to the ingress's HTTP port."""

    def __init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)

    def get(self, host: str, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str]:
        self.conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = self.conn.getresponse()
        return response.status, response.read().decode()

    def close(self) -> None:
        self.conn.close()


def get(host: str, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str]:
    client = Client()
    try:
        return client.get(host, path, headers)
    finally:
        client.close()


def _answers(host: str, path: str, body: str) -> bool | None:
    try:
        status, text = get(host, path)
    except OSError:
        return None
    return True if (status, text.strip()) == (200, body) else None


def test_routes_by_host_and_path_and_kubectl_shows_the_ingress(k: Kubectl) -> None:
    k.apply(
        _ingress(
            "by-host-path",
            [
                _rule("v1.example.com", ("/", "Prefix", "web-v1")),
                _rule("v2.example.com", ("/", "Prefix", "web-v2")),
                _rule(
                    "www.example.com",
                    ("/", "Prefix", "web-v1"),
                    ("/v2", "Prefix", "web-v2"),
                    ("/api", "Exact", "web-v2"),
                ),
            ],
        )
    )
    wait_for(lambda: _answers("v2.example.com", "/", "v2"), "v2.example.com through the ingress")
    assert get("v1.example.com") == (200, "v1\n")
    assert get("www.example.com", "/v2/") == (200, "v2\n")
    assert get("www.example.com", "/v1/") == (200, "v1\n")
    assert get("WWW.example.com:80", "/api/") == (200, "v1\n")  # Exact /api is not /api/: the Prefix / serves
    status, page = get("nowhere.example.com")
    assert status == 404 and "No Ingress rule matches nowhere.example.com/" in page
    # the DefaultIngressClass admission gave it the pykube class, and the nodes' address is its status
    assert k.out("get", "ingress", "by-host-path", "-o", "jsonpath={.spec.ingressClassName}") == "pykube"
    wait_for(
        lambda: (
            k.out("get", "ingress", "by-host-path", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
            == "127.0.0.1"
            or None
        ),
        "the node's address in the Ingress status",
    )
    out = k.out("get", "ingress")
    assert header(out) == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert row(out, "by-host-path")[1:5] == [
        "pykube",
        "v1.example.com,v2.example.com,www.example.com",
        "127.0.0.1",
        "80",
    ]
    classes = k.out("get", "ingressclass")
    assert row(classes, "pykube")[1:3] == ["pykube.io/ingress", "<none>"]
    described = k.out("describe", "ingress", "by-host-path")
    assert "Ingress Class:    pykube" in described and "web-v2:80" in described


def test_kubectl_create_ingress_routes_too(k: Kubectl) -> None:
    k.run(
        "create",
        "ingress",
        "made-by-kubectl",
        "--rule=made.example.com/*=web-v1:80",
        "--rule=made.example.com/exact=web-v2:80",
    )
    wait_for(lambda: _answers("made.example.com", "/", "v1"), "made.example.com through the ingress")
    status, page = get("made.example.com", "/exact")  # routed to v2's httpd, which has no such file
    assert status == 404 and "No Ingress rule" not in page
    assert get("made.example.com", "/v2/") == (200, "v1\n")


def test_an_invalid_ingress_is_refused_as_kubernetes_does(k: Kubectl) -> None:
    bad = _ingress("bad", [_rule("bad.example.com", ("/", "Prefix", "web-v1"))])
    del bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"]
    failed = k.fails("apply", "-f", "-", input=json.dumps(bad))
    assert (
        'The Ingress "bad" is invalid: spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified'
    ) in failed.stderr
    assert not k.exists("ingress", "bad")


def test_tls_with_sni_serves_the_secrets_certificate(k: Kubectl, tmp_path: Path) -> None:
    cert, key = self_signed_serving_cert("secure.example.com", ["secure.example.com"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    k.run(
        "create",
        "secret",
        "tls",
        "secure-cert",
        "--cert",
        str(tmp_path / "tls.crt"),
        "--key",
        str(tmp_path / "tls.key"),
    )
    k.apply(
        _ingress(
            "secure",
            [_rule("secure.example.com", ("/", "Prefix", "web-v2"))],
            tls=[{"hosts": ["secure.example.com"], "secretName": "secure-cert"}],
        )
    )

    def fetch() -> tuple[int, str] | None:
        conn = http.client.HTTPSConnection("127.0.0.1", HTTPS_PORT, timeout=10, context=_sni(cert))
        try:
            conn.request("GET", "/", headers={"Host": "secure.example.com"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        except (OSError, ssl.SSLError):
            return None
        finally:
            conn.close()

    assert wait_for(fetch, "HTTPS with the secret's certificate for secure.example.com") == (200, "v2\n")
    # another name gets the controller's own certificate, which the secret's does not vouch for
    other = http.client.HTTPSConnection("127.0.0.1", HTTPS_PORT, timeout=10, context=_sni(cert, "other.example.com"))
    with pytest.raises(ssl.SSLCertVerificationError):
        other.request("GET", "/")
    other.close()
    assert "80, 443" in " ".join(row(k.out("get", "ingress", "secure"), "secure"))


def _sni(trusted: bytes, name: str = "secure.example.com") -> ssl.SSLContext:
    """A context trusting only the ``trusted`` certificate that sends ``name`` as SNI and checks the
    certificate against it (the connection itself goes to 127.0.0.1)."""
    context = ssl.create_default_context(cadata=trusted.decode())
    wrap = context.wrap_socket

    def wrap_socket(sock: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["server_hostname"] = name
        return wrap(sock, *args, **kwargs)

    context.wrap_socket = wrap_socket  # type: ignore[method-assign]
    return context


def _canary(host: str, **annotations: str) -> list[Obj]:
    marked = {
        "nginx.ingress.kubernetes.io/canary": "true",
        **{f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
    }
    return [
        _ingress(f"{host.split('.')[0]}-main", [_rule(host, ("/", "Prefix", "web-v1"))]),
        _ingress(f"{host.split('.')[0]}-canary", [_rule(host, ("/", "Prefix", "web-v2"))], marked),
    ]


def _canary_active(host: str, headers: dict[str, str]) -> bool | None:
    try:
        return True if get(host, headers=headers) == (200, "v2\n") else None
    except OSError:
        return None


def test_canary_weight_sends_about_a_fifth_to_v2(k: Kubectl) -> None:
    k.apply(*_canary("weighted.example.com", canary_weight="20"))
    wait_for(lambda: _canary_active("weighted.example.com", {}), "the canary to take some requests")
    client = Client()
    try:
        answers = [client.get("weighted.example.com") for _ in range(1000)]
    finally:
        client.close()
    assert {status for status, _ in answers} == {200}
    to_v2 = sum(body == "v2\n" for _, body in answers)
    assert to_v2 + sum(body == "v1\n" for _, body in answers) == 1000
    # binomial(1000, 0.2): mean 200, standard deviation 12.6; five deviations either side
    assert 137 <= to_v2 <= 263, to_v2


def test_canary_by_header_always_sends_every_such_request_to_v2(k: Kubectl) -> None:
    k.apply(*_canary("header.example.com", canary_by_header="X-Canary"))
    wait_for(lambda: _canary_active("header.example.com", {"X-Canary": "always"}), "the canary by header")
    client = Client()
    try:
        assert {client.get("header.example.com", headers={"X-Canary": "always"}) for _ in range(100)} == {(200, "v2\n")}
        assert {client.get("header.example.com", headers={"X-Canary": "never"}) for _ in range(50)} == {(200, "v1\n")}
        assert {client.get("header.example.com") for _ in range(50)} == {(200, "v1\n")}
    finally:
        client.close()


def test_an_ingress_change_takes_effect_under_load_with_no_failed_request(k: Kubectl) -> None:
    k.apply(_ingress("switch", [_rule("switch.example.com", ("/", "Prefix", "web-v1"))]))
    wait_for(lambda: _answers("switch.example.com", "/", "v1"), "switch.example.com on v1")
    seen: list[tuple[int, str] | str] = []
    stop = threading.Event()

    def load() -> None:
        client = Client()
        try:
            while not stop.is_set():
                try:
                    seen.append(client.get("switch.example.com"))
                except OSError as e:
                    seen.append(repr(e))
                    client.close()
                    client = Client()
        finally:
            client.close()

    loader = threading.Thread(target=load)
    loader.start()
    try:
        wait_for(lambda: len(seen) > 20 or None, "the load loop to run")
        k.apply(_ingress("switch", [_rule("switch.example.com", ("/", "Prefix", "web-v2"))]))
        wait_for(lambda: seen[-1] == (200, "v2\n") or None, "the change to reach the ingress")
        settled = len(seen)
        wait_for(lambda: len(seen) > settled + 20 or None, "more requests after the change")
    finally:
        stop.set()
        loader.join()
    failed = [answer for answer in seen if answer not in ((200, "v1\n"), (200, "v2\n"))]
    assert not failed, failed[:5]
    first_v2 = seen.index((200, "v2\n"))
    assert set(seen[first_v2:]) == {(200, "v2\n")}  # once switched, never back


def test_502_page_when_no_endpoint_accepts_the_connection(k: Kubectl) -> None:
    k.apply(
        *_on_this_host(k, "refusing", free_port()),
        _ingress("refusing", [_rule("refusing.example.com", ("/", "Prefix", "refusing"))]),
    )

    def bad_gateway() -> str | None:
        status, page = get("refusing.example.com")
        return page if status == 502 else None

    page = wait_for(bad_gateway, "502 from the ingress")
    assert f"No endpoint of Service {NAMESPACE}/refusing answered" in page and "Connection refused" in page


def test_503_page_when_no_endpoint_is_ready(k: Kubectl) -> None:
    k.apply(
        _service("nobody", {"app": "nobody"}),
        _ingress("empty", [_rule("empty.example.com", ("/", "Prefix", "nobody"))]),
    )

    def unavailable() -> str | None:
        status, page = get("empty.example.com")
        return page if status == 503 else None

    page = wait_for(unavailable, "503 from the ingress")
    assert f"Service {NAMESPACE}/nobody (port 80) has no ready endpoint" in page


class HostBackend:
    """An aiohttp server on this host standing in for a pod (busybox has no WebSocket or echo
    server): a Service without selector whose EndpointSlice points at the node's pod-network gateway,
    which is this host's address on the pods' bridge."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/headers", self._headers)
        app.router.add_post("/upload", self._upload)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/ws", self._websocket)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "0.0.0.0", self.port).start()

    async def _headers(self, request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    async def _upload(self, request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
        return web.json_response({"size": size, "sha256": digest.hexdigest()})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Ten lines, a tenth of a second apart, chunked: a client sees the first before the last is sent."""
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(10):
            await response.write(f"line {i}\n".encode())
            await asyncio.sleep(0.1)
        await response.write_eof()
        return response

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo: {message.data}")
            elif message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    def __enter__(self) -> HostBackend:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _on_this_host(k: Kubectl, name: str, port: int) -> list[Obj]:
    """A Service without selector whose one endpoint is this host's address on the node's pod
    bridge (the pod CIDR's gateway) at ``port``."""
    node = json.loads(k.out("get", "node", NODE, "-o", "json"))
    gateway = str(next(ipaddress.ip_network(node["spec"]["podCIDR"]).hosts()))
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [gateway], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        },
    ]


@pytest.fixture(scope="module")
def host_backend(k: Kubectl) -> Iterator[HostBackend]:
    with HostBackend() as backend:
        k.apply(
            *_on_this_host(k, "host-backend", backend.port),
            _ingress("host-backend", [_rule("host.example.com", ("/", "Prefix", "host-backend"))]),
        )
        wait_for(lambda: get("host.example.com", "/headers")[0] == 200 or None, "the host backend through the ingress")
        yield backend


def test_forwarded_headers_tell_the_pod_who_asked(host_backend: HostBackend) -> None:
    status, body = get("host.example.com:8000", "/headers", {"X-Forwarded-For": "203.0.113.7"})
    assert status == 200
    seen = json.loads(body)
    assert seen["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert (seen["X-Forwarded-Proto"], seen["X-Forwarded-Host"], seen["X-Forwarded-Port"]) == (
        "http",
        "host.example.com:8000",
        str(HTTP_PORT),
    )
    assert seen["Host"] == "host.example.com:8000"


def test_bodies_stream_both_ways(host_backend: HostBackend) -> None:
    payload = os.urandom(3 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=30)
    try:
        conn.request("POST", "/upload", body=chunks(), headers={"Host": "host.example.com"}, encode_chunked=True)
        answer = json.loads(conn.getresponse().read())
        assert answer == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        conn.request("GET", "/stream", headers={"Host": "host.example.com"})
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        first = response.readline()
        assert first == b"line 0\n"
        assert response.read().decode().splitlines() == [f"line {i}" for i in range(1, 10)]
    finally:
        conn.close()


def test_expect_100_continue_is_answered_by_the_ingress(host_backend: HostBackend) -> None:
    body = b"x" * 1000
    with socket.create_connection(("127.0.0.1", HTTP_PORT), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: host.example.com\r\nExpect: 100-continue\r\n"
            b"Content-Length: 1000\r\nConnection: close\r\n\r\n"
        )
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["size"] == 1000


def test_websocket_upgrade_passes_through(host_backend: HostBackend) -> None:
    async def talk() -> tuple[str, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{HTTP_PORT}/ws", headers={"Host": "host.example.com"}) as ws,
        ):
            await ws.send_str("hello")
            text = await ws.receive_str(timeout=10)
            await ws.send_bytes(b"abc")
            data = await ws.receive_bytes(timeout=10)
            return text, data

    assert asyncio.run(talk()) == ("echo: hello", b"cba")
