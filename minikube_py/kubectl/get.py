"""``kubectl get``: the server's Tables printed as kubectl prints them, or the objects as name, JSON,
YAML, JSONPath or custom columns; ``-w`` follows the changes."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from minikube_py.client.errors import NotFoundError
from minikube_py.kubectl.discovery import Discovery, Resource
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.printing import (
    Obj,
    TableOptions,
    TabWriter,
    as_list,
    go_json,
    go_yaml,
    table_header,
    table_rows,
)
from minikube_py.kubectl.session import Session, error_text, run

#: kubectl's Accept for human-readable output: a Table, else the plain object
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
#: kubectl lists in pages of this size
CHUNK_SIZE = 500


@dataclass
class Request:
    """One type and the names asked for (none: the whole collection)."""

    resource: Resource
    names: list[str] = field(default_factory=list)


def parse_requests(discovery: Discovery, args: tuple[str, ...]) -> list[Request]:
    """kubectl's argument forms: ``TYPE[,TYPE...] [NAME...]`` or ``TYPE/NAME...``."""
    if not args:
        raise CommandError(
            'Required resource not specified.\nUse "kubectl explain <resource>" for a detailed '
            "description of that resource (e.g. kubectl explain pods).\nSee 'kubectl get -h' for help "
            "and examples"
        )
    if any("/" in arg for arg in args):
        requests: list[Request] = []
        for arg in args:
            kind, slash, name = arg.partition("/")
            if not slash or not name:
                raise CommandError(
                    "there is no need to specify a resource type as a separate argument when passing "
                    "arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' "
                    "instead of 'kubectl get resource resource/<resource_name>'"
                )
            resource = discovery.find(kind)
            if requests and requests[-1].resource == resource:
                requests[-1].names.append(name)
            else:
                requests.append(Request(resource, [name]))
        return requests
    return [Request(res, list(args[1:])) for res in discovery.expand(args[0])]


async def named_objects(
    session: Session, args: tuple[str, ...], selector: str | None = None, all_: bool = False
) -> list[tuple[Resource, str | None, str]]:
    """The objects a write verb names: ``TYPE NAME...``, ``TYPE/NAME...``, or every object of the types
    matching ``-l`` (or all of them with ``--all``; in every namespace with ``-A``), each with its
    namespace (None if cluster-scoped)."""
    found: list[tuple[Resource, str | None, str]] = []
    for request in parse_requests(await session.discovery(), args):
        res = request.resource
        namespace = session.namespace if res.namespaced else None
        if request.names:
            found += [(res, namespace, name) for name in request.names]
        elif selector is not None or all_:
            everywhere = session.flags.all_namespaces and res.namespaced
            listed = await session.api.list(res.path(None if everywhere else namespace), label_selector=selector)
            found += [
                (res, item["metadata"].get("namespace") if everywhere else namespace, item["metadata"]["name"])
                for item in listed.get("items", [])
            ]
        else:
            raise CommandError("resource(s) were provided, but no name was specified")
    return found


def multiple_types_requested(args: tuple[str, ...]) -> bool:
    """kubectl names rows ``kind/name`` when the command line asks for more than one type."""
    if any(part == "all" for arg in args[:1] for part in arg.split(",")):
        return True
    kinds: set[str] = set()
    if any("/" in arg for arg in args):
        kinds = {arg.partition("/")[0] for arg in args}
    elif args:
        kinds = set(args[0].split(","))
    return len(kinds) > 1


