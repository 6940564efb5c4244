"""The PV controller's pure decisions: matching, binding writes, phases, provisioning and reclaim."""

from __future__ import annotations

from typing import Any

from minikube_py.model import storage
from minikube_py.model.scheduling import prefilter_message
from minikube_py.model.volumebinding import (
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    LOCAL_PATH_PROVISIONER,
    LOCAL_PATH_ROOT_ANNOTATION,
    NO_PROVISIONER,
    NO_VOLUME_TO_BIND,
    PROVISIONED_BY,
    SELECTED_NODE,
    STORAGE_PROVISIONER,
    UNBOUND_IMMEDIATE,
    VOLUME_NODE_CONFLICT,
    bind_claim,
    bind_volume,
    claim_status,
    decide_claim,
    decide_volume,
    find_volume,
    local_path_to_delete,
    mismatch,
    pod_claim_names,
    pod_volumes,
    volume_node_failure,
)

Obj = dict[str, Any]


def pv(
    name: str,
    size: str = "1Gi",
    *,
    phase: str = "Available",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    klass: str = "",
    labels: dict[str, str] | None = None,
    claim_ref: Obj | None = None,
    node: str | None = None,
    **spec: Any,
) -> Obj:
    body: Obj = {
        "capacity": {"storage": size},
        "accessModes": list(modes),
        "hostPath": {"path": f"/data/{name}"},
        "persistentVolumeReclaimPolicy": "Retain",
        "volumeMode": "Filesystem",
        **spec,
    }
    if klass:
        body["storageClassName"] = klass
    if claim_ref is not None:
        body["claimRef"] = claim_ref
    if node is not None:
        body["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
                ]
            }
        }
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {}, "resourceVersion": "1"},
        "spec": body,
        "status": {"phase": phase},
    }


def pvc(
    name: str = "data",
    request: str = "500Mi",
    *,
    klass: str | None = None,
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    body: Obj = {
        "accessModes": list(modes),
        "resources": {"requests": {"storage": request}},
        "volumeMode": "Filesystem",
        **spec,
    }
    if klass is not None:
        body["storageClassName"] = klass
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "annotations": annotations or {},
        },
        "spec": body,
        "status": {"phase": "Pending"},
    }


def ref(claim: Obj, uid: bool = True) -> Obj:
    md = claim["metadata"]
    return {
        "kind": "PersistentVolumeClaim",
        "namespace": md["namespace"],
        "name": md["name"],
        **({"uid": md["uid"]} if uid else {}),
    }


def sc(
    name: str, provisioner: str = LOCAL_PATH_PROVISIONER, mode: str = "WaitForFirstConsumer", policy: str = "Delete"
) -> Obj:
    return {"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode, "reclaimPolicy": policy}


def node(name: str, root: str | None = "/var/lib/pykube/storage") -> Obj:
    annotations = {LOCAL_PATH_ROOT_ANNOTATION: root} if root else {}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}, "annotations": annotations}}


def by_name(*objs: Obj) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs}


# ------------------------------------------------------------------------------ matching


def test_the_smallest_volume_that_fits_wins() -> None:
    volumes = [pv("big", "10Gi"), pv("small", "1Gi"), pv("tiny", "100Mi")]
    assert find_volume(pvc(), volumes)["metadata"]["name"] == "small"  # type: ignore[index]


def test_class_modes_mode_selector_and_phase_filter() -> None:
    claim = pvc(klass="fast", modes=("ReadWriteMany",), selector={"matchLabels": {"tier": "db"}})
    assert find_volume(claim, [pv("a", klass="fast", modes=("ReadWriteMany",))]) is None  # selector
    good = pv("b", klass="fast", modes=("ReadWriteOnce", "ReadWriteMany"), labels={"tier": "db"})
    assert find_volume(claim, [good]) is good
    assert find_volume(claim, [pv("c", klass="slow", modes=("ReadWriteMany",), labels={"tier": "db"})]) is None
    assert find_volume(claim, [{**good, "status": {"phase": "Released"}}]) is None
    assert find_volume(pvc(), [pv("blk", volumeMode="Block")]) is None
    assert find_volume(pvc(klass=""), [pv("noclass")]) is not None  # "" asks for a volume without a class
    assert find_volume(pvc(), [pv("x", "100Mi")]) is None  # too small


