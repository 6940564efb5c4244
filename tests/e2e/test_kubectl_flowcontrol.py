"""API Priority and Fairness objects through kubectl: kube-apiserver's configuration, kept by the
configuration producer, the Dangling condition, validation and the tables."""

from __future__ import annotations

import json

import pytest
from kubectl_helpers import header, row, table, to_yaml, wait_for

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl

SCHEMAS = [
    ["exempt", "exempt", "1", "<none>"],
    ["probes", "exempt", "2", "<none>"],
    ["system-leader-election", "leader-election", "100", "ByUser"],
    ["endpoint-controller", "workload-high", "150", "ByUser"],
    ["workload-leader-election", "leader-election", "200", "ByUser"],
    ["system-node-high", "node-high", "400", "ByUser"],
    ["system-nodes", "system", "500", "ByUser"],
    ["kube-controller-manager", "workload-high", "800", "ByNamespace"],
    ["kube-scheduler", "workload-high", "800", "ByNamespace"],
    ["kube-system-service-accounts", "workload-high", "900", "ByNamespace"],
    ["service-accounts", "workload-low", "9000", "ByUser"],
    ["global-default", "global-default", "9900", "ByUser"],
    ["catch-all", "catch-all", "10000", "ByUser"],
]
LEVELS = [
    ["catch-all", "Limited", "5", "<none>", "<none>", "<none>"],
    ["exempt", "Exempt", "<none>", "<none>", "<none>", "<none>"],
    ["global-default", "Limited", "20", "128", "6", "50"],
    ["leader-election", "Limited", "10", "16", "4", "50"],
    ["node-high", "Limited", "40", "64", "6", "50"],
    ["system", "Limited", "30", "64", "6", "50"],
    ["workload-high", "Limited", "40", "128", "6", "50"],
    ["workload-low", "Limited", "100", "128", "6", "50"],
]
API = "flowcontrol.apiserver.k8s.io/v1"


def _configured(server: RunningServer) -> tuple[str, str]:
    """``kubectl get flowschemas`` and ``prioritylevelconfigurations`` once the producer made them all
    and marked every schema's level found."""

    def fetch() -> tuple[str, str]:
        return server.kubectl("get", "flowschemas").stdout, server.kubectl("get", "prioritylevelconfigurations").stdout

    def complete(outputs: tuple[str, str]) -> bool:
        schemas, levels = outputs
        names = {cells[0] for cells in table(schemas)[1:]}
        found = all(cells[-1] == "False" for cells in table(schemas)[1:] if cells[0] in {s[0] for s in SCHEMAS})
        return {s[0] for s in SCHEMAS} <= names and len(table(levels)) > len(LEVELS) - 1 and found

    return wait_for(fetch, complete, "the APF configuration")


def test_the_configuration_is_kube_apiservers(server: RunningServer) -> None:
    schemas, levels = _configured(server)
    assert header(schemas) == ["NAME", "PRIORITYLEVEL", "MATCHINGPRECEDENCE", "DISTINGUISHERMETHOD", "AGE", "MISSINGPL"]
    built_in = [cells for cells in table(schemas)[1:] if cells[0] in {s[0] for s in SCHEMAS}]
    assert [cells[:4] for cells in built_in] == SCHEMAS  # by precedence, then name
    assert header(levels) == [
        "NAME",
        "TYPE",
        "NOMINALCONCURRENCYSHARES",
        "QUEUES",
        "HANDSIZE",
        "QUEUELENGTHLIMIT",
        "AGE",
    ]
    for expected in LEVELS:
        assert row(levels, expected[0])[:6] == expected
    rows = table(server.kubectl("api-resources", "--api-group=flowcontrol.apiserver.k8s.io").stdout)[1:]
    assert rows == [
        ["flowschemas", "", API, "false", "FlowSchema"],
        ["prioritylevelconfigurations", "", API, "false", "PriorityLevelConfiguration"],
    ]
    explained = server.kubectl("explain", "prioritylevelconfiguration.spec.limited.limitResponse").stdout
    assert "queuing" in explained and "<QueuingConfiguration>" in explained


