import base64
import copy

import pytest

from minikube_py.model import defaults, meta
from minikube_py.model.errors import FieldError
from minikube_py.model.validation import base64_error, validate

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _create(kind: str, obj: dict, namespace: str | None = "default") -> dict:
    obj = copy.deepcopy(obj)
    obj["kind"] = kind
    meta.prepare_for_create(obj, namespace=namespace, uid="uid-1")
    defaults.apply_defaults(kind, obj)
    return obj


def _rendered(errs: list[FieldError]) -> list[str]:
    return [e.render() for e in errs]


def _pod(**spec: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def test_valid_pod_has_no_problems() -> None:
    assert validate("Pod", _create("Pod", _pod())) == []


def test_name_rules() -> None:
    pod = _create("Pod", {**_pod(), "metadata": {"name": "Bad_Name"}})
    assert _rendered(validate("Pod", pod)) == [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']
    assert validate("Pod", _create("Pod", {**_pod(), "metadata": {"name": "a.b-c"}})) == []
    ns = _create("Namespace", {"metadata": {"name": "a.b"}}, namespace=None)
    assert _rendered(validate("Namespace", ns)) == ['metadata.name: Invalid value: "a.b": must not contain dots']
    svc = _create("Service", {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}})
    [err] = validate("Service", svc)
    assert err.message.startswith('Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric')
    missing = _create("ConfigMap", {"metadata": {}})
    assert _rendered(validate("ConfigMap", missing)) == [
        "metadata.name: Required value: name or generateName is required"
    ]
    long = _create("ConfigMap", {"metadata": {"name": "a" * 254}})
    assert "must be no more than 253 characters" in _rendered(validate("ConfigMap", long))[0]


def test_generate_name_prefix_may_end_with_dash() -> None:
    pod = _create("Pod", {**_pod(), "metadata": {"generateName": "web-", "name": "web-abcde"}})
    assert validate("Pod", pod) == []
    bad = _create("Pod", {**_pod(), "metadata": {"generateName": "Web-", "name": "web-abcde"}})
    assert [e.field for e in validate("Pod", bad)] == ["metadata.generateName"]


def test_namespace_and_labels_and_annotations() -> None:
    pod = _create(
        "Pod",
        {
            **_pod(),
            "metadata": {
                "name": "p",
                "labels": {"good": "v", "bad key": "v", "k": "-x"},
                "annotations": {"UPPER/ok": "x", "big": "x" * (256 * 1024)},
            },
        },
        namespace="Bad",
    )
    errs = validate("Pod", pod)
    fields = [e.field for e in errs]
    assert fields == ["metadata.namespace", "metadata.labels", "metadata.labels", "metadata.annotations"]
    assert errs[1].message.startswith('Invalid value: "bad key": name part must consist of alphanumeric')
    assert errs[2].message.startswith('Invalid value: "-x": a valid label must be an empty string')
    assert errs[3].reason == "FieldValueTooLong"
    assert errs[3].render() == "metadata.annotations: Too long: may not be more than 262144 bytes"


def test_pod_container_rules() -> None:
    pod = _create(
        "Pod",
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "",
                        "ports": [{"containerPort": 0}, {"containerPort": 70000, "protocol": "HTTP"}],
                    },
                    {
                        "name": "c",
                        "image": "x",
                        "env": [{"name": "1BAD"}],
                        "volumeMounts": [{"name": "missing", "mountPath": "/m"}],
                    },
                    {"name": "Upper", "image": "x"},
                ],
                "volumes": [{"name": "v"}, {"name": "v"}],
                "restartPolicy": "Sometimes",
                "dnsPolicy": "Weird",
            },
        },
    )
    rendered = _rendered(validate("Pod", pod))
    assert 'spec.volumes[1].name: Duplicate value: "v"' in rendered
    assert "spec.containers[0].image: Required value" in rendered
    assert "spec.containers[0].ports[0].containerPort: Required value" in rendered
    assert (
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
        in rendered
    )
    assert (
        'spec.containers[0].ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
        in rendered
    )
    assert 'spec.containers[1].name: Duplicate value: "c"' in rendered
    assert any(
        r.startswith('spec.containers[1].env[0].name: Invalid value: "1BAD": a valid environment variable name')
        for r in rendered
    )
    assert 'spec.containers[1].volumeMounts[0].name: Not found: "missing"' in rendered
    assert any(
        r.startswith('spec.containers[2].name: Invalid value: "Upper": a lowercase RFC 1123 label') for r in rendered
    )
    assert (
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
        in rendered
    )
    assert any(r.startswith('spec.dnsPolicy: Unsupported value: "Weird"') for r in rendered)


