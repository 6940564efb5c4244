"""Fixtures shared by the integration and end-to-end tests (see minikube_py.testing)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from minikube_py.testing import KUBECTL, RunningServer, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the whole session; tests isolate themselves with their own namespaces."""
    assert os.path.exists(KUBECTL), "kubectl v1.32 must be installed at /usr/bin/kubectl"
    running = start_server(tmp_path_factory.mktemp("server") / "data")
    yield running
    running.stop()


@pytest.fixture
def namespace(server: RunningServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{name}-{os.urandom(2).hex()}"
    server.kubectl("create", "namespace", name)
    yield name
