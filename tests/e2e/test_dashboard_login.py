"""The dashboard's login over HTTPS against a real ``pykube server``: `pykube dashboard` mints a code with the
kubeconfig's credentials, the page's URL trades it for a session cookie once, and the cookie authenticates
the API as that user, writes only with the session's CSRF header and only from the server's own origin."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from minikube_py.api.sessions import COOKIE, CSRF_HEADER
from minikube_py.testing import RunningServer

LOGIN_CODES = "/dashboard/api/login-codes"


def raw(
    server: RunningServer, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request as a browser sends it: no redirect followed, no Authorization unless given."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=server.ssl_context(), timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(
            method,
            path,
            body=data,
            headers={**({"Content-Type": "application/json"} if data else {}), **(headers or {})},
        )
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def dashboard_cli(
    server: RunningServer, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "dashboard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def printed_path(server: RunningServer, done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(server.url + "/dashboard/?code="), url
    return url[len(server.url) :]


def log_in(server: RunningServer) -> tuple[str, dict[str, str]]:
    """A fresh session: its cookie header, and the headers a write from the page carries."""
    path = printed_path(server, dashboard_cli(server, "--kubeconfig", str(server.kubeconfig)))
    status, headers, _ = raw(server, "GET", path)
    assert status == 303 and headers["Location"] == "/dashboard/"
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, _, body = raw(server, "GET", "/dashboard/api/session", {"Cookie": cookie})
    assert status == 200
    csrf = json.loads(body)["csrfToken"]
    return cookie, {"Cookie": cookie, CSRF_HEADER: csrf}


def test_the_printed_url_logs_in_once_with_a_strict_cookie(server: RunningServer) -> None:
    path = printed_path(server, dashboard_cli(server, "--kubeconfig", str(server.kubeconfig)))
    status, headers, _ = raw(server, "GET", path)
    assert status == 303 and headers["Location"] == "/dashboard/"
    cookie = headers["Set-Cookie"]
    attributes = {a.strip().split("=", 1)[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/" in cookie
    assert int(cookie.split("Max-Age=", 1)[1].split(";")[0]) == 12 * 3600

    status, headers, body = raw(server, "GET", path)
    assert status == 401 and "Set-Cookie" not in headers, "a used code opens no second session"
    assert b"pykube dashboard" in body
    status, headers, _ = raw(server, "GET", "/dashboard/?code=made-up")
    assert status == 401 and "Set-Cookie" not in headers


def test_the_session_acts_as_the_user_who_minted_the_code(server: RunningServer, namespace: str) -> None:
    cookie, write_headers = log_in(server)
    status, _, body = raw(server, "GET", "/dashboard/api/session", {"Cookie": cookie})
    assert status == 200 and json.loads(body)["user"] == "admin"
    status, _, body = raw(server, "GET", f"/api/v1/namespaces/{namespace}/configmaps", {"Cookie": cookie})
    assert status == 200 and json.loads(body)["kind"] == "ConfigMapList"

    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "from-the-page"}, "data": {"a": "1"}}
    status, _, _ = raw(server, "POST", f"/api/v1/namespaces/{namespace}/configmaps", write_headers, cm)
    assert status == 201
    assert (
        server.kubectl("get", "configmap", "from-the-page", "-n", namespace, "-o", "jsonpath={.data.a}").stdout == "1"
    )


def test_a_cross_site_write_with_the_cookie_alone_is_refused(server: RunningServer, namespace: str) -> None:
    cookie, write_headers = log_in(server)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "forged"}}
    # what a form on another site makes the browser send: the cookie, no custom header
    status, _, body = raw(server, "POST", f"/api/v1/namespaces/{namespace}/configmaps", {"Cookie": cookie}, cm)
    assert status == 403 and json.loads(body)["reason"] == "Forbidden"
    status, _, _ = raw(server, "DELETE", f"/api/v1/namespaces/{namespace}", {"Cookie": cookie})
    assert status == 403
    # a script of another origin that guessed the header is refused by its Origin
    status, _, _ = raw(
        server,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {**write_headers, "Origin": "https://evil.example"},
        cm,
    )
    assert status == 403
    # only the root CA every namespace gets, nothing the forged requests made
    assert server.kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout.split() == [
        "configmap/kube-root-ca.crt"
    ]
    assert server.kubectl("get", "namespace", namespace, "-o", "jsonpath={.status.phase}").stdout == "Active"


def test_logging_out_ends_the_session(server: RunningServer) -> None:
    cookie, write_headers = log_in(server)
    status, _, _ = raw(server, "POST", "/dashboard/api/logout", {"Cookie": cookie})
    assert status == 403, "logging out is a write: it needs the CSRF header"
    status, headers, _ = raw(server, "POST", "/dashboard/api/logout", write_headers)
    assert status == 200 and f"{COOKIE}=" in headers["Set-Cookie"]
    status, _, _ = raw(server, "GET", "/api/v1/namespaces", {"Cookie": cookie})
    assert status == 401


def test_login_codes_need_the_kubeconfig_credentials(server: RunningServer) -> None:
    status, _, _ = raw(server, "POST", LOGIN_CODES)
    assert status == 401
    node_secret = (server.data_dir / "node-secret").read_text().strip()  # the bearer part of the join token
    status, _, _ = raw(server, "POST", LOGIN_CODES, {"Authorization": f"Bearer {node_secret}"})
    assert status == 403, "the join token is no user"
    _, write_headers = log_in(server)
    status, _, body = raw(server, "POST", LOGIN_CODES, write_headers)
    assert status == 403 and b"cannot mint" in body, "a session cannot extend itself"


def test_the_cli_finds_the_local_servers_kubeconfig_last(server: RunningServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "KUBECONFIG": ""}
    done = dashboard_cli(server, "--data-dir", str(server.data_dir), env=env)
    status, _, _ = raw(server, "GET", printed_path(server, done))
    assert status == 303

    env["KUBECONFIG"] = str(tmp_path / "missing.yaml")
    done = dashboard_cli(server, "--data-dir", str(server.data_dir), env=env)
    assert done.returncode != 0 and "no kubeconfig found" in done.stderr


def test_the_page_and_its_assets_are_served_from_the_package(server: RunningServer) -> None:
    status, headers, body = raw(server, "GET", "/dashboard/")
    assert status == 200 and b'await import("/dashboard/static/app.js")' in body
    # no inline script runs but the page's own loader, allowed by its hash
    loader = re.search(rb'<script type="module">(.*?)</script>', body, re.DOTALL)
    assert loader is not None and body.count(b"<script") == 1
    digest = base64.b64encode(hashlib.sha256(loader[1]).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in headers["Content-Security-Policy"]
    status, headers, _ = raw(server, "GET", "/dashboard")
    assert status == 302 and headers["Location"] == "/dashboard/"
    for asset, kind in (
        ("app.js", "text/javascript"),
        ("vendor/xterm.mjs", "text/javascript"),
        ("style.css", "text/css"),
        ("vendor/xterm.LICENSE", "application/octet-stream"),
    ):
        status, headers, body = raw(server, "GET", f"/dashboard/static/{asset}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body, asset
    status, headers, _ = raw(server, "GET", "/dashboard/static/app.js")
    etag = headers["ETag"]
    status, headers, body = raw(server, "GET", "/dashboard/static/app.js", {"If-None-Match": etag})
    assert status == 304 and not body and headers["ETag"] == etag, "a reload revalidates without the body"
    status, _, body = raw(server, "GET", "/dashboard/static/app.js", {"If-None-Match": '"stale"'})
    assert status == 200 and body
    _, _, page = raw(server, "GET", "/dashboard/")
    preloaded = re.findall(r'rel="modulepreload" href="([^"]+)"', page.decode())
    assert preloaded, "the first pages' modules are preloaded"
    for path in preloaded:
        assert raw(server, "GET", path)[0] == 200, path
    for missing in ("nothing.js", "../__init__.py", "%2e%2e/__init__.py"):
        status, _, _ = raw(server, "GET", f"/dashboard/static/{missing}")
        assert status == 404, missing
    status, _, _ = raw(server, "GET", "/dashboard/api/session")
    assert status == 401


def test_open_hands_the_url_to_the_users_browser(server: RunningServer, tmp_path: Path) -> None:
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf %s "$1" > {opened}\n')
    browser.chmod(0o755)
    done = dashboard_cli(server, "--kubeconfig", str(server.kubeconfig), "--open", env={"BROWSER": str(browser)})
    path = printed_path(server, done)
    assert opened.read_text() == server.url + path
