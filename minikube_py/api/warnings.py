"""Warnings for the client, as kube-apiserver's ``warning.AddWarning``: any part of a request's
processing (the handlers' unknown-field checks, a custom resource's deprecation, PodSecurity's
admission deep in a write) adds texts, and the answer carries them as ``Warning`` headers, an error
answer too (a refused pod's warnings are still shown).

The texts are kept in a context variable that :func:`collect` starts for each request; a write made
by the server's own parts, outside a request, warns nobody.
"""

from __future__ import annotations

from contextvars import ContextVar

from aiohttp import web

_COLLECTED: ContextVar[list[str] | None] = ContextVar("request_warnings", default=None)

#: kube-apiserver's budget for a response's warnings: 4 Ki characters in all; past it, each is cut to 256
#: and those beyond the budget are left out
_WARNINGS_TOTAL, _WARNING_ITEM = 4096, 256
#: control characters (but tab), which no header value may hold: aiohttp refuses to write one
_CONTROLS_AS_SPACES = {c: " " for c in (*range(0x20), 0x7F) if c != 0x09}


def collect() -> list[str]:
    """Start collecting the current request's warnings (a fresh list: the requests of one keep-alive
    connection may share a context); the list fills as the request is served."""
    collected: list[str] = []
    _COLLECTED.set(collected)
    return collected


def add(*texts: str) -> None:
    """Warn the client of the request being served (nobody, outside a request)."""
    collected = _COLLECTED.get()
    if collected is not None:
        collected.extend(texts)


def write(response: web.StreamResponse, warnings: list[str]) -> None:
    """``Warning`` headers as kube-apiserver sends them: RFC 7234 warn-code 299 "miscellaneous
    persistent warning", each text once, within kube-apiserver's budget, with line breaks and other
    control characters as spaces (Go writes line breaks so); kubectl prints each as ``Warning: <text>``.
    A warning names what the client sent (an unknown field's name), so a 70,000-character key or one
    with a line break or DEL made a header that clients refuse or that aiohttp would not write at all
    (the connection dropped)."""
    texts = list(dict.fromkeys(w for w in warnings if w))
    if sum(map(len, texts)) > _WARNINGS_TOTAL:
        texts = [text[:_WARNING_ITEM] for text in texts]
    written = 0
    for text in texts:
        if written >= _WARNINGS_TOTAL:
            break
        written += len(text)
        quoted = text.replace("\\", "\\\\").replace('"', '\\"').translate(_CONTROLS_AS_SPACES)
        response.headers.add("Warning", f'299 - "{quoted}"')
