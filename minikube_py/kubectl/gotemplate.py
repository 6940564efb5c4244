"""``-o go-template=...``: the part of Go's text/template that kubectl users write: field paths
(``{{.metadata.name}}``), ``range`` (with ``$i, $e :=``), ``if``/``else``, ``with``, variables, string
and number literals, pipelines, and the functions ``index``, ``len``, ``printf``, ``print``, ``println``,
``eq``, ``ne``, ``not``, ``and``, ``or``. Values print as Go's ``%v`` prints them; a missing field is
``<no value>``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from minikube_py.kubectl.errors import CommandError

NO_VALUE = "<no value>"
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||:=|,|[^\s|(),]+)')


@dataclass
class _Node:
    kind: str  # text, print, range, if, with
    text: str = ""
    pipe: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)
    otherwise: list[_Node] = field(default_factory=list)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise CommandError(f"error parsing template {text}")
        out.append(match.group(1))
        pos = match.end()
    return out


def parse(template: str) -> list[_Node]:
    """The template as a tree; Go's trim markers (``{{-``, ``-}}``) eat the spaces beside them."""
    pieces: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(template):
        text = template[pos : match.start()]
        if match.group(1):
            text = text.rstrip()
        if pieces and pieces[-1][0] == "trim":
            pieces.pop()
            text = text.lstrip()
        pieces.append(("text", text))
        pieces.append(("action", match.group(2).strip()))
        if match.group(3):
            pieces.append(("trim", ""))
        pos = match.end()
    rest = template[pos:]
    if pieces and pieces[-1][0] == "trim":
        pieces.pop()
        rest = rest.lstrip()
    pieces.append(("text", rest))
    root: list[_Node] = []
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, text in pieces:
        if kind == "text":
            if text:
                stack[-1][1].append(_Node("text", text=text))
            continue
        if text.startswith("/*"):
            continue
        words = _tokens(text)
        head = words[0] if words else ""
        if head in ("range", "if", "with"):
            node = _Node(head)
            rest_words = words[1:]
            if ":=" in rest_words:
                cut = rest_words.index(":=")
                node.variables = [w for w in rest_words[:cut] if w != ","]
                rest_words = rest_words[cut + 1 :]
            node.pipe = rest_words
            stack[-1][1].append(node)
            stack.append((node, node.body))
        elif head == "else":
            owner = stack[-1][0]
            if owner is None:
                raise CommandError("template: unexpected {{else}}")
            stack[-1] = (owner, owner.otherwise)
            if len(words) > 1 and words[1] == "if":  # {{else if ...}}: an if inside the else
                inner = _Node("if", pipe=words[2:])
                owner.otherwise.append(inner)
                stack.append((inner, inner.body))
                inner.text = "chained"
        elif head == "end":
            while True:
                if len(stack) == 1:
                    raise CommandError("template: unexpected {{end}}")
                owner, _ = stack.pop()
                if owner is None or owner.text != "chained":
                    break
        else:
            stack[-1][1].append(_Node("print", pipe=words))
    if len(stack) != 1:
        raise CommandError("template: unexpected EOF")
    return root


def render(template: str, data: Any) -> str:
    return "".join(_run(parse(template), data, {"$": data}))


def _truth(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {}) and value is not _MISSING


class _Missing:
    def __repr__(self) -> str:
        return NO_VALUE


_MISSING = _Missing()


def _run(nodes: list[_Node], dot: Any, variables: dict[str, Any]) -> Iterator[str]:
    for node in nodes:
        if node.kind == "text":
            yield node.text
        elif node.kind == "print":
            yield go_value(_pipeline(node.pipe, dot, variables))
        elif node.kind == "range":
            value = _pipeline(node.pipe, dot, variables)
            items = (
                sorted(value.items())
                if isinstance(value, dict)
                else list(enumerate(value))
                if isinstance(value, list)
                else []
            )
            if not items:
                yield from _run(node.otherwise, dot, variables)
            for key, item in items:
                scope = dict(variables)
                if len(node.variables) == 2:
                    scope[node.variables[0]], scope[node.variables[1]] = key, item
                elif node.variables:
                    scope[node.variables[0]] = item
                yield from _run(node.body, item, scope)
        else:
            value = _pipeline(node.pipe, dot, variables)
            scope = dict(variables)
            if node.variables:
                scope[node.variables[0]] = value
            if _truth(value):
                yield from _run(node.body, value if node.kind == "with" else dot, scope)
            else:
                yield from _run(node.otherwise, dot, variables)


