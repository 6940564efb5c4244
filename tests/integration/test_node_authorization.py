"""A node's credentials as Kubernetes limits them (the Node authorizer and NodeRestriction), the join
token that mints only node certificates and cannot take an existing node, and the API server that
verifies the agent it dials: with real credentials against a real server, a ``pykube agent`` process
on the fake runtime and the real kubectl.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import fake_node_flags

from minikube_py import pki
from minikube_py.testing import RunningServer, eventually, node_is_ready, start_server

CONTROL = "nauth-cp"
NODE = "nauth-a"
NS = "default"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("nauth") / "data", *fake_node_flags(CONTROL), agent=True)
    eventually(lambda: node_is_ready(running, CONTROL), f"{CONTROL} Ready")
    yield running
    running.stop()


def start_agent(server: RunningServer, data_dir: Path, name: str = NODE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "agent",
            "--join",
            server.url,
            "--token",
            server.node_token,
            "--runtime",
            "fake",
            "--node-name",
            name,
            "--node-ip",
            "127.0.0.1",
            "--kubelet-port",
            "0",
            "--data-dir",
            str(data_dir),
            "--node-lease-duration-seconds",
            "8",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(agent: subprocess.Popen[str]) -> None:
    agent.terminate()
    try:
        assert agent.wait(timeout=20) == 0
    finally:
        if agent.stderr is not None:
            agent.stderr.close()


@pytest.fixture(scope="module")
def agent_dir(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A joined agent, with a pod on it that uses a Secret and a ConfigMap, and one on the other node."""
    data_dir = tmp_path_factory.mktemp("nauth-agent")
    agent = start_agent(server, data_dir)
    try:
        eventually(lambda: node_is_ready(server, NODE), f"{NODE} Ready")
        for kind, name in (
            ("secret", "used"),
            ("secret", "unused"),
            ("secret", "other"),
            ("configmap", "used"),
            ("configmap", "unused"),
        ):
            server.kubectl(
                "-n", NS, "create", kind, *(["generic"] if kind == "secret" else []), name, "--from-literal=k=v"
            )
        create_pod(
            server,
            "mine",
            NODE,
            env=[{"name": "S", "valueFrom": {"secretKeyRef": {"name": "used", "key": "k"}}}],
            volumes=[{"name": "cm", "configMap": {"name": "used"}}],
        )
        create_pod(server, "theirs", CONTROL, volumes=[{"name": "s", "secret": {"secretName": "other"}}])
        for name in ("mine", "theirs"):
            eventually(lambda n=name: phase(server, n) == "Running", f"{name} Running")
        yield data_dir
    finally:
        stop(agent)


def create_pod(
    server: RunningServer, name: str, node: str, env: list[Any] | None = None, volumes: list[Any] | None = None
) -> None:
    container: dict[str, Any] = {"name": "c", "image": "fake.pykube.io/app:1", "env": env or []}
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/{v['name']}"} for v in volumes]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
            "volumes": volumes or [],
        },
    }
    server.kubectl("-n", NS, "create", "-f", "-", input=json.dumps(pod))


def phase(server: RunningServer, name: str) -> str | None:
    code, pod = server.request("GET", f"/api/v1/namespaces/{NS}/pods/{name}")
    return pod.get("status", {}).get("phase") if code == 200 else None


