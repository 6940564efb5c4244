"""PodSecurity admission against a real server, through its HTTP API and the real kubectl: namespaces
labelled ``pod-security.kubernetes.io/enforce`` refuse the pods that break their level with
Kubernetes' Status, ``warn`` answers with ``Warning`` headers (which kubectl prints), and workloads
are warned about, never refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.testing import RunningServer, eventually, start_server

Obj = dict[str, Any]

ROOT_DETAIL = (
    'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
    '"Localhost")'
)
PRIVILEGED_DETAIL = 'privileged (container "c" must not set securityContext.privileged=true)'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(Path(tmp_path_factory.mktemp("podsecurity")) / "data")
    try:
        yield running
    finally:
        running.stop()


def _namespace(server: RunningServer, name: str, **modes: str) -> str:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode, level in modes.items()}
    code, body = server.request("POST", "/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
    assert code == 201, body
    return name


def _pod(name: str, security: Obj | None = None, pod_security: Obj | None = None) -> Obj:
    container: Obj = {"name": "c", "image": "registry.example/app:1"}
    if security is not None:
        container["securityContext"] = security
    spec: Obj = {"containers": [container]}
    if pod_security is not None:
        spec["securityContext"] = pod_security
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _warnings(headers: Any) -> list[str]:
    """The answer's warnings, unquoted from their ``299 - "..."`` headers."""
    return [h.removeprefix('299 - "').removesuffix('"').replace('\\"', '"') for h in headers.get_all("Warning") or []]


COMPLIANT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
COMPLIANT_POD = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}


def test_enforce_restricted_refuses_a_root_pod_with_kubernetes_status(server: RunningServer) -> None:
    ns = _namespace(server, "psa-enforce", enforce="restricted")
    code, headers, status = server.exchange("POST", f"/api/v1/namespaces/{ns}/pods", _pod("root"))
    assert code == 403, status
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods "root" is forbidden: violates PodSecurity "restricted:latest": {ROOT_DETAIL}',
        "reason": "Forbidden",
        "details": {"name": "root", "kind": "pods"},
        "code": 403,
    }
    assert _warnings(headers) == []  # the enforced level is not repeated as a warning
    assert server.request("GET", f"/api/v1/namespaces/{ns}/pods/root")[0] == 404
    # a dry run is refused the same way
    code, _, status = server.exchange("POST", f"/api/v1/namespaces/{ns}/pods?dryRun=All", _pod("root"))
    assert (code, status["reason"]) == (403, "Forbidden")

    code, _, created = server.exchange(
        "POST", f"/api/v1/namespaces/{ns}/pods", _pod("compliant", COMPLIANT, COMPLIANT_POD)
    )
    assert code == 201, created
    # an ephemeral container that breaks the level is refused too; a compliant one is added
    path = f"/api/v1/namespaces/{ns}/pods/compliant/ephemeralcontainers"
    debug = {
        "spec": {"ephemeralContainers": [{"name": "d", "image": "busybox", "securityContext": {"privileged": True}}]}
    }
    code, _, status = server.exchange("PATCH", path, debug, content_type="application/strategic-merge-patch+json")
    assert code == 403, status
    assert status["message"].startswith(
        'pods "compliant" is forbidden: violates PodSecurity "restricted:latest": '
        'privileged (container "d" must not set securityContext.privileged=true), '
    )
    debug["spec"]["ephemeralContainers"][0]["securityContext"] = COMPLIANT
    code, _, patched = server.exchange("PATCH", path, debug, content_type="application/strategic-merge-patch+json")
    assert code == 200, patched
    # status writes and label changes are not looked at again
    code, _, relabelled = server.exchange(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/compliant",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/merge-patch+json",
    )
    assert code == 200, relabelled


def test_warn_baseline_admits_a_privileged_pod_with_a_warning(server: RunningServer) -> None:
    ns = _namespace(server, "psa-warn", warn="baseline")
    code, headers, created = server.exchange(
        "POST", f"/api/v1/namespaces/{ns}/pods", _pod("priv", {"privileged": True})
    )
    assert code == 201, created
    assert _warnings(headers) == [f'would violate PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}']
    assert headers.get_all("Warning")[0].startswith('299 - "would violate PodSecurity \\"baseline:latest\\": ')
    code, headers, created = server.exchange("POST", f"/api/v1/namespaces/{ns}/pods", _pod("plain"))
    assert code == 201 and _warnings(headers) == []