def test_pod_without_containers() -> None:
    pod = _create("Pod", {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert _rendered(validate("Pod", pod)) == ["spec.containers: Required value"]


def _with_resources(**resources: dict) -> dict:
    container = {"name": "c", "image": "x", "resources": resources}
    return _create("Pod", {"metadata": {"name": "p"}, "spec": {"containers": [container]}})


def test_resource_names_a_container_may_use() -> None:
    where = "spec.containers[0].resources"
    assert _rendered(validate("Pod", _with_resources(requests={"foo": "1", "pods": "1"}))) == [
        f'{where}.requests[foo]: Invalid value: "foo": must be a standard resource type or fully qualified',
        f'{where}.requests[foo]: Invalid value: "foo": must be a standard resource for containers',
        f'{where}.requests[pods]: Invalid value: "pods": must be a standard resource for containers',
    ]
    # (the request is the limit, as defaulting copies it, and is checked as well)
    assert _rendered(validate("Pod", _with_resources(limits={"requests.example.com/x": "1"}))) == [
        f'{where}.{bag}[requests.example.com/x]: Invalid value: "requests.example.com/x": '
        "doesn't follow extended resource name standard"
        for bag in ("limits", "requests")
    ]
    ok = {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi", "example.com/dongle": "2", "hugepages-2Mi": "4Mi"}
    assert validate("Pod", _with_resources(limits=ok)) == []
    # a domain of kubernetes.io is Kubernetes' own: overcommitted at will, not only whole units
    assert validate("Pod", _with_resources(limits={"kubernetes.io/x": "2"}, requests={"kubernetes.io/x": "1"})) == []


def test_extended_resources_and_hugepages_cannot_be_overcommitted() -> None:
    where = "spec.containers[0].resources"
    assert _rendered(
        validate("Pod", _with_resources(limits={"example.com/dongle": "2"}, requests={"example.com/dongle": "1"}))
    ) == [f'{where}.requests: Invalid value: "1": must be equal to example.com/dongle limit of 2']
    assert _rendered(validate("Pod", _with_resources(requests={"example.com/dongle": "1"}))) == [
        f"{where}.limits: Required value: Limit must be set for non overcommitable resources"
    ]
    assert _rendered(validate("Pod", _with_resources(limits={"example.com/dongle": "500m"}))) == [
        f'{where}.limits[example.com/dongle]: Invalid value: "500m": must be an integer',
        f'{where}.requests[example.com/dongle]: Invalid value: "500m": must be an integer',
    ]
    assert _rendered(validate("Pod", _with_resources(limits={"hugepages-2Mi": "3Mi"}))) == [
        f'{where}.limits[hugepages-2Mi]: Invalid value: "3Mi": 3Mi is not positive integer multiple of hugepages-2Mi',
        f'{where}.requests[hugepages-2Mi]: Invalid value: "3Mi": 3Mi is not positive integer multiple of hugepages-2Mi',
        f"{where}: Forbidden: HugePages require cpu or memory",
    ]


def test_resource_names_a_quota_may_limit() -> None:
    def quota(**hard: str) -> dict:
        named = {key.replace("__", "/").replace("_", "."): amount for key, amount in hard.items()}
        return _create("ResourceQuota", {"metadata": {"name": "q"}, "spec": {"hard": named}})

    fine = quota(
        pods="10",
        requests_cpu="2",
        count__deployments_apps="3",
        requests_nvidia_com__gpu="4",
        **{"hugepages-2Mi": "4Mi"},
    )
    assert validate("ResourceQuota", fine) == []
    assert _rendered(validate("ResourceQuota", quota(storage="1Gi", pods="1.5", foo="1"))) == [
        'spec.hard[foo]: Invalid value: "foo": must be a standard resource type or fully qualified',
        'spec.hard[foo]: Invalid value: "foo": must be a standard resource for quota',
        'spec.hard[pods]: Invalid value: "1500m": must be an integer',
        'spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota',
    ]


def test_resources() -> None:
    pod = _create(
        "Pod",
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "x",
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "1Gi"},
                            "requests": {"cpu": "1", "memory": "abc"},
                        },
                    }
                ]
            },
        },
    )
    rendered = _rendered(validate("Pod", pod))
    assert rendered == [
        'spec.containers[0].resources.requests[memory]: Invalid value: "abc": quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m',
    ]
    ok = _create(
        "Pod",
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1000m"}}}
                ]
            },
        },
    )
    assert validate("Pod", ok) == []


