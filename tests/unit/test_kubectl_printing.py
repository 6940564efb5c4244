"""kubectl's output formats: tabwriter alignment, Table decoration, Go's JSON and YAML."""

from __future__ import annotations

from minikube_py.kubectl.printing import (
    TableOptions,
    TabWriter,
    cell_text,
    go_json,
    go_tabwriter,
    go_yaml,
    table_header,
    table_rows,
    tabulate,
)

TABLE = {
    "kind": "Table",
    "columnDefinitions": [
        {"name": "Name", "format": "name", "priority": 0},
        {"name": "Ready", "priority": 0},
        {"name": "IP", "priority": 1},
    ],
    "rows": [
        {
            "cells": ["web", "1/1", "10.0.0.5"],
            "object": {"metadata": {"name": "web", "namespace": "ns1", "labels": {"b": "2", "a": "1"}}},
        },
        {"cells": ["database", "0/1", None], "object": {"metadata": {"name": "database", "namespace": "ns2"}}},
    ],
}


def test_cells_are_padded_to_the_widest_plus_three_and_the_last_is_not_padded() -> None:
    assert tabulate([["NAME", "READY"], ["database", "0/1"]]) == "NAME       READY\ndatabase   0/1\n"
    # no column narrower than six, padding included, as kubectl's tabwriter (minwidth 6)
    assert tabulate([["A", ""], ["B", ""]]) == "A     \nB     \n"
    assert tabulate([["a", "0/1", "0", "0s"]]) == "a     0/1   0     0s\n"


def test_remembered_widths_keep_later_rows_aligned_and_grow() -> None:
    writer = TabWriter()
    assert writer.format([["NAME", "AGE"], ["a", "1s"]]) == "NAME   AGE\na      1s\n"
    assert writer.format([["b", "2s"]]) == "b      2s\n"
    assert writer.format([["longer-name", "3s"]]) == "longer-name   3s\n"
    assert writer.format([["c", "4s"]]) == "c             4s\n"


def test_cell_text_as_kubectl_prints_cells() -> None:
    assert [cell_text(v) for v in ("a\nb", 3, 2.5, True, None)] == ["a...", "3", "2.5", "true", "<none>"]


def test_table_decorations() -> None:
    options = TableOptions(
        wide=True, show_labels=True, label_columns=["example.com/a"], with_namespace=True, kind_prefix="pod"
    )
    assert table_header(TABLE, options) == ["NAMESPACE", "NAME", "READY", "IP", "A", "LABELS"]
    assert table_rows(TABLE, options) == [
        ["ns1", "pod/web", "1/1", "10.0.0.5", "", "a=1,b=2"],
        ["ns2", "pod/database", "0/1", "<none>", "", "<none>"],
    ]
    narrow = TableOptions()
    assert table_header(TABLE, narrow) == ["NAME", "READY"]
    assert table_rows(TABLE, narrow)[0] == ["web", "1/1"]


def test_json_as_go_writes_it() -> None:
    assert (
        go_json({"b": [1, {}], "a": "<&>"})
        == '{\n    "a": "\\u003c\\u0026\\u003e",\n    "b": [\n        1,\n        {}\n    ]\n}'
    )
    assert go_json({"b": 1, "a": "é"}, indent=False) == '{"a":"é","b":1}'


def test_yaml_as_go_yaml_writes_it() -> None:
    doc = {
        "port": "80",
        "empty": "",
        "when": "2024-01-01T00:00:00Z",
        "text": "a\nb\n",
        "items": [{"n": 1}],
        "plain": "x",
    }
    assert go_yaml(doc) == (
        'empty: ""\nitems:\n- "n": 1\nplain: x\nport: "80"\ntext: |\n  a\n  b\nwhen: "2024-01-01T00:00:00Z"\n'
    )


def test_go_tabwriter_aligns_each_block_of_lines_on_its_own() -> None:
    text = "Name:\tx\nService Account:\tdefault\nContainers:\n  c:\n    Image:\ti\n    Host Port:\t0/TCP\n"
    assert go_tabwriter(text, 2) == (
        "Name:             x\nService Account:  default\nContainers:\n  c:\n    Image:      i\n    Host Port:  0/TCP\n"
    )
    # a nested column: only the lines that have it align on it
    assert go_tabwriter("a\tb\tc\nlong\td\nx\n", 1) == "a    b c\nlong d\nx\n"


def test_yaml_quotes_the_yaml_1_1_booleans_go_yaml_quotes() -> None:
    assert go_yaml({"image": "y", "n": "N", "x": "yes"}) == 'image: "y"\n"n": "N"\nx: "yes"\n'


def test_typed_json_keeps_field_order() -> None:
    assert go_json({"kind": "Pod", "apiVersion": "v1"}, sort_keys=False) == (
        '{\n    "kind": "Pod",\n    "apiVersion": "v1"\n}'
    )


def test_yaml_writes_shared_values_in_full() -> None:
    labels = {"app": "x"}
    assert go_yaml({"a": labels, "b": labels}) == "a:\n  app: x\nb:\n  app: x\n"
