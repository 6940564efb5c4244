"""An operator written with kopf (the Python operator framework), run unchanged against pykube: it
receives the create, update and delete of its custom objects, patches their status, and carries on
through a restart of the API server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crd_manifests import widget, widget_crd
from kubectl_helpers import Kubectl

from minikube_py.testing import RunningServer, start_server

OPERATOR = Path(__file__).parent / "operators" / "widget_operator.py"
KOPF = Path(sys.executable).parent / "kopf"
#: how long the operator may take to react; a bound for a hung test, not a speed check
PATIENCE = 60.0


def eventually(what: str, check: Callable[[], Any], operator: subprocess.Popen[bytes], log: Path, output: Path) -> Any:
    deadline = time.monotonic() + PATIENCE
    while True:
        found = check()
        if found:
            return found
        if operator.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"the operator never got to: {what}\nhandled: {log.read_text() if log.exists() else ''}"
                f"\n{output.read_text()[-4000:]}"
            )
        time.sleep(0.2)


def test_kopf_operator_handles_custom_objects_across_a_server_restart(tmp_path: Path) -> None:
    assert KOPF.exists(), "kopf must be installed (the test extras)"
    group = f"op{os.urandom(3).hex()}.pykube.test"
    server: RunningServer = start_server(tmp_path / "data")  # of this test's own: the test restarts it
    k = Kubectl(server, "default")
    k.apply(widget_crd(group))
    resource = f"widgets.{group}"
    log = tmp_path / "handled.log"
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "WIDGET_GROUP": group, "WIDGET_OPERATOR_LOG": str(log)}
    output = tmp_path / "operator.log"
    with output.open("wb") as sink:
        operator = subprocess.Popen(
            [str(KOPF), "run", "--standalone", "--all-namespaces", str(OPERATOR)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:

        def phase() -> str:
            return str((k.obj(resource, "w").get("status") or {}).get("phase", ""))

        def handled(line: str) -> Callable[[], bool]:
            return lambda: log.exists() and line in log.read_text().splitlines()

        k.apply(widget(group, "w", size="small"))
        eventually("create", handled("create w small"), operator, log, output)
        assert eventually("status of the create", lambda: phase() == "Created-small", operator, log, output)

        k.run("patch", resource, "w", "--type=merge", "-p", '{"spec":{"size":"large"}}')
        eventually("update", handled("update w large"), operator, log, output)
        assert eventually("status of the update", lambda: phase() == "Updated-large", operator, log, output)

        port = int(server.url.rsplit(":", 1)[1])
        server.stop()
        server = start_server(server.data_dir, port=port)
        k = Kubectl(server, "default")
        k.run("patch", resource, "w", "--type=merge", "-p", '{"spec":{"size":"small"}}')
        eventually("update after the restart", handled("update w small"), operator, log, output)
        assert eventually("status after the restart", lambda: phase() == "Updated-small", operator, log, output)

        k.run("delete", resource, "w", timeout=PATIENCE)  # waits for kopf to release its finalizer
        eventually("delete", handled("delete w small"), operator, log, output)
        assert not k.exists(resource, "w")
    finally:
        operator.terminate()
        try:
            operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait()
        server.stop()
