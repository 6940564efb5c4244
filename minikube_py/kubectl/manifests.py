"""Reading ``-f``: files, directories (``-R`` for their subdirectories), ``-`` for standard input;
multi-document YAML and JSON, ``kind: List`` expanded into its items."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minikube_py.kubectl.errors import CommandError

#: the extensions kubectl reads in a directory
EXTENSIONS = (".json", ".yaml", ".yml")


@dataclass
class Manifest:
    source: str  # the file name kubectl names in errors, STDIN for -
    obj: dict[str, Any]


def read(filenames: tuple[str, ...], recursive: bool = False) -> list[Manifest]:
    if not filenames:
        raise CommandError("must specify one of -f and -k")
    out: list[Manifest] = []
    for name in filenames:
        if name == "-":
            out += parse(sys.stdin.read(), "STDIN")
            continue
        path = Path(name)
        if not path.exists():
            raise CommandError(f'the path "{name}" does not exist')
        if path.is_dir():
            files = sorted(path.rglob("*") if recursive else path.iterdir())
            for file in files:
                if file.is_file() and file.suffix in EXTENSIONS:
                    out += parse(file.read_text(), str(file))
        else:
            out += parse(path.read_text(), name)
    return out


def parse(text: str, source: str) -> list[Manifest]:
    import yaml

    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise CommandError(f"error parsing {source}: {exc}") from None
    out: list[Manifest] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
            raise CommandError(
                f'error validating "{source}": error validating data: '
                "[apiVersion not set, kind not set]; if you choose to ignore these errors, "
                "turn validation off with --validate=false"
            )
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            out += [Manifest(source, item) for item in doc["items"]]
        else:
            out.append(Manifest(source, doc))
    return out
