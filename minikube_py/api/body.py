"""Request bodies in the three encodings Kubernetes clients send: JSON, YAML and protobuf.

kubectl's typed generators (``create secret``, ``create deployment`` ...) only speak protobuf, so it
is decoded here next to JSON rather than treated as an exotic case.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from minikube_py.api.limits import MAX_BODY, check_decoded, check_depth, load_yaml
from minikube_py.api.protobuf import decode_object
from minikube_py.model import errors

__all__ = ["MAX_BODY", "PROTOBUF", "decode", "dumps", "media_type"]

PROTOBUF = "application/vnd.kubernetes.protobuf"
#: media types read as JSON (an absent Content-Type too)
_JSON = ("", "application/json", "*/*", "text/plain")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(raw: bytes, content_type: str | None) -> Any:
    """The body as a Python value; an absent Content-Type means JSON (``kubectl scale`` sends none).
    Whatever the encoding, the value is no deeper than :data:`~.limits.MAX_DEPTH` (400 otherwise),
    so no later recursive step can crash on it."""
    kind = media_type(content_type)
    value = _decode(raw, kind)
    (check_depth if kind in _JSON else check_decoded)(value, "the request body")
    return value


def _decode(raw: bytes, kind: str) -> Any:
    if kind in _JSON:
        return _json(raw)
    if kind in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return load_yaml(raw)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
    if kind == PROTOBUF:
        return decode_object(raw)
    raise errors.unsupported_media(kind)


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