def as_node(
    server: RunningServer,
    agent_dir: Path,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/merge-patch+json",
) -> tuple[int, Any]:
    """One request with the joined agent's own client certificate (no token)."""
    ctx = server.ssl_context()
    ctx.load_cert_chain(agent_dir / "node-client.crt", agent_dir / "node-client.key")
    req = urllib.request.Request(
        server.url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": content_type if method == "PATCH" else "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_a_node_reads_only_its_pods_and_what_they_use(server: RunningServer, agent_dir: Path) -> None:
    pods, secrets, configmaps = (f"/api/v1/namespaces/{NS}/{r}" for r in ("pods", "secrets", "configmaps"))
    assert as_node(server, agent_dir, "GET", f"{pods}/mine")[0] == 200
    assert as_node(server, agent_dir, "GET", f"{secrets}/used")[0] == 200
    assert as_node(server, agent_dir, "GET", f"{configmaps}/used")[0] == 200
    code, refused = as_node(server, agent_dir, "GET", f"{pods}/theirs")
    assert code == 403 and f"no relationship found between node '{NODE}' and this object" in refused["message"]
    for path in (
        f"{secrets}/unused",
        f"{secrets}/other",
        f"{configmaps}/unused",
        secrets,
        "/api/v1/secrets",
        "/api/v1/namespaces/kube-system/secrets",
        f"/api/v1/namespaces/kube-system/secrets/{NODE}.node-password.pykube",
        "/api/v1/pods",
        "/api/v1/configmaps",
    ):
        assert as_node(server, agent_dir, "GET", path)[0] == 403, path
    assert as_node(server, agent_dir, "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{NODE}")[0] == 200


def test_a_node_reads_its_own_network_policy_firewalls_only(server: RunningServer, agent_dir: Path) -> None:
    """What its pods may reach and be reached from, resolved by the network policy controller: its
    own ConfigMap of kube-system (found even before the controller writes it), never another node's."""
    configmaps = "/api/v1/namespaces/kube-system/configmaps"
    mine, theirs = f"pykube-network-policy.{NODE}", f"pykube-network-policy.{CONTROL}"
    assert as_node(server, agent_dir, "GET", f"{configmaps}/{mine}")[0] == 404
    assert as_node(server, agent_dir, "GET", f"{configmaps}?fieldSelector=metadata.name%3D{mine}")[0] == 200
    for path in (f"{configmaps}/{theirs}", f"{configmaps}?fieldSelector=metadata.name%3D{theirs}", configmaps):
        assert as_node(server, agent_dir, "GET", path)[0] == 403, path


def test_a_node_writes_only_its_own_objects(server: RunningServer, agent_dir: Path) -> None:
    pods = f"/api/v1/namespaces/{NS}/pods"
    # another node's pod: no status, no spec, no deletion
    assert as_node(server, agent_dir, "PATCH", f"{pods}/theirs/status", {"status": {"phase": "Failed"}})[0] == 403
    assert (
        as_node(
            server,
            agent_dir,
            "PATCH",
            f"{pods}/theirs",
            {"metadata": {"labels": {"app": "x"}}},
            "application/strategic-merge-patch+json",
        )[0]
        == 403
    )
    assert as_node(server, agent_dir, "DELETE", f"{pods}/theirs")[0] == 403
    assert phase(server, "theirs") == "Running"
    # its own pod: status yes, spec and labels no
    assert (
        as_node(
            server,
            agent_dir,
            "PATCH",
            f"{pods}/mine",
            {"spec": {"containers": [{"name": "c", "image": "evil"}]}},
            "application/strategic-merge-patch+json",
        )[0]
        == 403
    )
    assert as_node(server, agent_dir, "PATCH", f"{pods}/mine", {"metadata": {"labels": {"app": "x"}}})[0] == 403
    # nor may it add an ephemeral container to its own pod (a user's debugging tool, not a node's)
    debugger = {"spec": {"ephemeralContainers": [{"name": "peek", "image": "fake.pykube.io/app:1"}]}}
    assert as_node(server, agent_dir, "PATCH", f"{pods}/mine/ephemeralcontainers", debugger)[0] == 403
    # ... nor through its status: only the status is taken from a status write
    sneaky = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "evil"}]}}
    assert as_node(server, agent_dir, "PATCH", f"{pods}/mine/status", sneaky)[0] == 200
    _, mine = server.request("GET", f"{pods}/mine")
    assert (
        mine["metadata"]["labels"] == {"app": "mine"}
        and mine["spec"]["containers"][0]["image"] == "fake.pykube.io/app:1"
    )
    # collections
    for collection in ("/api/v1/nodes", LEASES, pods, f"/api/v1/namespaces/{NS}/secrets", "/api/v1/persistentvolumes"):
        assert as_node(server, agent_dir, "DELETE", collection)[0] == 403, collection
    # other nodes and their leases, new nodes but its own
    assert as_node(server, agent_dir, "PATCH", f"/api/v1/nodes/{CONTROL}/status", {"status": {}})[0] == 403
    assert as_node(server, agent_dir, "DELETE", f"/api/v1/nodes/{CONTROL}")[0] == 403
    code, refused = as_node(
        server,
        agent_dir,
        "POST",
        "/api/v1/nodes",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "nauth-fake2"}},
    )
    assert code == 403 and "is not allowed to modify node 'nauth-fake2'" in refused["message"]
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": CONTROL},
        "spec": {"holderIdentity": CONTROL},
    }
    code, refused = as_node(server, agent_dir, "POST", LEASES, lease)
    assert code == 403 and "may only create its own Lease" in refused["message"]
    assert as_node(server, agent_dir, "PATCH", f"{LEASES}/{CONTROL}", {"spec": {"holderIdentity": NODE}})[0] == 403
    code, refused = as_node(
        server,
        agent_dir,
        "PATCH",
        f"/api/v1/nodes/{NODE}",
        {"metadata": {"labels": {"node-restriction.kubernetes.io/trusted": "yes"}}},
    )
    assert code == 403 and "not allowed to modify labels" in refused["message"]
    assert (
        as_node(server, agent_dir, "PATCH", f"/api/v1/nodes/{NODE}", {"metadata": {"labels": {"touched": "yes"}}})[0]
        == 200
    )
    assert as_node(server, agent_dir, "GET", f"/api/v1/namespaces/{NS}/pods/theirs/log")[0] == 403
    assert sorted(server.kubectl("get", "nodes", "-o", "name").stdout.split()) == [f"node/{NODE}", f"node/{CONTROL}"]


