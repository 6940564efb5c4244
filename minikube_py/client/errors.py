"""Errors the API answers, as exceptions callers can catch by meaning rather than by status code.

Each one carries the server's ``kind: Status`` body; when the body is not a Status (a proxy's HTML
page, a plain-text 404) a Status is made up from the HTTP code and the text, so handlers always see
the same shape. Connection failures are not API errors: they stay aiohttp's ``ClientError`` and
``TimeoutError``, which :func:`~minikube_py.client.watching.watch_forever` retries.

The tree::

    ApiError                  any non-2xx answer, or a watch ERROR event
    ├── UnauthorizedError     401: no or bad credentials
    ├── ForbiddenError        403: authenticated but not allowed
    ├── NotFoundError         404
    ├── ConflictError         409: stale resourceVersion on update ...
    │   └── AlreadyExistsError    ... or reason AlreadyExists on create
    ├── GoneError             410: resourceVersion compacted or continue token expired; re-list
    └── InvalidError          422: validation failed; ``details.causes`` lists the fields
"""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status.get("message") or status.get("reason") or f"HTTP {status.get('code')}")
        self.status = status

    @property
    def code(self) -> int:
        return int(self.status.get("code") or 0)

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.status.get("message") or "")

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}


class UnauthorizedError(ApiError):
    pass


class ForbiddenError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class AlreadyExistsError(ConflictError):
    pass


class GoneError(ApiError):
    pass


class InvalidError(ApiError):
    pass


_BY_CODE: dict[int, type[ApiError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
}


def error_from_status(status: dict[str, Any]) -> ApiError:
    """The most specific exception for a Status body."""
    if status.get("reason") == "AlreadyExists":
        return AlreadyExistsError(status)
    return _BY_CODE.get(int(status.get("code") or 0), ApiError)(status)


def error_from_response(code: int, reason_phrase: str, text: str) -> ApiError:
    """Build the error from an HTTP answer's code, reason phrase and body text."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return error_from_status({"code": code, **body})
    return error_from_status(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason_phrase.replace(" ", ""),
            "message": text.strip() or reason_phrase,
        }
    )