def test_pod_update_rules() -> None:
    old = _create("Pod", _pod())
    defaults.default_tolerations(old["spec"])  # what admission gives every new pod
    image = copy.deepcopy(old)
    image["spec"]["containers"][0]["image"] = "busybox:2"
    image["spec"]["activeDeadlineSeconds"] = 30
    image["spec"]["tolerations"].append({"key": "k", "operator": "Exists"})
    image["metadata"]["labels"] = {"new": "label"}
    assert validate("Pod", image, old) == []
    changed = copy.deepcopy(old)
    changed["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    [err] = validate("Pod", changed, old)
    assert err.field == "spec" and err.reason == "FieldValueForbidden"
    assert err.message.startswith("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,")
    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = removed["spec"]["tolerations"][:1]
    assert [e.field for e in validate("Pod", removed, old)] == ["spec"]


def test_metadata_immutability_on_update() -> None:
    old = _create("ConfigMap", {"metadata": {"name": "c"}})
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "other"
    new["metadata"]["name"] = "d"
    assert _rendered(validate("ConfigMap", new, old)) == [
        'metadata.name: Invalid value: "d": field is immutable',
        'metadata.uid: Invalid value: "other": field is immutable',
    ]


def test_no_new_finalizers_while_deleting() -> None:
    old = _create("ConfigMap", {"metadata": {"name": "c", "finalizers": ["a.io/x"]}})
    old["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["a.io/x", "b.io/y"]
    assert _rendered(validate("ConfigMap", new, old)) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new "
        'finalizers []string{"b.io/y"}'
    ]


def _svc(**spec: object) -> dict:
    return {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, **spec}}


def test_service_rules() -> None:
    assert validate("Service", _create("Service", _svc(ports=[{"port": 80}]))) == []
    assert _rendered(validate("Service", _create("Service", _svc()))) == ["spec.ports: Required value"]
    assert validate("Service", _create("Service", _svc(clusterIP="None"))) == []
    assert (
        validate(
            "Service",
            _create("Service", {"metadata": {"name": "x"}, "spec": {"type": "ExternalName", "externalName": "a.com"}}),
        )
        == []
    )
    svc = _create(
        "Service",
        _svc(
            type="Fancy",
            ports=[{"port": 80, "name": "http", "nodePort": 30080}, {"port": 0, "name": "http"}, {"port": 81}],
        ),
    )
    rendered = _rendered(validate("Service", svc))
    assert rendered[0].startswith(
        'spec.type: Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName"'
    )
    assert 'spec.ports[1].name: Duplicate value: "http"' in rendered
    assert "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive" in rendered
    assert "spec.ports[2].name: Required value" in rendered
    cluster_ip = _create("Service", _svc(ports=[{"port": 80, "nodePort": 30080}]))
    assert _rendered(validate("Service", cluster_ip)) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]
    node_port = _create("Service", _svc(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert validate("Service", node_port) == []
    bad_selector = _create("Service", _svc(ports=[{"port": 80}], selector={"app": "a b"}))
    assert [e.field for e in validate("Service", bad_selector)] == ["spec.selector"]


def test_service_cluster_ip_immutable() -> None:
    old = _create("Service", _svc(ports=[{"port": 80}], clusterIP="10.96.0.10"))
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    assert _rendered(validate("Service", new, old)) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set'
    ]
    same = copy.deepcopy(old)
    same["spec"]["ports"][0]["port"] = 81
    assert validate("Service", same, old) == []


def _deployment(selector: object, labels: dict, **spec: object) -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": selector,
            **spec,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }


