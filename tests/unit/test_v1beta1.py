"""The 2014 v1beta1 shapes to v1 and back, with the well-known examples of that time (tests/data/v1beta1)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from minikube_py.model import errors, v1beta1
from minikube_py.model.selectors import parse_field_selector

DATA = Path(__file__).parent.parent / "data" / "v1beta1"
Obj = dict[str, Any]


def example(name: str) -> Obj:
    return json.loads((DATA / f"{name}.json").read_text())


# ------------------------------------------------------------------------------ Pod


def test_apache_pod_to_v1() -> None:
    assert v1beta1.pod_to_v1(example("apache-pod")) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "apache", "labels": {"name": "apache"}},
        "spec": {
            "containers": [
                {
                    "name": "master",
                    "image": "pykube.local/busybox:1.35",
                    "args": ["httpd", "-f", "-p", "80"],
                    "ports": [{"name": "http", "containerPort": 80, "hostPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "GREETING", "value": "hello"}],
                    "resources": {"limits": {"cpu": "100m", "memory": "67108864"}},
                }
            ],
            "restartPolicy": "Always",
        },
    }


def running_pod() -> Obj:
    """The apache pod as the store holds it once it runs: defaults, status and all."""
    pod = v1beta1.pod_to_v1(example("apache-pod"))
    pod["metadata"].update(
        namespace="default",
        uid="0b8a3c1e-1111-2222-3333-444455556666",
        resourceVersion="42",
        creationTimestamp="2014-10-01T10:00:00Z",
    )
    container = pod["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    container["resources"]["requests"] = dict(container["resources"]["limits"])
    pod["spec"].update(
        nodeName="minion-1",
        dnsPolicy="ClusterFirst",
        tolerations=[
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
        volumes=[{"name": "kube-api-access", "projected": {"sources": []}}],
    )
    pod["status"] = {
        "phase": "Running",
        "hostIP": "10.240.0.5",
        "podIP": "10.244.1.7",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "master",
                "ready": True,
                "restartCount": 0,
                "image": "pykube.local/busybox:1.35",
                "imageID": "docker-pullable://pykube.local/busybox@sha256:abc",
                "containerID": "docker://c0ffee",
                "state": {"running": {"startedAt": "2014-10-01T10:00:05Z"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
            }
        ],
    }
    return pod


def test_running_pod_from_v1() -> None:
    assert v1beta1.pod_from_v1(running_pod()) == {
        "kind": "Pod",
        "apiVersion": "v1beta1",
        "id": "apache",
        "namespace": "default",
        "uid": "0b8a3c1e-1111-2222-3333-444455556666",
        "creationTimestamp": "2014-10-01T10:00:00Z",
        "selfLink": "/api/v1beta1/pods/apache?namespace=default",
        "resourceVersion": 42,
        "labels": {"name": "apache"},
        "desiredState": {
            "manifest": {
                "version": "v1beta1",
                "id": "apache",
                "uuid": "0b8a3c1e-1111-2222-3333-444455556666",
                "volumes": [],
                "containers": [
                    {
                        "name": "master",
                        "image": "pykube.local/busybox:1.35",
                        "command": ["httpd", "-f", "-p", "80"],
                        "ports": [{"name": "http", "hostPort": 8080, "containerPort": 80, "protocol": "TCP"}],
                        "env": [{"name": "GREETING", "value": "hello"}],
                        "cpu": 100,
                        "memory": 67108864,
                        "imagePullPolicy": "PullIfNotPresent",
                    }
                ],
                "restartPolicy": {"always": {}},
            },
            "host": "minion-1",
        },
        "currentState": {
            "status": "Running",
            "host": "minion-1",
            "hostIP": "10.240.0.5",
            "podIP": "10.244.1.7",
            "Condition": [{"kind": "Ready", "status": "Full"}],
            "info": {
                "master": {
                    "state": {"running": {"startedAt": "2014-10-01T10:00:05Z"}},
                    "lastState": {"termination": {"exitCode": 1, "reason": "Error"}},
                    "ready": True,
                    "restartCount": 0,
                    "image": "pykube.local/busybox:1.35",
                    "imageID": "docker-pullable://pykube.local/busybox@sha256:abc",
                    "containerID": "docker://c0ffee",
                }
            },
        },
    }


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        ("Pending", "Waiting"),
        ("Running", "Running"),
        ("Succeeded", "Terminated"),
        ("Failed", "Terminated"),
        ("Unknown", "Unknown"),
        (None, "Waiting"),
    ],
)
def test_pod_status_names(phase: str | None, status: str) -> None:
    pod = running_pod()
    pod["status"] = {"phase": phase} if phase else {}
    assert v1beta1.pod_from_v1(pod)["currentState"]["status"] == status


def test_pod_round_trip_through_v1beta1_keeps_what_v1beta1_shows() -> None:
    legacy = v1beta1.pod_from_v1(running_pod())
    again = v1beta1.pod_from_v1(v1beta1.pod_to_v1(legacy, running_pod()))
    assert again == legacy


def test_pod_update_keeps_what_v1beta1_cannot_say() -> None:
    """A PUT of what a GET returned, with a new label: tolerations, the projected volume, requests,
    the stored status and the rest stay as stored."""
    stored = running_pod()
    legacy = v1beta1.pod_from_v1(stored)
    legacy["labels"]["tier"] = "web"
    updated = v1beta1.pod_to_v1(legacy, stored)
    expected = copy.deepcopy(stored)
    expected["metadata"]["labels"]["tier"] = "web"
    assert updated == expected


def test_pod_entrypoint_restart_policy_volumes_and_older_spellings() -> None:
    pod = v1beta1.pod_to_v1(
        {
            "id": "x",
            "namespace": "team-a",
            "resourceVersion": 7,
            "desiredState": {
                "host": "minion-2",
                "manifest": {
                    "version": "v1beta1",
                    "restartPolicy": {"onFailure": {}},
                    "volumes": [{"name": "scratch"}, {"name": "mem", "source": {"emptyDir": {"medium": "Memory"}}}],
                    "containers": [
                        {
                            "name": "c",
                            "image": "i",
                            "entrypoint": ["/bin/sh"],
                            "command": ["-c", "true"],
                            "env": [{"key": "OLD", "value": "1"}],
                            "volumeMounts": [{"name": "scratch", "path": "/scratch"}],
                            "imagePullPolicy": "PullNever",
                            "cpu": 1000,
                        }
                    ],
                },
            },
        }
    )
    assert pod["metadata"] == {"name": "x", "namespace": "team-a", "resourceVersion": "7"}
    assert pod["spec"] == {
        "nodeName": "minion-2",
        "restartPolicy": "OnFailure",
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "mem", "emptyDir": {"medium": "Memory"}}],
        "containers": [
            {
                "name": "c",
                "image": "i",
                "command": ["/bin/sh"],
                "args": ["-c", "true"],
                "env": [{"name": "OLD", "value": "1"}],
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                "imagePullPolicy": "Never",
                "resources": {"limits": {"cpu": "1"}},
            }
        ],
    }
    assert (
        v1beta1.pod_to_v1({"id": "n", "desiredState": {"manifest": {"restartPolicy": {"never": {}}}}})["spec"][
            "restartPolicy"
        ]
        == "Never"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"desiredState": {"manifest": {"restartPolicy": {"sometimes": {}}}}}, "desiredState.manifest.restartPolicy"),
        (
            {"desiredState": {"manifest": {"containers": [{"name": "c", "cpu": "100m"}]}}},
            "desiredState.manifest.containers[0].cpu",
        ),
        (
            {"desiredState": {"manifest": {"volumes": [{"name": "v", "source": {"persistentDisk": {"pdName": "d"}}}]}}},
            "desiredState.manifest.volumes[0].source",
        ),
        ({"desiredState": {"manifest": {"version": "v3"}}}, "desiredState.manifest.version"),
        ({"resourceVersion": "abc"}, "resourceVersion"),
        ({"resourceVersion": -1}, "resourceVersion"),
        ({"labels": ["name"]}, "labels"),
        (
            {"desiredState": {"manifest": {"containers": [{"name": "c", "imagePullPolicy": "Sometimes"}]}}},
            "desiredState.manifest.containers[0].imagePullPolicy",
        ),
    ],
)
def test_malformed_pod_is_invalid_at_its_v1beta1_path(body: Obj, field: str) -> None:
    with pytest.raises(errors.StatusError) as caught:
        v1beta1.pod_to_v1({"id": "bad", **body})
    assert caught.value.code == 422
    assert [c["field"] for c in (caught.value.details or {})["causes"]] == [field]


# ------------------------------------------------------------------------------ ReplicationController


def test_tomcat_controller_to_v1() -> None:
    assert v1beta1.replication_controller_to_v1(example("tomcat-controller")) == {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "tomcat-controller", "labels": {"name": "tomcat"}},
        "spec": {
            "replicas": 2,
            "selector": {"name": "tomcat"},
            "template": {
                "metadata": {"labels": {"name": "tomcat"}},
                "spec": {
                    "containers": [
                        {
                            "name": "tomcat",
                            "image": "pykube.local/busybox:1.35",
                            "args": ["httpd", "-f", "-p", "8080"],
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
        },
    }


def test_webserver_controller_with_three_host_dirs_to_v1_and_back() -> None:
    rc = v1beta1.replication_controller_to_v1(example("webserver-controller"))
    spec = rc["spec"]["template"]["spec"]
    assert spec["volumes"] == [
        {"name": name, "hostPath": {"path": f"/tmp/pykube-v1beta1-webserver/{name}"}}
        for name in ("www", "logs", "conf")
    ]
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": "www", "mountPath": "/var/www", "readOnly": True},
        {"name": "logs", "mountPath": "/var/log/httpd"},
        {"name": "conf", "mountPath": "/etc/httpd", "readOnly": True},
    ]
    rc["metadata"].update(namespace="default", resourceVersion="9")
    back = v1beta1.replication_controller_from_v1(rc)
    manifest = back["desiredState"]["podTemplate"]["desiredState"]["manifest"]
    written = example("webserver-controller")["desiredState"]["podTemplate"]["desiredState"]["manifest"]
    assert manifest["volumes"] == written["volumes"]
    assert manifest["containers"] == written["containers"]


def test_controller_from_v1_shows_desired_and_current_replicas() -> None:
    rc = v1beta1.replication_controller_to_v1(example("tomcat-controller"))
    rc["metadata"].update(namespace="default", resourceVersion="11", uid="u-1")
    rc["spec"]["replicas"] = 5  # scaled through v1
    rc["status"] = {"replicas": 3, "readyReplicas": 2}
    legacy = v1beta1.replication_controller_from_v1(rc)
    assert legacy == {
        "kind": "ReplicationController",
        "apiVersion": "v1beta1",
        "id": "tomcat-controller",
        "namespace": "default",
        "uid": "u-1",
        "selfLink": "/api/v1beta1/replicationControllers/tomcat-controller?namespace=default",
        "resourceVersion": 11,
        "labels": {"name": "tomcat"},
        "desiredState": {
            "replicas": 5,
            "replicaSelector": {"name": "tomcat"},
            "podTemplate": {
                "desiredState": {
                    "manifest": {
                        "version": "v1beta1",
                        "volumes": [],
                        "containers": [
                            {
                                "name": "tomcat",
                                "image": "pykube.local/busybox:1.35",
                                "command": ["httpd", "-f", "-p", "8080"],
                                "ports": [{"name": "http", "containerPort": 8080}],
                            }
                        ],
                        "restartPolicy": {"always": {}},
                    }
                },
                "labels": {"name": "tomcat"},
            },
        },
        "currentState": {"replicas": 3},
    }
    # and back: a PUT of that with other replicas changes the replicas only
    legacy["desiredState"]["replicas"] = 1
    updated = v1beta1.replication_controller_to_v1(legacy, rc)
    expected = copy.deepcopy(rc)
    expected["spec"]["replicas"] = 1
    expected["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert updated == expected


# ------------------------------------------------------------------------------ Service


def test_apache_service_to_v1() -> None:
    assert v1beta1.service_to_v1(example("apache-service")) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "apache", "labels": {"name": "apache"}},
        "spec": {
            "ports": [{"port": 8000, "targetPort": 80, "protocol": "TCP"}],
            "selector": {"name": "apache"},
            "type": "ClusterIP",
        },
    }


def test_tomcat_service_with_a_named_container_port_and_an_external_load_balancer() -> None:
    svc = v1beta1.service_to_v1(example("tomcat-service"))
    assert svc["spec"] == {
        "ports": [{"port": 80, "targetPort": "http"}],
        "selector": {"name": "tomcat"},
        "type": "LoadBalancer",
    }


def test_service_without_container_port_targets_its_port() -> None:
    svc = v1beta1.service_to_v1({"id": "s", "port": 6379, "selector": {"name": "redis"}})
    assert svc["spec"]["ports"] == [{"port": 6379, "targetPort": 6379}]


def stored_service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "tomcat",
            "namespace": "default",
            "resourceVersion": "20",
            "uid": "s-1",
            "labels": {"name": "tomcat"},
        },
        "spec": {
            "type": "LoadBalancer",
            "clusterIP": "10.96.14.3",
            "clusterIPs": ["10.96.14.3"],
            "selector": {"name": "tomcat"},
            "sessionAffinity": "None",
            "ports": [
                {"port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 31234},
                {"name": "admin", "port": 8009, "targetPort": 8009, "protocol": "TCP", "nodePort": 31235},
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}},
    }


def test_service_from_v1_names_the_cluster_ip_portal_ip() -> None:
    assert v1beta1.service_from_v1(stored_service()) == {
        "kind": "Service",
        "apiVersion": "v1beta1",
        "id": "tomcat",
        "namespace": "default",
        "uid": "s-1",
        "selfLink": "/api/v1beta1/services/tomcat?namespace=default",
        "resourceVersion": 20,
        "labels": {"name": "tomcat"},
        "port": 80,
        "protocol": "TCP",
        "containerPort": "http",
        "selector": {"name": "tomcat"},
        "portalIP": "10.96.14.3",
        "createExternalLoadBalancer": True,
        "publicIPs": ["192.168.1.10"],
        "sessionAffinity": "None",
        "ports": [
            {"name": "", "protocol": "TCP", "port": 80, "containerPort": "http"},
            {"name": "admin", "protocol": "TCP", "port": 8009, "containerPort": 8009},
        ],
    }


@pytest.mark.parametrize("forget", [(), ("ports", "publicIPs")], ids=["as-read", "by-a-2014-client"])
def test_service_update_keeps_node_ports_and_the_second_port(forget: tuple[str, ...]) -> None:
    """A PUT of what a GET returned, or of what a 2014 client knows of it, with a new selector: the
    node ports, the second port and the load balancer's address (not an external IP) stay."""
    stored = stored_service()
    legacy = v1beta1.service_from_v1(stored)
    for key in forget:
        del legacy[key]
    legacy["selector"] = {"name": "tomcat", "track": "stable"}
    updated = v1beta1.service_to_v1(legacy, stored)
    expected = copy.deepcopy(stored)
    expected["spec"]["selector"] = {"name": "tomcat", "track": "stable"}
    assert updated == expected


