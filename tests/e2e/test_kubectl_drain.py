"""``kubectl drain`` against a budget and a quota through the real kubectl, with pods running as
Docker containers on the server's embedded agent.

kubectl v1.32 finds the eviction API through discovery, cordons the node, evicts its pods and, on a
429 from a PodDisruptionBudget, says so and retries every five seconds; it finishes once the budget
allows, then waits for the pods to be gone. The agent runs without a service proxy (nothing here
needs Services), so this suite writes no iptables rule and stopping it cleans none up.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
from collections.abc import Iterator

import pytest
from agent_helpers import Obj, node_ready, running_pods, sleeper_rc, start_agent_server, wait_for
from fake_nodes import fake_nodes
from kubectl_helpers import Kubectl
from support import ensure_docker

from minikube_py.testing import RunningServer, remove_node_containers

NODE = "pykube-drain-node"
ELSEWHERE = "pykube-drain-fake"
NS = "drain-e2e"
BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    ensure_docker()
    remove_node_containers(NODE)
    running = start_agent_server(
        tmp_path_factory.mktemp("drain") / "data", NODE, "--proxy-mode", "none", cluster_cidr="10.231.0.0/16"
    )
    running = dataclasses.replace(running, node_network=False)  # no proxy: no rules to clean up
    try:
        yield running
    finally:
        running.stop()
        remove_node_containers(NODE)


@pytest.fixture(scope="module")
def k(cluster: RunningServer) -> Kubectl:
    cluster.kubectl("create", "namespace", NS)
    return Kubectl(cluster, NS)


class Output:
    """A running kubectl's merged output, collected by a thread so the test can wait on it."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def finish(self) -> int:
        code = self.process.wait(timeout=120)
        self._thread.join(timeout=10)
        return code


