"""NetworkPolicies enforced with real traffic on two real nodes: ``pykube server`` with its embedded agent
on this host and a ``pykube agent`` in a network namespace with its own Docker engine (kernel proxy
mode on both), on one bridge. Three busybox httpd pods: ``db`` and ``other`` on the joined node, ``web``
on the server's node, so policies are checked across nodes, within a node, and through a Service's
ClusterIP (which a policy sees after the DNAT, as the endpoint pod). Driven by the real kubectl.
Teardown removes the namespaces, the bridge, and every rule the host's proxy wrote.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from agent_helpers import HTTPD, busybox_pod, create, wait_for, wait_running
from kubectl_helpers import Kubectl
from support import NetnsCluster, netns_cluster

SERVER_NODE = "pykube-np-server"
NODE = "pykube-np-node1"
CLUSTER_CIDR = "10.245.0.0/16"

Obj = dict[str, Any]


@dataclass
class Pods:
    k: Kubectl
    ips: dict[str, str]
    db_service: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsCluster]:
    with netns_cluster(
        tmp_path_factory.mktemp("netpol"), SERVER_NODE, {NODE: (1, "kernel")}, cluster_cidr=CLUSTER_CIDR
    ) as c:
        yield c
    assert "PYKUBE-" not in subprocess.run(["iptables-legacy-save"], capture_output=True, text=True).stdout


def web_pod(name: str, node: str) -> Obj:
    pod = busybox_pod(name, HTTPD, container={"ports": [{"containerPort": 80, "name": "http"}]})
    pod["spec"]["nodeSelector"] = {"kubernetes.io/hostname": node}
    return pod


@pytest.fixture(scope="module")
def pods(cluster: NetnsCluster) -> Iterator[Pods]:
    """The three httpd pods and a Service for ``db``, shared by the tests (each leaves no policy behind)."""
    cluster.server.kubectl("create", "namespace", "netpol")
    k = Kubectl(cluster.server, "netpol")
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"selector": {"app": "db"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    create(k, web_pod("db", NODE), web_pod("other", NODE), web_pod("web", SERVER_NODE), service)
    ips = {name: wait_running(k, name, timeout=90)["status"]["podIP"] for name in ("db", "other", "web")}
    cluster_ip = json.loads(k.out("get", "service", "db", "-o", "json"))["spec"]["clusterIP"]
    yield Pods(k, ips, cluster_ip)
    cluster.server.kubectl("delete", "namespace", "netpol", "--wait=false", check=False)


def fetch(k: Kubectl, pod: str, address: str) -> str:
    """What ``pod`` gets from http://address/: the page, or wget's error (``Connection refused`` when a
    policy rejects the connection)."""
    done = k.run("exec", pod, "--", "wget", "-qO-", f"http://{address}/", check=False, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip()}"


def answers(k: Kubectl, pod: str, address: str, server: str) -> bool:
    return fetch(k, pod, address) == f"hello-from-{server}"


def refused(k: Kubectl, pod: str, address: str) -> bool:
    return "Connection refused" in fetch(k, pod, address)


def apply(k: Kubectl, name: str, spec: Obj) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}, "spec": spec}
    k.run("apply", "-f", "-", input=json.dumps(policy))


def test_an_ingress_policy_admits_only_the_pods_it_names(cluster: NetnsCluster, pods: Pods) -> None:
    k, db = pods.k, pods.ips["db"]
    assert answers(k, "other", db, "db") and answers(k, "web", pods.db_service, "db")
    apply(
        k,
        "db-from-web",
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
        },
    )
    # a pod of db's own node is rejected, by address and through the Service (after its DNAT)
    wait_for(lambda: refused(k, "other", db), "other refused by db's policy")
    assert refused(k, "other", pods.db_service)
    # the named pod, on the other node, still gets in both ways
    assert answers(k, "web", db, "db") and answers(k, "web", pods.db_service, "db")
    # the node db runs on always reaches it (probes, port-forwards)
    assert cluster.fetch(NODE, f"http://{db}/") == "hello-from-db"
    k.run("delete", "networkpolicy", "db-from-web")
    wait_for(lambda: answers(k, "other", db, "db"), "other admitted again once the policy is gone")


def test_an_egress_policy_limits_what_a_pod_reaches(pods: Pods) -> None:
    k = pods.k
    apply(
        k,
        "web-to-db",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": "http"}]}],
        },
    )
    wait_for(lambda: refused(k, "web", pods.ips["other"]), "web may no longer reach other")
    assert answers(k, "web", pods.ips["db"], "db") and answers(k, "web", pods.db_service, "db")
    assert answers(k, "other", pods.ips["web"], "web")  # ingress to web is not isolated
    k.run("delete", "networkpolicy", "web-to-db")
    wait_for(lambda: answers(k, "web", pods.ips["other"], "other"), "web reaches other again")


def test_an_ip_block_with_an_exception(pods: Pods) -> None:
    k = pods.k
    apply(
        k,
        "db-from-block",
        {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": CLUSTER_CIDR, "except": [f"{pods.ips['other']}/32"]}}]}],
        },
    )
    wait_for(lambda: refused(k, "other", pods.ips["db"]), "other, the exception, refused")
    assert answers(k, "web", pods.ips["db"], "db")
    k.run("delete", "networkpolicy", "db-from-block")
    wait_for(lambda: answers(k, "other", pods.ips["db"], "db"), "other admitted again")
