"""``describe``'s layout for objects built in the test: sections, alignment and event ages."""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.kubectl.describe import describe_configmap, describe_pod
from minikube_py.kubectl.describekinds import describe_priority_class

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_pending_pod_with_a_repeated_event() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"b": "2", "a": "1"}},
        "spec": {
            "serviceAccountName": "default",
            "containers": [{"name": "c", "image": "img", "ports": [{"containerPort": 80}]}],
        },
        "status": {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [{"type": "PodScheduled", "status": "False"}],
        },
    }
    event = {
        "type": "Warning",
        "reason": "FailedScheduling",
        "message": "no nodes",
        "source": {"component": "default-scheduler"},
        "count": 3,
        "firstTimestamp": "2026-01-02T03:00:05Z",
        "lastTimestamp": "2026-01-02T03:04:00Z",
    }
    text = describe_pod(pod, [event], NOW)
    assert text.startswith(
        "Name:             p\nNamespace:        ns\nPriority:         0\n"
        "Service Account:  default\nNode:             <none>\nLabels:           a=1\n"
        "                  b=2\nAnnotations:      <none>\nStatus:           Pending\n"
    )
    # one block from Image to Mounts: as wide as "Environment:" and two spaces
    assert "    Port:         80/TCP\n    Host Port:    0/TCP\n    Environment:  <none>\n" in text
    assert "  Type           Status\n  PodScheduled   False \n" in text
    assert text.endswith("  Warning  FailedScheduling  5s (x3 over 4m)  default-scheduler  no nodes\n")


def test_a_config_map_lists_its_data_by_key() -> None:
    cm = {
        "metadata": {"name": "cm", "namespace": "ns", "annotations": {"note": "a\nb"}},
        "data": {"z": "last", "a": "first"},
        "binaryData": {"bin": "AAEC"},
    }
    assert describe_configmap(cm, [], NOW) == (
        "Name:         cm\nNamespace:    ns\nLabels:       <none>\nAnnotations:  note:\n                a\n"
        "                b\n\nData\n====\na:\n----\nfirst\n\nz:\n----\nlast\n\n\nBinaryData\n====\n"
        "bin: 3 bytes\n\nEvents:  <none>\n"
    )


def test_a_priority_class_as_kubectl_describes_it() -> None:
    pc = {
        "metadata": {"name": "high", "annotations": {"team": "ops", "a": "b"}},
        "value": 1000,
        "preemptionPolicy": "Never",
        "description": "urgent work",
    }
    assert describe_priority_class(pc, [], NOW) == (
        "Name:              high\n"
        "Value:             1000\n"
        "GlobalDefault:     false\n"
        "PreemptionPolicy:  Never\n"
        "Description:       urgent work\n"
        "Annotations:       a=b,team=ops\n"
        "Events:            <none>\n"
    )
