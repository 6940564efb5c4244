"""Audit policies as Kubernetes reads them, and the log backend's batching, rotation and failures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from minikube_py.api.audit import AuditLog
from minikube_py.metrics import AUDIT_ERRORS
from minikube_py.model.audit import DEFAULT_POLICY, PolicyError, parse_policy
from minikube_py.model.requestinfo import request_info

POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:kube-proxy"]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["secrets", "pods/log"]}]},
        {"level": "Request", "userGroups": ["team"], "namespaces": ["prod"], "omitStages": ["ResponseStarted"]},
        {"level": "Request", "resources": [{"group": "apps", "resources": ["deployments/*"]}]},
        {
            "level": "RequestResponse",
            "resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["settings"]}],
        },
        {"level": "Metadata", "verbs": ["get", "list", "watch"]},
    ],
}


def decide(user: str, method: str, path: str, groups: tuple[str, ...] = ()) -> tuple[str, frozenset[str]]:
    return parse_policy(POLICY).decide(user, groups, request_info(method, path))


def test_the_first_matching_rule_gives_the_level() -> None:
    assert decide("system:kube-proxy", "GET", "/api/v1/pods")[0] == "None"
    assert decide("alice", "GET", "/healthz/ping")[0] == "None"
    assert decide("alice", "GET", "/version")[0] == "None"
    assert decide("alice", "GET", "/api/v1/namespaces/prod/pods/p/log")[0] == "RequestResponse"
    level, omitted = decide("alice", "POST", "/api/v1/namespaces/prod/configmaps", ("team",))
    assert level == "Request" and omitted == {"RequestReceived", "ResponseStarted"}
    assert decide("alice", "POST", "/api/v1/namespaces/dev/configmaps", ("team",))[0] == "None"
    assert decide("alice", "PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale")[0] == "Request"
    assert decide("alice", "PUT", "/apis/apps/v1/namespaces/a/deployments/d")[0] == "None"
    assert decide("alice", "PUT", "/api/v1/namespaces/a/configmaps/settings")[0] == "RequestResponse"
    assert decide("alice", "PUT", "/api/v1/namespaces/a/configmaps/other")[0] == "None"
    assert decide("alice", "GET", "/api/v1/namespaces/a/configmaps/other")[0] == "Metadata"
    assert decide("alice", "GET", "/apis")[0] == "Metadata"  # a non-resource request matches verb-only rules


def test_credentials_are_never_logged_beyond_metadata() -> None:
    assert decide("alice", "POST", "/api/v1/namespaces/a/secrets")[0] == "Metadata"
    policy = parse_policy({**POLICY, "rules": [{"level": "RequestResponse"}]})
    for method, path in (
        ("POST", "/api/v1/namespaces/a/serviceaccounts/default/token"),
        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews"),
        ("POST", "/pykube/v1/node-credentials"),
        ("POST", "/dashboard/api/login-codes"),
    ):
        assert policy.decide("alice", (), request_info(method, path))[0] == "Metadata", path
    assert policy.decide("alice", (), request_info("POST", "/api/v1/namespaces/a/configmaps"))[0] == "RequestResponse"


def test_the_default_policy_records_everything_at_metadata() -> None:
    assert DEFAULT_POLICY.decide("x", (), request_info("GET", "/healthz")) == ("Metadata", {"RequestReceived"})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "Policy", "apiVersion": "v1", "rules": [{"level": "None"}]}, "apiVersion audit.k8s.io/v1"),
        ({**POLICY, "rules": []}, "at least one rule"),
        ({**POLICY, "rules": [{"level": "Verbose"}]}, r"rules\[0\].level: must be one of"),
        ({**POLICY, "rules": [{"level": "None", "verbs": "get"}]}, r"rules\[0\].verbs: must be a list"),
        ({**POLICY, "omitStages": ["Later"]}, "omitStages: unknown stage 'Later'"),
        (
            {**POLICY, "rules": [{"level": "None", "nonResourceURLs": ["/x"], "namespaces": ["a"]}]},
            "cannot be combined",
        ),
    ],
)
def test_invalid_policies_say_what_is_wrong(doc: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(doc)


def test_events_are_written_as_json_lines_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"

    async def write() -> None:
        sink = AuditLog(str(path), max_size=1, max_backups=2)
        for batch, events in enumerate((1100, 1100, 1100, 10)):  # three of just over 1 MiB: three rotations
            await sink.start()
            for i in range(events):
                sink.emit({"kind": "Event", "batch": batch, "i": i, "pad": "x" * 1000})
            await sink.stop()  # writes what is buffered

    asyncio.run(write())
    backups = sorted(tmp_path.glob("audit-*.log"))
    assert [json.loads(b.read_text().splitlines()[0])["batch"] for b in backups] == [1, 2]  # the oldest went
    current = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["i"] for e in current] == list(range(10)) and {e["batch"] for e in current} == {3}


async def test_a_log_that_cannot_be_written_is_counted_not_raised(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()  # a directory where the file should be
    sink = AuditLog(str(tmp_path / "taken"))
    before = AUDIT_ERRORS.labels("log")._value.get()
    await sink.start()
    sink.emit({"kind": "Event"})
    sink.emit({"kind": "Event"})
    await sink.stop()
    assert AUDIT_ERRORS.labels("log")._value.get() == before + 2
