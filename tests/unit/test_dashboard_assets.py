"""The dashboard's vendored libraries are the pinned ones, with their licences, inside the package."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from minikube_py.api.dashboard import STATIC

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r'^\s*"(?P<spec>\S+)\s+(?P<file>\S+)\s+(?P<name>\S+)\s+(?P<sha>[0-9a-f]{64})"$', re.M)


def pins() -> list[re.Match[str]]:
    found = list(PIN.finditer((ROOT / "scripts" / "vendor-dashboard.sh").read_text()))
    assert found, "scripts/vendor-dashboard.sh pins nothing"
    return found


def test_every_vendored_file_has_its_pinned_hash() -> None:
    for pin in pins():
        data = (STATIC / "vendor" / pin["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == pin["sha"], f"{pin['name']} is not {pin['spec']} {pin['file']}"


def test_each_vendored_package_brings_its_licence() -> None:
    packages = {pin["spec"].rsplit("@", 1)[0] for pin in pins()}
    licences = {pin["spec"].rsplit("@", 1)[0] for pin in pins() if pin["file"] == "LICENSE"}
    assert packages == licences
    assert {p.name for p in (STATIC / "vendor").iterdir()} == {pin["name"] for pin in pins()}


def test_the_package_data_covers_every_asset() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "minikube_py.api.dashboard"
    ]
    assets = {p.relative_to(STATIC.parent) for p in STATIC.rglob("*") if p.is_file()}
    covered = {p.relative_to(STATIC.parent) for pattern in globs for p in STATIC.parent.glob(pattern) if p.is_file()}
    assert assets == covered