def test_a_volume_pre_bound_to_another_claim_is_skipped_and_one_pre_bound_to_this_one_wins() -> None:
    claim = pvc()
    other = pv("other", claim_ref={"namespace": "ns", "name": "someone-else"})
    mine = pv("mine", "5Gi", phase="Pending", claim_ref=ref(claim, uid=False))
    assert find_volume(claim, [other]) is None
    assert find_volume(claim, [pv("small"), mine]) is mine
    deleted = pv("gone")
    deleted["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert find_volume(claim, [deleted]) is None


def test_delayed_claims_bind_only_on_the_selected_node() -> None:
    claim = pvc(klass="local")
    volumes = [pv("on-n1", klass="local", node="n1"), pv("on-n2", klass="local", node="n2")]
    assert find_volume(claim, volumes, delayed=True) is None
    assert find_volume(claim, volumes, node("n2"), delayed=True)["metadata"]["name"] == "on-n2"  # type: ignore[index]


def test_mismatch_reasons() -> None:
    assert mismatch(pv("a", "100Mi"), pvc()) == "requested PV is too small"
    assert mismatch(pv("a", klass="x"), pvc()) == "storageClassName does not match"
    assert mismatch(pv("a", modes=("ReadOnlyMany",)), pvc()) == "incompatible accessMode"
    assert mismatch(pv("a"), pvc()) is None


# ------------------------------------------------------------------------------ binding writes


def test_binding_writes_both_halves_once() -> None:
    claim, volume = pvc(), pv("v")
    bound_volume = bind_volume(volume, claim)
    assert bound_volume is not None
    assert bound_volume["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "ns",
        "name": "data",
        "uid": "uid-data",
        "resourceVersion": "7",
    }
    assert bound_volume["metadata"]["annotations"][BOUND_BY_CONTROLLER] == "yes"
    assert bind_volume(bound_volume, claim) is None
    assert "claimRef" not in volume["spec"]  # inputs are not modified
    bound = bind_claim(claim, bound_volume)
    assert bound is not None and bound["spec"]["volumeName"] == "v"
    assert bound["metadata"]["annotations"] == {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
    assert bind_claim(bound, bound_volume) is None
    status = claim_status(bound, "Bound", bound_volume)
    assert status == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}


def test_a_user_pre_bound_volume_is_not_marked_as_bound_by_the_controller() -> None:
    claim = pvc()
    volume = bind_volume(pv("v", claim_ref=ref(claim, uid=False)), claim)
    assert volume is not None and volume["spec"]["claimRef"]["uid"] == "uid-data"
    assert BOUND_BY_CONTROLLER not in volume["metadata"].get("annotations", {})


# ------------------------------------------------------------------------------ claims


def test_an_unbound_claim_binds_to_a_match() -> None:
    decision = decide_claim(pvc(), by_name(pv("v")), {}, {})
    assert decision.phase == "Bound" and decision.bind is not None and decision.bind["metadata"]["name"] == "v"


def test_no_match_and_no_class_stays_pending_with_kubernetes_event() -> None:
    decision = decide_claim(pvc(), {}, {}, {})
    assert decision.phase == "Pending" and decision.bind is None
    assert decision.events == [
        ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
    ]


def test_wait_for_first_consumer_until_a_node_is_selected() -> None:
    classes = by_name(sc("local-path"))
    decision = decide_claim(pvc(klass="local-path"), by_name(pv("v", klass="local-path")), classes, {})
    assert decision.phase == "Pending" and decision.provision is None
    assert decision.events == [
        ("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
    ]


def test_local_path_provisioning_on_the_selected_node() -> None:
    claim = pvc(klass="local-path", annotations={SELECTED_NODE: "n1"})
    decision = decide_claim(claim, {}, by_name(sc("local-path")), by_name(node("n1")))
    assert decision.phase == "Pending" and decision.annotate[STORAGE_PROVISIONER] == LOCAL_PATH_PROVISIONER
    volume = decision.provision
    assert volume is not None
    assert volume["metadata"]["name"] == "pvc-uid-data"
    assert volume["metadata"]["annotations"][PROVISIONED_BY] == LOCAL_PATH_PROVISIONER
    assert volume["spec"]["hostPath"] == {
        "path": "/var/lib/pykube/storage/pvc-uid-data_ns_data",
        "type": "DirectoryOrCreate",
    }
    assert volume["spec"]["capacity"] == {"storage": "500Mi"}
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert volume["spec"]["storageClassName"] == "local-path"
    assert volume["spec"]["claimRef"]["uid"] == "uid-data"
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}
    ]
    assert [reason for _, reason, _ in decision.events] == ["Provisioning", "ProvisioningSucceeded"]
    # once made, the pre-bound volume binds although it is still Pending
    made = {**volume, "status": {"phase": "Pending"}}
    assert decide_claim(claim, by_name(made), by_name(sc("local-path")), by_name(node("n1"))).bind is made


