import copy
import random
import re
from datetime import UTC, datetime, timedelta, timezone

from minikube_py.model import meta

FIXED = datetime(2024, 1, 1, 0, 0, 0, 750000, tzinfo=UTC)


def test_now_is_utc_second_precision() -> None:
    assert meta.now_rfc3339(lambda: FIXED) == "2024-01-01T00:00:00Z"
    other_zone = datetime(2024, 1, 1, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    assert meta.now_rfc3339(lambda: other_zone) == "2024-01-01T00:30:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta.now_rfc3339())


def test_uids_are_unique_uuids() -> None:
    uids = {meta.new_uid() for _ in range(1000)}  # several refills of the random pool
    assert len(uids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u) for u in uids)


def test_generate_name_alphabet_length_and_determinism() -> None:
    name = meta.generate_name("web-", random.Random(1))
    assert name.startswith("web-") and len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert name == meta.generate_name("web-", random.Random(1))
    long = meta.generate_name("x" * 80)
    assert len(long) == 63 and long.startswith("x" * 58)


def _pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "namespace": "other",
            "uid": "forged",
            "resourceVersion": "5",
            "deletionTimestamp": "2020-01-01T00:00:00Z",
            "deletionGracePeriodSeconds": 3,
            "generation": 7,
            "labels": {},
            "annotations": {},
            "finalizers": [],
            "selfLink": "/x",
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def test_prepare_for_create() -> None:
    pod = _pod()
    meta.prepare_for_create(pod, namespace="default", clock=lambda: FIXED, uid="u-1")
    assert pod["metadata"] == {
        "name": "p",
        "namespace": "default",
        "uid": "u-1",
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "generation": 1,
    }


def test_prepare_for_create_cluster_scoped_and_untracked_generation() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "n", "namespace": "x", "labels": {"a": "b"}}}
    meta.prepare_for_create(ns, namespace=None, clock=lambda: FIXED)
    assert "namespace" not in ns["metadata"]
    assert "generation" not in ns["metadata"]
    assert ns["metadata"]["labels"] == {"a": "b"}
    assert ns["metadata"]["uid"]


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "namespace": "default",
            "uid": "u",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "generation": 2,
            "resourceVersion": "10",
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
        "status": {"replicas": 1, "observedGeneration": 2},
    }


def _stored(obj: dict) -> dict:
    from minikube_py.model import defaults

    out = copy.deepcopy(obj)
    defaults.apply_defaults(out["kind"], out)
    return out


def test_update_keeps_identity_and_bumps_generation_on_spec_change() -> None:
    old = _stored(_deployment())
    new = copy.deepcopy(old)
    new["metadata"].update(uid="", creationTimestamp="1999-01-01T00:00:00Z", generation=99)
    new["spec"]["replicas"] = 3
    new["status"] = {"replicas": 42}
    meta.prepare_for_update(new, old, status_only=False, has_status=True)
    assert new["metadata"]["uid"] == "u"
    assert new["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
    assert new["metadata"]["generation"] == 3
    assert new["status"] == old["status"]


def test_metadata_only_change_does_not_bump_generation() -> None:
    old = _stored(_deployment())
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"x": "y"}
    meta.prepare_for_update(new, old, status_only=False, has_status=True)
    assert new["metadata"]["generation"] == 2
    assert new["metadata"]["labels"] == {"x": "y"}


def test_deployment_annotation_change_bumps_generation() -> None:
    old = _stored(_deployment())
    new = copy.deepcopy(old)
    new["metadata"]["annotations"] = {"note": "x"}
    meta.prepare_for_update(new, old, status_only=False, has_status=True)
    assert new["metadata"]["generation"] == 3


def test_omitted_defaults_are_not_a_spec_change() -> None:
    old = _stored(_deployment())
    new = _deployment()  # the manifest again, without the server's defaults
    meta.prepare_for_update(new, old, status_only=False, has_status=True)
    assert new["metadata"]["generation"] == 2


def test_status_update_keeps_spec_and_labels() -> None:
    old = _stored(_deployment())
    old["metadata"]["labels"] = {"keep": "me"}
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 9
    new["metadata"]["labels"] = {"changed": "yes"}
    new["metadata"]["annotations"] = {"a": "b"}
    new["status"] = {"replicas": 3, "observedGeneration": 2}
    new["extra"] = "dropped"
    meta.prepare_for_update(new, old, status_only=True, has_status=True)
    assert new["spec"] == old["spec"]
    assert "extra" not in new
    assert new["metadata"]["labels"] == {"keep": "me"}
    assert new["metadata"]["annotations"] == {"a": "b"}
    assert new["status"] == {"replicas": 3, "observedGeneration": 2}
    assert new["metadata"]["generation"] == 2


def test_kind_without_status_subresource_takes_status_from_client() -> None:
    old = {"kind": "Event", "metadata": {"name": "e", "uid": "u", "creationTimestamp": "t"}, "reason": "A"}
    new = {"kind": "Event", "metadata": {"name": "e"}, "reason": "B"}
    meta.prepare_for_update(new, old, status_only=False, has_status=False)
    assert new == {"kind": "Event", "metadata": {"name": "e", "uid": "u", "creationTimestamp": "t"}, "reason": "B"}


def test_deletion_fields_cannot_be_changed_or_removed() -> None:
    old = _stored(_deployment())
    old["metadata"].update(deletionTimestamp="2024-02-02T00:00:00Z", deletionGracePeriodSeconds=0, finalizers=["x/y"])
    new = copy.deepcopy(old)
    del new["metadata"]["deletionTimestamp"]
    new["metadata"]["deletionGracePeriodSeconds"] = 30
    new["metadata"]["finalizers"] = []
    meta.prepare_for_update(new, old, status_only=False, has_status=True)
    assert new["metadata"]["deletionTimestamp"] == "2024-02-02T00:00:00Z"
    assert new["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "finalizers" not in new["metadata"]  # removing the last finalizer is how deletion completes
    fresh = _stored(_deployment())
    sneaky = copy.deepcopy(fresh)
    sneaky["metadata"]["deletionTimestamp"] = "2024-02-02T00:00:00Z"
    meta.prepare_for_update(sneaky, fresh, status_only=False, has_status=True)
    assert "deletionTimestamp" not in sneaky["metadata"]


def test_pod_image_change_bumps_generation_but_configmap_has_none() -> None:
    from minikube_py.model import defaults

    pod = {
        "kind": "Pod",
        "metadata": {"name": "p", "uid": "u", "generation": 1},
        "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
    }
    defaults.apply_defaults("Pod", pod)
    new = copy.deepcopy(pod)
    new["spec"]["containers"][0]["image"] = "busybox:2"
    meta.prepare_for_update(new, pod, status_only=False, has_status=True)
    assert new["metadata"]["generation"] == 2
    cm = {"kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}, "data": {"a": "1"}}
    new_cm = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}}
    meta.prepare_for_update(new_cm, cm, status_only=False, has_status=False)
    assert "generation" not in new_cm["metadata"]
    assert new_cm["metadata"]["uid"] == "u"
