"""A small extension API server for the aggregation tests, after Kubernetes' sample-apiserver: it
serves ``wardle.example.com/v1alpha1`` (namespaced ``flunders``, in memory), and whatever fixed
answers a test puts in :attr:`ExtensionServer.routes` (a metrics adapter's), over HTTPS and
authenticates callers as an extension server built on k8s.io/apiserver does with the API server's
``extension-apiserver-authentication`` ConfigMap: only a client certificate of the front-proxy CA
named in ``requestheader-allowed-names`` may assert a user in the ``X-Remote-*`` headers."""

from __future__ import annotations

import json
import re
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from minikube_py import pki

Obj = dict[str, Any]
GROUP, VERSION = "wardle.example.com", "v1alpha1"
BASE = f"/apis/{GROUP}/{VERSION}"
_OBJECTS = re.compile(rf"^{re.escape(BASE)}/namespaces/([^/]+)/flunders(?:/([^/?]+))?$")

RESOURCES: Obj = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {
            "name": "flunders",
            "singularName": "flunder",
            "namespaced": True,
            "kind": "Flunder",
            "verbs": ["create", "delete", "get", "list"],
            "shortNames": ["fl"],
        }
    ],
}


class ExtensionServer:
    """Serves on 127.0.0.1 with a serving certificate for ``<service>.<namespace>.svc``; every
    request it authenticated is kept in :attr:`seen` (path, user, groups) and its query in
    :attr:`queries`; a GET of a path in :attr:`routes` is answered with that JSON."""

    def __init__(self, tmp: Path, authentication: dict[str, str], service_name: str) -> None:
        cert, key = pki.self_signed_serving_cert("wardle", [service_name])
        (tmp / "wardle.crt").write_bytes(cert)
        (tmp / "wardle.key").write_bytes(key)
        self.ca_pem = cert
        self.allowed = json.loads(authentication["requestheader-allowed-names"])
        self.seen: list[tuple[str, str, list[str]]] = []
        self.queries: dict[str, list[dict[str, list[str]]]] = {}
        self.routes: dict[str, Obj] = {}
        self.flunders: dict[tuple[str, str], Obj] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.handle(self)

            def do_POST(self) -> None:
                owner.handle(self)

            def do_DELETE(self) -> None:
                owner.handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp / "wardle.crt", tmp / "wardle.key")
        context.load_verify_locations(cadata=authentication["requestheader-client-ca-file"])
        context.verify_mode = ssl.CERT_OPTIONAL
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        peer = request.connection.getpeercert()  # type: ignore[attr-defined]
        names = [value for rdn in (peer or {}).get("subject", ()) for key, value in rdn if key == "commonName"]
        user = request.headers.get("X-Remote-User")
        if not names or names[0] not in self.allowed or not user:
            return self._answer(request, 401, _status(401, "Unauthorized", "Unauthorized"))
        groups = request.headers.get_all("X-Remote-Group") or []
        path, _, query = request.path.partition("?")
        with self.lock:
            self.seen.append((path, user, groups))
            self.queries.setdefault(path, []).append(urllib.parse.parse_qs(query))
            routed = self.routes.get(path)
        if routed is not None and request.command == "GET":
            return self._answer(request, 200, routed)
        if path == BASE:
            return self._answer(request, 200, RESOURCES)
        found = _OBJECTS.match(path)
        if found is None:
            return self._answer(
                request, 404, _status(404, "NotFound", "the server could not find the requested resource")
            )
        namespace, name = found.groups()
        with self.lock:
            self._serve(request, namespace, name, user)

    def _serve(self, request: BaseHTTPRequestHandler, namespace: str, name: str | None, user: str) -> None:
        if request.command == "POST":
            obj = json.loads(request.rfile.read(int(request.headers["Content-Length"])))
            obj["metadata"] = {**obj["metadata"], "namespace": namespace, "annotations": {"wardle/creator": user}}
            obj["metadata"].setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self.flunders[(namespace, obj["metadata"]["name"])] = obj
            return self._answer(request, 201, obj)
        if name is None:
            items = [o for (ns, _), o in sorted(self.flunders.items()) if ns == namespace]
            return self._answer(
                request,
                200,
                {"kind": "FlunderList", "apiVersion": f"{GROUP}/{VERSION}", "metadata": {}, "items": items},
            )
        obj = self.flunders.get((namespace, name))
        if obj is None:
            return self._answer(request, 404, _status(404, "NotFound", f'flunders.{GROUP} "{name}" not found'))
        if request.command == "DELETE":
            del self.flunders[(namespace, name)]
        return self._answer(request, 200, obj)

    def _answer(self, request: BaseHTTPRequestHandler, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
