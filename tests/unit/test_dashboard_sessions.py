"""Dashboard login codes and sessions: one use, expiry on a moved clock, and the CSRF and Origin guard."""

from __future__ import annotations

import pytest

from minikube_py.api.auth import ADMIN, User
from minikube_py.api.sessions import (
    CODE_TTL,
    COOKIE,
    CSRF_HEADER,
    MAX_ENTRIES,
    SESSION_TTL,
    DashboardSessions,
    session_user,
)
from minikube_py.model.errors import StatusError

ORIGIN = "https://127.0.0.1:6443"
ALICE = User("alice", admin=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clock: Clock) -> DashboardSessions:
    return DashboardSessions(clock)


def test_a_code_opens_one_session_as_the_user_who_minted_it(sessions: DashboardSessions) -> None:
    code, ttl = sessions.mint_code(ALICE)
    assert ttl == CODE_TTL
    session_id, session = sessions.redeem(code) or pytest.fail("the fresh code was refused")
    assert session.user is ALICE, "the session acts as the very user authenticated when the code was minted"
    assert sessions.lookup(session_id) == session
    assert sessions.redeem(code) is None, "a code works once"


def test_codes_and_sessions_expire(sessions: DashboardSessions, clock: Clock) -> None:
    code, _ = sessions.mint_code(ADMIN)
    clock.now += CODE_TTL + 1
    assert sessions.redeem(code) is None

    session_id, _ = sessions.redeem(sessions.mint_code(ADMIN)[0]) or pytest.fail("refused")
    clock.now += SESSION_TTL - 1
    assert sessions.lookup(session_id) is not None
    clock.now += 2
    assert sessions.lookup(session_id) is None


def test_unknown_values_and_ended_sessions_authenticate_nothing(sessions: DashboardSessions) -> None:
    assert sessions.redeem("not-a-code") is None
    session_id, _ = sessions.redeem(sessions.mint_code(ADMIN)[0]) or pytest.fail("refused")
    sessions.end(session_id)
    assert sessions.lookup(session_id) is None
    assert session_user(sessions, {COOKIE: session_id}, {}, "GET", ORIGIN) is None


def test_minting_without_end_keeps_memory_bounded(sessions: DashboardSessions) -> None:
    first, _ = sessions.mint_code(ADMIN)
    for _ in range(MAX_ENTRIES):
        sessions.mint_code(ADMIN)
    assert sessions.redeem(first) is None, "the oldest code made room for the newest"


def _session(sessions: DashboardSessions) -> tuple[str, str]:
    session_id, session = sessions.redeem(sessions.mint_code(ALICE)[0]) or pytest.fail("refused")
    return session_id, session.csrf


def test_reads_need_only_the_cookie(sessions: DashboardSessions) -> None:
    session_id, _ = _session(sessions)
    found = session_user(sessions, {COOKIE: session_id}, {}, "GET", ORIGIN)
    assert found is not None and found[0] == ALICE
    assert session_user(sessions, {COOKIE: session_id}, {"Origin": ORIGIN}, "GET", ORIGIN) is not None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_need_the_csrf_header_of_the_session(sessions: DashboardSessions, method: str) -> None:
    session_id, csrf = _session(sessions)
    cookies = {COOKIE: session_id}
    for headers in ({}, {CSRF_HEADER: "guess"}, {CSRF_HEADER: _session(sessions)[1]}):
        with pytest.raises(StatusError) as refused:
            session_user(sessions, cookies, headers, method, ORIGIN)
        assert refused.value.code == 403 and CSRF_HEADER in refused.value.status()["message"]
    found = session_user(sessions, cookies, {CSRF_HEADER: csrf}, method, ORIGIN)
    assert found is not None and found[0] == ALICE


def test_requests_from_another_origin_are_refused(sessions: DashboardSessions) -> None:
    session_id, csrf = _session(sessions)
    with pytest.raises(StatusError) as refused:
        session_user(
            sessions, {COOKIE: session_id}, {"Origin": "https://evil.example", CSRF_HEADER: csrf}, "POST", ORIGIN
        )
    assert refused.value.code == 403


def test_a_websocket_upgrade_must_name_this_origin(sessions: DashboardSessions) -> None:
    session_id, _ = _session(sessions)
    cookies = {COOKIE: session_id}
    for headers in ({"Upgrade": "websocket"}, {"Upgrade": "websocket", "Origin": "https://evil.example"}):
        with pytest.raises(StatusError):
            session_user(sessions, cookies, headers, "GET", ORIGIN)
    assert session_user(sessions, cookies, {"Upgrade": "websocket", "Origin": ORIGIN}, "GET", ORIGIN) is not None
