"""The server as an operator sees it: files it writes, clean shutdown, crash safety, restarts, and
several servers sharing one PostgreSQL store."""

from __future__ import annotations

import asyncio
import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import postgres_url

from minikube_py.pki import ca_hash, parse_join_token
from minikube_py.testing import fresh_postgres_database, start_server


def _configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


def test_data_dir_holds_kubeconfig_tokens_and_ca(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        token = (tmp_path / "data" / "node-token").read_text().strip()
        pin, secret = parse_join_token(token)
        assert pin == ca_hash((tmp_path / "data" / "pki" / "ca.crt").read_bytes())
        assert secret and secret in (tmp_path / "data" / "node-secret").read_text()
        assert (tmp_path / "data" / "kubeconfig.yaml").stat().st_mode & 0o777 == 0o600
        # the join token's secret authenticates, but may do nothing except ask for node credentials
        status, body = server.request("GET", "/api/v1/nodes", token=secret)
        assert status == 403 and body["reason"] == "Forbidden"
        assert server.request("GET", "/api/v1/nodes", token="not-" + secret)[0] == 401
        out = server.kubectl("get", "--raw", "/api/v1/namespaces/default/services/kubernetes").stdout
        assert json.loads(out)["spec"]["clusterIP"] == "10.96.0.1"
    finally:
        server.stop()


def test_sigterm_stops_cleanly_and_restart_keeps_state_and_credentials(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    server.kubectl("create", "configmap", "kept", "--from-literal=a=b")
    before = json.loads(server.kubectl("get", "cm", "kept", "-o", "json").stdout)
    ca_before = (data / "pki" / "ca.crt").read_bytes()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0
    assert "shutting down" in server.log_path.read_text()

    again = start_server(data)
    try:
        assert (data / "pki" / "ca.crt").read_bytes() == ca_before
        after = json.loads(again.kubectl("get", "cm", "kept", "-o", "json").stdout)
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["data"] == {"a": "b"}
        again.kubectl("create", "configmap", "newer")
        newer = json.loads(again.kubectl("get", "cm", "newer", "-o", "json").stdout)
        assert int(newer["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
        assert again.kubectl("get", "ns", "-o", "name").stdout.split() == [
            "namespace/default",
            "namespace/kube-node-lease",
            "namespace/kube-public",
            "namespace/kube-system",
        ]
    finally:
        again.stop()


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)

    def create(i: int) -> int:
        status, _ = server.request("POST", "/api/v1/namespaces/default/configmaps", _configmap(f"cm-{i:03d}"))
        return status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(create, range(200)))
    assert statuses == [201] * 200
    server.process.kill()
    server.process.wait(timeout=10)

    again = start_server(data)
    try:
        status, listing = again.request("GET", "/api/v1/namespaces/default/configmaps")
        assert status == 200
        names = {item["metadata"]["name"] for item in listing["items"]}
        assert {f"cm-{i:03d}" for i in range(200)} <= names
    finally:
        again.stop()


def test_two_servers_share_one_postgresql_store(tmp_path: Path) -> None:
    base = postgres_url()

    async def scenario() -> None:
        async with fresh_postgres_database(base) as url:
            await asyncio.to_thread(_two_servers, tmp_path, url)

    asyncio.run(scenario())


def _two_servers(tmp_path: Path, url: str) -> None:
    a = start_server(tmp_path / "a", "--datastore", url)
    b = start_server(tmp_path / "b", "--datastore", url, "--token", a.node_token)
    try:
        a.kubectl("create", "configmap", "shared", "--from-literal=x=1")
        # b serves it (its cache follows the shared event history within moments)
        for _ in range(50):
            done = b.kubectl("get", "cm", "shared", "-o", "json", check=False)
            if done.returncode == 0:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert json.loads(done.stdout)["data"] == {"x": "1"}
        # the same name created through both: exactly one wins
        results = [s.request("POST", "/api/v1/namespaces/default/configmaps", _configmap("race"))[0] for s in (a, b)]
        assert sorted(results) == [201, 409]
        # a stale write through one server is refused by the other
        obj = json.loads(a.kubectl("get", "cm", "shared", "-o", "json").stdout)
        obj["data"] = {"x": "2"}
        assert b.request("PUT", "/api/v1/namespaces/default/configmaps/shared", obj)[0] == 200
        obj["data"] = {"x": "3"}
        status, body = a.request("PUT", "/api/v1/namespaces/default/configmaps/shared", obj)
        assert status == 409 and body["reason"] == "Conflict"
    finally:
        a.stop()
        b.stop()