def drain(cluster: RunningServer) -> Output:
    env = {"KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.cache_dir), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        ["/usr/bin/kubectl", "drain", NODE, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return Output(process)


def test_drain_stops_at_a_budget_and_goes_on_when_it_allows(cluster: RunningServer, k: Kubectl) -> None:
    k.run("create", "-f", "-", input=json.dumps(sleeper_rc("web", 2)))
    wait_for(lambda: len([p for p in running_pods(k, "web") if _ready(p)]) == 2, "2 ready web pods", timeout=120)
    k.run("create", "pdb", "web", "--selector=app=web", "--min-available=2")
    wait_for(lambda: _budget(k, "web") == ["web", "2", "N/A", "0"], "the budget to count 2 healthy pods")
    pods = sorted(p["metadata"]["name"] for p in running_pods(k, "web"))

    out = drain(cluster)
    try:
        wait_for(lambda: out.count("will retry after 5s") >= 2, "kubectl drain to retry twice", timeout=60)
        assert out.process.poll() is None, "drain keeps waiting for the budget"
        assert f"node/{NODE} cordoned" in out.lines
        for pod in pods:
            assert f"evicting pod {NS}/{pod}" in out.lines
        refusal = f'error when evicting pods/"{pods[0]}" -n "{NS}" (will retry after 5s): {BLOCKED}'
        assert refusal in out.lines, out.lines
        assert sorted(p["metadata"]["name"] for p in running_pods(k, "web")) == pods, "no pod was evicted"
        assert k.out("get", "node", NODE, "--no-headers").split()[1] == "Ready,SchedulingDisabled"

        k.run("patch", "pdb", "web", "--type=merge", "-p", json.dumps({"spec": {"minAvailable": 0}}))
        assert out.finish() == 0, "\n".join(out.lines)
    finally:
        if out.process.poll() is None:
            out.process.kill()
    for pod in pods:
        assert f"pod/{pod} evicted" in out.lines
    assert out.lines[-1] == f"node/{NODE} drained"
    assert [p for p in running_pods(k, "web") if p["metadata"]["name"] in pods] == []

    # the ReplicationController's replacements wait for a schedulable node
    assert k.run("uncordon", NODE).stdout.strip() == f"node/{NODE} uncordoned"
    wait_for(lambda: len([p for p in running_pods(k, "web") if _ready(p)]) == 2, "2 new ready pods", timeout=120)
    assert k.run("uncordon", NODE).stdout.strip() == f"node/{NODE} already uncordoned"
    assert k.run("cordon", NODE).stdout.strip() == f"node/{NODE} cordoned"
    assert k.run("cordon", NODE).stdout.strip() == f"node/{NODE} already cordoned"
    k.run("uncordon", NODE)
    k.run("delete", "rc/web", "pdb/web")


def test_drain_goes_on_when_a_new_replica_is_ready_elsewhere(cluster: RunningServer) -> None:
    """A second node (a fake node: its pods run nowhere but report Ready) takes the replicas: scaling up
    gives the budget a disruption to allow, and each replacement's readiness gives the next one."""
    cluster.kubectl("create", "namespace", "drain-e2e-elsewhere")
    k = Kubectl(cluster, "drain-e2e-elsewhere")
    with fake_nodes(cluster, [ELSEWHERE]):
        wait_for(lambda: node_ready(cluster, ELSEWHERE), f"node {ELSEWHERE} Ready")
        k.run("cordon", ELSEWHERE)  # the first replicas go to the Docker node
        k.run("create", "-f", "-", input=json.dumps(sleeper_rc("api", 2)))
        wait_for(lambda: len([p for p in running_pods(k, "api") if _ready(p)]) == 2, "2 ready api pods", timeout=120)
        k.run("create", "pdb", "api", "--selector=app=api", "--min-available=2")
        wait_for(lambda: _budget(k, "api") == ["api", "2", "N/A", "0"], "the budget to count 2 healthy pods")
        pods = sorted(p["metadata"]["name"] for p in running_pods(k, "api"))
        k.run("uncordon", ELSEWHERE)

        out = drain(cluster)
        try:
            wait_for(lambda: out.count("will retry after 5s") >= 1, "kubectl drain to meet the budget", timeout=60)
            k.run("scale", "rc", "api", "--replicas=3")
            assert out.finish() == 0, "\n".join(out.lines)
        finally:
            if out.process.poll() is None:
                out.process.kill()
        for pod in pods:
            assert f"pod/{pod} evicted" in out.lines
        assert out.lines[-1] == f"node/{NODE} drained"
        on_nodes = {p["spec"]["nodeName"] for p in running_pods(k, "api") if _ready(p)}
        assert on_nodes == {ELSEWHERE}
        k.run("uncordon", NODE)
        k.run("delete", "rc/api", "pdb/api")
    k.run("delete", "node", ELSEWHERE)  # its fake agent is gone


def test_a_quota_refuses_the_pod_that_would_exceed_it(k: Kubectl) -> None:
    k.run("create", "namespace", "drain-e2e-quota", "-n", "default")
    quota = Kubectl(k.server, "drain-e2e-quota")
    quota.run("create", "quota", "two-pods", "--hard=pods=2")
    wait_for(lambda: "pods: 0/2" in quota.out("get", "quota", "two-pods", "--no-headers"), "the quota counted")
    for name in ("one", "two"):
        quota.run("run", name, "--image=pykube.local/busybox:1.35", "--restart=Never", "--", "sleep", "3600")
    refused = quota.fails("run", "three", "--image=pykube.local/busybox:1.35", "--restart=Never", "--", "sleep", "1")
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): pods "three" is forbidden: exceeded quota: '
        "two-pods, requested: pods=1, used: pods=2, limited: pods=2"
    )
    assert "pods: 2/2" in quota.out("get", "quota", "two-pods", "--no-headers")
    quota.run("delete", "pod", "one", "two", "--grace-period=1")
    k.run("delete", "namespace", "drain-e2e-quota", "-n", "default", "--wait=false")


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _budget(k: Kubectl, name: str) -> list[str]:
    return k.out("get", "pdb", name, "--no-headers").split()[:4]