def _pipeline(words: list[str], dot: Any, variables: dict[str, Any]) -> Any:
    commands: list[list[str]] = [[]]
    depth = 0
    for word in words:
        if word == "|" and depth == 0:
            commands.append([])
            continue
        depth += word == "("
        depth -= word == ")"
        commands[-1].append(word)
    value: Any = _MISSING
    for i, command in enumerate(commands):
        if _is_function(command[0]):
            args = _arguments(command[1:], dot, variables)
            if i:  # a pipeline passes the value before as the last argument
                args.append(value)
            value = _call(command[0], args)
        else:
            value = _arguments(command, dot, variables)[0]
    return value


_FUNCTIONS = ("index", "len", "printf", "print", "println", "eq", "ne", "not", "and", "or")


def _is_function(word: str) -> bool:
    return word in _FUNCTIONS


def _arguments(command: list[str], dot: Any, variables: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    i = 0
    while i < len(command):
        word = command[i]
        if word == "(":
            depth, j = 1, i + 1
            while depth:
                depth += command[j] == "("
                depth -= command[j] == ")"
                j += 1
            out.append(_pipeline(command[i + 1 : j - 1], dot, variables))
            i = j
            continue
        out.append(_operand(word, dot, variables))
        i += 1
    return out


def _operand(word: str, dot: Any, variables: dict[str, Any]) -> Any:
    if word.startswith('"'):
        return bytes(word[1:-1], "utf-8").decode("unicode_escape")
    if word.startswith("`"):
        return word[1:-1]
    if word in ("true", "false"):
        return word == "true"
    if word == "nil":
        return None
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if re.fullmatch(r"-?\d+\.\d*", word):
        return float(word)
    if word.startswith("$"):
        name, _, path = word.partition(".")
        if name not in variables:
            raise CommandError(f'template: undefined variable "{name}"')
        return _fields(variables[name], path)
    if word.startswith("."):
        return _fields(dot, word[1:])
    raise CommandError(f'template: function "{word}" not defined')


def _fields(value: Any, path: str) -> Any:
    for name in filter(None, path.split(".")):
        if not isinstance(value, dict) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _call(name: str, args: list[Any]) -> Any:
    if name == "index":
        value = args[0]
        for key in args[1:]:
            if isinstance(value, dict):
                value = value.get(key, _MISSING)
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                raise CommandError(f"template: error calling index: index out of range: {key}")
        return value
    if name == "len":
        return len(args[0]) if isinstance(args[0], (list, dict, str)) else 0
    if name in ("print", "println", "printf"):
        if name == "printf":
            return _printf(args[0], args[1:])
        text = " ".join(go_value(a) for a in args) if name == "println" else "".join(go_value(a) for a in args)
        return text + ("\n" if name == "println" else "")
    if name in ("eq", "ne"):
        equal = any(args[0] == other for other in args[1:])
        return equal if name == "eq" else not equal
    if name == "not":
        return not _truth(args[0])
    if name == "and":
        return next((a for a in args if not _truth(a)), args[-1])
    return next((a for a in args if _truth(a)), args[-1])  # or


def _printf(fmt: str, args: list[Any]) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(0)
        if verb == "%%":
            return "%"
        value = next(values, _MISSING)
        if verb == "%q":
            return '"' + go_value(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        return go_value(value)

    return re.sub(r"%[-+ #0-9.]*[vsdqtfx%]", one, fmt)


def go_value(value: Any) -> str:
    """``value`` as Go's ``%v`` prints an unstructured object's parts."""
    if value is _MISSING:
        return NO_VALUE
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    return str(value)