def test_workloads_are_warned_about_not_refused(server: RunningServer) -> None:
    ns = _namespace(server, "psa-workloads", enforce="baseline")
    template = {"metadata": {"labels": {"app": "w"}}, "spec": _pod("x", {"privileged": True})["spec"]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "w"}}, "template": template},
    }
    code, headers, created = server.exchange("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
    assert code == 201, created
    assert _warnings(headers) == [f'would violate PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}']
    # a change that leaves the template alone is not warned about again
    code, headers, _ = server.exchange(
        "PATCH",
        f"/apis/apps/v1/namespaces/{ns}/deployments/w",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/merge-patch+json",
    )
    assert code == 200 and _warnings(headers) == []


def test_kubectl_prints_the_warning_and_the_refusal(server: RunningServer) -> None:
    ns = _namespace(server, "psa-kubectl", enforce="baseline", warn="restricted")
    privileged = json.dumps(_pod("priv", {"privileged": True}))
    refused = server.kubectl("create", "-n", ns, "-f", "-", input=privileged, check=False)
    assert refused.returncode != 0
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "priv" is forbidden: '
        f'violates PodSecurity "baseline:latest": {PRIVILEGED_DETAIL}'
    ) in refused.stderr
    admitted = server.kubectl("run", "-n", ns, "web", "--image=registry.example/app:1")
    assert admitted.stdout.strip() == "pod/web created"
    assert (
        'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
        '(container "web" must set securityContext.allowPrivilegeEscalation=false)'
    ) in admitted.stderr


def test_labelling_a_namespace_checks_the_labels_and_warns_about_its_pods(server: RunningServer) -> None:
    ns = _namespace(server, "psa-label")
    for name in ("root-a", "root-b"):
        assert server.request("POST", f"/api/v1/namespaces/{ns}/pods", _pod(name))[0] == 201
    assert server.request("POST", f"/api/v1/namespaces/{ns}/pods", _pod("priv", {"privileged": True}))[0] == 201
    labelled = server.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline")
    assert labelled.stdout.strip() == f"namespace/{ns} labeled"
    assert labelled.stderr.splitlines() == [
        f'Warning: existing pods in namespace "{ns}" violate the new PodSecurity enforce level "baseline:latest"',
        "Warning: priv: privileged",
    ]
    # stricter still: all three pods, grouped by what they fail
    stricter = server.kubectl("label", "--overwrite", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    assert stricter.stderr.splitlines()[1:] == [
        "Warning: priv: privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, "
        "seccompProfile",
        "Warning: root-a (and 1 other pod): allowPrivilegeEscalation != false, unrestricted capabilities, "
        "runAsNonRoot != true, seccompProfile",
    ]
    # a looser level says nothing; a label that names no level is invalid and changes nothing
    assert (
        server.kubectl("label", "--overwrite", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline").stderr
        == ""
    )
    code, status = server.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}",
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "strict"}}},
        content_type="application/merge-patch+json",
    )
    assert (code, status["reason"]) == (422, "Invalid"), status
    assert status["message"] == (
        f'namespaces "{ns}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: '
        '"strict": must be one of privileged, baseline, restricted'
    )
    assert status["details"]["kind"] == "namespaces"
    code, namespace = server.request("GET", f"/api/v1/namespaces/{ns}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    code, status = server.request(
        "POST",
        "/api/v1/namespaces",
        {"metadata": {"name": "psa-bad", "labels": {"pod-security.kubernetes.io/warn-version": "1.2"}}},
    )
    assert (code, status["reason"]) == (422, "Invalid"), status


def test_the_audit_level_is_recorded_in_the_audit_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    audited = start_server(tmp_path / "data", "--audit-log-path", str(log))
    try:
        ns = _namespace(audited, "psa-audit", audit="restricted", enforce="baseline")
        assert audited.request("POST", f"/api/v1/namespaces/{ns}/pods", _pod("root"))[0] == 201

        def create_event() -> Obj | None:
            lines = log.read_text().splitlines() if log.exists() else []
            found = [
                event
                for event in map(json.loads, lines)
                if event["verb"] == "create" and event.get("objectRef", {}).get("name") == "root"
            ]
            return found[0] if found else None

        event = eventually(create_event, "the pod's create in the audit log", timeout=10)
    finally:
        audited.stop()
    assert event["annotations"]["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    assert event["annotations"]["pod-security.kubernetes.io/audit-violations"] == (
        f'would violate PodSecurity "restricted:latest": {ROOT_DETAIL}'
    )
    assert event["annotations"]["authorization.k8s.io/decision"] == "allow"
