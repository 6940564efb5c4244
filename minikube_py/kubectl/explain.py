"""``explain``: a kind's fields, their types and descriptions, read from the server's OpenAPI v3
documents and laid out as kubectl's plaintext template lays them out (the same bytes, so that what
people copy from either reads the same).

The layout is a pure function of the document (:func:`explain`); the command only finds the kind
through discovery and fetches the document of its group/version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from minikube_py.kubectl.discovery import UnknownResource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Session, run

Schema = dict[str, Any]
#: kubectl wraps descriptions at 76 columns and indents them by 4
WIDTH = 76
_REF_PREFIX = "#/components/schemas/"
_PRIMITIVES = ("string", "integer", "number", "boolean")


def wrap(text: str, limit: int = WIDTH) -> str:
    """Word-wrap ``text`` at ``limit`` columns as kubectl's wrapper (Go's go-wordwrap) does: a line
    breaks before the word that would pass the limit, the spaces at the break are dropped, a word
    longer than the limit stands alone and is not cut, and the text's own line breaks stay."""
    out: list[str] = []
    current = 0
    word: list[str] = []
    spaces: list[str] = []
    for char in text:
        if char == "\n":
            if not word:
                if current + len(spaces) <= limit:
                    out += spaces
            else:
                out += spaces + word
            spaces, word = [], []
            out.append(char)
            current = 0
        elif char.isspace() and char != "\u00a0":
            if not spaces or word:
                current += len(spaces) + len(word)
                out += spaces + word
                spaces, word = [], []
            spaces.append(char)
        else:
            word.append(char)
            if current + len(spaces) + len(word) > limit and len(word) < limit:
                out.append("\n")
                current = 0
                spaces = []
    if word:
        out += spaces + word
    elif current + len(spaces) <= limit:
        out += spaces
    return "".join(out)


def _indent(text: str, width: int = 4) -> str:
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


@dataclass(frozen=True)
class Document:
    """The schemas of one group/version's document."""

    schemas: dict[str, Schema]

    def target(self, schema: Schema) -> Schema | None:
        """The schema ``schema`` refers to (directly, or as the one member of ``allOf``)."""
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            members = schema.get("allOf")
            if not (isinstance(members, list) and len(members) == 1 and not schema.get("properties")):
                return None
            ref = members[0].get("$ref")
            if not isinstance(ref, str):
                return None
        return self.schemas.get(ref.removeprefix(_REF_PREFIX))

    def ref_name(self, schema: Schema) -> str | None:
        ref = schema.get("$ref")
        if not isinstance(ref, str) and isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            ref = schema["allOf"][0].get("$ref")
        return ref.removeprefix(_REF_PREFIX) if isinstance(ref, str) else None

    def type_name(self, schema: Schema) -> str:
        """What kubectl prints between ``<>``: ``[]Container``, ``map[string]string``, ``IntOrString``."""
        if isinstance(schema.get("items"), dict):
            return "[]" + self.type_name(schema["items"])
        if isinstance(schema.get("additionalProperties"), dict):
            return "map[string]" + self.type_name(schema["additionalProperties"])
        name = self.ref_name(schema)
        if name is not None:
            target = self.schemas.get(name) or {}
            if target.get("type") in _PRIMITIVES:
                return str(target["type"])
            return name.rsplit(".", 1)[-1]
        kind = schema.get("type")
        if kind in _PRIMITIVES:
            return str(kind)
        return "Object"

    def underlying(self, schema: Schema) -> Schema:
        """The object schema a field's value is made of: through lists' items and references."""
        while True:
            if isinstance(schema.get("items"), dict):
                schema = schema["items"]
                continue
            target = self.target(schema)
            if target is None:
                return schema
            schema = target


def _description(text: str) -> str:
    """A description block: wrapped, indented, and closed by an indented empty line."""
    return _indent(wrap(text) + "\n") + "\n"


def _field_list(doc: Document, schema: Schema, recursive: bool, depth: int, seen: tuple[str, ...]) -> str:
    required = set(schema.get("required") or ())
    out = []
    pad = "  " * depth
    for name, prop in sorted((schema.get("properties") or {}).items()):
        mark = " -required-" if name in required else ""
        out.append(f"{pad}{name}\t<{doc.type_name(prop)}>{mark}\n")
        if recursive:
            inner = _nested(doc, prop)
            ref = inner[0] if inner else None
            if inner is not None and ref not in seen:
                out.append(_field_list(doc, inner[1], True, depth + 1, (*seen, ref or "")))
        else:
            text = prop.get("description") or "<no description>"
            out.append(_indent(wrap(text), 2 * depth + 2) + "\n\n")
    return "".join(out)