def test_service_public_ips_are_its_external_ips() -> None:
    svc = v1beta1.service_to_v1({"id": "s", "port": 80, "publicIPs": ["203.0.113.5"]})
    assert svc["spec"]["externalIPs"] == ["203.0.113.5"]
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}}
    assert v1beta1.service_from_v1(svc)["publicIPs"] == ["203.0.113.5", "192.168.1.10"]


def test_service_without_port_is_invalid() -> None:
    with pytest.raises(errors.StatusError) as caught:
        v1beta1.service_to_v1({"id": "s", "containerPort": 3.5})
    assert {c["field"] for c in (caught.value.details or {})["causes"]} == {"port", "containerPort"}


# ------------------------------------------------------------------------------ Minion


def stored_node() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "minion-1",
            "resourceVersion": "5",
            "uid": "n-1",
            "labels": {"kubernetes.io/hostname": "minion-1"},
        },
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "capacity": {"cpu": "2", "memory": "4028732Ki", "pods": "110"},
            "addresses": [{"type": "Hostname", "address": "minion-1"}, {"type": "InternalIP", "address": "10.240.0.5"}],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastHeartbeatTime": "2014-10-01T10:00:00Z",
                    "lastTransitionTime": "2014-10-01T09:00:00Z",
                }
            ],
        },
    }


