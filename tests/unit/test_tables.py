"""Server-side Tables: kube-apiserver's columns and the exact cells kubectl users see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.api.tables import column_definitions, render_table, table_row
from minikube_py.model.errors import StatusError
from minikube_py.model.kinds import RESOURCES, ResourceType

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
RT = {rt.kind: rt for rt in RESOURCES}


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: timedelta = timedelta(minutes=5), **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "resourceVersion": "42",
        "creationTimestamp": (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def cells(kind: str, obj: dict[str, Any]) -> list[Any]:
    return table_row(RT[kind], obj, now=NOW)["cells"]


def headers(kind: str, wide: bool = False) -> list[str]:
    """The header line kubectl prints: upper-cased names, priority 1 only with -o wide."""
    return [c["name"].upper() for c in column_definitions(RT[kind]) if wide or c["priority"] == 0]


TEMPLATE_WIDE = "|CONTAINERS|IMAGES|SELECTOR"


@pytest.mark.parametrize(
    ("kind", "normal", "wide"),
    [
        ("Namespace", "NAME|STATUS|AGE", "NAME|STATUS|AGE"),
        (
            "Pod",
            "NAME|READY|STATUS|RESTARTS|AGE",
            "NAME|READY|STATUS|RESTARTS|AGE|IP|NODE|NOMINATED NODE|READINESS GATES",
        ),
        (
            "Service",
            "NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE",
            "NAME|TYPE|CLUSTER-IP|EXTERNAL-IP|PORT(S)|AGE|SELECTOR",
        ),
        ("Endpoints", "NAME|ENDPOINTS|AGE", "NAME|ENDPOINTS|AGE"),
        ("ReplicationController", "NAME|DESIRED|CURRENT|READY|AGE", "NAME|DESIRED|CURRENT|READY|AGE" + TEMPLATE_WIDE),
        (
            "Node",
            "NAME|STATUS|ROLES|AGE|VERSION",
            "NAME|STATUS|ROLES|AGE|VERSION|INTERNAL-IP|EXTERNAL-IP|OS-IMAGE|KERNEL-VERSION|CONTAINER-RUNTIME",
        ),
        ("Secret", "NAME|TYPE|DATA|AGE", "NAME|TYPE|DATA|AGE"),
        ("ConfigMap", "NAME|DATA|AGE", "NAME|DATA|AGE"),
        (
            "Event",
            "LAST SEEN|TYPE|REASON|OBJECT|MESSAGE",
            "LAST SEEN|TYPE|REASON|OBJECT|SUBOBJECT|SOURCE|MESSAGE|FIRST SEEN|COUNT|NAME",
        ),
        ("ServiceAccount", "NAME|SECRETS|AGE", "NAME|SECRETS|AGE"),
        ("Deployment", "NAME|READY|UP-TO-DATE|AVAILABLE|AGE", "NAME|READY|UP-TO-DATE|AVAILABLE|AGE" + TEMPLATE_WIDE),
        ("ReplicaSet", "NAME|DESIRED|CURRENT|READY|AGE", "NAME|DESIRED|CURRENT|READY|AGE" + TEMPLATE_WIDE),
        (
            "DaemonSet",
            "NAME|DESIRED|CURRENT|READY|UP-TO-DATE|AVAILABLE|NODE SELECTOR|AGE",
            "NAME|DESIRED|CURRENT|READY|UP-TO-DATE|AVAILABLE|NODE SELECTOR|AGE" + TEMPLATE_WIDE,
        ),
        ("StatefulSet", "NAME|READY|AGE", "NAME|READY|AGE|CONTAINERS|IMAGES"),
        ("ControllerRevision", "NAME|CONTROLLER|REVISION|AGE", "NAME|CONTROLLER|REVISION|AGE"),
        ("Job", "NAME|STATUS|COMPLETIONS|DURATION|AGE", "NAME|STATUS|COMPLETIONS|DURATION|AGE" + TEMPLATE_WIDE),
        (
            "CronJob",
            "NAME|SCHEDULE|TIMEZONE|SUSPEND|ACTIVE|LAST SCHEDULE|AGE",
            "NAME|SCHEDULE|TIMEZONE|SUSPEND|ACTIVE|LAST SCHEDULE|AGE" + TEMPLATE_WIDE,
        ),
        ("Lease", "NAME|HOLDER|AGE", "NAME|HOLDER|AGE"),
        ("EndpointSlice", "NAME|ADDRESSTYPE|PORTS|ENDPOINTS|AGE", "NAME|ADDRESSTYPE|PORTS|ENDPOINTS|AGE"),
    ],
)
def test_columns_match_kube_apiserver(kind: str, normal: str, wide: str) -> None:
    assert headers(kind) == normal.split("|")
    assert headers(kind, wide=True) == wide.split("|")
    for column in column_definitions(RT[kind]):
        assert set(column) == {"name", "type", "format", "description", "priority"}
        assert column["description"]


def test_column_types_and_formats() -> None:
    pod = {c["name"]: c for c in column_definitions(RT["Pod"])}
    assert pod["Name"]["format"] == "name" and pod["Name"]["type"] == "string"
    assert pod["Restarts"]["type"] == "string"  # "3 (5m ago)" since Kubernetes 1.23
    rs = {c["name"]: c["type"] for c in column_definitions(RT["ReplicaSet"])}
    assert rs == {
        "Name": "string",
        "Desired": "integer",
        "Current": "integer",
        "Ready": "integer",
        "Age": "string",
        "Containers": "string",
        "Images": "string",
        "Selector": "string",
    }
    ds = {c["name"]: c["type"] for c in column_definitions(RT["DaemonSet"])}
    assert [ds[n] for n in ("Desired", "Current", "Ready", "Up-to-date", "Available")] == ["integer"] * 5
    event_name = column_definitions(RT["Event"])[-1]
    assert (event_name["name"], event_name["format"], event_name["priority"]) == ("Name", "name", 1)


def test_every_kind_has_one_cell_per_column() -> None:
    for rt in RESOURCES:
        table = render_table(rt, [{"metadata": {"name": "x"}}], now=NOW)
        assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"]), rt.kind


def test_namespace() -> None:
    ns = {"metadata": meta("dev", timedelta(days=2, hours=3)), "status": {"phase": "Active"}}
    assert cells("Namespace", ns) == ["dev", "Active", "2d3h"]
    terminating = {"metadata": meta("old", timedelta(seconds=5)), "status": {"phase": "Terminating"}}
    assert cells("Namespace", terminating) == ["old", "Terminating", "5s"]


def test_pod() -> None:
    pod = {
        "metadata": meta("web-7d4b9", timedelta(minutes=3, seconds=2), labels={"app": "web"}),
        "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "nginx",
                    "ready": True,
                    "restartCount": 2,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=1, seconds=30)}},
                }
            ],
        },
    }
    assert cells("Pod", pod) == [
        "web-7d4b9",
        "1/1",
        "Running",
        "2 (90s ago)",
        "3m2s",
        "10.244.1.5",
        "node-1",
        "<none>",
        "<none>",
    ]


def test_pending_pod_and_readiness_gates() -> None:
    pod = {
        "metadata": meta("queued"),
        "spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}],
        },
        "status": {
            "phase": "Pending",
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "example.com/lb", "status": "True"}],
        },
    }
    assert cells("Pod", pod) == ["queued", "0/2", "Pending", "0", "5m", "<none>", "<none>", "node-2", "1/2"]


def test_finished_pod_rows_carry_completed_condition() -> None:
    pod = {
        "metadata": meta("job-x"),
        "spec": {"containers": [{"name": "c"}]},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                }
            ],
        },
    }
    row = table_row(RT["Pod"], pod, now=NOW)
    assert row["cells"][2] == "Completed"
    assert row["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]
    running = {"metadata": meta("r"), "spec": {"containers": []}, "status": {"phase": "Running"}}
    assert "conditions" not in table_row(RT["Pod"], running, now=NOW)


def service(kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web"),
        "spec": {"type": kind, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], **spec},
        "status": {},
    }


def test_cluster_ip_service() -> None:
    svc = service(
        "ClusterIP",
        selector={"app": "web", "tier": "front"},
        ports=[{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
    )
    assert cells("Service", svc) == [
        "web",
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "80/TCP,53/UDP",
        "5m",
        "app=web,tier=front",
    ]


def test_node_port_service_with_external_ips() -> None:
    svc = service(
        "NodePort",
        externalIPs=["192.0.2.7"],
        ports=[{"port": 80, "nodePort": 30080}, {"port": 443, "protocol": "TCP", "nodePort": 30443}],
    )
    assert cells("Service", svc)[2:5] == ["10.96.0.10", "192.0.2.7", "80:30080/TCP,443:30443/TCP"]
    assert cells("Service", svc)[6] == "<none>"


def test_load_balancer_external_ip() -> None:
    pending = service("LoadBalancer", ports=[{"port": 443, "nodePort": 30443, "protocol": "TCP"}])
    assert cells("Service", pending)[3] == "<pending>"
    ready = service("LoadBalancer", externalIPs=["192.0.2.9"])
    ready["status"] = {
        "loadBalancer": {"ingress": [{"ip": "203.0.113.5"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.5"}]}
    }
    assert cells("Service", ready)[3] == "203.0.113.5,lb.example.com,192.0.2.9"


def test_headless_and_external_name_services() -> None:
    headless = service("ClusterIP", clusterIP="None", clusterIPs=["None"])
    assert cells("Service", headless)[2:5] == ["None", "<none>", "<none>"]
    external = {"metadata": meta("db"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    assert cells("Service", external)[1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]


def test_endpoints() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.244.1.5"}, {"ip": "10.244.2.7"}], "ports": [{"port": 8080}]}],
    }
    assert cells("Endpoints", ep) == ["web", "10.244.1.5:8080,10.244.2.7:8080", "5m"]


def test_endpoints_truncated_like_kubernetes() -> None:
    ep = {
        "metadata": meta("big"),
        "subsets": [
            {"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 4)], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]},
        ],
    }
    assert cells("Endpoints", ep)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 4 more..."
    v6 = {"metadata": meta("v6"), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert cells("Endpoints", v6)[1] == "[fd00::1]:80"


def test_endpoints_without_subsets_or_ready_addresses() -> None:
    assert cells("Endpoints", {"metadata": meta("none")})[1] == "<none>"
    not_ready = {
        "metadata": meta("nr"),
        "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
    }
    assert cells("Endpoints", not_ready)[1] == ""


TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}]},
}


def test_replication_controller() -> None:
    rc = {
        "metadata": meta("web", timedelta(hours=3, minutes=5)),
        "spec": {"replicas": 3, "selector": {"app": "web"}, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 2},
    }
    assert cells("ReplicationController", rc) == ["web", 3, 3, 2, "3h5m", "nginx,log", "nginx:1.27,busybox", "app=web"]


def test_replica_set() -> None:
    rs = {
        "metadata": meta("web-7d4b9"),
        "spec": {
            "replicas": 2,
            "template": TEMPLATE,
            "selector": {
                "matchLabels": {"pod-template-hash": "7d4b9", "app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]}],
            },
        },
        "status": {"replicas": 2},
    }
    assert cells("ReplicaSet", rs) == [
        "web-7d4b9",
        2,
        2,
        0,
        "5m",
        "nginx,log",
        "nginx:1.27,busybox",
        "app=web,pod-template-hash=7d4b9,tier in (edge,front)",
    ]


def test_deployment() -> None:
    deploy = {
        "metadata": meta("web", timedelta(days=10)),
        "spec": {"replicas": 3, "template": TEMPLATE, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("Deployment", deploy) == ["web", "2/3", 3, 2, "10d", "nginx,log", "nginx:1.27,busybox", "app=web"]


def test_deployment_selector_edge_cases() -> None:
    base = {"metadata": meta("d"), "spec": {"template": TEMPLATE}}
    exprs = {
        "matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "app", "operator": "Exists"},
        ]
    }
    assert (
        cells("Deployment", {**base, "spec": {**base["spec"], "selector": exprs}})[7] == "app,!canary,env notin (prod)"
    )
    bad = {"matchExpressions": [{"key": "env", "operator": "In", "values": []}]}
    assert cells("Deployment", {**base, "spec": {**base["spec"], "selector": bad}})[7] == "<invalid>"
    assert cells("Deployment", base)[1] == "0/1"  # replicas defaults to 1
    assert cells("ReplicaSet", {**base, "spec": {**base["spec"], "selector": bad}})[7] == "<error>"


def test_stateful_set_and_controller_revision() -> None:
    sts = {
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}
            },
        },
        "status": {"readyReplicas": 2},
    }
    assert cells("StatefulSet", sts) == ["web", "2/3", "5m", "web,log", "nginx:1,busybox"]
    revision = {
        "metadata": {
            **meta("web-5d8f"),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": True}
            ],
        },
        "revision": 4,
    }
    assert cells("ControllerRevision", revision) == ["web-5d8f", "statefulset.apps/web", 4, "5m"]
    assert cells("ControllerRevision", {"metadata": meta("loose"), "revision": 1})[1] == "<none>"


def test_daemon_set() -> None:
    ds = {
        "metadata": meta("agent"),
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "agent", "image": "agent:2"}],
                }
            },
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("DaemonSet", ds) == [
        "agent",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "5m",
        "agent",
        "agent:2",
        "app=agent",
    ]


def job(spec: dict[str, Any], status: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": meta("pi", timedelta(minutes=20), **metadata),
        "spec": {
            "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
            **spec,
        },
        "status": status,
    }


def test_completed_job() -> None:
    done = job(
        {"completions": 1, "parallelism": 1},
        {
            "succeeded": 1,
            "startTime": ago(minutes=20),
            "completionTime": ago(minutes=19, seconds=8),
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    )
    assert cells("Job", done) == [
        "pi",
        "Complete",
        "1/1",
        "52s",
        "20m",
        "pi",
        "perl",
        "batch.kubernetes.io/controller-uid=abc",
    ]


def test_running_and_other_job_states() -> None:
    running = job({"parallelism": 3}, {"active": 3, "startTime": ago(minutes=4)})
    assert cells("Job", running)[1:4] == ["Running", "0/1 of 3", "4m"]
    assert cells("Job", job({}, {}))[1:4] == ["Running", "0/1", ""]
    failed = job(
        {"completions": 5},
        {
            "succeeded": 2,
            "startTime": ago(minutes=3),
            "conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}],
        },
    )
    assert cells("Job", failed)[1:3] == ["Failed", "2/5"]
    suspended = job({}, {"conditions": [{"type": "Suspended", "status": "True"}]})
    assert cells("Job", suspended)[1] == "Suspended"
    deleting = job({}, {"conditions": [{"type": "Suspended", "status": "True"}]}, deletionTimestamp=ago(seconds=1))
    assert cells("Job", deleting)[1] == "Terminating"


def test_cron_job() -> None:
    cj = {
        "metadata": meta("nightly", timedelta(days=3)),
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "suspend": False,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "backup", "image": "busybox"}]}}}},
        },
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)},
    }
    assert cells("CronJob", cj) == [
        "nightly",
        "0 3 * * *",
        "Europe/Berlin",
        "False",
        1,
        "9h",
        "3d",
        "backup",
        "busybox",
        "<none>",
    ]
    bare = {"metadata": meta("new"), "spec": {"schedule": "@hourly"}}
    assert cells("CronJob", bare)[1:6] == ["@hourly", "<none>", "<unset>", 0, "<none>"]
    types = {c["name"]: c["type"] for c in column_definitions(RT["CronJob"])}
    assert (types["Suspend"], types["Active"]) == ("boolean", "integer")


def node(**overrides: Any) -> dict[str, Any]:
    obj = {
        "metadata": meta(
            "node-1",
            timedelta(days=3),
            labels={
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/worker": "",
                "kubernetes.io/hostname": "node-1",
            },
        ),
        "spec": {},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "172.18.0.2"}],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "docker://27.3.1",
            },
        },
    }
    obj.update(overrides)
    return obj


def test_node() -> None:
    assert cells("Node", node()) == [
        "node-1",
        "Ready",
        "control-plane,worker",
        "3d",
        "v1.32.4",
        "172.18.0.2",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0-18-amd64",
        "docker://27.3.1",
    ]


def test_node_status_and_roles_variants() -> None:
    cordoned = node(spec={"unschedulable": True})
    assert cells("Node", cordoned)[1] == "Ready,SchedulingDisabled"
    not_ready = node(status={"conditions": [{"type": "Ready", "status": "Unknown"}]})
    assert cells("Node", not_ready)[1:2] + cells("Node", not_ready)[7:] == [
        "NotReady",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    assert cells("Node", node(status={}))[1] == "Unknown"
    legacy = node(metadata=meta("n2", labels={"kubernetes.io/role": "master"}))
    plain = node(metadata=meta("n3", labels={"kubernetes.io/hostname": "n3"}))
    assert (cells("Node", legacy)[2], cells("Node", plain)[2]) == ("master", "<none>")


def test_secret_config_map_service_account() -> None:
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert cells("Secret", secret) == ["tls", "kubernetes.io/tls", 2, "5m"]
    assert cells("Secret", {"metadata": meta("empty")}) == ["empty", "Opaque", 0, "5m"]
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("ConfigMap", cm) == ["cfg", 3, "5m"]
    sa = {"metadata": meta("default"), "secrets": [{"name": "default-token"}]}
    assert cells("ServiceAccount", sa) == ["default", 1, "5m"]


def test_event() -> None:
    event = {
        "metadata": meta("web.17a"),
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "count": 7,
        "firstTimestamp": ago(minutes=12),
        "lastTimestamp": ago(seconds=40),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
        "source": {"component": "kubelet", "host": "node-1"},
    }
    assert cells("Event", event) == [
        "40s",
        "Warning",
        "BackOff",
        "pod/web",
        "spec.containers{nginx}",
        "kubelet, node-1",
        "Back-off restarting failed container",
        "12m",
        7,
        "web.17a",
    ]


def test_new_style_event_and_series() -> None:
    event = {
        "metadata": meta("sched.1"),
        "type": "Normal",
        "reason": "Scheduled",
        "message": "ok",
        "eventTime": "2026-01-01T11:59:30.000000Z",
        "reportingComponent": "default-scheduler",
        "involvedObject": {"kind": "Node"},
    }
    assert cells("Event", event)[:9] == ["30s", "Normal", "Scheduled", "node", "", "default-scheduler", "ok", "30s", 1]
    series = {
        **event,
        "series": {"count": 4, "lastObservedTime": "2026-01-01T11:59:55.500000Z"},
        "reportingInstance": "control-plane",
    }
    assert [cells("Event", series)[i] for i in (0, 5, 8)] == ["4s", "default-scheduler, control-plane", 4]


def test_lease_and_endpoint_slice() -> None:
    lease = {"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
    assert cells("Lease", lease) == ["node-1", "node-1", "5m"]
    assert cells("Lease", {"metadata": meta("free"), "spec": {}})[1] == ""
    eps = {
        "metadata": meta("web-abc"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}, {}],
        "endpoints": [
            {"addresses": ["10.244.1.5"]},
            {"addresses": ["10.244.2.7"]},
            {"addresses": ["10.244.3.2"]},
            {"addresses": ["10.244.4.9"]},
        ],
    }
    assert cells("EndpointSlice", eps) == [
        "web-abc",
        "IPv4",
        "80,metrics,*",
        "10.244.1.5,10.244.2.7,10.244.3.2 + 1 more...",
        "5m",
    ]
    empty = {"metadata": meta("none"), "addressType": "IPv6"}
    assert cells("EndpointSlice", empty)[2:4] == ["<unset>", "<unset>"]


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": meta("web", labels={"app": "web"}),
    "spec": {"containers": [{"name": "c"}]},
    "status": {"phase": "Pending"},
}


def test_table_shape_and_list_metadata_passthrough() -> None:
    table = render_table(RT["Pod"], [POD], now=NOW, list_meta={"resourceVersion": "109", "continue": "tok"})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "109", "continue": "tok"}
    assert table["columnDefinitions"] == column_definitions(RT["Pod"])
    assert len(table["rows"]) == 1
    assert render_table(RT["Pod"], [], now=NOW)["metadata"] == {}
    assert render_table(RT["Pod"], [], now=NOW)["rows"] == []


def test_include_object_metadata_is_the_default() -> None:
    row = render_table(RT["Pod"], [POD], now=NOW)["rows"][0]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": POD["metadata"],
    }
    assert render_table(RT["Pod"], [POD], include_object="", now=NOW)["rows"][0]["object"] == row["object"]


def test_include_object_full_and_none() -> None:
    assert render_table(RT["Pod"], [POD], include_object="Object", now=NOW)["rows"][0]["object"] is POD
    assert "object" not in render_table(RT["Pod"], [POD], include_object="None", now=NOW)["rows"][0]


def test_full_object_always_names_its_kind() -> None:
    """kubectl --sort-by decodes row objects by kind; a bare stored dict would print "NAME AGE"."""
    bare = {"metadata": meta("web"), "spec": {}}
    row = table_row(RT["Deployment"], bare, include_object="Object", now=NOW)
    assert row["object"] == {"apiVersion": "apps/v1", "kind": "Deployment", **bare}


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(StatusError) as caught:
        render_table(RT["Pod"], [POD], include_object="Everything", now=NOW)
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"


def test_kind_without_printer_gets_name_and_age() -> None:
    widget = ResourceType("example.com", "v1", "Widget", "widgets", "widget", True)
    table = render_table(widget, [{"metadata": meta("w", timedelta(hours=2))}], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Age", "date")]
    assert table["rows"][0]["cells"] == ["w", "120m"]


def test_missing_creation_timestamp_is_unknown_age() -> None:
    assert cells("ConfigMap", {"metadata": {"name": "x"}}) == ["x", 0, "<unknown>"]


def test_now_defaults_to_the_wall_clock() -> None:
    fresh = {"metadata": {"name": "x", "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    assert table_row(RT["ConfigMap"], fresh)["cells"][2] in ("0s", "1s", "2s")


def test_priority_class_row() -> None:
    assert headers("PriorityClass") == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    assert [c["type"] for c in column_definitions(RT["PriorityClass"])][1:3] == ["integer", "boolean"]
    pc = {"metadata": meta("high"), "value": 1000, "globalDefault": True, "preemptionPolicy": "Never"}
    assert cells("PriorityClass", pc) == ["high", 1000, True, "5m", "Never"]
    assert cells("PriorityClass", {"metadata": meta("bare")}) == ["bare", 0, False, "5m", ""]
