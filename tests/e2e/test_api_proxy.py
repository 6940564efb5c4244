"""The API server's proxy subresources with the real kubectl: ``kubectl proxy`` then plain HTTP
reaches a busybox httpd behind a Service (and a busybox WebSocket echo server), ``kubectl get --raw``
reaches a pod and the node's agent, RBAC guards ``services/proxy``, and ``kubectl cluster-info`` lists
the DNS add-on by its proxy URL.

One server with its embedded agent on Docker (its own node name and pod network, no service proxy:
the API server reaches the pods on its own node's Docker bridge).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from agent_helpers import busybox_pod, create, node_server, wait_for, wait_running
from kubectl_helpers import Kubectl, as_user, mint

from minikube_py.testing import KUBECTL

NODE = "apiproxy-e2e"
NS = "apiproxy-e2e"
PAGE = "hello from web"
#: an httpd serving a page, and a CGI script that answers with the request's method, query and body
HTTPD = (
    f"mkdir -p /www/cgi-bin && echo '{PAGE}' > /www/index.html && "
    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
    'echo "$REQUEST_METHOD $QUERY_STRING"\\nhead -c "$CONTENT_LENGTH"\\n\' > /www/cgi-bin/echo && '
    "chmod +x /www/cgi-bin/echo && exec httpd -f -p 80 -h /www"
)
#: a backend that reads the request's head, then promises 1000 bytes and sends 9
CUT = (
    "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 1000\\r\\n\\r\\nonly part' > /answer && "
    "printf '#!/bin/sh\\nwhile read -r line && [ ${#line} -gt 1 ]; do :; done\\ncat /answer\\n' > /serve && chmod +x /serve && "
    "exec nc -ll -p 80 -e /serve"
)

#: a WebSocket backend made of busybox: ``nc -ll -e`` runs it per connection
WS_ECHO = r"""#!/bin/sh
# A one-message WebSocket echo server for nc -e: the handshake (RFC 6455 accept key), then one
# masked client frame of under 126 bytes read byte by byte, unmasked and sent back, then a close.
bb=busybox
key=
while read -r line && [ ${#line} -gt 1 ]; do
  case "$line" in [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(echo "${line#*:}" | $bb tr -d ' \r');; esac
done
accept=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | $bb sha1sum | $bb cut -c1-40 | $bb xxd -r -p | $bb base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: echo.pykube\r\n\r\n' "$accept"
set -- $($bb dd bs=1 count=6 2>/dev/null | $bb od -An -tu1)
len=$(($2 & 127))
set -- $len $3 $4 $5 $6 $($bb dd bs=1 count=$len 2>/dev/null | $bb od -An -tu1)
hex=$(printf '81%02x' "$1")
shift
i=0
m0=$1 m1=$2 m2=$3 m3=$4
shift 4
for byte in "$@"; do
  eval "m=\$m$((i % 4))"
  hex="$hex$(printf '%02x' $((byte ^ m)))"
  i=$((i + 1))
done
printf '%s8800' "$hex" | $bb xxd -r -p
"""


@pytest.fixture(scope="module")
def k(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    with node_server(
        tmp_path_factory.mktemp("apiproxy") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.183.0.0/16"
    ) as running:
        running.kubectl("create", "namespace", NS)
        kubectl = Kubectl(running, NS)
        web = busybox_pod("web", HTTPD, container={"ports": [{"name": "http", "containerPort": 80}]})
        services = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 80}]},
            }
            for name, app in (("web", "web"), ("idle", "nothing-has-this"))
        ]
        echo = busybox_pod(
            "ws",
            "exec nc -ll -p 8080 -e /s/ws",
            volumes=[{"name": "s", "configMap": {"name": "ws-echo", "defaultMode": 0o755}}],
            container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
        )
        script = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ws-echo"}, "data": {"ws": WS_ECHO}}
        services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "ws"},
                "spec": {"selector": {"app": "ws"}, "ports": [{"port": 8080}]},
            }
        )
        create(kubectl, script, web, busybox_pod("cut", CUT), echo, *services)
        for name in ("web", "cut", "ws"):
            wait_running(kubectl, name)
        wait_for(lambda: _addresses(kubectl, "web"), "the web Service's endpoint")
        yield kubectl


def _addresses(k: Kubectl, service: str) -> list[object]:
    done = k.run("get", "endpoints", service, "-o", "json", check=False)
    if done.returncode != 0:
        return []
    return [a for s in json.loads(done.stdout).get("subsets") or [] for a in s.get("addresses") or []]


@pytest.fixture(scope="module")
def proxy_url(k: Kubectl) -> Iterator[str]:
    """``kubectl proxy --port=0`` running, as a user starts it: its base URL, from what it prints."""
    env = {**os.environ, "KUBECONFIG": str(k.server.kubeconfig), "KUBECACHEDIR": str(k.server.cache_dir)}
    process = subprocess.Popen(
        [KUBECTL, "proxy", "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"Starting to serve on (127\.0\.0\.1:\d+)", line)
        assert found, f"kubectl proxy printed {line!r}"
        yield f"http://{found[1]}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def http(url: str, data: bytes | None = None, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


SERVICE_PATH = f"/api/v1/namespaces/{NS}/services/web:80/proxy"


def test_kubectl_proxy_then_plain_http_reaches_the_service(proxy_url: str) -> None:
    assert http(proxy_url + SERVICE_PATH + "/") == (200, PAGE + "\n")
    # by the port's name, by the bare name with a scheme, and without the final slash (a redirect to it)
    assert http(proxy_url + f"/api/v1/namespaces/{NS}/services/web:http/proxy/index.html") == (200, PAGE + "\n")
    assert http(proxy_url + f"/api/v1/namespaces/{NS}/services/http:web:80/proxy/") == (200, PAGE + "\n")
    assert http(proxy_url + SERVICE_PATH) == (200, PAGE + "\n")


def test_method_query_and_body_pass_through(proxy_url: str) -> None:
    body = b"name=pykube&payload=" + b"x" * 50_000
    status, text = http(proxy_url + SERVICE_PATH + "/cgi-bin/echo?a=1&b=two", data=body, method="POST")
    assert status == 200
    assert text == f"POST a=1&b=two\n{body.decode()}"
    for method in ("PUT", "PATCH", "DELETE"):  # (busybox's CGI reads a body for POST only)
        status, text = http(proxy_url + SERVICE_PATH + "/cgi-bin/echo?q=%2Fslash", method=method)
        assert (status, text) == (200, f"{method} q=%2Fslash\n")


def test_curl_posts_a_large_body_with_expect_continue(proxy_url: str, tmp_path: Path) -> None:
    """curl asks ``Expect: 100-continue`` before a body over 1 MB: the body must still flow."""
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"y" * 2_000_000)
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--data-binary", f"@{upload}", proxy_url + SERVICE_PATH + "/cgi-bin/echo"],
        capture_output=True,
        check=True,
    )
    assert done.stdout == b"POST \n" + upload.read_bytes()


def test_kubectl_get_raw_reaches_a_pod_by_its_port(k: Kubectl) -> None:
    assert k.out("get", "--raw", f"/api/v1/namespaces/{NS}/pods/web:80/proxy/") == PAGE + "\n"
    # the first declared container port when the path names none
    assert k.out("get", "--raw", f"/api/v1/namespaces/{NS}/pods/web/proxy/index.html") == PAGE + "\n"


def test_errors_are_kubernetes_statuses(k: Kubectl) -> None:
    idle = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/services/idle:80/proxy/")
    assert 'Error from server (ServiceUnavailable): no endpoints available for service "idle"' in idle.stderr
    missing = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/services/nope/proxy/")
    assert 'Error from server (NotFound): services "nope" not found' in missing.stderr
    no_pod = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/pods/nope:80/proxy/")
    assert 'pods "nope" not found' in no_pod.stderr
    no_port = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/services/web:8080/proxy/")
    assert 'no service port 8080 found for service "web"' in no_port.stderr
    refused = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/pods/web:81/proxy/")
    assert "(ServiceUnavailable): error trying to reach service:" in refused.stderr


def test_an_answer_cut_short_is_cut_short_for_the_caller(k: Kubectl) -> None:
    cut = k.fails("get", "--raw", f"/api/v1/namespaces/{NS}/pods/cut:80/proxy/")
    assert "unexpected EOF" in cut.stderr, cut.stderr  # not a complete-looking answer
    assert k.out("get", "--raw", f"/api/v1/namespaces/{NS}/pods/web:80/proxy/") == PAGE + "\n"


def test_a_user_needs_the_services_proxy_permission(k: Kubectl, tmp_path: Path) -> None:
    user = f"viewer-{os.urandom(3).hex()}"
    config = mint(k.server, tmp_path, user)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": user},
        "rules": [{"apiGroups": [""], "resources": ["services", "pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": user},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    create(k, role, binding)
    wait_for(
        lambda: as_user(k.server, config, "-n", NS, "get", "service", "web").returncode == 0,
        "the viewer's RoleBinding to take effect",
    )
    denied = as_user(k.server, config, "get", "--raw", SERVICE_PATH + "/")
    assert denied.returncode != 0
    assert (
        f'Error from server (Forbidden): services "web:80" is forbidden: User "{user}" cannot get resource '
        f'"services/proxy" in API group "" in the namespace "{NS}"'
    ) in denied.stderr
    role["rules"].append({"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]})
    k.run("apply", "-f", "-", input=json.dumps(role))

    def page() -> str | None:
        done = as_user(k.server, config, "get", "--raw", SERVICE_PATH + "/")
        return done.stdout if done.returncode == 0 else None

    allowed = wait_for(page, "the services/proxy rule to take effect")
    assert allowed == PAGE + "\n"
    # get is not create: the POST stays forbidden
    post = as_user(k.server, config, "create", "--raw", SERVICE_PATH + "/cgi-bin/echo", "-f", "-")
    assert post.returncode != 0 and 'cannot create resource "services/proxy"' in post.stderr


def test_nodes_proxy_reaches_the_agent(k: Kubectl) -> None:
    assert k.out("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/healthz") == "ok"
    assert k.server.request("HEAD", f"/api/v1/nodes/{NODE}/proxy/healthz") == (200, "")
    summary = json.loads(k.out("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary"))
    assert summary["node"]["nodeName"] == NODE
    logs = k.out("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/containerLogs/{NS}/web/main")
    assert isinstance(logs, str)
    unknown = k.fails("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/pods")
    assert "(NotFound)" in unknown.stderr and 'serves no path "/pods"' in unknown.stderr


def test_a_websocket_upgrade_is_relayed(k: Kubectl) -> None:
    """The agent's exec WebSocket, reached through nodes/proxy: messages flow both ways through the
    API server's relay with the subprotocol the backend chose (stdin in, the shell's answer back)."""
    server = k.server
    query = urlencode(
        [
            ("command", "sh"),
            ("command", "-c"),
            ("command", 'read line; echo "relayed $line"'),
            ("stdin", "true"),
            ("stdout", "true"),
        ]
    )
    url = f"{server.url}/api/v1/nodes/{NODE}/proxy/exec/{NS}/web/main?{query}"

    async def run() -> tuple[str | None, bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                url,
                protocols=("v5.channel.k8s.io",),
                ssl=server.ssl_context(),
                headers={"Authorization": f"Bearer {server.admin_token}"},
            ) as ws,
        ):
            await ws.send_bytes(b"\x00ping\n")
            await ws.send_bytes(b"\xff\x00")  # v5: close stdin
            out = b""
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] == b"\x01":
                    out += msg.data[1:]
            return ws.protocol, out

    protocol, out = asyncio.run(run())
    assert (protocol, out) == ("v5.channel.k8s.io", b"relayed ping\n")


def test_a_websocket_reaches_a_service_through_kubectl_proxy(k: Kubectl, proxy_url: str) -> None:
    """A browser's path: kubectl proxy, the API server's services/proxy, then a pod's WebSocket
    server, which echoes one message; the subprotocol it chose comes back to the client."""
    wait_for(lambda: _addresses(k, "ws"), "the ws Service's endpoint")
    url = proxy_url.replace("http:", "ws:") + f"/api/v1/namespaces/{NS}/services/ws/proxy/"

    async def run() -> tuple[str | None, list[str]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, protocols=("echo.pykube",)) as ws:
            await ws.send_str("ping through two proxies")
            return ws.protocol, [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.TEXT]

    assert asyncio.run(run()) == ("echo.pykube", ["ping through two proxies"])


def test_cluster_info_lists_the_dns_add_on_by_its_proxy_url(k: Kubectl) -> None:
    out = k.server.kubectl("cluster-info").stdout
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert f"Kubernetes control plane is running at {k.server.url}" in plain
    assert f"CoreDNS is running at {k.server.url}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy" in plain


def test_discovery_lists_the_proxy_subresources(k: Kubectl) -> None:
    resources = {r["name"]: r for r in json.loads(k.out("get", "--raw", "/api/v1"))["resources"]}
    for name in ("pods/proxy", "services/proxy", "nodes/proxy"):
        assert resources[name]["verbs"] == ["create", "delete", "get", "patch", "update"]
