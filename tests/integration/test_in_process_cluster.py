"""The in-process harness (tests/inprocess.py) on the test's own event loop: the real server (API,
SQLite store, controllers) and fake nodes in one loop with the test, which talks to them through the
same HTTP client the controllers use; everything they started must have ended when they stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_nodes import fake_nodes_on_loop
from inprocess import server_config, serving, until

from minikube_py.agent.runtime.fake import RUN_SECONDS
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.testing import free_port

Obj = dict[str, Any]
JOBS = "/apis/batch/v1/namespaces/default/jobs"


@pytest.mark.usefixtures("no_leaked_tasks")
async def test_a_job_runs_to_completion_on_fake_nodes_in_the_tests_own_loop(tmp_path: Path) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "in-loop"},
        "spec": {
            "completions": 2,
            "template": {
                "metadata": {"annotations": {RUN_SECONDS: "0.2"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    async with (
        serving(server_config(tmp_path / "data", free_port())) as server,
        fake_nodes_on_loop(server, ["inloop-1", "inloop-2"]),
        ApiClient(load_kubeconfig(server.kubeconfig_path)) as api,
    ):
        await api.create(JOBS, job)

        async def complete() -> Obj | None:
            found = await api.get(f"{JOBS}/in-loop")
            return found if found.get("status", {}).get("succeeded") == 2 else None

        done = await until(complete, "the Job to complete")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in done["status"]["conditions"])
