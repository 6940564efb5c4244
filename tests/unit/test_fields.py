from minikube_py.model.fields import field_set, selectable_fields, unsupported_fields, unsupported_message
from minikube_py.model.selectors import parse_field_selector


def test_pod_fields_and_missing_values() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "nodeName": "n1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "hostNetwork": True,
        },
        "status": {"phase": "Running", "podIP": "10.244.0.5"},
    }
    assert field_set("Pod", pod) == {
        "metadata.name": "p",
        "metadata.namespace": "default",
        "spec.nodeName": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.244.0.5",
        "status.nominatedNodeName": "",
    }
    bare = field_set("Pod", {"metadata": {"name": "q", "namespace": "default"}})
    assert bare["spec.nodeName"] == "" and bare["spec.hostNetwork"] == "false"


def test_unscheduled_pods_are_selected_by_empty_node_name() -> None:
    sel = parse_field_selector("spec.nodeName=")
    assert sel.matches(field_set("Pod", {"metadata": {"name": "a"}, "spec": {}}))
    assert not sel.matches(field_set("Pod", {"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}}))


def test_describe_node_pod_query() -> None:
    sel = parse_field_selector("spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed")
    running = {"metadata": {"name": "a"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Running"}}
    done = {"metadata": {"name": "b"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Succeeded"}}
    assert sel.matches(field_set("Pod", running))
    assert not sel.matches(field_set("Pod", done))


def test_event_fields() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "nginx", "uid": "u1", "apiVersion": "v1"},
        "reason": "Scheduled",
        "source": {"component": "default-scheduler"},
        "type": "Normal",
    }
    fields = field_set("Event", event)
    assert fields["involvedObject.kind"] == "Pod"
    assert fields["involvedObject.uid"] == "u1"
    assert fields["involvedObject.fieldPath"] == ""
    assert fields["source"] == "default-scheduler"
    assert fields["reportingComponent"] == ""
    assert fields["type"] == "Normal"
    sel = parse_field_selector("involvedObject.name=nginx,involvedObject.namespace=default,involvedObject.uid=u1")
    assert sel.matches(fields)
    node_event = {
        "metadata": {"name": "e2", "namespace": "default"},
        "reportingComponent": "kubelet",
        "involvedObject": {"kind": "Node", "name": "node1"},
    }
    node_fields = field_set("Event", node_event)
    assert node_fields["source"] == "kubelet"
    assert parse_field_selector("involvedObject.namespace=,involvedObject.kind=Node").matches(node_fields)


def test_other_kinds() -> None:
    assert field_set("Secret", {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"})["type"] == "Opaque"
    node = field_set("Node", {"metadata": {"name": "n"}})
    assert node == {"metadata.name": "n", "spec.unschedulable": "false"}
    assert (
        field_set("Node", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}})["spec.unschedulable"] == "true"
    )
    assert field_set("Namespace", {"metadata": {"name": "x"}, "status": {"phase": "Active"}}) == {
        "metadata.name": "x",
        "status.phase": "Active",
    }
    assert field_set("ReplicaSet", {"metadata": {"name": "r"}, "status": {"replicas": 3}})["status.replicas"] == "3"
    assert field_set("ReplicationController", {"metadata": {"name": "r"}})["status.replicas"] == "0"
    assert field_set("Job", {"metadata": {"name": "j"}, "status": {"succeeded": 2}})["status.successful"] == "2"
    assert field_set("ConfigMap", {"metadata": {"name": "c", "namespace": "d"}}) == {
        "metadata.name": "c",
        "metadata.namespace": "d",
    }


def test_unsupported_fields() -> None:
    sel = parse_field_selector("spec.foo=1,metadata.name=a,status.phase=x")
    assert unsupported_fields("Pod", sel) == ["spec.foo"]
    assert unsupported_fields("ConfigMap", sel) == ["spec.foo", "status.phase"]
    assert unsupported_fields("Node", parse_field_selector("metadata.namespace=x")) == ["metadata.namespace"]
    assert unsupported_message("spec.foo") == "field label not supported: spec.foo"
    assert "involvedObject.resourceVersion" in selectable_fields("Event")
