"""Service networking on three real nodes: ``pykube server`` with its embedded agent on this host and two
``pykube agent``s in network namespaces with their own Docker engines (scripts/netns-node.sh), all on the
bridge 10.99.0.0/24. The server's node and node 1 proxy in kernel mode, node 2 in userspace mode, so
every path is crossed by both. Driven by the real kubectl; traffic stays on that bridge, the pod
networks and loopback. Teardown removes the namespaces, the bridge, and the rules and routes the
host's proxy wrote.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import HTTPD, busybox_pod, create, pod_obj, wait_for, wait_running
from kubectl_helpers import Kubectl
from support import NetnsCluster, netns_cluster

from minikube_py.pki import self_signed_serving_cert
from minikube_py.testing import node_is_ready

SERVER_NODE = "pykube-svc-server"
NODES = {"pykube-svc-node1": (1, "kernel"), "pykube-svc-node2": (2, "userspace")}
CLUSTER_CIDR = "10.247.0.0/16"
NODE_PORT = 30062

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsCluster]:
    with netns_cluster(tmp_path_factory.mktemp("services"), SERVER_NODE, NODES, cluster_cidr=CLUSTER_CIDR) as c:
        yield c
        leftovers = subprocess.run(["iptables-legacy-save"], capture_output=True, text=True).stdout
    assert "PYKUBE-" not in subprocess.run(["iptables-legacy-save"], capture_output=True, text=True).stdout
    assert "PYKUBE-" in leftovers  # the check above could not pass by accident
    assert "proto 194" not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout


@pytest.fixture
def k(cluster: NetnsCluster) -> Iterator[Kubectl]:
    name = f"svc-{os.urandom(3).hex()}"
    cluster.server.kubectl("create", "namespace", name)
    yield Kubectl(cluster.server, name)
    cluster.server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def on(node: str, pod: Obj) -> Obj:
    pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
    return pod


def web_pod(name: str, node: str, app: str = "web", **container: Any) -> Obj:
    pod = on(node, busybox_pod(name, HTTPD, container={"ports": [{"containerPort": 80, "name": "http"}], **container}))
    pod["metadata"]["labels"] = {"app": app}
    return pod


def service(name: str, app: str = "web", **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}], **spec},
    }


def web_on_every_node(k: Kubectl) -> list[str]:
    """One httpd pod per node behind ``my-svc``; returns the pods' names."""
    names = [f"web-{i}" for i in range(3)]
    create(k, *(web_pod(n, node) for n, node in zip(names, [SERVER_NODE, *NODES], strict=True)), service("my-svc"))
    for name in names:
        wait_running(k, name, timeout=90)
    wait_for(lambda: len(endpoint_ips(k, "my-svc")) == 3, "three endpoints")
    return names


def endpoint_ips(k: Kubectl, name: str) -> list[str]:
    endpoints = json.loads(k.out("get", "endpoints", name, "-o", "json"))
    return [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]


def cluster_ip(k: Kubectl, name: str) -> str:
    return str(json.loads(k.out("get", "service", name, "-o", "json"))["spec"]["clusterIP"])


def pod_exec(k: Kubectl, pod: str, script: str, timeout: float = 60) -> str:
    return k.run("exec", pod, "--", "sh", "-c", script, timeout=timeout).stdout