async def fetch(
    session: Session,
    request: Request,
    *,
    selector: str | None,
    field_selector: str | None,
    accept: str | None,
    errors: list[str],
    extra: dict[str, Any] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[Obj]:
    """The answers for one request: one per name, or the pages of the list. Missing names become
    error lines, as kubectl reports them after printing what it found."""
    res = request.resource
    namespace = None if session.flags.all_namespaces and not request.names else session.namespace
    out: list[Obj] = []
    for name in request.names:
        try:
            out.append(await session.api.request("GET", res.path(namespace, name), accept=accept, params=extra))
        except NotFoundError as exc:
            errors.append(error_text(exc))
    if request.names:
        return out
    params: dict[str, Any] = {
        "labelSelector": selector,
        "fieldSelector": field_selector,
        "limit": chunk_size or None,
        **(extra or {}),
    }
    while True:
        page = await session.api.request("GET", res.path(namespace), params=params, accept=accept)
        out.append(page)
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return out
        params["continue"] = token


def list_items(answer: Obj) -> list[Obj]:
    """The objects of a list answer with their kind and apiVersion filled in, as kubectl prints them; an
    object answer as itself."""
    if "items" not in answer:
        return [answer]
    kind = answer.get("kind", "").removesuffix("List")
    return [{"kind": kind, "apiVersion": answer.get("apiVersion"), **item} for item in answer["items"]]


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("-o", "--output", default="", help="json|yaml|name|wide|jsonpath=...|custom-columns=...")
@click.option("-l", "--selector", default=None, help="Label selector to filter on.")
@click.option("--field-selector", default=None, help="Field selector to filter on.")
@click.option("-w", "--watch", is_flag=True, help="After listing the requested objects, watch for changes.")
@click.option("--watch-only", is_flag=True, help="Watch for changes, without listing first.")
@click.option("--no-headers", is_flag=True, help="Don't print headers.")
@click.option("--show-labels", is_flag=True, help="Show all labels as the last column.")
@click.option("-L", "--label-columns", multiple=True, help="Labels to show as columns (repeatable, or a,b).")
@click.option("--sort-by", default=None, help="Sort by a JSONPath expression, e.g. '{.metadata.name}'.")
@click.option("--ignore-not-found", is_flag=True, help="Treat 'resource not found' as a successful retrieval.")
@click.option("--show-kind", is_flag=True, help="List the resource type for the requested object(s).")
@click.option("--chunk-size", default=CHUNK_SIZE, help="List in pages of this many objects (0: all at once).")
def get(
    args: tuple[str, ...],
    output: str,
    selector: str | None,
    field_selector: str | None,
    watch: bool,
    watch_only: bool,
    no_headers: bool,
    show_labels: bool,
    label_columns: tuple[str, ...],
    sort_by: str | None,
    ignore_not_found: bool,
    show_kind: bool,
    chunk_size: int,
) -> None:
    """Display one or many resources."""
    labels = [label for value in label_columns for label in value.split(",") if label]
    style = Style(
        output,
        no_headers=no_headers,
        show_labels=show_labels,
        labels=labels,
        sort_by=sort_by,
        with_kind=show_kind or multiple_types_requested(args),
        chunk_size=chunk_size,
    )

    async def work(session: Session) -> int:
        requests = parse_requests(await session.discovery(), args)
        if watch or watch_only:
            return await _watch(session, requests, style, selector, field_selector, watch_only)
        errors: list[str] = []
        written = await style.print(session, requests, selector, field_selector, errors)
        if ignore_not_found:
            errors = [e for e in errors if "(NotFound)" not in e]
        for line in errors:
            click.echo(line, err=True)
        if not written and not errors and not ignore_not_found:
            namespaced = not session.flags.all_namespaces and all(r.resource.namespaced for r in requests)
            click.echo(
                f"No resources found in {session.namespace} namespace." if namespaced else "No resources found",
                err=True,
            )
        return 1 if errors else 0

    run(work)


@dataclass
class Style:
    """How ``get`` prints: the ``-o`` format and the table flags."""

    output: str
    no_headers: bool = False
    show_labels: bool = False
    labels: list[str] = field(default_factory=list)
    sort_by: str | None = None
    with_kind: bool = False
    chunk_size: int = CHUNK_SIZE

    @property
    def human(self) -> bool:
        return self.output in ("", "wide")

    def table_options(self, session: Session, res: Resource) -> TableOptions:
        return TableOptions(
            wide=self.output == "wide",
            no_headers=self.no_headers,
            show_labels=self.show_labels,
            label_columns=self.labels,
            with_namespace=session.flags.all_namespaces and res.namespaced,
            kind_prefix=res.kind_ref if self.with_kind else None,
        )

    async def print(
        self,
        session: Session,
        requests: list[Request],
        selector: str | None,
        field_selector: str | None,
        errors: list[str],
    ) -> bool:
        """Print every request's answer; True if anything was written to standard output."""
        extra = {"includeObject": "Object"} if self.sort_by and self.human else None
        answers = [
            (
                r,
                await fetch(
                    session,
                    r,
                    selector=selector,
                    field_selector=field_selector,
                    accept=TABLE_ACCEPT if self.human else None,
                    errors=errors,
                    extra=extra,
                    chunk_size=self.chunk_size,
                ),
            )
            for r in requests
        ]
        if self.human:
            return self._tables(session, answers)
        objects = [obj for _, pages in answers for page in pages for obj in list_items(page)]
        if self.output in ("json", "yaml"):
            objects = [without_managed_fields(obj) for obj in objects]
        if not objects and errors:
            return False  # kubectl prints only the errors, not an empty List
        return self._objects(objects, single=len(requests) == 1 and len(requests[0].names) == 1)

    def _tables(self, session: Session, answers: list[tuple[Request, list[Obj]]]) -> bool:
        written = False
        for request, tables in answers:
            if not tables:
                continue
            options = self.table_options(session, request.resource)
            merged = {**tables[0], "rows": [row for table in tables for row in table.get("rows") or []]}
            rows = table_rows(self._sorted(merged), options)
            if not rows:
                continue
            if written and not self.no_headers:
                sys.stdout.write("\n")
            header = [] if self.no_headers else [table_header(tables[0], options)]
            sys.stdout.write(TabWriter().format(header + rows))
            written = True
        sys.stdout.flush()
        return written

    def _sorted(self, table: Obj) -> Obj:
        if not self.sort_by:
            return table
        from minikube_py.kubectl.jsonpath import sort_key

        rows = sorted(table.get("rows") or [], key=lambda row: sort_key(self.sort_by or "", row.get("object") or {}))
        return {**table, "rows": rows}

    def _objects(self, objects: list[Obj], *, single: bool) -> bool:
        if self.sort_by:
            from minikube_py.kubectl.jsonpath import sort_key

            objects = sorted(objects, key=lambda obj: sort_key(self.sort_by or "", obj))
        fmt, _, arg = self.output.partition("=")
        if fmt == "name":
            text = "".join(f"{_kind_ref(obj)}/{obj['metadata']['name']}\n" for obj in objects)
        elif fmt in ("json", "yaml"):
            doc = objects[0] if single else as_list(objects)
            text = go_json(doc) + "\n" if fmt == "json" else go_yaml(doc)
        elif fmt in ("jsonpath", "jsonpath-as-json"):
            from minikube_py.kubectl.jsonpath import render

            text = render(arg, objects[0] if single else as_list(objects))
        elif fmt == "custom-columns":
            from minikube_py.kubectl.jsonpath import custom_columns

            text = custom_columns(arg, objects, no_headers=self.no_headers)
        elif fmt in ("go-template", "template", "go-template-file", "templatefile"):
            from minikube_py.kubectl.gotemplate import render as render_template

            source = Path(arg).read_text() if fmt.endswith("file") else arg
            text = render_template(source, objects[0] if single else as_list(objects))
        else:
            raise CommandError(
                f'unable to match a printer suitable for the output format "{self.output}", '
                "allowed formats are: custom-columns,custom-columns-file,go-template,"
                "go-template-file,json,jsonpath,jsonpath-as-json,jsonpath-file,name,template,"
                "templatefile,wide,yaml"
            )
        sys.stdout.write(text)
        sys.stdout.flush()
        return bool(text)


def without_managed_fields(obj: Obj) -> Obj:
    """kubectl hides ``metadata.managedFields`` unless asked (``--show-managed-fields``)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _kind_ref(obj: Obj) -> str:
    group = obj.get("apiVersion", "").rpartition("/")[0]
    return obj.get("kind", "").lower() + (f".{group}" if group else "")


def _object_text(output: str, obj: Obj, count: int) -> str:
    """One object as ``get -w -o FORMAT`` prints each: kubectl prints the objects of a watch one by
    one (YAML documents separated by ``---``), never as a List."""
    fmt, _, arg = output.partition("=")
    if fmt == "name":
        return f"{_kind_ref(obj)}/{obj['metadata']['name']}\n"
    if fmt == "json":
        return go_json(without_managed_fields(obj)) + "\n"
    if fmt == "yaml":
        return ("---\n" if count else "") + go_yaml(without_managed_fields(obj))
    if fmt == "jsonpath":
        from minikube_py.kubectl.jsonpath import render

        return render(arg, obj)
    raise CommandError(f"pykube kubectl get -w cannot print -o {fmt}")


class _WatchPrinter:
    """What ``get -w`` prints for the listing and for each event: table rows aligned with what came
    before (the header once, with the first rows), or the objects one by one."""

    def __init__(self, style: Style, options: TableOptions) -> None:
        self.style = style
        self.options = options
        self.writer = TabWriter()
        self.columns: list[Obj] = []
        self.header_due = not style.no_headers
        self.count = 0

    def print(self, answer: Obj) -> None:
        if self.style.human:
            self.columns = answer.get("columnDefinitions") or self.columns
            rows = table_rows(answer, self.options, self.columns)
            if not rows:
                return
            header = [table_header({"columnDefinitions": self.columns}, self.options)] if self.header_due else []
            self.header_due = False
            sys.stdout.write(self.writer.format(header + rows))
        else:
            for obj in list_items(answer):
                sys.stdout.write(_object_text(self.style.output, obj, self.count))
                self.count += 1
        sys.stdout.flush()


async def _watch(
    session: Session,
    requests: list[Request],
    style: Style,
    selector: str | None,
    field_selector: str | None,
    watch_only: bool,
) -> int:
    """List (unless ``--watch-only``), then print each change as it comes."""
    import orjson

    if len(requests) != 1 or len(requests[0].names) > 1:
        raise CommandError(f"you may only specify a single resource type when watching, got {len(requests)}")
    request = requests[0]
    res = request.resource
    accept = TABLE_ACCEPT if style.human else None
    errors: list[str] = []
    # one page: the watch starts from the listing's resourceVersion
    [listing] = (
        await fetch(
            session,
            request,
            selector=selector,
            field_selector=field_selector,
            accept=accept,
            errors=errors,
            chunk_size=0,
        )
    )[-1:] or [{}]
    for line in errors:
        click.echo(line, err=True)
    if errors:
        return 1
    printer = _WatchPrinter(style, style.table_options(session, res))
    if style.human:
        printer.columns = listing.get("columnDefinitions") or []
    if not watch_only:
        printer.print(listing)
    fields = field_selector
    if request.names:
        name_field = f"metadata.name={request.names[0]}"
        fields = f"{fields},{name_field}" if fields else name_field
    namespace = None if session.flags.all_namespaces and not request.names else session.namespace
    params = {
        "watch": "true",
        "resourceVersion": (listing.get("metadata") or {}).get("resourceVersion"),
        "labelSelector": selector,
        "fieldSelector": fields,
    }
    async with session.api.stream("GET", res.path(namespace), params=params, accept=accept, endless=True) as resp:
        async for line in resp.content:
            if not line.strip():
                continue
            event = orjson.loads(line)
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                printer.print(event.get("object") or {})
    return 0
