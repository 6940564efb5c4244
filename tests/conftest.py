"""Fixtures shared by the integration and end-to-end tests (see minikube_py.testing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from minikube_py.testing import KUBECTL, RunningServer, eventually, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the whole session; tests isolate themselves with their own namespaces."""
    assert os.path.exists(KUBECTL), "kubectl v1.32 must be installed at /usr/bin/kubectl"
    running = start_server(tmp_path_factory.mktemp("server") / "data")
    yield running
    running.stop()


@pytest.fixture
def namespace(server: RunningServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it, once its controllers have given it what every
    namespace holds (the ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap), as
    Kubernetes' e2e framework waits for them: tests then see only what they make."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{name}-{os.urandom(2).hex()}"
    server.kubectl("create", "namespace", name)
    for path in (f"/api/v1/namespaces/{name}/serviceaccounts/default",
                 f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt"):
        eventually(lambda path=path: server.request("GET", path)[0] == 200 or None, f"{path} to exist")
    yield name


# --- nothing left behind -------------------------------------------------------------------------------
# Containers and Docker networks pykube labels (io.pykube.managed=true) on the local engine are listed
# when the session starts and again when it ends; what appeared in between and is still there fails the
# run, naming each leftover, so that a fixture that forgets to clean up is noticed where it happens. Only
# sessions that ran end-to-end tests are checked (nothing else touches Docker). On a host where other
# clusters start and stop while the tests run, PYKUBE_TEST_LEFTOVERS=ignore turns the check off.

_LEFTOVERS_AT_START = pytest.StashKey[dict[str, str]]()
_LEFTOVERS_FOUND = pytest.StashKey[list[str]]()


def pykube_docker_objects() -> dict[str, str] | None:
    """id → "container NAME" / "network NAME" for every object pykube labelled on the local engine;
    None without a reachable engine (a unit-test host)."""
    if shutil.which("docker") is None:
        return None
    found: dict[str, str] = {}
    for kind, command, name in (("container", ["ps", "-a"], "{{.Names}}"), ("network", ["network", "ls"], "{{.Name}}")):
        done = subprocess.run(["docker", *command, "--no-trunc", "--filter", "label=io.pykube.managed=true",
                               "--format", "{{.ID}} " + name], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            return None
        for line in done.stdout.splitlines():
            object_id, _, object_name = line.partition(" ")
            found[object_id] = f"{kind} {object_name}"
    return found


def _checks_leftovers(session: pytest.Session) -> bool:
    if os.environ.get("PYKUBE_TEST_LEFTOVERS") == "ignore":
        return False
    return any("e2e" in item.path.parts for item in session.items)


def pytest_sessionstart(session: pytest.Session) -> None:
    at_start = pykube_docker_objects()
    if at_start is not None:
        session.config.stash[_LEFTOVERS_AT_START] = at_start


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    at_start = session.config.stash.get(_LEFTOVERS_AT_START, None)
    if at_start is None or not _checks_leftovers(session):
        return
    now = pykube_docker_objects() or {}
    left = sorted(what for object_id, what in now.items() if object_id not in at_start)
    if left:
        session.config.stash[_LEFTOVERS_FOUND] = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFTOVERS_FOUND, [])
    if left:
        terminalreporter.section("pykube objects left behind", red=True)
        for what in left:
            terminalreporter.line(f"{what} (label io.pykube.managed=true) was not there when the run started")
        terminalreporter.line("the run fails: a fixture did not remove what it made (`pykube cleanup` removes them)")
