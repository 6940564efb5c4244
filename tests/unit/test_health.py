"""The health endpoints' answers, in kube-apiserver's healthz format."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from minikube_py.api import health


async def _fails() -> str | None:
    return "the datastore is unavailable: connection refused"


CHECKS = (health.PING, health.Check("etcd", _fails))


async def _answer(path: str, checks: tuple[health.Check, ...] = CHECKS) -> tuple[int, str]:
    handler = dict(health.routes({"readyz": checks}))[path.partition("?")[0]]
    response = await handler(make_mocked_request("GET", path))
    assert response.text is not None
    return response.status, response.text


async def test_passing_checks_answer_ok_or_list_themselves_when_verbose() -> None:
    assert await _answer("/readyz", (health.PING,)) == (200, "ok")
    assert await _answer("/readyz?verbose", (health.PING,)) == (200, "[+]ping ok\nreadyz check passed\n")


async def test_a_failure_lists_every_check_and_withholds_its_reason() -> None:
    expected = "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"
    assert await _answer("/readyz") == (500, expected)
    assert await _answer("/readyz?verbose") == (500, expected)


async def test_a_check_may_be_excluded_and_an_unknown_one_is_warned_of() -> None:
    assert await _answer("/readyz?exclude=etcd") == (200, "ok")
    assert await _answer("/readyz?verbose&exclude=etcd&exclude=log") == (
        200,
        '[+]ping ok\n[+]etcd excluded: ok\nwarn: some health checks cannot be excluded: no matches for "log"\n'
        "readyz check passed\n",
    )


async def test_one_check_alone_tells_its_reason() -> None:
    assert await _answer("/readyz/ping") == (200, "ok")
    assert await _answer("/readyz/etcd") == (
        500,
        "internal server error: the datastore is unavailable: connection refused\n",
    )