def test_minion_from_v1() -> None:
    assert v1beta1.minion_from_v1(stored_node()) == {
        "kind": "Minion",
        "apiVersion": "v1beta1",
        "id": "minion-1",
        "uid": "n-1",
        "selfLink": "/api/v1beta1/minions/minion-1",
        "resourceVersion": 5,
        "labels": {"kubernetes.io/hostname": "minion-1"},
        "hostIP": "10.240.0.5",
        "resources": {"capacity": {"cpu": 2000, "memory": 4028732 * 1024, "pods": 110}},
        "podCIDR": "10.244.1.0/24",
        "status": {
            "conditions": [
                {
                    "kind": "Ready",
                    "status": "Full",
                    "reason": "KubeletReady",
                    "lastProbeTime": "2014-10-01T10:00:00Z",
                    "lastTransitionTime": "2014-10-01T09:00:00Z",
                }
            ],
            "addresses": stored_node()["status"]["addresses"],
        },
    }


def test_minion_registered_in_2014_shape_to_v1() -> None:
    node = v1beta1.minion_to_v1(
        {
            "id": "minion-3",
            "kind": "Minion",
            "hostIP": "10.240.0.7",
            "resources": {"capacity": {"cpu": 1000, "memory": 3221225472}},
            "status": {"conditions": [{"kind": "Ready", "status": "None"}]},
        }
    )
    assert node == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "minion-3"},
        "spec": {},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.240.0.7"}],
            "capacity": {"cpu": "1", "memory": "3221225472"},
            "conditions": [{"type": "Ready", "status": "False"}],
        },
    }