def join_secret(server: RunningServer) -> str:
    """What an agent sends as its bearer token: the secret of the join token."""
    return pki.parse_join_token(server.node_token)[1]


def test_a_node_makes_and_keeps_only_its_own_csi_node(server: RunningServer, agent_dir: Path) -> None:
    """The agent creates its CSINode with its own credentials, owned by its Node, as the kubelet does;
    it may write that one only."""
    csinodes = "/apis/storage.k8s.io/v1/csinodes"
    status, node = server.request("GET", f"/api/v1/nodes/{NODE}")
    assert status == 200
    status, mine = server.request("GET", f"{csinodes}/{NODE}")
    assert status == 200 and mine["spec"] == {"drivers": []}
    assert mine["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": node["metadata"]["uid"]}
    ]
    driver = {"name": "hostpath.csi.k8s.io", "nodeID": NODE, "topologyKeys": ["topology.hostpath.csi/node"]}
    code, patched = as_node(server, agent_dir, "PATCH", f"{csinodes}/{NODE}", {"spec": {"drivers": [driver]}})
    assert code == 200 and patched["spec"]["drivers"] == [driver]
    assert as_node(server, agent_dir, "GET", f"{csinodes}/{CONTROL}")[0] == 200
    assert as_node(server, agent_dir, "PATCH", f"{csinodes}/{CONTROL}", {"spec": {"drivers": [driver]}})[0] == 403
    assert as_node(server, agent_dir, "DELETE", f"{csinodes}/{CONTROL}")[0] == 403
    other = {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": "nauth-none"}}
    code, refused = as_node(server, agent_dir, "POST", csinodes, other)
    assert code == 403 and "can only access CSINode with the same name as the requesting node" in refused["message"]


def test_the_join_token_only_mints_node_certificates(server: RunningServer) -> None:
    for method, path in (
        ("GET", "/api/v1/secrets"),
        ("GET", f"/api/v1/nodes/{CONTROL}"),
        ("DELETE", "/api/v1/nodes"),
        ("POST", "/api/v1/nodes"),
    ):
        code, refused = server.request(method, path, {} if method == "POST" else None, token=join_secret(server))
        assert code == 403 and "the join token may only request node credentials" in refused["message"]


def test_an_existing_node_is_refused_to_a_fresh_data_dir_and_rejoins_with_its_own(
    server: RunningServer, agent_dir: Path, tmp_path: Path
) -> None:
    thief = start_agent(server, tmp_path / "fresh")
    try:
        assert thief.wait(timeout=30) == 1
        assert thief.stderr is not None
        err = thief.stderr.read()
    finally:
        if thief.stderr is not None:
            thief.stderr.close()
    assert f'node "{NODE}" already exists and this agent cannot prove it is that node' in err
    assert f"kubectl delete node {NODE}" in err and not (tmp_path / "fresh" / "node-client.crt").exists()
    # whoever holds the node password of the agent's data dir (kept private) proves the name
    assert oct((agent_dir / "node-password").stat().st_mode & 0o777) == "0o600"
    ca = (server.data_dir / "pki" / "ca.crt").read_bytes()
    csr, _ = pki.node_csr(NODE)
    body = {"nodeName": NODE, "csr": csr.decode(), "nodePassword": (agent_dir / "node-password").read_text().strip()}
    code, answer = server.request("POST", pki.NODE_CREDENTIALS_PATH, body, token=join_secret(server))
    assert code == 200 and answer["ca"] == ca.decode()
    body["nodePassword"] = "x" * 43
    code, refused = server.request("POST", pki.NODE_CREDENTIALS_PATH, body, token=join_secret(server))
    assert code == 409 and refused["reason"] == "Conflict"


def test_a_restarted_agent_rejoins_with_its_data_dir_and_gets_a_serving_certificate(
    server: RunningServer, tmp_path: Path
) -> None:
    name = "nauth-restart"
    data_dir = tmp_path / "agent"
    agent = start_agent(server, data_dir, name)
    try:
        eventually(lambda: node_is_ready(server, name), f"{name} Ready")
    finally:
        stop(agent)
    (data_dir / "node-client.crt").unlink()  # a join again, not merely a reused certificate
    # the self-signed serving certificate an agent from before CA-issued ones left behind
    cert, key = pki.self_signed_serving_cert(name, [name, "127.0.0.1"])
    (data_dir / "kubelet.crt").write_bytes(cert)
    (data_dir / "kubelet.key").write_bytes(key)
    agent = start_agent(server, data_dir, name)
    try:
        eventually(lambda: (data_dir / "node-client.crt").exists(), "a fresh certificate")
        ca = (server.data_dir / "pki" / "ca.crt").read_bytes()
        # the serving certificate is asked for just after the join: the node may still be Ready from
        # before, so wait for the certificate itself rather than for the node
        eventually(
            lambda: pki.node_serving_cert_valid((data_dir / "kubelet.crt").read_bytes(), ca, name, ["127.0.0.1"]),
            "a serving certificate of the cluster CA",
        )
        eventually(lambda: node_is_ready(server, name), f"{name} Ready again")
    finally:
        stop(agent)
        server.kubectl("delete", "node", name)


class _Forged(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the http.server API
        body = b"forged log line\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[Callable[[bytes], int]]:
    """Starts TLS listeners answering a forged log, with the certificate and key (PEM) it is given;
    returns the port."""
    listeners: list[ThreadingHTTPServer] = []

    def listen(cert_and_key: bytes) -> int:
        pem = tmp_path / f"impostor-{len(listeners)}.pem"
        pem.write_bytes(cert_and_key)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pem)
        listener = ThreadingHTTPServer(("127.0.0.1", 0), _Forged)
        listener.socket = ctx.wrap_socket(listener.socket, server_side=True)
        threading.Thread(target=listener.serve_forever, daemon=True).start()
        listeners.append(listener)
        return int(listener.server_address[1])

    yield listen
    for listener in listeners:
        listener.shutdown()
        listener.server_close()


def kubelet_port(server: RunningServer) -> int:
    _, node = server.request("GET", f"/api/v1/nodes/{NODE}")
    return int(node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"])


def exec_refusal(server: RunningServer) -> tuple[int, str]:
    """The API server's answer to a WebSocket upgrade for an exec into ``mine`` (status, message)."""
    code, body = server.request(
        "GET",
        f"/api/v1/namespaces/{NS}/pods/mine/exec?command=true&stdout=true",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
        },
    )
    return code, body["message"] if isinstance(body, dict) else str(body)


@contextlib.contextmanager
def endpoint_moved(server: RunningServer, agent_dir: Path, port: int) -> Iterator[None]:
    """The node points its own status.daemonEndpoints at ``port`` (as a compromised node, or one
    whose token was stolen, could), and back afterwards."""
    real = kubelet_port(server)
    moved = {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
    assert as_node(server, agent_dir, "PATCH", f"/api/v1/nodes/{NODE}/status", moved)[0] == 200
    try:
        yield
    finally:
        back = {"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": real}}}}
        as_node(server, agent_dir, "PATCH", f"/api/v1/nodes/{NODE}/status", back)


