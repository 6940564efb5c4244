"""Several servers on one PostgreSQL database are one cluster: the first stores the CA, the
ServiceAccount signing key and the tokens sealed with the cluster token, and every further server
started with that token takes them on, so any credential of one works against all of them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from support import postgres_url

from minikube_py.testing import RunningServer, eventually, free_port, fresh_postgres_database, start_server

IDENTITY = ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "admin-token", "node-secret")


def on_fresh_database(scenario: Callable[[str], None]) -> None:
    async def run() -> None:
        async with fresh_postgres_database(postgres_url()) as url:
            await asyncio.to_thread(scenario, url)

    asyncio.run(run())


def refused_start(data_dir: Path, database: str, *token: str) -> subprocess.CompletedProcess[str]:
    """``pykube server`` on ``database`` that is expected to refuse to start, and its output."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "server",
            "--data-dir",
            str(data_dir),
            "--bind-address",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--no-agent",
            "--datastore",
            database,
            *token,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def serving_names(server: RunningServer) -> set[str]:
    cert = x509.load_pem_x509_certificate((server.data_dir / "pki" / "server.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}


def test_a_second_server_joins_the_first_servers_cluster(tmp_path: Path) -> None:
    def scenario(database: str) -> None:
        first = start_server(tmp_path / "a", "--datastore", database)
        second: RunningServer | None = None
        try:
            second = start_server(
                tmp_path / "b",
                "--datastore",
                database,
                "--token",
                first.node_token,
                "--tls-san",
                "pykube-api.example.test,10.11.12.13",
            )
            for name in IDENTITY:
                assert (first.data_dir / name).read_bytes() == (second.data_dir / name).read_bytes(), name
            assert first.node_token == second.node_token
            # each server serves its own certificate, signed by the one CA, with the extra names
            assert (first.data_dir / "pki" / "server.crt").read_bytes() != (
                second.data_dir / "pki" / "server.crt"
            ).read_bytes()
            assert {"pykube-api.example.test", "10.11.12.13"} <= serving_names(second)

            # the first server's admin kubeconfig works against the second (TLS verified by the shared CA)
            first.kubectl("create", "namespace", "made-through-a")
            listed = first.kubectl("--server", second.url, "get", "namespace", "made-through-a", "-o", "name")
            assert listed.stdout.strip() == "namespace/made-through-a"

            # a ServiceAccount token minted by one server authenticates at the other
            eventually(
                lambda: first.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
                "the default ServiceAccount",
            )
            token = first.kubectl("create", "token", "default").stdout.strip()
            whoami = first.kubectl("--server", second.url, "--token", token, "auth", "whoami", "-o", "json")
            assert (
                json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
            )

            # so does a user's client certificate from the first server's CA
            alice = tmp_path / "alice.kubeconfig"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "minikube_py.cli.main",
                    "kubeconfig",
                    "--user",
                    "alice",
                    "--data-dir",
                    str(first.data_dir),
                    "--out",
                    str(alice),
                ],
                check=True,
                timeout=60,
            )
            whoami = first.kubectl("--kubeconfig", str(alice), "--server", second.url, "auth", "whoami", "-o", "json")
            assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "alice"

            # a server with a wrong token, or none, refuses to start and says why
            wrong = refused_start(tmp_path / "c", database, "--token", "not-the-cluster-token")
            assert wrong.returncode == 1
            assert "the cluster token does not match the one this datastore's cluster was created with" in wrong.stderr
            malformed = refused_start(tmp_path / "c", database, "--token", "K10abc::server:x")
            assert malformed.returncode == 1 and "--token: malformed join token" in malformed.stderr
            missing = refused_start(tmp_path / "d", database)
            assert missing.returncode == 1
            assert "the datastore already holds a cluster: start this server with --token" in missing.stderr

            # a restarted server keeps the cluster's identity without being given the token again
            second.stop()
            second = start_server(tmp_path / "b", "--datastore", database)
            assert (second.data_dir / "pki" / "ca.crt").read_bytes() == (first.data_dir / "pki" / "ca.crt").read_bytes()
            first.kubectl("--server", second.url, "get", "namespace", "made-through-a")
        finally:
            first.stop()
            if second is not None:
                second.stop()

    on_fresh_database(scenario)


def test_servers_starting_at_once_agree_on_one_identity(tmp_path: Path) -> None:
    def scenario(database: str) -> None:
        with ThreadPoolExecutor(3) as pool:
            starts = [
                pool.submit(
                    start_server, tmp_path / name, "--datastore", database, "--token", "one-token-for-the-new-cluster"
                )
                for name in ("a", "b", "c")
            ]
            servers = [start.result() for start in starts]
        try:
            for name in IDENTITY:
                assert len({(s.data_dir / name).read_bytes() for s in servers}) == 1, name
            assert (servers[0].data_dir / "node-secret").read_text().strip() == "one-token-for-the-new-cluster"
            for other in servers[1:]:
                servers[0].kubectl("--server", other.url, "get", "namespaces")
        finally:
            for server in servers:
                server.stop()

    on_fresh_database(scenario)
