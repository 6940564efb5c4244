"""A full disk under a SQLite server: writes get a clear error (a 500 naming the full disk, as
kube-apiserver answers etcd's "mvcc: database space exceeded"), reads are still served, the process
stays up, and writes go through again once space is freed, with nothing lost across a restart.

The server's data directory is on a small tmpfs of the test's own, filled by a file beside it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.testing import start_server

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
#: bigger than the WAL file can be when the disk fills, so the refused write needs new space for sure
BIG = 900 * 1024


def configmap(name: str, size: int = 10) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"d": "x" * size}}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: quick to fill."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the file system has no space left. Unbuffered: a buffered file keeps the
    bytes of the write that failed and fails again on closing, flushing them."""
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


def test_a_full_disk_refuses_writes_clearly_and_they_resume_when_space_returns(small_disk: Path) -> None:
    data_dir = small_disk / "server"
    server = start_server(data_dir)
    try:
        assert server.request("POST", CONFIGMAPS, configmap("before"))[0] == 201
        fill(small_disk / "filler")

        status, refused = server.request("POST", CONFIGMAPS, configmap("during", BIG))
        assert (status, refused["reason"], refused["code"]) == (500, "InternalError", 500), refused
        assert "the datastore's disk is full (database or disk is full)" in refused["message"]
        done = server.kubectl("create", "-f", "-", input=json.dumps(configmap("during-kubectl", BIG)), check=False)
        assert done.returncode == 1
        assert "Internal error occurred: the datastore's disk is full" in done.stderr, done.stderr
        # reads are served, from memory; nothing of the refused writes shows; the process stays up
        assert server.request("GET", f"{CONFIGMAPS}/before")[0] == 200
        assert server.kubectl("get", "configmap", "before", "-o", "name").stdout.strip() == "configmap/before"
        assert server.request("GET", f"{CONFIGMAPS}/during")[0] == 404
        assert server.request("GET", "/livez")[0] == 200
        assert server.process.poll() is None

        (small_disk / "filler").unlink()
        assert server.request("POST", CONFIGMAPS, configmap("after", BIG))[0] == 201
        server.kubectl("create", "configmap", "after-kubectl", "--from-literal=k=v")
        assert server.process.poll() is None
    finally:
        server.stop()
    # every acknowledged write survived, and the database opens cleanly
    server = start_server(data_dir)
    try:
        names = {item["metadata"]["name"] for item in server.request("GET", CONFIGMAPS)[1]["items"]}
        assert {"before", "after", "after-kubectl"} <= names
        assert not names & {"during", "during-kubectl"}
    finally:
        server.stop()