def test_the_api_server_refuses_a_daemon_endpoint_that_is_not_the_node(
    server: RunningServer, agent_dir: Path, impostor: Callable[[bytes], int]
) -> None:
    logs = server.kubectl("-n", NS, "logs", "mine")
    assert "fake container" in logs.stdout  # the real agent: its serving certificate verified
    cert, key = pki.self_signed_serving_cert(NODE, [NODE, "127.0.0.1"])
    with endpoint_moved(server, agent_dir, impostor(cert + key)):
        refused = server.kubectl("-n", NS, "logs", "mine", check=False)
        assert refused.returncode != 0 and "forged" not in refused.stdout
        assert f"error dialing the kubelet of node {NODE}" in refused.stderr
        assert f"is not node {NODE}'s serving certificate from the cluster CA" in refused.stderr
        shell = server.kubectl("-n", NS, "exec", "mine", "--", "true", check=False)
        assert shell.returncode != 0  # kubectl retries SPDY after the WebSocket's 500: the reason is below
        code, message = exec_refusal(server)
        assert code == 500 and f"error dialing the kubelet of node {NODE}" in message
        code, proxied = server.request("GET", f"/api/v1/nodes/{NODE}/proxy/healthz")
        assert code == 500 and "certificate" in proxied["message"]
    assert "fake container" in server.kubectl("-n", NS, "logs", "mine").stdout


def test_a_genuine_certificate_of_another_node_is_refused_too(
    server: RunningServer, agent_dir: Path, impostor: Callable[[bytes], int]
) -> None:
    """The listener presents a serving certificate the cluster CA issued, but to another node."""
    csr, key = pki.node_csr(CONTROL)
    cert = pki.sign_node_csr(pki.load_pki(server.data_dir / "pki"), csr, CONTROL, serving=["127.0.0.1"])
    with endpoint_moved(server, agent_dir, impostor(cert + key)):
        refused = server.kubectl("-n", NS, "logs", "mine", check=False)
        assert refused.returncode != 0 and "forged" not in refused.stdout
        assert f"is not node {NODE}'s serving certificate from the cluster CA" in refused.stderr