def test_a_static_volume_on_the_selected_node_is_preferred_to_provisioning() -> None:
    claim = pvc(klass="local-path", annotations={SELECTED_NODE: "n1"})
    static = pv("static", klass="local-path", node="n1")
    decision = decide_claim(
        claim,
        by_name(static, pv("elsewhere", klass="local-path", node="n2")),
        by_name(sc("local-path")),
        by_name(node("n1")),
    )
    assert decision.bind is static and decision.provision is None


def test_provisioning_failures_are_events() -> None:
    claim = pvc(klass="local-path", annotations={SELECTED_NODE: "n1"})
    rootless = decide_claim(claim, {}, by_name(sc("local-path")), by_name(node("n1", root=None)))
    assert rootless.provision is None and rootless.events[0][1] == "ProvisioningFailed"
    missing = decide_claim(pvc(klass="nope"), {}, {}, {})
    assert missing.events == [("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "nope" not found')]
    external = decide_claim(pvc(klass="ebs"), {}, by_name(sc("ebs", "ebs.csi.aws.com", "Immediate")), {})
    assert (
        external.events[0][1] == "ExternalProvisioning" and external.annotate[STORAGE_PROVISIONER] == "ebs.csi.aws.com"
    )


def test_a_claim_pre_bound_to_a_volume() -> None:
    assert decide_claim(pvc(volumeName="v"), {}, {}, {}).phase == "Pending"
    assert decide_claim(pvc(volumeName="v"), by_name(pv("v")), {}, {}).phase == "Bound"
    small = decide_claim(pvc(volumeName="v"), by_name(pv("v", "1Mi")), {}, {})
    assert small.phase == "Pending"
    assert small.events == [
        ("Warning", "VolumeMismatch", 'Cannot bind to requested volume "v": requested PV is too small')
    ]
    taken = decide_claim(
        pvc(volumeName="v"), by_name(pv("v", claim_ref={"namespace": "ns", "name": "x", "uid": "u"})), {}, {}
    )
    assert taken.events == [("Warning", "FailedBinding", 'volume "v" already bound to a different claim.')]


def test_a_bound_claim_is_lost_when_its_volume_goes() -> None:
    claim = pvc(volumeName="v", annotations={BIND_COMPLETED: "yes"})
    lost = decide_claim(claim, {}, {}, {})
    assert lost.phase == "Lost" and lost.events[0][1] == "ClaimLost"
    assert decide_claim(claim, by_name(pv("v", claim_ref=ref(claim))), {}, {}).phase == "Bound"
    misbound = decide_claim(
        claim, by_name(pv("v", claim_ref={"namespace": "ns", "name": "data", "uid": "other"})), {}, {}
    )
    assert misbound.phase == "Lost" and misbound.events[0][1] == "ClaimMisbound"


# ------------------------------------------------------------------------------ volumes


def test_volume_phases() -> None:
    claim = pvc(volumeName="v")
    assert decide_volume(pv("v", phase="Pending"), None).phase == "Available"
    assert decide_volume(pv("v", claim_ref=ref(claim, uid=False)), None).phase == "Available"  # waiting for it
    assert decide_volume(pv("v", claim_ref=ref(claim)), claim).phase == "Bound"
    assert decide_volume(pv("v", phase="Bound", claim_ref=ref(claim)), None).phase == "Released"  # Retain keeps it
    recreated = pvc(volumeName="v")
    recreated["metadata"]["uid"] = "new-uid"
    assert decide_volume(pv("v", phase="Bound", claim_ref=ref(claim)), recreated).phase == "Released"


def test_reclaim_policies() -> None:
    claim = pvc()
    static_delete = decide_volume(pv("v", claim_ref=ref(claim), persistentVolumeReclaimPolicy="Delete"), None)
    assert static_delete.phase == "Failed" and static_delete.events[0][1] == "VolumeFailedDelete"
    assert static_delete.message == (
        'error getting deleter volume plugin for volume "v": no deletable volume plugin matched'
    )
    provisioned = pv("v", claim_ref=ref(claim), persistentVolumeReclaimPolicy="Delete")
    provisioned["metadata"]["annotations"] = {PROVISIONED_BY: LOCAL_PATH_PROVISIONER, SELECTED_NODE: "n1"}
    assert decide_volume(provisioned, None).phase == "Released"  # the node's agent deletes it
    recycle = decide_volume(pv("v", claim_ref=ref(claim), persistentVolumeReclaimPolicy="Recycle"), None)
    assert recycle.phase == "Failed"


def test_a_volume_whose_claim_bound_elsewhere_is_unbound() -> None:
    claim = pvc(volumeName="other")
    decision = decide_volume(pv("v", claim_ref=ref(claim)), claim)
    assert decision.unbind and decision.phase == "Available"


def test_which_local_path_directories_an_agent_removes() -> None:
    volume = pv(
        "pvc-1",
        phase="Released",
        persistentVolumeReclaimPolicy="Delete",
        hostPath={"path": "/root/storage/pvc-1_ns_data", "type": "DirectoryOrCreate"},
    )
    assert local_path_to_delete(volume, "n1") is None  # not provisioned
    volume["metadata"]["annotations"] = {PROVISIONED_BY: LOCAL_PATH_PROVISIONER, SELECTED_NODE: "n1"}
    assert local_path_to_delete(volume, "n1") == "/root/storage/pvc-1_ns_data"
    assert local_path_to_delete(volume, "n2") is None
    assert local_path_to_delete({**volume, "status": {"phase": "Bound"}}, "n1") is None
    volume["spec"]["persistentVolumeReclaimPolicy"] = storage.RETAIN
    assert local_path_to_delete(volume, "n1") is None


# ------------------------------------------------------------------------------ scheduling


def pod(*claims: str) -> Obj:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
            + [{"name": "scratch", "emptyDir": {}}]
        },
    }


