"""kubectl's output formats, byte for byte: tables aligned as Go's tabwriter aligns them (padding 3),
the server's Table decorated with NAMESPACE, label and LABELS columns, ``-o name``, and JSON and YAML
as Go's encoders write them (sorted keys; JSON indented by four with HTML characters escaped; YAML
with double-quoted strings where quoting is needed and literal blocks for multi-line text)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from minikube_py.model.selectors import labels_to_string

Obj = dict[str, Any]

#: kubectl's tabwriter: minwidth 0, padding 3, spaces
PADDING = 3
#: kubectl's table writer makes no column narrower than this, padding included
MIN_WIDTH = 6


class TabWriter:
    """Aligns rows as kubectl's tabwriter does: every cell but a line's last is padded to the widest
    cell of its column plus three spaces; the last cell is written as is. Widths are remembered from
    one batch to the next (kubectl's RememberWidths), so the rows ``get -w`` prints line up with the
    table above them, and grow when a wider cell comes."""

    def __init__(self) -> None:
        self.widths: dict[int, int] = {}

    def format(self, rows: Iterable[Sequence[str]]) -> str:
        rows = list(rows)
        for row in rows:
            for i, cell in enumerate(row[:-1]):
                self.widths[i] = max(self.widths.get(i, MIN_WIDTH), len(cell) + PADDING)
        lines = []
        for row in rows:
            cells = [cell.ljust(self.widths[i]) for i, cell in enumerate(row[:-1])]
            lines.append("".join(cells) + (row[-1] if row else "") + "\n")
        return "".join(lines)


def tabulate(rows: Iterable[Sequence[str]]) -> str:
    """``rows`` aligned on their own."""
    return TabWriter().format(rows)


def cell_text(value: Any) -> str:
    """A Table cell as kubectl prints it: text up to its first line break (then ``...``), numbers and
    booleans as Go formats them."""
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        head, newline, _ = value.partition("\n")
        return head + "..." if newline else head
    if isinstance(value, (int, float)):
        return go_number(value)
    return go_json(value, indent=False)


def go_number(value: float) -> str:
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e21):
        return str(int(value))
    return repr(value)


@dataclass
class TableOptions:
    wide: bool = False
    no_headers: bool = False
    show_labels: bool = False
    label_columns: list[str] = field(default_factory=list)
    with_namespace: bool = False
    #: the ``pod`` of ``pod/name`` when several types are printed together
    kind_prefix: str | None = None


def table_header(table: Obj, options: TableOptions) -> list[str]:
    columns = [c for c in table.get("columnDefinitions") or [] if options.wide or not c.get("priority")]
    header = ["NAMESPACE"] if options.with_namespace else []
    header += [c["name"].upper() for c in columns]
    header += [label.rsplit("/", 1)[-1].upper() for label in options.label_columns]
    if options.show_labels:
        header.append("LABELS")
    return header


def table_rows(table: Obj, options: TableOptions, columns: list[Obj] | None = None) -> list[list[str]]:
    """The rows of a server Table with kubectl's decorations. ``columns`` are the definitions to use
    when the Table carries none (watch events after the first)."""
    definitions = table.get("columnDefinitions") or columns or []
    shown = [i for i, c in enumerate(definitions) if options.wide or not c.get("priority")]
    out = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        meta = (row.get("object") or {}).get("metadata") or {}
        line = [meta.get("namespace", "")] if options.with_namespace else []
        for i in shown:
            text = cell_text(cells[i]) if i < len(cells) else ""
            if definitions[i].get("format") == "name" and options.kind_prefix:
                text = f"{options.kind_prefix}/{text}"
            line.append(text)
        labels = meta.get("labels") or {}
        line += [labels.get(label, "") for label in options.label_columns]
        if options.show_labels:
            line.append(labels_to_string(labels))
        out.append(line)
    return out


def go_json(value: Any, *, indent: bool = True, sort_keys: bool = True) -> str:
    """JSON as Go's encoding/json writes an unstructured object (kubectl's ``-o json``); a typed object
    kubectl made itself keeps its struct's field order (``sort_keys=False``, the dict's order)."""
    text = json.dumps(
        value,
        indent=4 if indent else None,
        sort_keys=sort_keys,
        ensure_ascii=False,
        separators=None if indent else (",", ":"),
    )
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


#: the YAML 1.1 booleans PyYAML's resolver does not know (it knows yes/no/on/off)
_YAML11_BOOLEANS = frozenset({"y", "Y", "n", "N"})


def go_yaml(value: Any) -> str:
    """YAML as kubectl's ``-o yaml`` writes it (go-yaml v2 under sigs.k8s.io/yaml)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def choose_scalar_style(self) -> str:
            style: str = super().choose_scalar_style()
            if self.event.value in _YAML11_BOOLEANS and self.event.implicit[0]:
                return '"'  # go-yaml v2 reads y/n as booleans, so it quotes them as strings
            return '"' if style == "'" else style

        def ignore_aliases(self, data: Any) -> bool:
            return True  # Go writes a shared value out in full each time, never as an anchor

    def text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    Dumper.add_representer(str, text)
    return yaml.dump(value, Dumper=Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=80)


def as_list(items: list[Obj]) -> Obj:
    """The ``kind: List`` kubectl prints for several objects."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def go_tabwriter(text: str, padding: int, min_width: int = 0) -> str:
    """``text`` (tab-separated cells, newline-terminated lines) aligned exactly as Go's text/tabwriter
    aligns it with spaces: a column block is a run of consecutive lines that have a tab-terminated
    cell in that column, and each block is as wide as its widest cell plus ``padding``, and at least
    ``min_width`` (kubectl's table writer: 6, padding included). ``describe`` writes through one such
    writer with no minimum, so its sections align among themselves."""
    lines = [line.split("\t") for line in text.split("\n")]
    trailing = lines.pop() if lines and lines[-1] == [""] else None
    out: list[str] = []
    widths: list[int] = []

    def write_lines(start: int, end: int) -> None:
        for cells in lines[start:end]:
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("".join(parts))

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = min_width
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    return "\n".join(out) + ("\n" if trailing is not None else "")
