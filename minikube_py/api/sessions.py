"""Dashboard logins: one-time login codes and the browser sessions they open.

A browser cannot present the bearer token or client certificate of a kubeconfig, so ``pykube dashboard``
asks the server (with those credentials) for a login code: random, usable once, valid for two minutes.
The dashboard page trades it for a session cookie that authenticates the browser as the very user who
minted the code: the session keeps that very ``User`` (name, groups, everything authentication found
then), as minikube's and Jupyter's token URLs do.

A cookie rides along on every request the browser makes to this origin, also those another site
triggers, so a session authenticates a request only when it also proves it comes from the dashboard's
own page: mutating verbs must carry ``X-Pykube-Csrf`` with the session's CSRF value (which only a
page of this origin can read, from ``/dashboard/api/session``; a cross-site form cannot set a header),
and a request that says where it comes from (``Origin``, always sent on WebSocket upgrades and
cross-site requests) must come from this origin. The cookie itself is HttpOnly, Secure and
SameSite=Strict.

Codes and sessions live in this process's memory only and are keyed by a hash of their value, so a
lookup never compares secrets byte by byte; none of these values is ever logged. A server restart
logs every browser out, which is the safe direction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from minikube_py.api.auth import User
from minikube_py.model import errors

CODE_TTL = 120.0
SESSION_TTL = 12 * 3600.0
COOKIE = "pykube-dashboard"
CSRF_HEADER = "X-Pykube-Csrf"
#: requests a session may make without the CSRF header: they read and change nothing
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: outstanding codes and sessions kept at most: minting more first drops the oldest, so a client that
#: mints in a loop costs bounded memory
MAX_ENTRIES = 1000


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires: float


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class DashboardSessions:
    """The codes minted and the sessions opened since this server started. ``clock`` is seconds on a
    monotonic scale (tests move it forward)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._codes: dict[str, tuple[User, float]] = {}
        self._sessions: dict[str, Session] = {}

    def mint_code(self, user: User) -> tuple[str, float]:
        """A new one-time code for ``user`` and its lifetime in seconds."""
        self._drop_expired()
        code = secrets.token_urlsafe(24)
        _bounded_put(self._codes, _key(code), (user, self._clock() + CODE_TTL))
        return code, CODE_TTL

    def redeem(self, code: str) -> tuple[str, Session] | None:
        """Trade a code for a new session (its cookie value and the session); None for a code that is
        unknown, already used or expired. A code is gone after its first use, whatever the outcome."""
        entry = self._codes.pop(_key(code), None)
        if entry is None or entry[1] <= self._clock():
            return None
        self._drop_expired()
        session_id = secrets.token_urlsafe(32)
        session = Session(entry[0], secrets.token_urlsafe(24), self._clock() + SESSION_TTL)
        _bounded_put(self._sessions, _key(session_id), session)
        return session_id, session

    def lookup(self, session_id: str) -> Session | None:
        session = self._sessions.get(_key(session_id))
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._sessions[_key(session_id)]
            return None
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(_key(session_id), None)

    def remaining(self, session: Session) -> float:
        return max(0.0, session.expires - self._clock())

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (_, expires) in self._codes.items() if expires <= now]:
            del self._codes[key]
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]


def _bounded_put(table: dict[str, object], key: str, value: object) -> None:
    while len(table) >= MAX_ENTRIES:
        del table[next(iter(table))]  # dicts keep insertion order: the oldest goes
    table[key] = value


def session_user(
    sessions: DashboardSessions, cookies: Mapping[str, str], headers: Mapping[str, str], method: str, own_origin: str
) -> tuple[User, Session] | None:
    """The user a request authenticates as through its dashboard cookie, None without a live session.
    A live session whose request fails the CSRF guard is refused with 403, not treated as anonymous:
    the browser should learn why, and nothing else can authenticate that request anyway."""
    session_id = cookies.get(COOKIE)
    if not session_id:
        return None
    session = sessions.lookup(session_id)
    if session is None:
        return None
    origin = headers.get("Origin")
    upgrade = headers.get("Upgrade", "").lower() == "websocket"
    if (origin is not None or upgrade) and origin != own_origin:
        raise errors.StatusError(
            403, "Forbidden", f"the dashboard session is not valid for requests from {origin or 'an unknown origin'}"
        )
    if method not in SAFE_METHODS:
        presented = headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(presented.encode(), session.csrf.encode()):
            raise errors.StatusError(
                403, "Forbidden", f"a dashboard session needs the {CSRF_HEADER} header for {method} requests"
            )
    return session.user, session
