"""What any part of a request's processing leaves for the request's answer and audit events, deep in
a write as admission is (kube-apiserver's ``warning.AddWarning`` and ``audit.AddAuditAnnotation``):

- warnings for the client (the handlers' unknown-field checks, a custom resource's deprecation,
  PodSecurity), which the answer carries as ``Warning`` headers, an error answer too (a refused
  pod's warnings are still shown);
- annotations for the request's audit events (PodSecurity's), when the request is audited.

Both are kept in context variables that the middlewares start for each request (:func:`collect_warnings`,
:func:`collect_annotations`); a write made by the server's own parts, outside a request, notes nothing.
"""

from __future__ import annotations

from contextvars import ContextVar

from aiohttp import web

_WARNINGS: ContextVar[list[str] | None] = ContextVar("request_warnings", default=None)
_ANNOTATIONS: ContextVar[dict[str, str] | None] = ContextVar("audit_annotations", default=None)

#: kube-apiserver's budget for a response's warnings: 4 Ki characters in all; past it, each is cut to 256
#: and those beyond the budget are left out
_WARNINGS_TOTAL, _WARNING_ITEM = 4096, 256
#: control characters (but tab), which no header value may hold: aiohttp refuses to write one
_CONTROLS_AS_SPACES = {c: " " for c in (*range(0x20), 0x7F) if c != 0x09}


def collect_warnings() -> list[str]:
    """Start collecting the current request's warnings (a fresh list: the requests of one keep-alive
    connection may share a context); the list fills as the request is served."""
    collected: list[str] = []
    _WARNINGS.set(collected)
    return collected


def warn(*texts: str) -> None:
    """Warn the client of the request being served (nobody, outside a request)."""
    collected = _WARNINGS.get()
    if collected is not None:
        collected.extend(texts)


def collect_annotations(into: dict[str, str]) -> None:
    """Keep the audit annotations of the request being served in ``into`` (its audit state's)."""
    _ANNOTATIONS.set(into)


def annotate(key: str, value: str) -> None:
    """Annotate the audit events of the request being served (none when it is not audited)."""
    annotations = _ANNOTATIONS.get()
    if annotations is not None:
        annotations[key] = value


def write_warnings(response: web.StreamResponse, warnings: list[str]) -> None:
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
