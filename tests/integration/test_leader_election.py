"""Two servers on one fresh PostgreSQL database: exactly one leads (holds the controller-manager
Lease and runs the controllers), and killing it with SIGKILL hands over within the lease duration.

Namespace deletion is finished by the namespace controller, so it working proves that some server's
controllers run. Election timings are short: lease 4 s, renew deadline 3 s, retry every 0.5 s.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from support import postgres_url

from minikube_py.testing import RunningServer, eventually, fresh_postgres_database, start_server

Obj = dict[str, Any]
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/pykube-controller-manager"
LEASE_DURATION, RENEW_DEADLINE, RETRY = 4, 3, 0.5
FLAGS = (
    "--leader-elect-lease-duration",
    str(LEASE_DURATION),
    "--leader-elect-renew-deadline",
    str(RENEW_DEADLINE),
    "--leader-elect-retry-period",
    str(RETRY),
)


def identity(server: RunningServer) -> str:
    return f"{socket.gethostname().lower()}_{(server.data_dir / 'server-id').read_text().strip()}"


def lease(server: RunningServer) -> Obj | None:
    status, body = server.request("GET", LEASE)
    return body if status == 200 else None


def holder(server: RunningServer) -> str:
    return str(((lease(server) or {}).get("spec") or {}).get("holderIdentity") or "")


def namespace_deletion_completes(server: RunningServer, name: str) -> None:
    server.kubectl("create", "namespace", name)
    server.kubectl("-n", name, "create", "configmap", "inside", "--from-literal=a=b")
    server.kubectl("delete", "namespace", name, "--wait=false")
    eventually(
        lambda: server.request("GET", f"/api/v1/namespaces/{name}")[0] == 404,
        f"namespace {name} to be deleted by the leader's namespace controller",
    )


def test_one_leader_and_a_handover_when_it_is_killed(tmp_path: Path) -> None:
    base = postgres_url()

    async def on_fresh_database() -> None:
        async with fresh_postgres_database(base) as url:
            await asyncio.to_thread(_one_leader_and_a_handover, tmp_path, url)

    asyncio.run(on_fresh_database())


def _one_leader_and_a_handover(tmp_path: Path, database: str) -> None:
    first = start_server(tmp_path / "a", "--datastore", database, *FLAGS)
    second: RunningServer | None = None
    try:
        eventually(lambda: holder(first) == identity(first), "the first server to lead")
        second = start_server(tmp_path / "b", "--datastore", database, "--token", first.node_token, *FLAGS)
        renewed = lease(second)
        assert renewed is not None
        # well past a lease duration: the leader keeps renewing, the other keeps out
        time.sleep(LEASE_DURATION + 1)
        now = lease(second)
        assert now is not None
        assert now["spec"]["holderIdentity"] == identity(first)
        assert now["spec"]["renewTime"] != renewed["spec"]["renewTime"]
        assert now["spec"]["leaseTransitions"] == 1
        assert now["spec"]["leaseDurationSeconds"] == LEASE_DURATION
        namespace_deletion_completes(second, "while-first-leads")

        first.process.kill()
        first.process.wait(10)
        killed = time.monotonic()
        eventually(lambda: holder(second) == identity(second), "the second server to take over")
        handover = time.monotonic() - killed
        print(f"handover after SIGKILL: {handover:.2f}s (lease duration {LEASE_DURATION}s)")
        assert handover <= LEASE_DURATION + RETRY + 2, f"handover took {handover:.1f}s"
        taken = lease(second)
        assert taken is not None and taken["spec"]["leaseTransitions"] == 2
        namespace_deletion_completes(second, "after-handover")
    finally:
        if first.process.poll() is None:
            first.stop()
        if second is not None:
            second.stop()
