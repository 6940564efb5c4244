import pytest

from minikube_py.model.defaults import apply_defaults, default_pull_policy, default_tolerations, defaulted, image_tag

_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


@pytest.mark.parametrize(
    ("image", "tag", "policy"),
    [
        ("busybox", "latest", "Always"),
        ("busybox:latest", "latest", "Always"),
        ("busybox:1.36", "1.36", "IfNotPresent"),
        ("127.0.0.1:5000/busybox", "latest", "Always"),
        ("127.0.0.1:5000/busybox:v1", "v1", "IfNotPresent"),
        ("localhost:5000/team/app:2", "2", "IfNotPresent"),
        ("registry.example.com/app", "latest", "Always"),
        ("busybox@sha256:" + "a" * 64, "", "IfNotPresent"),
        ("busybox:latest@sha256:" + "a" * 64, "latest", "Always"),
        ("127.0.0.1:5000/busybox@sha256:" + "a" * 64, "", "IfNotPresent"),
        ("", "", "IfNotPresent"),
        ("BusyBox", "", "IfNotPresent"),
    ],
)
def test_image_tag_and_pull_policy(image: str, tag: str, policy: str) -> None:
    assert image_tag(image) == tag
    assert default_pull_policy(image) == policy


def test_pod_defaults() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Mi"}},
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                }
            ],
            "initContainers": [{"name": "i", "image": "busybox"}],
            "volumes": [{"name": "s", "secret": {"secretName": "x"}}, {"name": "e"}],
        },
    }
    apply_defaults("Pod", pod)
    spec = pod["spec"]
    assert {
        k: spec[k]
        for k in (
            "restartPolicy",
            "dnsPolicy",
            "terminationGracePeriodSeconds",
            "schedulerName",
            "securityContext",
            "enableServiceLinks",
        )
    } == {
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "enableServiceLinks": True,
    }
    # the admission plugins' part (ServiceAccount, Priority, DefaultTolerationSeconds) is the pod
    # strategy's mutating admission, after the writer's managed fields are recorded
    for admitted in ("serviceAccountName", "priority", "tolerations"):
        assert admitted not in spec
    default_tolerations(spec)
    assert spec["tolerations"] == _TOLERATIONS
    c = spec["containers"][0]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"memory": "1Mi", "cpu": "1"}}
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    init = spec["initContainers"][0]
    assert init["imagePullPolicy"] == "Always" and init["resources"] == {}
    assert spec["volumes"] == [
        {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}},
        {"name": "e", "emptyDir": {}},
    ]


def test_pod_defaults_respect_user_values_and_are_idempotent() -> None:
    pod = {
        "kind": "Pod",
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": "robot",
            "priority": 5,
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 10,
                }
            ],
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never"}],
        },
    }
    apply_defaults("Pod", pod)
    once = defaulted("Pod", pod)
    assert once == pod
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["serviceAccountName"] == "robot"
    assert spec["serviceAccount"] == "robot" and spec["priority"] == 5
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    default_tolerations(spec)
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    assert spec["tolerations"][0]["tolerationSeconds"] == 10


def test_wildcard_toleration_covers_default_ones() -> None:
    spec: dict = {"tolerations": [{"operator": "Exists"}], "containers": []}
    default_tolerations(spec)
    assert spec["tolerations"] == [{"operator": "Exists"}]


