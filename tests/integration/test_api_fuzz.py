"""The API server's input handling under a seeded fuzz campaign (tests/fuzzing.py) against the real
server in this process, and the exact answers to the inputs earlier campaigns found mishandled.

The campaign here is bounded (a fixed seed and case count, well under a minute); ``bench/fuzz.py``
runs long ones. ``PYKUBE_FUZZ_SEED`` and ``PYKUBE_FUZZ_CASES`` replay another seed or size here.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzzing import run_campaign
from inprocess import InProcessServer, start_in_process

from minikube_py.testing import eventually

Obj = dict[str, Any]
SEED = int(os.environ.get("PYKUBE_FUZZ_SEED", "20261206"))
CASES = int(os.environ.get("PYKUBE_FUZZ_CASES", "1500"))
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def test_a_seeded_fuzz_campaign_gets_only_status_errors_and_readable_objects(tmp_path: Path) -> None:
    report = run_campaign(tmp_path / "data", SEED, CASES)
    assert report.cases == CASES
    assert not report.violations, "\n\n".join(report.violations[:10]) + "\n\n" + report.summary()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = start_in_process(tmp_path_factory.mktemp("fuzzed") / "data")
    yield running
    running.stop()


@pytest.mark.parametrize(("method", "options"), [("POST", "CreateOptions"), ("PUT", "UpdateOptions")])
def test_a_misspelt_dry_run_is_refused_not_written(server: InProcessServer, method: str, options: str) -> None:
    """``dryRun=all`` (not ``All``) was taken for a real write: the object was created or replaced."""
    name = f"dry-{method.lower()}"
    created = {"metadata": {"name": name}, "data": {"k": "before"}}
    assert server.exchange("POST", CONFIGMAPS, created)[0] == 201
    path = CONFIGMAPS if method == "POST" else f"{CONFIGMAPS}/{name}"
    body = {"metadata": {"name": "dry-post-new" if method == "POST" else name}, "data": {"k": "after"}}
    code, _, status = server.exchange(method, f"{path}?dryRun=all", body)
    assert (code, status["reason"]) == (422, "Invalid")
    assert (
        status["message"]
        == f'{options}.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{{"all"}}: supported values: "All"'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: []string{"all"}: supported values: "All"',
            "field": "dryRun",
        }
    ]
    assert server.exchange("GET", f"{CONFIGMAPS}/{name}")[2]["data"] == {"k": "before"}
    assert server.exchange("GET", f"{CONFIGMAPS}/dry-post-new")[0] == 404
    code, _, deleted = server.exchange("DELETE", f"{CONFIGMAPS}/{name}?dryRun=All&dryRun=Bogus")
    assert (code, deleted["details"]["kind"]) == (422, "DeleteOptions")
    code, _, deleted = server.exchange("DELETE", f"{CONFIGMAPS}/{name}", {"dryRun": ["all"]})
    assert (code, deleted["details"]["kind"], deleted["details"]["causes"][0]["field"]) == (
        422,
        "DeleteOptions",
        "dryRun",
    )
    assert server.exchange("GET", f"{CONFIGMAPS}/{name}")[0] == 200


def test_warnings_about_huge_or_multi_line_unknown_fields_fit_a_header(server: InProcessServer) -> None:
    """An unknown field named with a line break made aiohttp refuse to write the response (the
    connection dropped after the object was stored); one of 70,000 characters made a header clients
    refuse. kube-apiserver writes line breaks in a header as spaces and keeps warnings to 4 Ki."""
    body = {"metadata": {"name": "warned"}, "data": {"k": "v"}, "a\nb": 1, "x" * 70_000: 1, "y\x7f\x00\t": 1}
    code, headers, created = server.exchange("POST", CONFIGMAPS, body)
    assert code == 201, created
    warnings = headers.get_all("Warning") or []
    assert warnings[0] == '299 - "unknown field \\"a b\\""'
    assert warnings[1] == '299 - "unknown field \\"' + "x" * (256 - len('unknown field "')) + '"'
    assert warnings[2] == '299 - "unknown field \\"y  \t\\""'
    assert "a\nb" not in created and server.exchange("GET", f"{CONFIGMAPS}/warned")[0] == 200


@pytest.mark.parametrize("metadata", [7, ["a"], True])
def test_a_review_whose_metadata_is_no_object_is_a_bad_request(server: InProcessServer, metadata: Any) -> None:
    """It answered 500 (the answer copies the review's metadata)."""
    review = {"metadata": metadata, "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    code, _, status = server.exchange("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", "metadata must be an object")


def test_a_binding_naming_a_list_as_subject_is_refused_and_grants_keep_following(server: InProcessServer) -> None:
    """Such a binding was stored; the RBAC authorizer's policy failed on it and stopped following the
    store, so that every later RBAC write waited 10 s for it and new grants were never seen."""
    binding = {
        "metadata": {"name": "listed"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": ["fuzzer"], "apiGroup": "rbac.authorization.k8s.io"}],
    }
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
    code, _, status = server.exchange("POST", path, binding)
    assert (code, status["reason"]) == (400, "BadRequest")
    assert "Go struct field Subject.subjects.name of type string" in status["message"]
    binding["subjects"][0]["name"] = "fuzzer"
    assert server.exchange("POST", path, binding)[0] == 201
    review = {
        "spec": {"user": "fuzzer", "resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}}
    }
    code, _, answer = server.exchange("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert (code, answer["status"]["allowed"]) == (201, True)


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        ({"spec": ["replicas"]}, "json: cannot unmarshal array into Go struct field Scale.spec of type object"),
        ({"metadata": "d", "spec": {"replicas": 1}}, "the body of the request must be a Scale object"),
        (
            {"spec": {"replicas": 1}, "status": {"selector": 1}},
            "json: cannot unmarshal number into Go struct field ScaleStatus.status.selector of type string",
        ),
    ],
)
def test_a_scale_of_the_wrong_shape_is_a_bad_request(server: InProcessServer, scale: Obj, message: str) -> None:
    """A Scale whose spec was a list answered 500."""
    rs = {
        "metadata": {"name": "scaled"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "scaled"}},
            "template": {
                "metadata": {"labels": {"app": "scaled"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    path = "/apis/apps/v1/namespaces/default/replicasets"
    assert server.exchange("POST", path, rs)[0] in (201, 409)
    code, _, status = server.exchange("PUT", f"{path}/scaled/scale", scale)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", message)


def test_a_patch_making_the_scales_metadata_a_number_is_a_bad_request(server: InProcessServer) -> None:
    """A merge patch that made the Scale's metadata a number answered 500."""
    rs = {
        "metadata": {"name": "scaled-by-patch"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "p"}},
            "template": {
                "metadata": {"labels": {"app": "p"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    path = "/apis/apps/v1/namespaces/default/replicasets"
    assert server.exchange("POST", path, rs)[0] == 201
    req = urllib.request.Request(
        f"{server.url}{path}/scaled-by-patch/scale",
        data=b'{"metadata": 1.5}',
        method="PATCH",
        headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/merge-patch+json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, context=server.ssl_context(), timeout=30)
    status = json.loads(caught.value.read())
    assert (caught.value.code, status["message"]) == (400, "the body of the request must be a Scale object")


@pytest.mark.parametrize(
    ("sub", "body", "message"),
    [
        (
            "eviction",
            {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": [{"name": "bound"}]},
            "json: cannot unmarshal array into Go struct field Eviction.metadata of type object",
        ),
        (
            "eviction",
            {"metadata": {"name": "bound"}, "deleteOptions": {"gracePeriodSeconds": "0"}},
            "json: cannot unmarshal string into Go struct field DeleteOptions.deleteOptions.gracePeriodSeconds of type int64",
        ),
        (
            "binding",
            {"metadata": {"name": "bound"}, "target": {"kind": "Node", "name": ["n1"]}},
            "json: cannot unmarshal array into Go struct field ObjectReference.target.name of type string",
        ),
    ],
)
def test_a_binding_or_eviction_of_the_wrong_shape_is_a_bad_request(
    server: InProcessServer, sub: str, body: Obj, message: str
) -> None:
    """An Eviction whose metadata was a list answered 500; a Binding whose target name was a list
    would have become the pod's nodeName."""
    pod = {"metadata": {"name": "bound"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert server.exchange("POST", "/api/v1/namespaces/default/pods", pod)[0] in (201, 409)
    code, _, status = server.exchange("POST", f"/api/v1/namespaces/default/pods/bound/{sub}", body)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", message)
    assert "nodeName" not in server.exchange("GET", "/api/v1/namespaces/default/pods/bound")[2]["spec"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"gracePeriodSeconds": [0]},
            "json: cannot unmarshal array into Go struct field DeleteOptions.gracePeriodSeconds of type int64",
        ),
        (
            {"preconditions": ["uid"]},
            "json: cannot unmarshal array into Go struct field DeleteOptions.preconditions of type object",
        ),
        (
            {"preconditions": {"uid": 1}},
            "json: cannot unmarshal number into Go struct field Preconditions.preconditions.uid of type string",
        ),
    ],
)
def test_delete_options_of_the_wrong_shape_are_a_bad_request(
    server: InProcessServer, options: Any, message: str
) -> None:
    """They answered 500 (int() of a list, dict() of a list), and the object stays."""
    assert server.exchange("POST", CONFIGMAPS, {"metadata": {"name": "kept"}})[0] in (201, 409)
    req = urllib.request.Request(
        f"{server.url}{CONFIGMAPS}/kept",
        data=json.dumps(options).encode(),
        method="DELETE",
        headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, context=server.ssl_context(), timeout=30)
    status = json.loads(caught.value.read())
    assert (caught.value.code, status["reason"], status["message"]) == (400, "BadRequest", message)
    assert server.exchange("GET", f"{CONFIGMAPS}/kept")[0] == 200


def test_an_object_owned_by_a_long_absent_name_is_collected_and_long_paths_get_a_status(
    server: InProcessServer,
) -> None:
    """An ownerReference may name any string, and the garbage collector GETs the owner by it: with
    aiohttp's 8 KiB request line a 70,000-character name answered a 400 that is no Status (a logged
    traceback), the collector retried it for ever and the orphan was never collected. kube-apiserver
    reads 1 MiB of request line."""
    code, _, status = server.exchange("GET", f"{CONFIGMAPS}/{'x' * 70_000}")
    assert (code, status["kind"], status["reason"]) == (404, "Status", "NotFound")
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "x" * 70_000,
        "uid": "00000000-0000-0000-0000-00000000dead",
    }
    orphan = {"metadata": {"name": "orphan", "ownerReferences": [owner]}}
    assert server.exchange("POST", CONFIGMAPS, orphan)[0] == 201
    eventually(lambda: server.exchange("GET", f"{CONFIGMAPS}/orphan")[0] == 404 or None, "the orphan to be collected")
    assert "Traceback" not in server.log_path.read_text()


def test_an_object_whose_name_holds_a_newline_is_reached_by_its_path(server: InProcessServer) -> None:
    """An RBAC object's name is any path segment, a newline included: it was stored, and then its own
    path (``...%0A...``) answered 404, the routes' patterns stopping at the newline."""
    path = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    binding = {
        "metadata": {"name": "fuzz\nline"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "fuzz", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    assert server.exchange("POST", path, binding)[0] == 201
    status, _, got = server.exchange("GET", path + "/fuzz%0Aline")
    assert status == 200 and got["metadata"]["name"] == "fuzz\nline"
    assert server.exchange("DELETE", path + "/fuzz%0Aline")[0] == 200


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/api/v1/namespaces/default/resourcequotas",
            {"metadata": {"name": "q"}, "spec": {"hard": 1}},
            "json: cannot unmarshal number into Go struct field ResourceQuotaSpec.spec.hard of type object",
        ),
        (
            "/api/v1/namespaces/default/limitranges",
            {"metadata": {"name": "l"}, "spec": {"limits": [{"type": "Container", "max": "1"}]}},
            "json: cannot unmarshal string into Go struct field LimitRangeItem.spec.limits.max of type object",
        ),
    ],
)
def test_a_quota_or_limit_range_whose_resource_list_is_no_map_is_a_bad_request(
    server: InProcessServer, path: str, body: Obj, message: str
) -> None:
    """A strategic merge patch replacing a quota's ``spec.hard`` with a number was stored, and every
    later quota event failed in the quota controller (seed 48 of bench/fuzz.py)."""
    code, _, status = server.exchange("POST", path, body)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", message)