def claims_by_key(*objs: Obj) -> dict[str, Obj]:
    return {f"ns/{o['metadata']['name']}": o for o in objs}


def test_pod_volumes_prefilter_errors_as_kube_scheduler_words_them() -> None:
    assert pod_claim_names(pod("a", "b")) == ("a", "b")
    assert pod_volumes(pod("data"), {}, {}, {}).error == 'persistentvolumeclaim "data" not found'
    immediate = pvc(klass="fast")
    assert (
        pod_volumes(pod("data"), claims_by_key(immediate), {}, by_name(sc("fast", mode="Immediate"))).error
        == "pod has unbound immediate PersistentVolumeClaims"
    )
    assert pod_volumes(pod("data"), claims_by_key(pvc()), {}, {}).error == UNBOUND_IMMEDIATE
    deleting = pvc()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert (
        pod_volumes(pod("data"), claims_by_key(deleting), {}, {}).error
        == 'persistentvolumeclaim "data" is being deleted'
    )


def test_a_bound_claim_keeps_the_pod_on_its_volume_s_node() -> None:
    claim = {**pvc(volumeName="v"), "status": {"phase": "Bound"}}
    volume = pv("v", node="n1", claim_ref=ref(claim))
    needs = pod_volumes(pod("data"), claims_by_key(claim), by_name(volume), {})
    assert needs.error is None and needs.bound == [volume]
    assert volume_node_failure(needs, node("n1"), [], {}) is None
    assert volume_node_failure(needs, node("n2"), [], {}) == VOLUME_NODE_CONFLICT


