"""``rollout status``'s words for each stage of a rollout, as kubectl's status viewers say them."""

from __future__ import annotations

import pytest

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.rollout import rollout_message


def deployment(generation: int = 1, observed: int = 1, **status: object) -> dict:  # type: ignore[type-arg]
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": observed, **status},
    }


def test_deployment_stages() -> None:
    assert rollout_message(deployment(2, 1)) == ("Waiting for deployment spec update to be observed...", False)
    assert rollout_message(deployment(updatedReplicas=1))[0] == (
        'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...'
    )
    assert rollout_message(deployment(updatedReplicas=3, replicas=4))[0] == (
        'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...'
    )
    assert rollout_message(deployment(updatedReplicas=3, replicas=3, availableReplicas=2))[0] == (
        'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...'
    )
    assert rollout_message(deployment(updatedReplicas=3, replicas=3, availableReplicas=3)) == (
        'deployment "web" successfully rolled out',
        True,
    )
    stuck = deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    with pytest.raises(CommandError, match="exceeded its progress deadline"):
        rollout_message(stuck)


def test_daemonset_and_statefulset_stages() -> None:
    ds = {
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
        },
    }
    assert (
        rollout_message(ds)[0]
        == 'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...'
    )
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 2,
            "currentReplicas": 2,
            "currentRevision": "db-1",
            "updateRevision": "db-1",
        },
    }
    assert rollout_message(sts) == ("statefulset rolling update complete 2 pods at revision db-1...", True)
