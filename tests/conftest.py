"""Fixtures shared by the test suites: servers for the integration and end-to-end tests (see
minikube_py.testing and support.py), the leaked-task check, and the end-of-run leftover check."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from leaks import fail_on_leaks, leaked_tasks

from minikube_py.testing import KUBECTL, RunningServer, eventually, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the whole session; tests isolate themselves with their own namespaces."""
    assert os.path.exists(KUBECTL), "kubectl v1.32 must be installed (on PATH)"
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
    for path in (
        f"/api/v1/namespaces/{name}/serviceaccounts/default",
        f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt",
    ):
        eventually(lambda path=path: server.request("GET", path)[0] == 200 or None, f"{path} to exist")
    yield name


@pytest.fixture
async def no_leaked_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fails the test when a task it started is still pending after its teardown (see tests/leaks.py);
    every async unit test has it (tests/unit/conftest.py)."""
    before = asyncio.all_tasks()
    yield
    fail_on_leaks(await leaked_tasks(before), request.node.nodeid)


# --- nothing left behind -------------------------------------------------------------------------------
# What pykube and its test scripts make on a host is listed when the session starts and again when it
# ends; what appeared in between and is still there fails the run, naming each leftover, so that a
# fixture that forgets to clean up is noticed where it happens: containers and Docker networks pykube
# labels (io.pykube.managed=true), network namespaces and links named pykube (scripts/netns-node.sh's
# nodes, bridge and veths), iptables rules that name pykube in either backend (python-iptables writes
# the legacy one, Docker and the test scripts nft), and pykube's routes (rtnetlink protocol 194). Only
# sessions that ran end-to-end or integration tests are checked (unit tests touch none of it). On a host
# where other clusters start and stop while the tests run, PYKUBE_TEST_LEFTOVERS=ignore turns it off.

_LEFTOVERS_AT_START = pytest.StashKey[set[str]]()
_LEFTOVERS_FOUND = pytest.StashKey[list[str]]()
#: the iptables dumps searched for rules naming pykube: the nft backend (Docker's) and the legacy one
_IPTABLES_DUMPS = (("iptables-save", "nft"), ("iptables-legacy-save", "legacy"))


def _lines(*command: str) -> list[str] | None:
    """The output of ``command``, a line each; None when the tool is missing or refuses."""
    if shutil.which(command[0]) is None:
        return None
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else None


def pykube_docker_objects() -> set[str] | None:
    """ "container NAME (ID)" / "network NAME (ID)" for every object pykube labelled on the local engine;
    None without a reachable engine (a unit-test host)."""
    found: set[str] = set()
    for kind, command, name in (("container", ["ps", "-a"], "{{.Names}}"), ("network", ["network", "ls"], "{{.Name}}")):
        listed = _lines(
            "docker",
            *command,
            "--no-trunc",
            "--filter",
            "label=io.pykube.managed=true",
            "--format",
            name + " ({{.ID}})",
        )
        if listed is None:
            return None
        found.update(f"{kind} {line}" for line in listed)
    return found


def pykube_host_objects() -> set[str]:
    """Network namespaces, links, iptables rules and routes of pykube's on this host, a line each."""
    found = {f"netns {line.split()[0]}" for line in _lines("ip", "netns", "list") or [] if "pykube" in line}
    for line in _lines("ip", "-o", "link", "show") or []:
        name = line.split(":")[1].strip().split("@")[0] if line.count(":") >= 2 else ""
        if "pykube" in name or name.startswith("pkv"):
            found.add(f"link {name}")
    for command, backend in _IPTABLES_DUMPS:
        table = ""
        for line in _lines(command) or []:
            if line.startswith("*"):
                table = line[1:]
            elif "pykube" in line.lower() and not line.startswith("#"):
                found.add(f"iptables ({backend}) {table}: {line}")
    found.update(f"route {line.strip()}" for line in _lines("ip", "route", "show", "proto", "194") or [])
    return found


def _checks_leftovers(session: pytest.Session) -> bool:
    if os.environ.get("PYKUBE_TEST_LEFTOVERS") == "ignore":
        return False
    return any({"e2e", "integration"} & set(item.path.parts) for item in session.items)


def _pykube_objects() -> set[str] | None:
    docker = pykube_docker_objects()
    return None if docker is None else docker | pykube_host_objects()


def pytest_sessionstart(session: pytest.Session) -> None:
    at_start = _pykube_objects()
    if at_start is not None:
        session.config.stash[_LEFTOVERS_AT_START] = at_start


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    at_start = session.config.stash.get(_LEFTOVERS_AT_START, None)
    if at_start is None or not _checks_leftovers(session):
        return
    left = sorted((_pykube_objects() or set()) - at_start)
    if left:
        session.config.stash[_LEFTOVERS_FOUND] = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFTOVERS_FOUND, [])
    if left:
        terminalreporter.section("pykube objects left behind", red=True)
        for what in left:
            terminalreporter.line(f"{what} was not there when the run started")
        terminalreporter.line(
            "the run fails: a fixture did not remove what it made "
            "(`pykube cleanup` removes pykube's; `scripts/netns-node.sh down N` a test node)"
        )
