"""What ``pykube kubectl autoscale`` builds and refuses (the e2e tests compare it with kubectl)."""

from __future__ import annotations

from minikube_py.kubectl.autoscale import autoscaler, bounds_error


def test_only_the_bounds_given_are_written() -> None:
    target = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}
    assert autoscaler("web", target, 5, -1, -1)["spec"] == {"scaleTargetRef": target, "maxReplicas": 5}
    assert autoscaler("w", target, 5, 2, 80)["spec"] == {
        "scaleTargetRef": target,
        "minReplicas": 2,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 80,
    }


def test_bounds_are_checked_as_kubectl_checks_them() -> None:
    assert bounds_error(-1, -1) == "--max=MAXPODS is required and must be at least 1, max: -1"
    assert bounds_error(3, 4) == "--max=MAXPODS must be larger or equal to --min=MINPODS, max: 3, min: 4"
    assert bounds_error(3, -1) is None and bounds_error(3, 3) is None
