"""The built-in web dashboard: its pages and assets, served from the package at ``/dashboard/``.

The page is plain JavaScript modules and CSS under ``static/`` (no build step, no CDN: nodes may have no
internet), with xterm.js and js-yaml vendored at pinned versions (``scripts/vendor-dashboard.sh``). The
page talks only to the Kubernetes API of this same origin, authenticated by the session cookie that
``/dashboard/?code=...`` hands out (see :mod:`minikube_py.api.sessions`), so what the page may do is what
the user who ran ``pykube dashboard`` may do.

Routes (all but the login-code one are reached by the browser):

- ``GET /dashboard/`` the page; with ``?code=`` it first trades the code for the cookie and redirects
  to the bare URL, so the code leaves the address bar and the history;
- ``GET /dashboard/static/...`` the assets (public: they hold no data);
- ``POST /dashboard/api/login-codes`` a new login code, for bearer-token or certificate users only
  (a session cannot extend itself by minting codes);
- ``GET /dashboard/api/session`` who the session is, its CSRF value and how long it has left;
- ``POST /dashboard/api/logout`` ends the session and clears the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from minikube_py.api.auth import NODE_BOOTSTRAP, USER
from minikube_py.api.handlers import json_response
from minikube_py.api.sessions import COOKIE, CSRF_HEADER, DashboardSessions, Session
from minikube_py.model import errors

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/dashboard"
LOGIN_CODES_PATH = PREFIX + "/api/login-codes"

#: a request's dashboard session, when the cookie authenticated it
SESSION = web.RequestKey("session", Session)

#: the page's one inline script: the loader of its entry module (see index.html)
_INLINE_SCRIPT = re.compile(r"<script type=\"module\">(.*?)</script>", re.DOTALL)


def _content_security_policy(page: str) -> str:
    """The page runs only what this origin serves and its own inline loader (allowed by its hash, so no
    other inline script runs); no framing by other sites."""
    loader = _INLINE_SCRIPT.search(page)
    allowed = f" 'sha256-{base64.b64encode(hashlib.sha256(loader[1].encode()).digest()).decode()}'" if loader else ""
    return (
        f"default-src 'self'; script-src 'self'{allowed}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


_PAGE = (STATIC / "index.html").read_text()
_PAGE_HEADERS = {
    "Content-Security-Policy": _content_security_policy(_PAGE),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_public(path: str) -> bool:
    """The page and its assets need no credentials (the login itself happens on the page's URL)."""
    return path in (PREFIX, PREFIX + "/") or path.startswith(PREFIX + "/static/")


def is_own_api(path: str) -> bool:
    """The dashboard's own API (login codes, session, logout): about the caller alone, so any
    authenticated user may call it without an RBAC rule for it."""
    return path.startswith(PREFIX + "/api/")


def add_routes(app: web.Application, sessions: DashboardSessions) -> None:
    async def page(request: web.Request) -> web.StreamResponse:
        if request.path == PREFIX:
            raise web.HTTPFound(PREFIX + "/")
        code = request.query.get("code")
        if code is None:
            return web.Response(text=_PAGE, content_type="text/html", headers=_PAGE_HEADERS)
        redeemed = sessions.redeem(code)
        if redeemed is None:
            return web.Response(
                status=401,
                text="This login code is unknown, used or expired: run `pykube dashboard` again for a new URL.\n",
                headers=_PAGE_HEADERS,
            )
        session_id, session = redeemed
        response = web.Response(status=303, headers={**_PAGE_HEADERS, "Location": PREFIX + "/"})
        response.set_cookie(
            COOKIE,
            session_id,
            path="/",
            max_age=round(sessions.remaining(session)),
            httponly=True,
            secure=True,
            samesite="Strict",
        )
        return response

    assets = _Assets()

    async def static(request: web.Request) -> web.StreamResponse:
        relative = request.match_info["path"]
        target = (STATIC / relative).resolve()
        if not target.is_relative_to(STATIC) or not target.is_file() or target.name == "index.html":
            raise errors.unknown_resource(request.path)
        asset = assets.get(target)
        # assets change only with the package; revalidation by ETag keeps a reload cheap and current
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if asset.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.kind, headers=headers)

    async def login_code(request: web.Request) -> web.Response:
        if request.get(SESSION) is not None:
            raise errors.StatusError(403, "Forbidden", "a dashboard session cannot mint login codes")
        user = request[USER]
        if user.node or user == NODE_BOOTSTRAP:  # machine credentials, no person to log in
            raise errors.StatusError(403, "Forbidden", f'User "{user.name}" cannot mint dashboard login codes')
        code, ttl = sessions.mint_code(user)
        return json_response({"code": code, "expiresInSeconds": int(ttl), "path": PREFIX + "/?code=" + code}, 201)

    async def whoami(request: web.Request) -> web.Response:
        session = _session_of(request)
        user = request[USER]
        return json_response(
            {
                "user": user.name,
                "csrfHeader": CSRF_HEADER,
                "csrfToken": session.csrf,
                "expiresInSeconds": int(sessions.remaining(session)),
            }
        )

    async def logout(request: web.Request) -> web.Response:
        _session_of(request)
        sessions.end(request.cookies[COOKIE])
        response = json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
        return response

    r = app.router
    r.add_get(PREFIX, page)
    r.add_get(PREFIX + "/", page)
    r.add_get(PREFIX + "/static/{path:.+}", static)
    r.add_post(LOGIN_CODES_PATH, login_code)
    r.add_get(PREFIX + "/api/session", whoami)
    r.add_post(PREFIX + "/api/logout", logout)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    kind: str
    etag: str
    stamp: tuple[int, int]  # the file's mtime and size when read


class _Assets:
    """The static files, kept in memory with their ETag: a page load asks for a dozen modules at once,
    and answering them from memory spares a thread-pool file read each (the first page's time is
    mostly such requests). A file that changed on disk (a developer's edit) is read again."""

    def __init__(self) -> None:
        self._cache: dict[Path, _Asset] = {}

    def get(self, path: Path) -> _Asset:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        asset = self._cache.get(path)
        if asset is None or asset.stamp != stamp:
            body = path.read_bytes()
            kind = (
                "text/javascript"
                if path.suffix == ".mjs"
                else (mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            )
            asset = _Asset(body, kind, f'"{hashlib.sha256(body).hexdigest()[:32]}"', stamp)
            self._cache[path] = asset
        return asset


def _session_of(request: web.Request) -> Session:
    session = request.get(SESSION)
    if session is None:
        raise errors.StatusError(401, "Unauthorized", "no dashboard session: open the URL `pykube dashboard` prints")
    return session
