"""``/livez``, ``/readyz`` and ``/healthz``: named checks, answered as kube-apiserver's healthz
package answers them, since load balancers, kubeadm-style scripts and ``kubectl get --raw
'/readyz?verbose'`` read that format.

- ``/readyz`` runs every check of the endpoint: ``ok`` when all pass; ``?verbose`` lists each as
  ``[+]name ok`` and ends with ``readyz check passed``; a failure is a 500 that lists them all, the
  failing ones as ``[-]name failed: reason withheld`` (the endpoints are public: the reason goes to
  the log, not to anyone who asks), ending with ``readyz check failed``. ``?exclude=name`` skips a
  check (``[+]name excluded: ok``), with a warning line for a name that is not a check.
- ``/readyz/<name>`` runs one check: ``ok``, or a 500 ``internal server error: <reason>``.

pykube's checks: ``ping`` (the server answers), ``etcd`` (the datastore answers a query; named as
kube-apiserver and k3s name it, for the scripts that ask for it) and
``poststarthook/bootstrap-controller`` (the default namespaces, the ``kubernetes`` Service and
the bootstrap policy exist). ``/livez`` and ``/healthz`` check only ``ping``: unlike kube-apiserver's,
a datastore outage does not make the process look dead, so nobody restarts it for one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from minikube_py.store.base import Store, Unavailable

log = logging.getLogger(__name__)

#: ``None`` when the check passes, else why it failed
Run = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class Check:
    name: str
    run: Run


async def _passes() -> str | None:
    return None


PING = Check("ping", _passes)


async def datastore_problem(store: Store) -> str | None:
    """Why the datastore does not answer a query now (None when it does): the ``etcd`` check, and
    ComponentStatus's ``etcd-0``."""
    try:
        await store.check()
    except Unavailable as exc:
        return str(exc)
    return None


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=body, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
    )


def endpoint(name: str, checks: Sequence[Check]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``/<name>`` (``livez``, ``readyz``, ``healthz``) over ``checks``."""

    async def answer(request: web.Request) -> web.Response:
        excluded = {e for value in request.query.getall("exclude", []) for e in value.split(",") if e}
        lines, failed = [], []
        for check in checks:
            if check.name in excluded:
                excluded.discard(check.name)
                lines.append(f"[+]{check.name} excluded: ok")
                continue
            reason = await check.run()
            if reason is None:
                lines.append(f"[+]{check.name} ok")
            else:
                lines.append(f"[-]{check.name} failed: reason withheld")
                failed.append(f"{check.name}: {reason}")
        if excluded:
            quoted = ",".join(f'"{e}"' for e in sorted(excluded))
            lines.append(f"warn: some health checks cannot be excluded: no matches for {quoted}")
        if failed:
            log.debug("%s check failed: %s", name, "; ".join(failed))
            return _text("\n".join([*lines, f"{name} check failed"]) + "\n", 500)
        if "verbose" not in request.query:
            return _text("ok")
        return _text("\n".join([*lines, f"{name} check passed"]) + "\n")

    return answer


def single(check: Check) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``/<endpoint>/<check>``: that check alone, its reason shown on failure."""

    async def answer(_: web.Request) -> web.Response:
        reason = await check.run()
        if reason is None:
            return _text("ok")
        return _text(f"internal server error: {reason}\n", 500)

    return answer


def routes(endpoints: dict[str, Sequence[Check]]) -> list[tuple[str, Callable[[web.Request], Awaitable[web.Response]]]]:
    """(path, handler) of every endpoint and of each of its checks."""
    found = []
    for name, checks in endpoints.items():
        found.append((f"/{name}", endpoint(name, checks)))
        found += [(f"/{name}/{check.name}", single(check)) for check in checks]
    return found