def test_the_producer_brings_back_a_deleted_suggested_object_and_keeps_mandatory_ones(server: RunningServer) -> None:
    _configured(server)
    uid = json.loads(server.kubectl("get", "flowschema", "global-default", "-o", "json").stdout)["metadata"]["uid"]
    server.kubectl("delete", "flowschema", "global-default")
    back = wait_for(
        lambda: server.kubectl("get", "flowschema", "global-default", "-o", "json", check=False),
        lambda done: done.returncode == 0 and json.loads(done.stdout)["metadata"]["uid"] != uid,
        "global-default to be created again",
    )
    obj = json.loads(back.stdout)
    assert obj["metadata"]["annotations"] == {"apf.kubernetes.io/autoupdate-spec": "true"}
    assert obj["spec"]["matchingPrecedence"] == 9900
    refused = server.kubectl(
        "patch", "flowschema", "catch-all", "--type=merge", "-p", '{"spec":{"matchingPrecedence":5000}}', check=False
    )
    assert refused.returncode == 1
    assert "spec of 'catch-all' must equal the fixed value" in refused.stderr
    refused = server.kubectl(
        "patch",
        "prioritylevelconfiguration",
        "exempt",
        "--type=merge",
        "-p",
        '{"spec":{"type":"Limited"}}',
        check=False,
    )
    assert (
        refused.returncode == 1
        and "spec.limited: Required value: must not be empty when type is Limited" in refused.stderr
    )


def test_an_operators_schema_dangles_until_its_level_exists(server: RunningServer) -> None:
    schema = {
        "apiVersion": API,
        "kind": "FlowSchema",
        "metadata": {"name": "e2e-operator"},
        "spec": {
            "priorityLevelConfiguration": {"name": "e2e-operator"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"namespace": "ops", "name": "op"}}],
                    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"]}],
                }
            ],
        },
    }
    level = {
        "apiVersion": API,
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": "e2e-operator"},
        "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 16}}}},
    }
    try:
        server.kubectl("apply", "-f", "-", input=to_yaml(schema))
        cells = wait_for(
            lambda: row(server.kubectl("get", "flowschema", "e2e-operator").stdout, "e2e-operator"),
            lambda cells: cells[-1] == "True",
            "the schema to dangle",
        )
        assert cells[1:4] == ["e2e-operator", "1000", "ByUser"]
        server.kubectl("apply", "-f", "-", input=to_yaml(level))
        wait_for(
            lambda: row(server.kubectl("get", "flowschema", "e2e-operator").stdout, "e2e-operator"),
            lambda cells: cells[-1] == "False",
            "the schema to find its level",
        )
        condition = json.loads(server.kubectl("get", "flowschema", "e2e-operator", "-o", "json").stdout)["status"][
            "conditions"
        ]
        assert [(c["type"], c["status"], c["reason"]) for c in condition] == [("Dangling", "False", "Found")]
        levels = server.kubectl("get", "prioritylevelconfiguration", "e2e-operator").stdout
        assert row(levels, "e2e-operator")[:6] == ["e2e-operator", "Limited", "30", "16", "8", "50"]
        bad = {
            **level,
            "metadata": {"name": "e2e-bad"},
            "spec": {
                "type": "Limited",
                "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 2, "handSize": 3}}},
            },
        }
        refused = server.kubectl("apply", "-f", "-", input=to_yaml(bad), check=False)
        assert refused.returncode == 1
        assert (
            "spec.limited.limitResponse.queuing.handSize: Invalid value: 3: should not be greater than queues (2)"
            in refused.stderr
        )
    finally:
        server.kubectl("delete", "flowschema,prioritylevelconfiguration", "e2e-operator", "--ignore-not-found")
