"""How requests are named in apiserver_request_total: kube-apiserver's verbs, scopes and resources."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from minikube_py.api.instrument import RequestLabels, request_labels
from minikube_py.metrics import REQUEST_LABELS, RequestMetrics


@pytest.mark.parametrize(
    ("method", "path", "flags", "expected"),
    [
        # collections: LIST, and the scope says whether one namespace or all of them
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("LIST", "", "v1", "pods", "", "namespace")),
        ("GET", "/api/v1/pods", {}, ("LIST", "", "v1", "pods", "", "cluster")),
        ("GET", "/api/v1/nodes", {}, ("LIST", "", "v1", "nodes", "", "cluster")),
        (
            "GET",
            "/apis/apps/v1/namespaces/ns/deployments",
            {"watch": True},
            ("WATCH", "apps", "v1", "deployments", "", "namespace"),
        ),
        ("GET", "/api/v1/pods", {"watch": True}, ("WATCH", "", "v1", "pods", "", "cluster")),
        ("POST", "/api/v1/namespaces/ns/configmaps", {}, ("POST", "", "v1", "configmaps", "", "namespace")),
        ("DELETE", "/api/v1/namespaces/ns/pods", {}, ("DELETECOLLECTION", "", "v1", "pods", "", "namespace")),
        # named objects: scope resource, cluster-scoped or not
        ("GET", "/api/v1/namespaces/ns/pods/p", {}, ("GET", "", "v1", "pods", "", "resource")),
        ("GET", "/api/v1/namespaces/ns/pods/p", {"watch": True}, ("WATCH", "", "v1", "pods", "", "resource")),
        ("GET", "/api/v1/nodes/n1", {}, ("GET", "", "v1", "nodes", "", "resource")),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
            {},
            ("PUT", "coordination.k8s.io", "v1", "leases", "", "resource"),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d",
            {},
            ("PATCH", "apps", "v1", "deployments", "", "resource"),
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d",
            {"apply": True},
            ("APPLY", "apps", "v1", "deployments", "", "resource"),
        ),
        ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", {}, ("DELETE", "batch", "v1", "jobs", "", "resource")),
        # subresources; the namespace named "status" and the status of a namespace are told apart
        ("PUT", "/api/v1/namespaces/ns/pods/p/status", {}, ("PUT", "", "v1", "pods", "status", "resource")),
        ("POST", "/api/v1/namespaces/ns/pods/p/binding", {}, ("POST", "", "v1", "pods", "binding", "resource")),
        ("PUT", "/api/v1/namespaces/ns/status", {}, ("PUT", "", "v1", "namespaces", "status", "resource")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("PUT", "", "v1", "namespaces", "finalize", "resource")),
        ("GET", "/api/v1/namespaces/ns", {}, ("GET", "", "v1", "namespaces", "", "resource")),
        (
            "GET",
            "/apis/apps/v1/namespaces/ns/replicasets/r/scale",
            {},
            ("GET", "apps", "v1", "replicasets", "scale", "resource"),
        ),
        ("GET", "/api/v1/namespaces/ns/pods/p/log", {}, ("GET", "", "v1", "pods", "log", "resource")),
        # exec and port-forward are CONNECT whatever the method (kubectl opens them with GET or POST)
        ("GET", "/api/v1/namespaces/ns/pods/p/exec", {}, ("CONNECT", "", "v1", "pods", "exec", "resource")),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/p/portforward",
            {},
            ("CONNECT", "", "v1", "pods", "portforward", "resource"),
        ),
        # non-resource requests: the method and nothing else, whatever the path names
        ("GET", "/metrics", {}, ("GET", "", "", "", "", "")),
        ("GET", "/healthz", {}, ("GET", "", "", "", "", "")),
        ("GET", "/api/v1", {}, ("GET", "", "", "", "", "")),
        ("GET", "/api/v1/", {}, ("GET", "", "", "", "", "")),
        ("GET", "/apis/apps/v1", {}, ("GET", "", "", "", "", "")),
        ("GET", "/apis/apps", {}, ("GET", "", "", "", "", "")),
        ("GET", "/api/v1/namespaces/ns/widgets", {}, ("GET", "", "", "", "", "")),
        ("GET", "/apis/made.up/v9/things", {}, ("GET", "", "", "", "", "")),
        ("GET", "/api/v1/namespaces/ns/pods/p/nosuch", {}, ("GET", "", "", "", "", "")),
    ],
)
def test_request_labels(method: str, path: str, flags: dict[str, bool], expected: tuple[str, ...]) -> None:
    assert request_labels(method, path, **flags) == RequestLabels(*expected)


@pytest.mark.parametrize(
    ("labels", "long_running"),
    [
        (request_labels("GET", "/api/v1/pods", watch=True), True),
        (request_labels("GET", "/api/v1/namespaces/ns/pods/p/log"), True),
        (request_labels("POST", "/api/v1/namespaces/ns/pods/p/exec"), True),
        (request_labels("GET", "/api/v1/pods"), False),
        (request_labels("PUT", "/api/v1/namespaces/ns/pods/p/status"), False),
        (request_labels("GET", "/metrics"), False),
    ],
)
def test_long_running_requests_are_watches_and_streams(labels: RequestLabels, long_running: bool) -> None:
    assert labels.long_running is long_running


def test_request_series_expose_a_counter_by_code_and_a_cumulative_histogram() -> None:
    requests = RequestMetrics()
    registry = CollectorRegistry()
    registry.register(requests)
    labels = ("GET", "", "v1", "pods", "", "resource", "apiserver")
    series = requests.series(labels, timed=True)
    assert requests.series(labels, timed=True) is series
    for seconds, code in ((0.001, 200), (0.03, 200), (100.0, 404)):
        series.observe(seconds)
        series.count(code)
    requests.series(("WATCH", "", "v1", "pods", "", "cluster", "apiserver"), timed=False).count(200)
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }

    def sample(name: str, **extra: str) -> float:
        return found[(name, tuple(sorted({**dict(zip(REQUEST_LABELS, labels, strict=True)), **extra}.items())))]

    assert sample("apiserver_request_total", code="200") == 2
    assert sample("apiserver_request_total", code="404") == 1
    assert sample("apiserver_request_duration_seconds_bucket", le="0.005") == 1
    assert sample("apiserver_request_duration_seconds_bucket", le="0.025") == 1
    assert sample("apiserver_request_duration_seconds_bucket", le="0.05") == 2
    assert sample("apiserver_request_duration_seconds_bucket", le="60.0") == 2
    assert sample("apiserver_request_duration_seconds_bucket", le="+Inf") == 3
    assert sample("apiserver_request_duration_seconds_count") == 3
    assert sample("apiserver_request_duration_seconds_sum") == 100.031
    # a long-running series is counted, never timed
    assert [k for k in found if k[0] == "apiserver_request_total" and ("verb", "WATCH") in k[1]]
    assert not [k for k in found if k[0].startswith("apiserver_request_duration") and ("verb", "WATCH") in k[1]]
