"""The audit log with the real kubectl: a server started with ``--audit-log-path`` and an
``audit.k8s.io/v1`` policy records each request as Kubernetes' audit Event, at the level the policy
gives it, and never a Secret's value.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from minikube_py.testing import RunningServer, eventually, start_server

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*"]
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: [leases]
  - level: RequestResponse
    resources:
      - group: ""
        resources: [secrets, configmaps]
  - level: Request
    verbs: [create, update, patch, delete]
  - level: Metadata
"""
SECRET_VALUE = "audit-secret-value-6f2c"


def events(log: Path) -> list[dict[str, Any]]:
    """The events written so far (none before the first batch creates the file)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def find(log: Path, **wanted: Any) -> list[dict[str, Any]]:
    """Events whose fields (``objectRef`` compared as a subset) are ``wanted``."""

    def matches(event: dict[str, Any]) -> bool:
        for key, value in wanted.items():
            found = event.get(key)
            if isinstance(value, dict):
                if not isinstance(found, dict) or any(found.get(k) != v for k, v in value.items()):
                    return False
            elif found != value:
                return False
        return True

    return [e for e in events(log) if matches(e)]


def logged(log: Path, **wanted: Any) -> list[dict[str, Any]]:
    """Wait for the events (the log is written in batches, a moment after the answers)."""
    return eventually(lambda: find(log, **wanted), f"audit events {wanted}", timeout=10)


def user_kubeconfig(server: RunningServer, user: str, out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "kubeconfig",
            "--user",
            user,
            "--data-dir",
            str(server.data_dir),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def test_kubectl_requests_are_audited_by_policy_without_secret_values(tmp_path: Path) -> None:
    policy = tmp_path / "audit-policy.yaml"
    policy.write_text(POLICY)
    log = tmp_path / "audit" / "atrest-audit.log"
    server = start_server(tmp_path / "atrest-audit", "--audit-log-path", str(log), "--audit-policy-file", str(policy))
    try:
        server.kubectl("create", "secret", "generic", "db", f"--from-literal=password={SECRET_VALUE}")
        server.kubectl("get", "secret", "db", "-o", "yaml")
        server.kubectl("create", "configmap", "settings", "--from-literal=mode=audited-config-value")
        server.kubectl("get", "configmaps", "--watch", "--request-timeout=2s", check=False)
        denied = server.kubectl("get", "pods", "--as", "bob", "--as-group", "team", check=False)
        assert denied.returncode != 0 and "Forbidden" in denied.stderr
        carol = user_kubeconfig(server, "carol", tmp_path / "carol.kubeconfig")
        assert server.kubectl("get", "secrets", env={"KUBECONFIG": str(carol)}, check=False).returncode != 0
        code, _ = server.request("GET", "/api/v1/namespaces", token="not-a-token")
        assert code == 401
        server.kubectl("delete", "secret", "db")

        [created] = logged(log, verb="create", objectRef={"resource": "secrets", "name": "db"})
        assert created["kind"] == "Event" and created["apiVersion"] == "audit.k8s.io/v1"
        assert created["stage"] == "ResponseComplete" and created["responseStatus"]["code"] == 201
        assert created["level"] == "Metadata"  # the policy says RequestResponse; a Secret's body never is
        assert "requestObject" not in created and "responseObject" not in created
        assert created["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
        assert created["objectRef"] == {"resource": "secrets", "namespace": "default", "name": "db", "apiVersion": "v1"}
        assert created["sourceIPs"] == ["127.0.0.1"] and created["userAgent"].startswith("kubectl/")
        assert created["annotations"]["authorization.k8s.io/decision"] == "allow"
        assert created["requestReceivedTimestamp"] <= created["stageTimestamp"]
        assert created["requestURI"].startswith("/api/v1/namespaces/default/secrets?")
        logged(log, verb="get", objectRef={"resource": "secrets", "name": "db"}, level="Metadata")
        [deleted] = logged(log, verb="delete", objectRef={"resource": "secrets", "name": "db"})
        assert deleted["responseStatus"]["code"] == 200 and deleted["level"] == "Metadata"

        [config] = logged(log, verb="create", objectRef={"resource": "configmaps", "name": "settings"})
        assert config["level"] == "RequestResponse"
        assert config["requestObject"]["data"] == {"mode": "audited-config-value"}
        assert config["responseObject"]["metadata"]["uid"]

        started = logged(
            log, verb="watch", stage="ResponseStarted", objectRef={"resource": "configmaps", "namespace": "default"}
        )
        [audit_id] = [e["auditID"] for e in started if e["userAgent"].startswith("kubectl/")]
        logged(log, verb="watch", stage="ResponseComplete", auditID=audit_id)

        [impersonated] = logged(log, verb="list", objectRef={"resource": "pods"}, responseStatus={"code": 403})
        assert impersonated["user"]["username"] == "admin"
        assert impersonated["impersonatedUser"] == {"username": "bob", "groups": ["team", "system:authenticated"]}
        assert impersonated["annotations"]["authorization.k8s.io/decision"] == "forbid"
        assert impersonated["responseStatus"]["reason"] == "Forbidden"
        [refused] = logged(log, verb="list", user={"username": "carol"}, objectRef={"resource": "secrets"})
        assert refused["responseStatus"]["code"] == 403 and "impersonatedUser" not in refused
        [anonymous] = logged(log, requestURI="/api/v1/namespaces", responseStatus={"code": 401})
        assert anonymous["user"]["username"] == "system:anonymous" and "annotations" not in anonymous

        assert not find(log, stage="RequestReceived")  # omitted by the policy
        assert not find(log, objectRef={"resource": "leases"})  # level None
        assert not [e for e in events(log) if e["requestURI"].startswith("/readyz")]
        text = log.read_bytes()
        assert SECRET_VALUE.encode() not in text and base64.b64encode(SECRET_VALUE.encode()) not in text
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    finally:
        server.stop()


def test_answers_carry_the_audit_id_and_a_broken_policy_stops_the_start(tmp_path: Path) -> None:
    log = tmp_path / "atrest-audit-default.log"
    server = start_server(tmp_path / "atrest-audit-default", "--audit-log-path", str(log))
    try:
        done = subprocess.run(
            [
                "curl",
                "-sk",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-H",
                f"Authorization: Bearer {server.admin_token}",
                server.url + "/api/v1/namespaces",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        audit_id = next(
            line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.lower().startswith("audit-id:")
        )
        [event] = logged(log, auditID=audit_id)
        assert event["level"] == "Metadata" and event["verb"] == "list"  # the default policy
    finally:
        server.stop()
    broken = tmp_path / "broken-policy.yaml"
    broken.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Everything\n")
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "minikube_py.cli.main",
            "server",
            "--data-dir",
            str(tmp_path / "atrest-audit-broken"),
            "--no-agent",
            "--audit-log-path",
            str(log),
            "--audit-policy-file",
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "rules[0].level: must be one of None, Metadata, Request, RequestResponse" in refused.stderr