def test_workload_selectors() -> None:
    ok = _create("Deployment", _deployment({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}))
    assert validate("Deployment", ok) == []
    mismatch = _create("Deployment", _deployment({"matchLabels": {"app": "web"}}, {"app": "db"}))
    assert _rendered(validate("Deployment", mismatch)) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"db"}: `selector` does not match '
        "template `labels`"
    ]
    missing = _create("ReplicaSet", _deployment(None, {"app": "web"}))
    assert _rendered(validate("ReplicaSet", missing)) == ["spec.selector: Required value"]
    empty = _create("DaemonSet", _deployment({}, {"app": "web"}))
    assert [e.message.endswith("empty selector is invalid for daemonset") for e in validate("DaemonSet", empty)] == [
        True
    ]
    expr = _create(
        "Deployment",
        _deployment({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, {"app": "api"}),
    )
    assert validate("Deployment", expr) == []
    negative = _create("Deployment", _deployment({"matchLabels": {"app": "web"}}, {"app": "web"}, replicas=-1))
    assert _rendered(validate("Deployment", negative)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_apps_kinds_require_restart_always() -> None:
    d = _deployment({"matchLabels": {"app": "web"}}, {"app": "web"})
    d["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert _rendered(validate("Deployment", _create("Deployment", d))) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]
    no_image = _deployment({"matchLabels": {"app": "web"}}, {"app": "web"})
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    assert _rendered(validate("Deployment", _create("Deployment", no_image))) == [
        "spec.template.spec.containers[0].image: Required value"
    ]


def test_deployment_selector_immutable() -> None:
    old = _create("Deployment", _deployment({"matchLabels": {"app": "web"}}, {"app": "web", "v": "1"}))
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "v": "1"}}
    assert [e.render() for e in validate("Deployment", new, old)] == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"1"}}: field is immutable'
    ]


def test_replication_controller() -> None:
    rc = _create(
        "ReplicationController",
        {
            "metadata": {"name": "rc"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"run": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                }
            },
        },
    )
    assert validate("ReplicationController", rc) == []
    rc["spec"]["selector"] = {"run": "y"}
    assert [e.field for e in validate("ReplicationController", rc)] == ["spec.template.metadata.labels"]


def _job(restart: str = "Never") -> dict:
    return {
        "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "perl"}]}}},
    }


def test_job_rules() -> None:
    job = _create("Job", _job())
    assert validate("Job", job) == []
    always = _create(
        "Job",
        {"metadata": {"name": "pi"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}]}}}},
    )
    assert _rendered(validate("Job", always)) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    ]
    changed = copy.deepcopy(job)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:2"
    assert [e.field for e in validate("Job", changed, job)] == ["spec.template"]
    negative = _create("Job", {**_job(), "spec": {**_job()["spec"], "backoffLimit": -1}})
    assert [e.field for e in validate("Job", negative)] == ["spec.backoffLimit"]