def test_host_network_ports() -> None:
    pod = {
        "kind": "Pod",
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": "c", "image": "x:1", "ports": [{"containerPort": 8080}]}],
        },
    }
    apply_defaults("Pod", pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def _template(labels: dict | None = None) -> dict:
    return {"metadata": {"labels": labels or {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}


def test_templates_get_pod_spec_defaults_but_not_admission_ones() -> None:
    d = {"kind": "Deployment", "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": _template()}}
    apply_defaults("Deployment", d)
    spec = d["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Always" and spec["containers"][0]["imagePullPolicy"] == "Always"
    for absent in ("serviceAccountName", "tolerations", "priority", "enableServiceLinks"):
        assert absent not in spec
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["progressDeadlineSeconds"] == 600


def test_recreate_strategy_gets_no_rolling_parameters() -> None:
    d = {"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}, "template": _template()}}
    apply_defaults("Deployment", d)
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_replication_controller_selector_and_labels_from_template() -> None:
    rc = {"kind": "ReplicationController", "metadata": {"name": "r"}, "spec": {"template": _template({"run": "x"})}}
    apply_defaults("ReplicationController", rc)
    assert rc["spec"]["selector"] == {"run": "x"}
    assert rc["metadata"]["labels"] == {"run": "x"}
    assert rc["spec"]["replicas"] == 1
    own = {
        "kind": "ReplicationController",
        "metadata": {"labels": {"mine": "1"}},
        "spec": {"replicas": 0, "selector": {"run": "x"}, "template": _template({"run": "x", "v": "2"})},
    }
    apply_defaults("ReplicationController", own)
    assert own["spec"]["selector"] == {"run": "x"} and own["metadata"]["labels"] == {"mine": "1"}
    assert own["spec"]["replicas"] == 0


def test_stateful_set() -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    sts = {"kind": "StatefulSet", "spec": {"template": _template(), "volumeClaimTemplates": [claim]}}
    apply_defaults("StatefulSet", sts)
    spec = sts["spec"]
    assert (spec["replicas"], spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == (1, "OrderedReady", 10)
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["volumeClaimTemplates"][0] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"},
    }
    on_delete = {"kind": "StatefulSet", "spec": {"updateStrategy": {"type": "OnDelete"}, "template": _template()}}
    apply_defaults("StatefulSet", on_delete)
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_replica_set_and_daemon_set() -> None:
    rs = {"kind": "ReplicaSet", "spec": {"template": _template()}}
    apply_defaults("ReplicaSet", rs)
    assert rs["spec"]["replicas"] == 1
    ds = {"kind": "DaemonSet", "spec": {"template": _template()}}
    apply_defaults("DaemonSet", ds)
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["spec"]["revisionHistoryLimit"] == 10 and "replicas" not in ds["spec"]


def test_job_defaults_and_generated_selector() -> None:
    job = {
        "kind": "Job",
        "metadata": {"name": "pi", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}},
    }
    apply_defaults("Job", job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert "manualSelector" not in spec
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    expected = {
        "batch.kubernetes.io/controller-uid": "u-1",
        "controller-uid": "u-1",
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
    }
    assert spec["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["labels"] == expected
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_job_parallelism_only_and_manual_selector() -> None:
    job = {
        "kind": "Job",
        "metadata": {"name": "j", "uid": "u"},
        "spec": {
            "parallelism": 3,
            "manualSelector": True,
            "selector": {"matchLabels": {"a": "b"}},
            "template": _template({"a": "b"}),
        },
    }
    apply_defaults("Job", job)
    assert "completions" not in job["spec"] and job["spec"]["parallelism"] == 3
    assert job["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {"a": "b"}


def test_service_defaults() -> None:
    svc = {
        "kind": "Service",
        "spec": {
            "selector": {"app": "a"},
            "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}],
        },
    }
    apply_defaults("Service", svc)
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 53, "protocol": "UDP", "targetPort": "dns"},
    ]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec and "clusterIP" not in spec


def test_node_port_and_external_name_services() -> None:
    svc = {"kind": "Service", "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    apply_defaults("Service", svc)
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster"
    lb = {"kind": "Service", "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP"}}
    apply_defaults("Service", lb)
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert lb["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    ext = {"kind": "Service", "spec": {"type": "ExternalName", "externalName": "example.com"}}
    apply_defaults("Service", ext)
    assert "ipFamilies" not in ext["spec"] and "internalTrafficPolicy" not in ext["spec"]


def test_secret_namespace_endpoints() -> None:
    secret = {"kind": "Secret"}
    apply_defaults("Secret", secret)
    assert secret["type"] == "Opaque"
    ns = {"kind": "Namespace", "metadata": {"name": "team"}}
    apply_defaults("Namespace", ns)
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    eps = {"kind": "EndpointSlice", "ports": [{"port": 80}]}
    apply_defaults("EndpointSlice", eps)
    assert eps["ports"] == [{"port": 80, "protocol": "TCP"}]
    ep = {"kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]}
    apply_defaults("Endpoints", ep)
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    event = {"kind": "Event", "reason": "x"}
    apply_defaults("Event", event)
    assert event == {"kind": "Event", "reason": "x"}


def test_malformed_objects_do_not_crash_defaulting() -> None:
    for kind, obj in [
        ("Pod", {"spec": "nope"}),
        ("Pod", {"spec": {"containers": "x", "tolerations": 3}}),
        ("Deployment", {"spec": {"template": []}}),
        ("Service", {"spec": None}),
        ("Job", {"spec": {"template": "x"}}),
    ]:
        apply_defaults(kind, obj)
    pod = {"spec": {"containers": [{"name": "c", "image": 5}]}}
    apply_defaults("Pod", pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