def _nested(doc: Document, prop: Schema) -> tuple[str, Schema] | None:
    """The named object type a field's value (or its items or values) is, for ``--recursive``."""
    while True:
        for key in ("items", "additionalProperties"):
            if isinstance(prop.get(key), dict):
                prop = prop[key]
                break
        else:
            name = doc.ref_name(prop)
            target = doc.schemas.get(name) if name else None
            if name is None or target is None or not target.get("properties"):
                return None
            return name, target


def explain(
    schemas: dict[str, Schema], kind_schema: str, gvk: tuple[str, str, str], path: list[str], recursive: bool
) -> str:
    """kubectl's plaintext explanation of ``path`` (field names below the kind) of the kind whose
    schema is ``kind_schema``. A field that does not exist raises :class:`CommandError` with
    kubectl's message; kubectl has printed the heading by then, so it comes with the error."""
    group, version, kind = gvk
    doc = Document(schemas)
    head = (f"GROUP:      {group}\n" if group else "") + f"KIND:       {kind}\nVERSION:    {version}\n\n"
    schema = schemas[kind_schema]
    seen = (kind_schema,)
    if path:
        field = schema
        for name in path:
            prop = (doc.underlying(field).get("properties") or {}).get(name)
            if prop is None:
                raise FieldNotFound(head, name)
            field = prop
        schema = doc.underlying(field)
        # a field of a named type (or a list of them) is described by itself, then by its type
        ref = doc.ref_name(field["items"] if isinstance(field.get("items"), dict) else field)
        text = "\n".join(p for p in (field.get("description"), ref and schema.get("description")) if p)
        head += f"FIELD: {path[-1]} <{doc.type_name(field)}>\n\n\n"
        seen = (ref or "",)
    else:
        text = schema.get("description") or ""
    out = head + "DESCRIPTION:\n" + _description(text or "<empty>")
    if schema.get("properties"):
        out += "FIELDS:\n" + _field_list(doc, schema, recursive, 1, seen) + "\n"
    else:
        out += "\n"
    return out


class FieldNotFound(CommandError):
    def __init__(self, heading: str, name: str) -> None:
        super().__init__(f'field "{name}" does not exist')
        self.heading = heading


def _document_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@click.command()
@click.argument("target")
@click.option(
    "--api-version", default="", help="The group/version of the kind to explain (its preferred one if unset)."
)
@click.option("--recursive", is_flag=True, help="Print every field of the fields, without descriptions.")
@click.option("--output", "-o", default="plaintext", type=click.Choice(["plaintext"]), help="Only plaintext.")
def explain_(target: str, api_version: str, recursive: bool, output: str) -> None:
    """Describe the fields of a kind: ``pods``, ``pods.spec.containers``, ``deploy.spec.strategy``."""
    resource_name, *path = target.split(".")

    async def work(session: Session) -> int:
        discovery = await session.discovery()
        try:
            resource = discovery.find(resource_name)
        except UnknownResource as exc:
            click.echo(str(exc), err=True)  # kubectl explain says it without "error: "
            return 1
        if api_version:
            resource = discovery.for_kind(api_version, resource.kind)
        index = (await session.api.get("/openapi/v3")).get("paths") or {}
        entry = index.get(_document_path(resource.group, resource.version))
        if entry is None:
            raise CommandError(f'couldn\'t find resource for "{resource.api_version}, Resource={resource.name}"')
        document = await session.api.get(entry["serverRelativeURL"].partition("?")[0])
        schemas = (document.get("components") or {}).get("schemas") or {}
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        found = [name for name, s in schemas.items() if gvk in (s.get("x-kubernetes-group-version-kind") or [])]
        if not found:
            raise CommandError(f'couldn\'t find resource for "{resource.api_version}, Resource={resource.name}"')
        try:
            text = explain(schemas, found[0], (resource.group, resource.version, resource.kind), path, recursive)
        except FieldNotFound as exc:
            click.echo(exc.heading, nl=False)
            raise
        click.echo(text, nl=False)
        return 0

    run(work)
