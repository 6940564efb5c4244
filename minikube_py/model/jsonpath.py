"""The JSONPath subset CustomResourceDefinitions use: printer columns and scale subresource paths.

``additionalPrinterColumns[].jsonPath`` is evaluated as kube-apiserver evaluates it (``{<path>}``
through client-go's jsonpath): field steps (``.spec.replicas``, ``['a.b']``), indexes (``[0]``,
``[-1]``), wildcards (``[*]``, ``.*``) and filters on a field (``[?(@.type=="Ready")]``). Scale paths
are plain field paths, which :func:`set_path` writes.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

Step = tuple[str, Any]  # ("field", name) | ("index", n) | ("all", None) | ("filter", (path, op, value))

_TOKEN = re.compile(
    r"""
    \.(?P<field>[A-Za-z0-9_\-$]+)
  | \.\*(?P<star>)
  | \[\s*(?P<index>-?\d+)\s*\]
  | \[\s*\*\s*\](?P<all>)
  | \[\s*'(?P<quoted>[^']*)'\s*\]
  | \[\s*"(?P<dquoted>[^"]*)"\s*\]
  | \[\s*\?\(\s*@(?P<fpath>(?:\.[A-Za-z0-9_\-]+)+)\s*(?:(?P<op>==|!=)\s*(?P<fvalue>"[^"]*"|'[^']*'|[^)\s]+))?\s*\)\s*\]
""",
    re.VERBOSE,
)


class PathError(ValueError):
    """A JSONPath outside the supported subset."""


@lru_cache(maxsize=512)
def parse(path: str) -> tuple[Step, ...]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PathError(f"unsupported JSONPath {path!r} at {text[pos:]!r}")
        groups = match.groupdict()
        if groups["field"] is not None:
            steps.append(("field", groups["field"]))
        elif groups["quoted"] is not None or groups["dquoted"] is not None:
            steps.append(("field", groups["quoted"] if groups["quoted"] is not None else groups["dquoted"]))
        elif groups["index"] is not None:
            steps.append(("index", int(groups["index"])))
        elif groups["star"] is not None or groups["all"] is not None:
            steps.append(("all", None))
        else:
            value = groups["fvalue"]
            if value is not None and value[:1] in "\"'":
                value = value[1:-1]
            steps.append(("filter", (tuple(groups["fpath"][1:].split(".")), groups["op"], value)))
        pos = match.end()
    return tuple(steps)


def find(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``obj`` (none when it reaches nothing)."""
    values = [obj]
    for kind, arg in parse(path):
        found: list[Any] = []
        for value in values:
            if (kind == "field" and isinstance(value, dict) and arg in value) or (
                kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value)
            ):
                found.append(value[arg])
            elif kind == "all":
                found += list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
            elif kind == "filter" and isinstance(value, list):
                found += [item for item in value if _passes(item, arg)]
        values = found
    return values


def _passes(item: Any, condition: tuple[tuple[str, ...], str | None, str | None]) -> bool:
    fields, op, expected = condition
    value = item
    for name in fields:
        if not isinstance(value, dict) or name not in value:
            return False
        value = value[name]
    if op is None:
        return True
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return (text == expected) == (op == "==")


def get_path(obj: Any, path: str) -> Any:
    """The first value ``path`` reaches, None when none."""
    found = find(obj, path)
    return found[0] if found else None


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at a plain field path (``.spec.replicas``), creating the maps on the way."""
    steps = parse(path)
    if not steps or any(kind != "field" for kind, _ in steps):
        raise PathError(f"{path!r} is not a plain field path")
    target = obj
    for _, name in steps[:-1]:
        nested = target.get(name)
        if not isinstance(nested, dict):
            nested = target[name] = {}
        target = nested
    target[steps[-1][1]] = value