def pod_get(k: Kubectl, pod: str, url: str) -> str | None:
    """An HTTP GET from inside a pod, None on failure. Until every node's proxy has synced a new
    service, a packet can take another node's path and get no answer, so callers wait for one."""
    try:
        done = k.run("exec", pod, "--", "wget", "-qO-", url, check=False, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def client_address(k: Kubectl, pod: str, url: str) -> str:
    """The address a WHOAMI server saw (busybox httpd listens on IPv6 and reports IPv4 clients mapped)."""
    seen = wait_for(lambda: pod_get(k, pod, url), f"an answer from {url} in {pod}")
    return seen.removeprefix("[::ffff:").removesuffix("]")


def answers(fetch: Callable[[], str | None], times: int) -> Counter[str]:
    return Counter(a for a in (fetch() for _ in range(times)) if a)


def test_pods_reach_a_service_by_name_across_nodes(cluster: NetnsCluster, k: Kubectl) -> None:
    names = web_on_every_node(k)
    create(k, on(SERVER_NODE, busybox_pod("client", "exec sleep 3600")))
    wait_running(k, "client")
    loop = "for i in $(seq 24); do wget -qO- http://{host}; done"
    short = Counter(pod_exec(k, "client", loop.format(host="my-svc")).split())
    assert set(short) == {f"hello-from-{n}" for n in names}
    fqdn = Counter(pod_exec(k, "client", loop.format(host=f"my-svc.{k.namespace}.svc.cluster.local")).split())
    assert set(fqdn) == {f"hello-from-{n}" for n in names}


def test_cluster_ip_spreads_from_every_node_in_both_modes(cluster: NetnsCluster, k: Kubectl) -> None:
    names = web_on_every_node(k)
    ip = cluster_ip(k, "my-svc")
    for node in cluster.ips:
        seen = answers(lambda n=node: cluster.fetch(n, f"http://{ip}/"), 24)
        assert set(seen) == {f"hello-from-{n}" for n in names}, f"from {node}: {seen}"


def test_internal_traffic_policy_local_keeps_cluster_ip_traffic_on_the_node(cluster: NetnsCluster, k: Kubectl) -> None:
    """Kernel mode: each node's traffic to the ClusterIP goes to its own endpoint only, and is dropped
    where there is none (the userspace node, like kube-proxy's removed userspace mode, ignores it)."""
    names = web_on_every_node(k)
    create(k, service("local-svc", internalTrafficPolicy="Local"))
    url = f"http://{cluster_ip(k, 'local-svc')}/"
    for node, name in ((SERVER_NODE, names[0]), ("pykube-svc-node1", names[1])):
        wait_for(lambda n=node: cluster.fetch(n, url), f"an answer through local-svc on {node}")
        assert set(answers(lambda n=node: cluster.fetch(n, url), 12)) == {f"hello-from-{name}"}, node
    k.run("delete", "pod", names[0])
    wait_for(lambda: cluster.fetch(SERVER_NODE, url, timeout=1) is None, "the server's node to drop it")
    assert cluster.fetch("pykube-svc-node1", url) == f"hello-from-{names[1]}"


def test_node_port_answers_on_every_node_even_without_a_local_backend(cluster: NetnsCluster, k: Kubectl) -> None:
    create(
        k,
        web_pod("only", "pykube-svc-node1"),
        service(
            "np", type="NodePort", ports=[{"name": "http", "port": 80, "targetPort": "http", "nodePort": NODE_PORT}]
        ),
    )
    wait_running(k, "only", timeout=90)
    for target in cluster.ips.values():
        for node in cluster.ips:
            assert (
                wait_for(
                    lambda n=node, t=target: cluster.fetch(n, f"http://{t}:{NODE_PORT}/"),
                    f"NodePort {target}:{NODE_PORT} from {node}",
                )
                == "hello-from-only"
            )
    assert cluster.fetch(SERVER_NODE, f"http://127.0.0.1:{NODE_PORT}/") == "hello-from-only"


def test_load_balancer_gets_the_nodes_addresses_and_answers_there(cluster: NetnsCluster, k: Kubectl) -> None:
    create(
        k,
        web_pod("lb-0", "pykube-svc-node2", app="lb"),
        service("lb", app="lb", type="LoadBalancer", ports=[{"name": "http", "port": 8081, "targetPort": "http"}]),
    )
    wait_running(k, "lb-0", timeout=90)

    def ingress() -> set[str] | None:
        svc = json.loads(k.out("get", "service", "lb", "-o", "json"))
        ips = {i["ip"] for i in (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []}
        return ips if ips == set(cluster.ips.values()) else None

    for ip in wait_for(ingress, "the nodes' addresses as the load balancer's ingress"):
        assert (
            wait_for(lambda i=ip: cluster.fetch(SERVER_NODE, f"http://{i}:8081/"), f"the load balancer on {ip}")
            == "hello-from-lb-0"
        )
    assert "EXTERNAL-IP" in k.out("get", "service", "lb")


def test_an_unready_pod_leaves_the_rotation(cluster: NetnsCluster, k: Kubectl) -> None:
    probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    script = "touch /tmp/ready; " + HTTPD
    pods = []
    for i, node in enumerate([SERVER_NODE, "pykube-svc-node1"]):
        pod = web_pod(f"r-{i}", node, app="r", readinessProbe=probe)
        pod["spec"]["containers"][0]["command"] = ["sh", "-c", script]
        pods.append(pod)
    create(k, *pods, service("r", app="r"))
    for pod in pods:
        wait_running(k, pod["metadata"]["name"], timeout=90)
    ip = cluster_ip(k, "r")
    wait_for(lambda: len(answers(lambda: cluster.fetch("pykube-svc-node2", f"http://{ip}/"), 12)) == 2, "both pods")
    k.run("exec", "r-1", "--", "rm", "/tmp/ready")
    started = time.monotonic()
    for node in cluster.ips:
        wait_for(
            lambda n=node: set(answers(lambda: cluster.fetch(n, f"http://{ip}/"), 12)) == {"hello-from-r-0"},
            f"r-1 out of the rotation seen from {node}",
            timeout=30,
        )
    print(f"unready pod out of every node's rotation after {time.monotonic() - started:.1f} s")


def test_a_service_without_endpoints_refuses_at_once(cluster: NetnsCluster, k: Kubectl) -> None:
    create(k, service("nobody", app="nobody"))
    ip = cluster_ip(k, "nobody")
    time.sleep(1)  # the proxies' sync
    for node in cluster.ips:
        started = time.monotonic()
        assert cluster.fetch(node, f"http://{ip}/") is None
        assert time.monotonic() - started < 2.5, f"{node} hung instead of refusing"


def test_cluster_dns_records(cluster: NetnsCluster, k: Kubectl) -> None:
    web_on_every_node(k)
    headless = service("db", clusterIP="None")
    create(k, headless, on("pykube-svc-node2", busybox_pod("client", "exec sleep 3600")))
    wait_running(k, "client")
    ns = k.namespace
    lookup = pod_exec(k, "client", f"nslookup my-svc.{ns}.svc.cluster.local")
    assert cluster_ip(k, "my-svc") in lookup
    srv = pod_exec(k, "client", f"nslookup -type=SRV _http._tcp.my-svc.{ns}.svc.cluster.local")
    assert "port = 80" in srv or " 80 " in srv
    resolv = pod_exec(k, "client", "cat /etc/resolv.conf")
    assert "nameserver 10.96.0.10" in resolv and f"search {ns}.svc.cluster.local svc.cluster.local" in resolv
    assert "ndots:5" in resolv
    missing = pod_exec(k, "client", f"nslookup nothing.{ns}.svc.cluster.local; echo rc=$?")
    assert "NXDOMAIN" in missing and "rc=1" in missing
    # a partial name goes through the search path (ndots:5) to the cluster's answer
    assert pod_exec(k, "client", f"wget -qO- http://my-svc.{ns}").startswith("hello-from-web-")


#: lists namespaces through the in-cluster address, verifying the server against the cluster CA
LIST_NAMESPACES = """
import json, os, ssl, urllib.request
request = urllib.request.Request("https://kubernetes.default.svc/api/v1/namespaces",
                                 headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
context = ssl.create_default_context(cafile="/ca/ca.crt")
print(" ".join(n["metadata"]["name"] for n in json.load(urllib.request.urlopen(request, context=context))["items"]))
"""


def test_pods_reach_the_api_server_through_the_kubernetes_service(cluster: NetnsCluster, k: Kubectl) -> None:
    """busybox's own TLS cannot talk to the API server, so the pod borrows the host's Python (and OpenSSL)
    through read-only hostPath mounts; the bearer token stands in for the service account token that
    does not exist yet."""
    mounts = {"usr": "/usr", "lib": "/lib", "lib64": "/lib64", "ca": str(cluster.server.data_dir / "pki")}
    pod = on(
        "pykube-svc-node1",
        busybox_pod(
            "client",
            "exec sleep 3600",
            container={
                "env": [{"name": "TOKEN", "value": cluster.server.admin_token}],
                "volumeMounts": [
                    {"name": n, "mountPath": "/ca" if n == "ca" else p, "readOnly": True} for n, p in mounts.items()
                ],
            },
        ),
    )
    pod["spec"]["volumes"] = [{"name": n, "hostPath": {"path": p}} for n, p in mounts.items()]
    create(k, pod)
    wait_running(k, "client")
    listed = k.out("exec", "client", "--", "/usr/bin/python3", "-c", LIST_NAMESPACES).split()
    assert {"default", "kube-system", k.namespace} <= set(listed)


def test_service_environment_and_kubectl_views(cluster: NetnsCluster, k: Kubectl) -> None:
    web_on_every_node(k)
    create(k, on("pykube-svc-node1", busybox_pod("late", "exec sleep 3600")))
    wait_running(k, "late")
    env = pod_exec(k, "late", "echo $MY_SVC_SERVICE_HOST")
    assert env.strip() == cluster_ip(k, "my-svc")
    ips = endpoint_ips(k, "my-svc")
    assert all(ip in k.out("get", "endpoints", "-A") or ip in k.out("get", "endpoints") for ip in ips)
    assert all(ip in k.out("get", "endpointslices") for ip in ips[:1])
    assert all(ip in k.out("describe", "svc", "my-svc") for ip in ips)


#: httpd whose /cgi-bin/ip answers the client's address as the server saw it
WHOAMI = (
    "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' "
    "> /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www"
)


def test_pod_to_pod_across_nodes_keeps_the_source_address(cluster: NetnsCluster, k: Kubectl) -> None:
    create(
        k,
        on("pykube-svc-node1", busybox_pod("whoami", WHOAMI)),
        on("pykube-svc-node2", busybox_pod("talker", "exec sleep 3600")),
        on(SERVER_NODE, busybox_pod("kernel-talker", "exec sleep 3600")),
    )
    server = wait_running(k, "whoami")
    talker = wait_running(k, "talker")
    kernel_talker = wait_running(k, "kernel-talker")
    assert client_address(k, "talker", f"http://{server['status']['podIP']}/cgi-bin/ip") == talker["status"]["podIP"]
    create(k, service("whoami", app="whoami", ports=[{"port": 80}]))
    wait_for(lambda: endpoint_ips(k, "whoami"), "the endpoint")
    # the kernel proxy DNATs without touching the source of pod traffic ...
    assert client_address(k, "kernel-talker", "http://whoami/cgi-bin/ip") == kernel_talker["status"]["podIP"]
    # ... while a userspace proxy opens a connection of its own, from its node
    assert client_address(k, "talker", "http://whoami/cgi-bin/ip") == cluster.ips["pykube-svc-node2"]


def test_proxy_state_survives_a_server_restart(cluster: NetnsCluster, k: Kubectl) -> None:
    create(
        k,
        web_pod("kept", "pykube-svc-node2"),
        service(
            "kept",
            type="NodePort",
            ports=[{"name": "http", "port": 80, "targetPort": "http", "nodePort": NODE_PORT + 1}],
        ),
    )
    wait_running(k, "kept", timeout=90)
    url = f"http://{cluster.ips['pykube-svc-node1']}:{NODE_PORT + 1}/"
    assert wait_for(lambda: cluster.fetch(SERVER_NODE, url), "the NodePort") == "hello-from-kept"
    cluster.server.process.terminate()
    cluster.server.process.wait(timeout=20)
    # the rules stay in the kernel while the control plane is away
    assert cluster.fetch(SERVER_NODE, url) == "hello-from-kept"
    args = cluster.server.process.args
    assert isinstance(args, list)
    log = open(cluster.server.log_path, "ab")  # noqa: SIM115 - the server process owns it
    cluster.server.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: node_is_ready(cluster.server, SERVER_NODE), "the server's node back", timeout=90)
    assert (
        wait_for(lambda: cluster.fetch("pykube-svc-node2", url), "the NodePort after the restart") == "hello-from-kept"
    )
    assert pod_obj(k, "kept")["status"]["phase"] == "Running"


def test_client_ip_affinity_sticks_in_both_modes(cluster: NetnsCluster, k: Kubectl) -> None:
    names = [f"sticky-{i}" for i in range(3)]
    create(
        k,
        *(web_pod(n, node, app="sticky") for n, node in zip(names, cluster.ips, strict=True)),
        service("sticky", app="sticky", sessionAffinity="ClientIP"),
    )
    for name in names:
        wait_running(k, name, timeout=90)
    wait_for(lambda: len(endpoint_ips(k, "sticky")) == 3, "three endpoints")
    ip = cluster_ip(k, "sticky")
    for node in (SERVER_NODE, "pykube-svc-node2"):  # kernel (iptables recent) and userspace (the balancer)
        wait_for(lambda n=node: cluster.fetch(n, f"http://{ip}/"), f"the service from {node}")
        seen = answers(lambda n=node: cluster.fetch(n, f"http://{ip}/"), 12)
        assert len(seen) == 1 and sum(seen.values()) == 12, f"from {node}: {seen}"


#: an httpd answering its pod's name at / and at /api/
NAMED_HTTPD = (
    "mkdir -p /www/api && echo hello-from-$(hostname) | tee /www/index.html > /www/api/index.html && "
    "exec httpd -f -p 80 -h /www"
)


def via_ingress(
    address: str, host: str, path: str = "/", *, port: int = 80, context: ssl.SSLContext | None = None
) -> str | None:
    """A GET of ``path`` for ``host`` sent to a node's ingress controller; None on failure. With
    ``context`` it goes over TLS with ``host`` as the SNI name, and the certificate must be one
    ``context`` trusts, for that name."""
    conn = http.client.HTTPConnection(address, port, timeout=5)
    try:
        if context is not None:  # connected here: http.client would send the address as the SNI name
            conn.sock = context.wrap_socket(socket.create_connection((address, port), timeout=5), server_hostname=host)
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        body = response.read().decode().strip()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def test_an_ingress_answers_by_host_path_and_sni_on_every_joined_node(
    cluster: NetnsCluster, k: Kubectl, tmp_path: Path
) -> None:
    """Each joined node's ingress controller listens on that node's ports 80 and 443 (the server's own
    node runs none here) and routes to pods on any node."""
    pods = {"v1": "pykube-svc-node1", "v2": "pykube-svc-node2"}
    create(
        k,
        *(web_pod(f"web-{v}", node, app=v, command=["sh", "-c", NAMED_HTTPD]) for v, node in pods.items()),
        *(service(f"web-{v}", app=v) for v in pods),
    )
    for version in pods:
        wait_running(k, f"web-{version}", timeout=90)
    cert, key = self_signed_serving_cert("secure.example.com", ["secure.example.com"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    k.run(
        "create",
        "secret",
        "tls",
        "secure-cert",
        "--cert",
        str(tmp_path / "tls.crt"),
        "--key",
        str(tmp_path / "tls.key"),
    )

    def rule(host: str, *paths: tuple[str, str]) -> Obj:
        return {
            "host": host,
            "http": {
                "paths": [
                    {"path": path, "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": 80}}}}
                    for path, name in paths
                ]
            },
        }

    create(
        k,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web"},
            "spec": {
                "tls": [{"hosts": ["secure.example.com"], "secretName": "secure-cert"}],
                "rules": [
                    rule("shop.example.com", ("/", "web-v1"), ("/api", "web-v2")),
                    rule("secure.example.com", ("/", "web-v2")),
                ],
            },
        },
    )
    trusted = ssl.create_default_context(cadata=cert.decode())
    for node in pods.values():
        address = cluster.ips[node]
        assert (
            wait_for(lambda a=address: via_ingress(a, "shop.example.com"), f"shop.example.com on {node}:80")
            == "hello-from-web-v1"
        )
        assert via_ingress(address, "shop.example.com", "/api/") == "hello-from-web-v2"
        assert (
            wait_for(
                lambda a=address: via_ingress(a, "secure.example.com", port=443, context=trusted),
                f"secure.example.com on {node}:443",
            )
            == "hello-from-web-v2"
        )

    def published() -> set[str] | None:
        ingress = json.loads(k.out("get", "ingress", "web", "-o", "json"))
        ips = {i["ip"] for i in (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress") or []}
        return ips if {cluster.ips[n] for n in pods.values()} <= ips else None

    wait_for(published, "the joined nodes' addresses in the Ingress's status")
