"""LimitRange defaults and bounds (minikube_py.model.limitranges), as Kubernetes' LimitRanger."""

from __future__ import annotations

from typing import Any

from minikube_py.model.limitranges import apply_defaults, default_limit_range, refusal, violations


def _range(*items: dict[str, Any], name: str = "lr") -> dict[str, Any]:
    lr = {"metadata": {"name": name}, "spec": {"limits": list(items)}}
    default_limit_range(lr)
    return lr


def _pod(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers)}}


def test_a_limit_range_defaults_its_own_defaults_from_max_and_min() -> None:
    lr = _range({"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "10Mi"}})
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1"}
    assert item["defaultRequest"] == {"cpu": "1", "memory": "10Mi"}


def test_containers_get_missing_requests_and_limits() -> None:
    lr = _range(
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        }
    )
    pod = _pod({"name": "a", "resources": {"limits": {"cpu": "200m"}, "requests": {"cpu": "200m"}}}, {"name": "b"})
    assert apply_defaults([lr], pod)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "200m", "memory": "128Mi"},
        "requests": {"cpu": "200m", "memory": "64Mi"},
    }
    assert pod["spec"]["containers"][1]["resources"] == {
        "limits": {"cpu": "500m", "memory": "128Mi"},
        "requests": {"cpu": "100m", "memory": "64Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: memory request for container a; memory limit for container a; "
        "cpu, memory request for container b; cpu, memory limit for container b"
    )


def test_nothing_to_default_leaves_the_pod_alone() -> None:
    pod = _pod({"name": "a"})
    assert not apply_defaults([_range({"type": "Pod", "max": {"cpu": "1"}})], pod)
    assert "annotations" not in pod["metadata"]


def test_container_bounds_with_kubernetes_messages() -> None:
    lr = _range({"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "100m"}})
    too_big = _pod({"name": "a", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}})
    assert violations([lr], too_big) == ["maximum cpu usage per Container is 1, but limit is 2"]
    over_request = _pod({"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}})
    assert violations([lr], over_request) == ["maximum cpu usage per Container is 1, but request is 2"]
    too_small = _pod({"name": "a", "resources": {"limits": {"cpu": "50m"}, "requests": {"cpu": "50m"}}})
    assert violations([lr], too_small) == ["minimum cpu usage per Container is 100m, but request is 50m"]
    assert violations([lr], _pod({"name": "a"})) == [
        "minimum cpu usage per Container is 100m.  No request is specified",
        "maximum cpu usage per Container is 1.  No limit is specified",
    ]
    assert violations([lr], _pod({"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}})) == []


def test_limit_to_request_ratio() -> None:
    lr = _range({"type": "Container", "maxLimitRequestRatio": {"memory": "2"}})
    pod = _pod({"name": "a", "resources": {"limits": {"memory": "300Mi"}, "requests": {"memory": "100Mi"}}})
    assert violations([lr], pod) == [
        "memory max limit to request ratio per Container is 2, but provided ratio is 3.000000"
    ]


def test_pod_bounds_apply_to_the_sum_of_its_containers() -> None:
    lr = _range({"type": "Pod", "max": {"memory": "1Gi"}})
    half = {"limits": {"memory": "600Mi"}, "requests": {"memory": "600Mi"}}
    pod = _pod({"name": "a", "resources": half}, {"name": "b", "resources": half})
    assert violations([lr], pod) == ["maximum memory usage per Pod is 1Gi, but limit is 1200Mi"]


def test_several_problems_read_as_go_aggregate() -> None:
    assert refusal(["a"]) == "a"
    assert refusal(["a", "b"]) == "[a, b]"