def test_minion_update_changes_labels_and_schedulability_only() -> None:
    stored = stored_node()
    legacy = v1beta1.minion_from_v1(stored)
    legacy["unschedulable"] = True
    legacy["labels"]["disk"] = "ssd"
    legacy["resources"] = {"capacity": {"cpu": 1}}  # the node reports its own capacity
    updated = v1beta1.minion_to_v1(legacy, stored)
    expected = copy.deepcopy(stored)
    expected["spec"]["unschedulable"] = True
    expected["metadata"]["labels"]["disk"] = "ssd"
    assert updated == expected


def test_minion_list_repeats_items_as_minions() -> None:
    listing = v1beta1.list_from_v1(v1beta1.RESOURCES["minions"], [stored_node()], 77, "/api/v1beta1/minions")
    assert listing["kind"] == "MinionList"
    assert listing["resourceVersion"] == 77
    assert listing["items"] == listing["minions"] == [v1beta1.minion_from_v1(stored_node())]


def test_resource_table_names_v1beta1_paths_and_kinds() -> None:
    assert {p: (r.kind, r.rt.plural) for p, r in v1beta1.RESOURCES.items()} == {
        "pods": ("Pod", "pods"),
        "replicationControllers": ("ReplicationController", "replicationcontrollers"),
        "services": ("Service", "services"),
        "minions": ("Minion", "nodes"),
    }


def test_field_labels_of_the_time_select_v1_fields() -> None:
    unbound = v1beta1.field_selector_to_v1("Pod", parse_field_selector("DesiredState.Host="))
    assert str(unbound) == "spec.nodeName="
    running = v1beta1.field_selector_to_v1("Pod", parse_field_selector("DesiredState.Status=Waiting,name!=x"))
    assert running.requirements == (("status.phase", "=", "Pending"), ("metadata.name", "!=", "x"))
    assert str(v1beta1.field_selector_to_v1("Minion", parse_field_selector("metadata.name=n"))) == "metadata.name=n"
