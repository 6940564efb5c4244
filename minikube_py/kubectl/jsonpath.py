"""kubectl's JSONPath: ``-o jsonpath=...``, ``custom-columns=...`` and ``--sort-by``.

The dialect is Kubernetes': a template of literal text and ``{...}`` expressions (``{.items[*].metadata.name}``,
``{range .items[*]}{.metadata.name}{"\\n"}{end}``, filters ``[?(@.type=="Ready")]``, slices, ``..`` for
recursive descent, ``*``). Several results of one expression are separated by a space; strings print as
they are, maps and lists as JSON; a missing field prints nothing, as with kubectl's get.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.printing import go_number, tabulate


class JSONPathError(CommandError):
    pass


@dataclass
class _Text:
    text: str


@dataclass
class _Expr:
    path: str


@dataclass
class _Range:
    path: str
    body: list[Any]


def parse(template: str) -> list[Any]:
    nodes, rest = _parse_nodes(template, top=True)
    if rest:
        raise JSONPathError("not in range, nothing to end")
    return nodes


def _parse_nodes(template: str, top: bool) -> tuple[list[Any], str]:
    nodes: list[Any] = []
    while template:
        start = template.find("{")
        if start < 0:
            nodes.append(_Text(template))
            return nodes, ""
        if start:
            nodes.append(_Text(template[:start]))
        end = _closing(template, start)
        inner = template[start + 1 : end].strip()
        template = template[end + 1 :]
        if inner == "end":
            if top:
                raise JSONPathError("not in range, nothing to end")
            return nodes, template or "\0"
        if inner.startswith("range "):
            body, template = _parse_nodes(template, top=False)
            if not template:
                raise JSONPathError("unclosed range")
            template = "" if template == "\0" else template
            nodes.append(_Range(inner[6:].strip(), body))
        elif inner[:1] in ('"', "'"):
            nodes.append(_Text(_unquote(inner)))
        else:
            nodes.append(_Expr(inner))
    if not top:
        raise JSONPathError("unclosed range")
    return nodes, ""


def _closing(template: str, start: int) -> int:
    quote = None
    for i in range(start + 1, len(template)):
        c = template[i]
        if quote:
            if c == "\\":
                continue
            if c == quote and template[i - 1] != "\\":
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "}":
            return i
    raise JSONPathError(f"unclosed action in {template!r}")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return body.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in body else body


_TOKEN = re.compile(r"""\.\.|\.(\*|[^.\[\]]+)|\[([^\]]*)\]""")


def evaluate(path: str, data: Any) -> list[Any]:
    """Every value ``path`` reaches in ``data`` (none when a field is missing)."""
    path = path.strip()
    if path.startswith(("$", "@")):
        path = path[1:]
    values = [data]
    pos = 0
    recursive = False
    while pos < len(path):
        if recursive and path[pos] not in ".[":
            path = f"{path[:pos]}.{path[pos:]}"  # ``..image``: the name after ``..`` is a field, as ``.image``
        match = _TOKEN.match(path, pos)
        if match is None:
            raise JSONPathError(f"unrecognized character in action: {path[pos:]!r}")
        pos = match.end()
        if match.group(0) == "..":
            recursive = True
            continue
        if recursive:
            values = [v for value in values for v in _descend(value)]
            recursive = False
        if match.group(1) is not None:
            values = _field(values, match.group(1))
        else:
            values = _index(values, match.group(2).strip())
    return values


def _descend(value: Any) -> Iterator[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _descend(child)


def _field(values: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if name == "*":
            out += list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
        elif isinstance(value, dict) and name in value:
            out.append(value[name])
    return out


def _index(values: list[Any], spec: str) -> list[Any]:
    if spec.startswith("?(") and spec.endswith(")"):
        return [item for value in values if isinstance(value, list) for item in value if _matches(spec[2:-1], item)]
    if spec[:1] in ("'", '"'):
        return _field(values, _unquote(spec))
    out: list[Any] = []
    for value in values:
        if spec == "*":
            out += list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
        elif isinstance(value, list):
            if ":" in spec:
                parts = [int(p) if p.strip() else None for p in spec.split(":")]
                out += value[slice(*parts)]
            else:
                i = int(spec)
                if -len(value) <= i < len(value):
                    out.append(value[i])
                else:
                    raise JSONPathError(f"array index out of bounds: index {i}, length {len(value)}")
    return out


_FILTER = re.compile(r"""\s*(@[^\s=!<>]*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$""")


def _matches(condition: str, item: Any) -> bool:
    match = _FILTER.match(condition)
    if match is None:
        raise JSONPathError(f"unrecognized filter {condition!r}")
    left = evaluate(match[1], item)
    if match[2] is None:
        return bool(left)
    raw = match[3].strip()
    right: Any = _unquote(raw) if raw[:1] in ("'", '"') else json.loads(raw)
    if not left:
        return False
    value = left[0]
    try:
        return bool(
            {"==": value == right, "!=": value != right}.get(match[2])
            if match[2] in ("==", "!=")
            else _compare(match[2], value, right)
        )
    except TypeError:
        return False


def _compare(op: str, a: Any, b: Any) -> bool:
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return go_number(value)
    if value is None:
        return "null"
    from minikube_py.kubectl.printing import go_json

    return go_json(value, indent=False)


def render(template: str, data: Any) -> str:
    """``-o jsonpath=TEMPLATE`` applied to ``data``."""
    return "".join(_render(parse(template), data))


def _render(nodes: list[Any], data: Any) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, _Text):
            yield node.text
        elif isinstance(node, _Expr):
            yield " ".join(text(v) for v in evaluate(node.path, data))
        else:
            for item in evaluate(node.path, data):
                yield from _render(node.body, item)


def _expression(spec: str) -> str:
    """A column's or sort key's path, with or without braces: ``.metadata.name``, ``{.metadata.name}``."""
    spec = spec.strip()
    if spec.startswith("{") and spec.endswith("}"):
        spec = spec[1:-1]
    return spec


def sort_key(spec: str, obj: Any) -> tuple[int, Any]:
    """``--sort-by``: numbers by value, everything else as text; objects missing the field first."""
    values = evaluate(_expression(spec), obj)
    if not values:
        return (0, "")
    value = values[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    return (2, text(value))


def custom_columns(spec: str, objects: list[Any], *, no_headers: bool = False) -> str:
    """``-o custom-columns=HEADER:PATH,...``: one row per object, several values joined by commas."""
    columns = []
    for part in spec.split(","):
        header, colon, path = part.partition(":")
        if not colon:
            raise JSONPathError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append((header, _expression(path)))
    rows = [] if no_headers else [[header for header, _ in columns]]
    for obj in objects:
        rows.append([",".join(text(v) for v in evaluate(path, obj)) or "<none>" for _, path in columns])
    return tabulate(rows)