def test_config_map_and_secret_keys() -> None:
    cm = _create("ConfigMap", {"metadata": {"name": "c"}, "data": {"good.key": "v", "bad key": "v", "..x": "v"}})
    rendered = _rendered(validate("ConfigMap", cm))
    assert rendered[0] == ("data[..x]: Invalid value: \"..x\": must not start with '..'")
    assert rendered[1] == (
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric '
        "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used "
        "for validation is '[-._a-zA-Z0-9]+')"
    )
    secret = _create(
        "Secret", {"metadata": {"name": "s"}, "data": {"ok": base64.b64encode(b"hi").decode(), "bad": "not base64!"}}
    )
    assert _rendered(validate("Secret", secret)) == [
        'data[bad]: Invalid value: "<secret contents redacted>": illegal base64 data at input byte 3'
    ]
    tls = _create("Secret", {"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}})
    assert _rendered(validate("Secret", tls)) == ["data[tls.key]: Required value"]


def test_base64_errors() -> None:
    assert base64_error("aGk=") is None
    assert base64_error("") is None
    assert base64_error("a=b=") == "illegal base64 data at input byte 1"
    assert base64_error("abc") == "illegal base64 data at input byte 0"


def test_immutable_config() -> None:
    old = _create("ConfigMap", {"metadata": {"name": "c"}, "immutable": True, "data": {"a": "1"}})
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert _rendered(validate("ConfigMap", new, old)) == ["data: Forbidden: field is immutable when `immutable` is set"]
    unfreeze = copy.deepcopy(old)
    unfreeze["immutable"] = False
    assert [e.field for e in validate("ConfigMap", unfreeze, old)] == ["immutable"]
    labels_only = copy.deepcopy(old)
    labels_only["metadata"]["labels"] = {"a": "b"}
    assert validate("ConfigMap", labels_only, old) == []


@pytest.mark.parametrize(
    ("kind", "obj", "fields"),
    [
        (
            "Node",
            {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
            ["spec.taints[0].effect"],
        ),
        ("Node", {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, []),
        ("Lease", {"metadata": {"name": "n1"}, "spec": {"leaseDurationSeconds": 0}}, ["spec.leaseDurationSeconds"]),
        ("Event", {"metadata": {"name": "e"}, "involvedObject": {"namespace": "other"}}, ["involvedObject.namespace"]),
        ("Event", {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node", "name": "n"}}, []),
        (
            "Endpoints",
            {"metadata": {"name": "e"}, "subsets": [{"addresses": [{"ip": "x"}], "ports": [{"port": 0}]}]},
            ["subsets[0].addresses[0].ip", "subsets[0].ports[0].port"],
        ),
        (
            "EndpointSlice",
            {
                "metadata": {"name": "e"},
                "addressType": "IPv4",
                "endpoints": [{"addresses": []}],
                "ports": [{"port": 80}],
            },
            ["endpoints[0].addresses"],
        ),
        ("EndpointSlice", {"metadata": {"name": "e"}, "addressType": "IPX"}, ["addressType"]),
        ("ServiceAccount", {"metadata": {"name": "default"}}, []),
    ],
)
def test_other_kinds(kind: str, obj: dict, fields: list[str]) -> None:
    namespace = None if kind == "Node" else "default"
    assert [e.field for e in validate(kind, _create(kind, obj, namespace))] == fields


def test_cluster_scoped_kind_rejects_namespace_and_namespaced_requires_one() -> None:
    node = {"kind": "Node", "metadata": {"name": "n", "namespace": "x"}}
    assert _rendered(validate("Node", node)) == ["metadata.namespace: Forbidden: not allowed on this type"]
    cm = {"kind": "ConfigMap", "metadata": {"name": "c"}}
    assert _rendered(validate("ConfigMap", cm)) == ["metadata.namespace: Required value"]


def _stateful_set(**spec: object) -> dict:
    obj = _deployment({"matchLabels": {"app": "web"}}, {"app": "web"}, **{"serviceName": "web", **spec})
    return _create("StatefulSet", obj)


def test_stateful_set_rules() -> None:
    assert validate("StatefulSet", _stateful_set()) == []
    bad = _stateful_set(
        podManagementPolicy="Sometimes",
        serviceName="Not_A_Label",
        updateStrategy={"type": "OnDelete", "rollingUpdate": {"partition": 1}},
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Keep", "whenScaled": "Retain"},
    )
    bad["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    fields = [e.field for e in validate("StatefulSet", bad)]
    assert fields == [
        "spec.podManagementPolicy",
        "spec.updateStrategy.rollingUpdate",
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted",
        "spec.serviceName",
        "spec.template.spec.activeDeadlineSeconds",
    ]
    negative = _stateful_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": -1}})
    assert _rendered(validate("StatefulSet", negative)) == [
        "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_stateful_set_mounts_may_name_claim_templates_which_need_access_modes_and_size() -> None:
    claimed = _stateful_set(
        volumeClaimTemplates=[
            {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            },
            {"metadata": {"name": "data"}, "spec": {}},
        ]
    )
    claimed["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/d"},
        {"name": "typo", "mountPath": "/t"},
    ]
    assert _rendered(validate("StatefulSet", claimed)) == [
        'spec.template.spec.containers[0].volumeMounts[1].name: Not found: "typo"',
        'spec.volumeClaimTemplates[1].metadata.name: Duplicate value: "data"',
        "spec.volumeClaimTemplates[1].spec.accessModes: Required value: at least 1 access mode is required",
        "spec.volumeClaimTemplates[1].spec.resources[storage]: Required value",
    ]


def test_stateful_set_updates_change_only_what_kubernetes_allows() -> None:
    old = _stateful_set()
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert validate("StatefulSet", scaled, old) == []
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    assert [e.reason for e in validate("StatefulSet", renamed, old)] == ["FieldValueForbidden"]


def test_controller_revision_rules() -> None:
    revision = _create("ControllerRevision", {"metadata": {"name": "web-1"}, "data": {"a": 1}, "revision": 2})
    assert validate("ControllerRevision", revision) == []
    assert [e.field for e in validate("ControllerRevision", {**revision, "data": None, "revision": -1})] == [
        "data",
        "revision",
    ]
    changed = {**revision, "data": {"a": 2}}
    assert [e.field for e in validate("ControllerRevision", changed, revision)] == ["data"]


def test_security_contexts_a_node_could_not_carry_out_are_invalid() -> None:
    container = {
        "name": "c",
        "image": "busybox",
        "securityContext": {"runAsUser": -1, "seccompProfile": {"type": "Localhost", "localhostProfile": "../x.json"}},
    }
    pod = _pod(
        containers=[container],
        securityContext={
            "fsGroup": 2**31,
            "supplementalGroups": [1, -2],
            "seccompProfile": {"type": "Strict"},
            "sysctls": [
                {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                {"name": "net.ipv4.tcp_syncookies", "value": "0"},
            ],
        },
    )
    assert _rendered(validate("Pod", _create("Pod", pod))) == [
        "spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
        'spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: "../x.json": must not '
        "contain '..'",
        "spec.securityContext.fsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive",
        "spec.securityContext.supplementalGroups[1]: Invalid value: -2: must be between 0 and 2147483647, inclusive",
        'spec.securityContext.seccompProfile.type: Unsupported value: "Strict": supported values: "Localhost", '
        '"RuntimeDefault", "Unconfined"',
        'spec.securityContext.sysctls[1].name: Duplicate value: "net.ipv4.tcp_syncookies"',
    ]
    local = _pod(securityContext={"seccompProfile": {"type": "Localhost"}})
    assert _rendered(validate("Pod", _create("Pod", local))) == [
        "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost"
    ]
    fine = _pod(
        securityContext={"runAsUser": 0, "seccompProfile": {"type": "Localhost", "localhostProfile": "p/a.json"}}
    )
    assert validate("Pod", _create("Pod", fine)) == []


def test_only_init_containers_become_sidecars_and_only_sidecars_among_them_have_probes() -> None:
    probe = {"exec": {"command": ["true"]}}
    sidecar = {"name": "proxy", "image": "busybox", "restartPolicy": "Always", "readinessProbe": probe}
    assert validate("Pod", _create("Pod", _pod(initContainers=[sidecar]))) == []
    once = {"name": "setup", "image": "busybox", "livenessProbe": probe, "lifecycle": {"preStop": probe}}
    bad_policy = {"name": "other", "image": "busybox", "restartPolicy": "OnFailure"}
    app = {"name": "c", "image": "busybox", "restartPolicy": "Always"}
    pod = _create("Pod", _pod(containers=[app], initContainers=[once, bad_policy]))
    assert _rendered(validate("Pod", pod)) == [
        "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
        "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
        "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without "
        "restartPolicy=Always",
        'spec.initContainers[1].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]


def test_lifecycle_hooks_name_one_complete_handler() -> None:
    def with_hooks(**lifecycle: object) -> dict:
        return _create("Pod", _pod(containers=[{"name": "c", "image": "busybox", "lifecycle": lifecycle}]))

    assert (
        validate("Pod", with_hooks(postStart={"exec": {"command": ["true"]}}, preStop={"sleep": {"seconds": 5}})) == []
    )
    assert _rendered(
        validate("Pod", with_hooks(postStart={}, preStop={"exec": {"command": []}, "sleep": {"seconds": 100}}))
    ) == [
        "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type",
        "spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 handler type",
        "spec.containers[0].lifecycle.preStop.exec.command: Required value",
    ]
    too_long = with_hooks(preStop={"sleep": {"seconds": 100}})
    assert _rendered(validate("Pod", too_long)) == [
        "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 100: must be greater than 0 and less than "
        "terminationGracePeriodSeconds (30)"
    ]
