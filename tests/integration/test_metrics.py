"""``/metrics``: Prometheus' text format, authenticated like the rest of the API, with kube-apiserver's,
client-go's, kube-scheduler's and the kubelet's metric names, moving with what the cluster does.

A real server whose embedded agent runs the fake runtime (no Docker, no host networking), scraped
over HTTPS with the admin token and with the real kubectl.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from support import fake_node_flags

from minikube_py import pki
from minikube_py.testing import RunningServer, eventually, start_server

NODE = "prommetrics-node"
NS = "prommetrics"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("prommetrics") / "data", *fake_node_flags(NODE), agent=True)
    # the fake runtime runs no service proxy (proxy mode none) and makes no pod network on this host,
    # so stopping needs no host-wide cleanup of proxy rules and routes
    running.node_network = False
    try:
        eventually(lambda: node_ready(running), "the fake node to be Ready")
        code, body = running.request("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
        assert code == 201, body
        yield running
    finally:
        running.stop()


def node_ready(server: RunningServer) -> bool:
    code, node = server.request("GET", f"/api/v1/nodes/{NODE}")
    return code == 200 and any(
        c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", [])
    )


def scrape_text(server: RunningServer) -> str:
    code, text = server.request("GET", "/metrics")
    assert code == 200, text
    assert isinstance(text, str)
    return text


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: list[Sample], metric: str, **labels: str) -> float:
    """The sum of the samples of ``metric`` whose labels include ``labels`` (0 when there is none)."""
    return sum(s.value for s in found if s.name == metric and labels.items() <= s.labels.items())


def scrape(server: RunningServer) -> list[Sample]:
    return samples(scrape_text(server))


def test_metrics_parse_and_carry_kubernetes_names(server: RunningServer) -> None:
    text = scrape_text(server)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, kind in [
        ("apiserver_request", "counter"),
        ("apiserver_request_duration_seconds", "histogram"),
        ("apiserver_current_inflight_requests", "gauge"),
        ("apiserver_longrunning_requests", "gauge"),
        ("apiserver_registered_watchers", "gauge"),
        ("apiserver_watch_events", "counter"),
        ("apiserver_storage_objects", "gauge"),
        ("pykube_store_commit_duration_seconds", "histogram"),
        ("workqueue_depth", "gauge"),
        ("workqueue_adds", "counter"),
        ("workqueue_retries", "counter"),
        ("workqueue_queue_duration_seconds", "histogram"),
        ("workqueue_work_duration_seconds", "histogram"),
        ("scheduler_schedule_attempts", "counter"),
        ("scheduler_scheduling_attempt_duration_seconds", "histogram"),
        ("kubelet_pod_start_duration_seconds", "histogram"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
    ]:
        assert families[name].type == kind, name
    found = samples(text)
    assert value(found, "apiserver_current_inflight_requests", request_kind="readOnly") >= 1  # this scrape
    assert value(found, "apiserver_storage_objects", resource="namespaces") >= 5  # 4 built in and ours
    assert value(found, "process_resident_memory_bytes") > 0
    # controllers and the agent hold watches open: long-running, and so never in the latency histogram
    assert value(found, "apiserver_longrunning_requests", verb="WATCH", resource="pods") >= 1
    assert value(found, "apiserver_registered_watchers", kind="Pod") >= 1
    assert not [s for s in found if s.name.startswith("apiserver_request_duration") and s.labels["verb"] == "WATCH"]
    # no *_created series: Kubernetes' components expose none
    assert not [s for s in found if s.name.endswith("_created")]
    # kube-apiserver's bucket boundaries
    buckets = {s.labels["le"] for s in found if s.name == "apiserver_request_duration_seconds_bucket"}
    assert {"0.005", "0.025", "1.25", "60.0", "+Inf"} <= buckets


def test_request_counter_moves_by_exactly_the_requests_made(server: RunningServer) -> None:
    # secrets: only this test reads them by name (the agent and controllers list and watch them)
    counted = {"resource": "secrets", "group": "", "version": "v1", "component": "apiserver"}
    before = scrape(server)
    for n in range(3):
        code, _ = server.request("POST", f"/api/v1/namespaces/{NS}/secrets", {"metadata": {"name": f"s-{n}"}})
        assert code == 201
    for _ in range(5):
        assert server.request("GET", f"/api/v1/namespaces/{NS}/secrets/s-0")[0] == 200
    for _ in range(2):
        assert server.request("GET", f"/api/v1/namespaces/{NS}/secrets/none")[0] == 404
    assert server.request("GET", f"/api/v1/namespaces/{NS}/secrets")[0] == 200
    assert server.request("DELETE", f"/api/v1/namespaces/{NS}/secrets")[0] == 200
    after = scrape(server)

    def moved(metric: str, **labels: str) -> float:
        return value(after, metric, **counted, **labels) - value(before, metric, **counted, **labels)

    assert moved("apiserver_request_total", verb="POST", scope="namespace", code="201") == 3
    assert moved("apiserver_request_total", verb="GET", scope="resource", code="200") == 5
    assert moved("apiserver_request_total", verb="GET", scope="resource", code="404") == 2
    assert moved("apiserver_request_total", verb="LIST", scope="namespace", code="200") == 1
    assert moved("apiserver_request_total", verb="DELETECOLLECTION", scope="namespace", code="200") == 1
    assert moved("apiserver_request_duration_seconds_count", verb="GET", scope="resource") == 7
    assert moved("apiserver_request_duration_seconds_count", verb="POST", scope="namespace") == 3


def test_unauthenticated_scrapes_are_refused(server: RunningServer) -> None:
    code, body = server.request("GET", "/metrics", token="")
    assert code == 401 and body["reason"] == "Unauthorized"
    code, body = server.request("GET", "/metrics", token="not-a-token")
    assert code == 401 and body["reason"] == "Unauthorized"


def test_a_client_certificate_of_the_cluster_ca_may_scrape(server: RunningServer, tmp_path: Path) -> None:
    """What the README's scrape config offers besides the token: a system:masters certificate."""
    ca = server.data_dir / "pki"
    cluster = pki.Pki(ca / "ca.crt", ca / "ca.key", ca / "server.crt", ca / "server.key", (ca / "ca.crt").read_bytes())
    cert, key = pki.issue_client_cert(cluster, "prometheus", "system:masters")
    chain = tmp_path / "prometheus.pem"
    pki.write_file(chain, cert + b"\n" + key)
    context = server.ssl_context()
    context.load_cert_chain(chain)
    with urllib.request.urlopen(server.url + "/metrics", context=context, timeout=30) as response:
        assert response.status == 200
        found = samples(response.read().decode())
    assert value(found, "apiserver_request_total") > 0


