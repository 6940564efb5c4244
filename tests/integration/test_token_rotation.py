"""`pykube token rotate`, as `k3s token rotate`: the cluster's bootstrap data is sealed with the new
token, so a server started afterwards needs the new token and one with the old is refused; the old
token joins no new node at any server, the new one does; the servers that were running serve on, and
an agent that joined with the old token carries on, restarts included (it holds its certificate).

Two servers on one fresh PostgreSQL database and a fake-runtime agent, all on this host.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import on_fresh_postgres, stop_process

from minikube_py import pki
from minikube_py.testing import RunningServer, eventually, free_port, node_is_ready, start_server

NODE = "token-rotation-node"
NEW_SECRET = "rotated-cluster-token-0123456789"


def pykube(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", *args], capture_output=True, text=True, timeout=60, check=False
    )


def agent_command(tmp_path: Path, server: RunningServer, token: str, node: str = NODE) -> list[str]:
    return [
        sys.executable,
        "-m",
        "minikube_py.cli.main",
        "agent",
        "--join",
        server.url,
        "--token",
        token,
        "--runtime",
        "fake",
        "--node-name",
        node,
        "--node-ip",
        "127.0.0.1",
        "--kubelet-port",
        "0",
        "--data-dir",
        str(tmp_path / node),
    ]


def start_agent(tmp_path: Path, server: RunningServer, token: str, node: str = NODE) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{node}.log").open("ab") as log:
        return subprocess.Popen(agent_command(tmp_path, server, token, node), stdout=log, stderr=subprocess.STDOUT)


def joins(server: RunningServer, secret: str) -> int:
    """What a request with ``secret`` gets: 403 for the join token (known, and allowed nothing but
    node credentials), 401 for a token nobody takes."""
    return server.request("GET", f"/api/v1/nodes/{NODE}", token=secret)[0]


def test_rotating_the_cluster_token(tmp_path: Path) -> None:
    on_fresh_postgres(lambda url: scenario(tmp_path, url))


def scenario(tmp_path: Path, database: str) -> None:
    first = start_server(tmp_path / "a", "--datastore", database)
    old_token = first.node_token
    _, old_secret = pki.parse_join_token(old_token)
    servers = [first, start_server(tmp_path / "b", "--datastore", database, "--token", old_token)]
    agent: subprocess.Popen[bytes] | None = None
    try:
        agent = start_agent(tmp_path, first, old_token)
        eventually(lambda: node_is_ready(first, NODE), "the agent's node to be Ready")

        # the current token is required, and a wrong one changes nothing
        refused = pykube(
            "token", "rotate", "--data-dir", str(first.data_dir), "--token", "not-the-token", "--new-token", NEW_SECRET
        )
        assert refused.returncode == 1
        assert "not the current cluster token" in refused.stderr
        assert [joins(s, old_secret) for s in servers] == [403, 403]

        done = pykube(
            "token", "rotate", "--data-dir", str(first.data_dir), "--token", old_token, "--new-token", NEW_SECRET
        )
        assert done.returncode == 0, done.stderr
        new_token = done.stdout.strip().splitlines()[-1]
        assert pki.parse_join_token(new_token) == (
            pki.ca_hash((first.data_dir / "pki/ca.crt").read_bytes()),
            NEW_SECRET,
        )
        # every running server takes the new token on (the second from the datastore) and drops the old
        eventually(lambda: all(s.node_token == new_token for s in servers), "both servers' node-token to be new")
        assert [joins(s, old_secret) for s in servers] == [401, 401]
        assert [joins(s, NEW_SECRET) for s in servers] == [403, 403]
        assert all((s.data_dir / "node-secret").read_text().strip() == NEW_SECRET for s in servers)
        # a new node: the old token is refused, the new one joins
        late = "token-rotation-late-node"
        refused_join = subprocess.run(
            agent_command(tmp_path, servers[1], old_token, late),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused_join.returncode == 1
        assert "the server refused node credentials: Unauthorized" in refused_join.stderr, refused_join.stderr
        assert servers[1].request("GET", f"/api/v1/nodes/{late}")[0] == 404
        joined = start_agent(tmp_path, servers[1], new_token, late)
        try:
            eventually(lambda: node_is_ready(first, late), "a node joined with the new token to be Ready")
        finally:
            assert stop_process(joined), "the agent did not stop within 30 s of SIGTERM"
        again = pykube(
            "token",
            "rotate",
            "--data-dir",
            str(first.data_dir),
            "--token",
            old_token,
            "--new-token",
            "yet-another-token",
        )
        assert again.returncode == 1 and "not the current cluster token" in again.stderr

        # the running servers serve on with their credentials; the first's kubeconfig works at both
        first.kubectl("create", "namespace", "after-rotation")
        assert (
            first.kubectl("--server", servers[1].url, "get", "namespace", "after-rotation", "-o", "name").stdout.strip()
            == "namespace/after-rotation"
        )

        # a server started with the old token is refused; with the new one it joins the cluster
        refused_server = pykube(
            "server",
            "--data-dir",
            str(tmp_path / "c"),
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--no-agent",
            "--datastore",
            database,
            "--token",
            old_token,
        )
        assert refused_server.returncode == 1
        assert "does not match" in refused_server.stderr
        third = start_server(tmp_path / "d", "--datastore", database, "--token", NEW_SECRET)
        servers.append(third)
        assert third.node_token == new_token
        assert (third.data_dir / "pki/ca.crt").read_bytes() == (first.data_dir / "pki/ca.crt").read_bytes()
        assert (
            third.kubectl("get", "namespace", "after-rotation", "-o", "name").stdout.strip()
            == "namespace/after-rotation"
        )

        # the agent that joined with the old token keeps working, restarted too: it holds its certificate
        assert node_is_ready(third, NODE)
        assert stop_process(agent), "the agent did not stop within 30 s of SIGTERM"
        agent = start_agent(tmp_path, first, old_token)
        lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
        renewed = first.request("GET", lease)[1]["spec"]["renewTime"]
        eventually(
            lambda: first.request("GET", lease)[1]["spec"]["renewTime"] != renewed,
            "the restarted agent to renew its Lease",
        )
        assert node_is_ready(third, NODE)
        assert agent.poll() is None, (tmp_path / f"{NODE}.log").read_text()
    finally:
        try:
            if agent is not None:
                assert stop_process(agent), "the agent did not stop within 30 s of SIGTERM"
        finally:
            for server in servers:
                server.stop()