def test_a_delayed_claim_goes_where_it_can_be_provisioned_or_found() -> None:
    classes = by_name(sc("local-path"), sc("manual", NO_PROVISIONER))
    needs = pod_volumes(pod("data"), claims_by_key(pvc(klass="local-path")), {}, classes)
    assert needs.error is None and len(needs.delayed) == 1
    assert volume_node_failure(needs, node("n1"), [], classes) is None
    assert volume_node_failure(needs, node("n1", root=None), [], classes) == NO_VOLUME_TO_BIND
    manual = pod_volumes(pod("data"), claims_by_key(pvc(klass="manual")), {}, classes)
    static = pv("disk", klass="manual", node="n2")
    assert volume_node_failure(manual, node("n1"), [static], classes) == NO_VOLUME_TO_BIND
    assert volume_node_failure(manual, node("n2"), [static], classes) is None
    chosen = pod_volumes(
        pod("data"), claims_by_key(pvc(klass="local-path", annotations={SELECTED_NODE: "n2"})), {}, classes
    )
    assert volume_node_failure(chosen, node("n1"), [], classes) == VOLUME_NODE_CONFLICT
    assert volume_node_failure(chosen, node("n2"), [], classes) is None


def test_prefilter_message() -> None:
    assert prefilter_message(2, UNBOUND_IMMEDIATE) == (
        "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are "
        "available: 2 Preemption is not helpful for scheduling."
    )


# ------------------------------------------------------------------------------ in-use protection


def test_protection_finalizers() -> None:
    claim = pvc()
    storage.protect(claim, storage.PVC_PROTECTION)
    storage.protect(claim, storage.PVC_PROTECTION)
    assert claim["metadata"]["finalizers"] == [storage.PVC_PROTECTION]
    assert storage.finalizers_without(claim, storage.PVC_PROTECTION) is None  # not being deleted
    claim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    claim["metadata"]["finalizers"].append("example.com/other")
    assert storage.finalizers_without(claim, storage.PVC_PROTECTION) == ["example.com/other"]
    user = pod("data")
    assert storage.uses_claim(user, claim)
    assert not storage.uses_claim({**user, "status": {"phase": "Succeeded"}}, claim)
    assert not storage.uses_claim({**user, "metadata": {"name": "p", "namespace": "other"}}, claim)
    assert not storage.uses_claim(pod("else"), claim)


def test_a_bound_local_path_claim_that_asks_for_more_grows_its_volume() -> None:
    claim = pvc(volumeName="pvc-1", annotations={BIND_COMPLETED: "yes"}, resources={"requests": {"storage": "2Gi"}})
    volume = pv("pvc-1", "1Gi", claim_ref=ref(claim))
    assert decide_claim(claim, by_name(volume), {}, {}).grow is None  # a static volume is what it is
    volume["metadata"]["annotations"] = {PROVISIONED_BY: LOCAL_PATH_PROVISIONER}
    decision = decide_claim(claim, by_name(volume), {}, {})
    assert decision.phase == "Bound" and decision.grow == "2Gi"


def test_a_claim_made_before_any_default_class_gets_it_once_there_is_one() -> None:
    default = sc("local-path")
    default["metadata"]["annotations"] = {storage.DEFAULT_CLASS_ANNOTATION: "true"}
    assert decide_claim(pvc(), {}, by_name(default), {}).set_class == "local-path"
    assert decide_claim(pvc(klass=""), {}, by_name(default), {}).set_class is None  # "" asks for no class
    assert decide_claim(pvc(), {}, by_name(sc("other")), {}).set_class is None