@pytest.mark.kubectl
def test_kubectl_get_raw_metrics(server: RunningServer) -> None:
    done = server.kubectl("get", "--raw", "/metrics")
    found = samples(done.stdout)
    assert value(found, "apiserver_request_total", verb="GET", code="200") > 0


def test_controllers_scheduler_and_agent_metrics_move_when_pods_are_created(server: RunningServer) -> None:
    before = scrape(server)
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "fake.pykube.io/app:1"}],
                },
            },
        },
    }
    server.kubectl("create", "-f", "-", input=json.dumps(replicaset))

    def running() -> bool:
        code, pods = server.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dweb")
        return (
            code == 200
            and len(pods["items"]) == 3
            and all(p.get("status", {}).get("phase") == "Running" for p in pods["items"])
        )

    eventually(running, "the ReplicaSet's 3 pods to run")

    def started() -> list[Sample] | None:
        # the agent observes a pod's start once the write of its Running status has returned
        found = scrape(server)
        counted = value(found, "kubelet_pod_start_duration_seconds_count")
        return found if counted - value(before, "kubelet_pod_start_duration_seconds_count") >= 3 else None

    after = eventually(started, "the agent to count 3 pod starts")

    def moved(metric: str, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    assert moved("workqueue_adds_total", name="replicaset-controller") >= 1
    assert moved("workqueue_work_duration_seconds_count", name="replicaset-controller") >= 1
    assert moved("workqueue_queue_duration_seconds_count", name="replicaset-controller") >= 1
    assert moved("workqueue_adds_total", name="scheduler") >= 3
    assert moved("scheduler_schedule_attempts_total", result="scheduled", profile="default-scheduler") == 3
    assert moved("scheduler_scheduling_attempt_duration_seconds_count", result="scheduled") == 3
    assert moved("scheduler_pod_scheduling_sli_duration_seconds_count", attempts="1") == 3
    assert moved("kubelet_pod_start_duration_seconds_count") == 3
    assert moved("apiserver_storage_objects", resource="pods") == 3
    assert moved("apiserver_storage_objects", resource="replicasets.apps") == 1
    assert moved("apiserver_request_total", verb="POST", resource="pods", subresource="binding", code="201") == 3
    assert moved("pykube_store_commit_duration_seconds_count") >= 1
    assert [s for s in after if s.name == "workqueue_depth" and s.labels["name"] == "replicaset-controller"]
