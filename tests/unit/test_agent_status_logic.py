"""Pure kubelet logic: pod phase and conditions, image policies and credentials, SPDY frames, probe
thresholds, node status."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime

import pytest

from minikube_py.agent.images import credentials_for, default_pull_policy, registry_of
from minikube_py.agent.node import node_status, status_changed
from minikube_py.agent.probes import ProbeCounter
from minikube_py.agent.runtime.base import LABEL_ATTEMPT, ContainerState, MachineInfo, RegistryAuth
from minikube_py.agent.spdy import DICTIONARY, FLAG_FIN, PING, SYN_REPLY, SYN_STREAM, SpdySession
from minikube_py.agent.status import ContainerView, Ending, Observed, phase, pod_status, should_restart

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def state(status: str, exit_code: int | None = None, attempt: int = 0) -> ContainerState:
    return ContainerState(
        id=f"id{attempt}",
        name="c",
        labels={LABEL_ATTEMPT: str(attempt)},
        image="i",
        image_id="sha256:x",
        status=status,
        exit_code=exit_code,  # type: ignore[arg-type]
        started_at=T0,
        finished_at=T0 if status == "exited" else None,
    )


def view(current: ContainerState | None, ready: bool = True) -> ContainerView:
    return ContainerView("c", "i", current, ready=ready, started=True)


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [("Always", 0, True), ("OnFailure", 0, False), ("OnFailure", 1, True), ("Never", 1, False)],
)
def test_restart_policy(policy: str, code: int, expected: bool) -> None:
    assert should_restart(policy, code) is expected


def test_phase_follows_kubelet_rules() -> None:
    assert phase(Observed("Always", [], [view(None)])) == "Pending"
    assert phase(Observed("Always", [], [view(state("running"))])) == "Running"
    assert phase(Observed("Never", [], [view(state("exited", 0))])) == "Succeeded"
    assert phase(Observed("Never", [], [view(state("exited", 1))])) == "Failed"
    assert phase(Observed("Always", [], [view(state("exited", 1))])) == "Running"  # about to restart
    assert phase(Observed("Always", [view(state("running"))], [view(None)])) == "Pending"  # init still running


def sidecar_view(current: ContainerState | None, *, ready: bool = True, started: bool = True) -> ContainerView:
    return ContainerView("proxy", "i", current, ready=ready, started=started, sidecar=True)


def test_sidecars_count_for_the_phase_while_they_run_and_not_once_they_ended() -> None:
    # initializing until the sidecar has started (its startup probe passed)
    assert phase(Observed("Always", [sidecar_view(state("running"), started=False)], [view(None)])) == "Pending"
    assert phase(Observed("Always", [sidecar_view(state("running"))], [view(None)])) == "Running"
    # a Job's pod whose work is done stays Running while its sidecar runs, then succeeds whatever the sidecar's end
    done = view(state("exited", 0))
    assert phase(Observed("Never", [sidecar_view(state("running"))], [done])) == "Running"
    assert phase(Observed("Never", [sidecar_view(state("exited", 137))], [done])) == "Succeeded"
    # a sidecar restarting after initialization does not take the pod back to Pending
    assert phase(Observed("Always", [sidecar_view(state("exited", 1))], [view(state("running"))])) == "Running"


def test_a_sidecar_is_initialized_once_started_and_ready_only_when_its_probe_says() -> None:
    observed = Observed("Always", [sidecar_view(state("running"), ready=False)], [view(state("running"))])
    status = pod_status(observed, "2026-01-01T00:00:00Z")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Initialized"]["status"] == "True"
    assert conditions["Ready"]["message"] == "containers with unready status: [proxy]"
    (init_status,) = status["initContainerStatuses"]
    assert (init_status["started"], init_status["ready"], "running" in init_status["state"]) == (True, False, True)


def test_status_reports_unready_containers_and_keeps_transition_times() -> None:
    observed = Observed("Always", [], [view(state("running"), ready=False)], pod_ip="10.244.0.5", host_ip="192.0.2.1")
    first = pod_status(observed, "2026-01-01T00:00:00Z")
    ready = {c["type"]: c for c in first["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["message"] == "containers with unready status: [c]"
    assert first["podIP"] == "10.244.0.5" and first["podIPs"] == [{"ip": "10.244.0.5"}]
    second = pod_status(observed, "2026-01-01T00:05:00Z")
    assert second == first  # nothing changed: the same status, so no write


def test_terminated_container_status_has_reason_and_container_id() -> None:
    status = pod_status(Observed("Never", [], [view(state("exited", 2, attempt=1))]), "t")
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 2 and terminated["reason"] == "Error"
    assert terminated["containerID"] == "docker://id1"
    assert status["containerStatuses"][0]["restartCount"] == 1


def test_waiting_reason_shows_with_the_last_termination() -> None:
    v = ContainerView("c", "i", state("exited", 1, attempt=3), waiting=("CrashLoopBackOff", "back-off 40s"))
    status = pod_status(Observed("Always", [], [v]), "t")["containerStatuses"][0]
    assert status["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}
    assert status["lastState"]["terminated"]["exitCode"] == 1 and status["restartCount"] == 3


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.35", "IfNotPresent"),
        ("127.0.0.1:5000/a/b", "Always"),
        ("127.0.0.1:5000/a/b:1", "IfNotPresent"),
        ("a@sha256:00", "IfNotPresent"),
    ],
)
def test_default_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def dockerconfig(server: str, user: str, password: str) -> dict[str, object]:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    blob = json.dumps({"auths": {server: {"auth": auth}}}).encode()
    return {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": base64.b64encode(blob).decode()}}


def test_pull_credentials_match_the_image_registry() -> None:
    secrets = [dockerconfig("127.0.0.1:5000", "u", "p"), dockerconfig("https://index.docker.io/v1/", "hub", "x")]
    assert credentials_for("127.0.0.1:5000/private/busybox:1", secrets) == [RegistryAuth("u", "p", "127.0.0.1:5000")]
    assert [a.username for a in credentials_for("library/busybox", secrets)] == ["hub"]
    assert credentials_for("quay.io/x/y:1", secrets) == []
    assert registry_of("busybox") == "docker.io" and registry_of("localhost/x") == "localhost"


def test_spdy_header_blocks_round_trip_through_separate_sessions() -> None:
    assert len(DICTIONARY) == 1423
    client, server = SpdySession(), SpdySession()
    frames = b"".join(
        [
            client.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"}),
            client.data(1, b"", fin=True),
            client.syn_stream(3, {"streamtype": "data", "port": "80", "requestid": "0"}),
        ]
    )
    parsed = []
    for i in range(0, len(frames), 3):  # arbitrary message boundaries, as kubectl's WebSocket tunnel
        parsed += server.feed(frames[i : i + 3])
    assert [(f.kind, f.stream_id) for f in parsed] == [(SYN_STREAM, 1), (0, 1), (SYN_STREAM, 3)]
    assert parsed[2].headers == {"streamtype": "data", "port": "80", "requestid": "0"}
    assert parsed[1].flags & FLAG_FIN
    reply = client.feed(server.syn_reply(3))
    assert reply[0].kind == SYN_REPLY and reply[0].stream_id == 3
    assert client.feed(server.ping(b"\x00\x00\x00\x07"))[0].kind == PING


def test_spdy_dictionary_primes_zlib() -> None:
    packed = zlib.compressobj(zdict=DICTIONARY)
    data = packed.compress(b"content-type") + packed.flush(zlib.Z_SYNC_FLUSH)
    assert zlib.decompressobj(zdict=DICTIONARY).decompress(data) == b"content-type"


def test_probe_counter_crosses_thresholds_only() -> None:
    counter = ProbeCounter({"failureThreshold": 2, "successThreshold": 2})
    assert counter.result is None
    assert not counter.record(False) and counter.result is None
    assert counter.record(False) and counter.result is False
    assert not counter.record(True)
    assert counter.record(True) and counter.result is True


def test_node_status_changes_only_with_news() -> None:
    machine = MachineInfo(2, 4 << 30, "6.1", "Debian", runtime_version="docker://20.10")
    transitions: dict[str, str] = {}
    first = node_status(
        machine, ip="192.0.2.1", hostname="h", max_pods=110, kubelet_port=10250, transitions=transitions
    )
    again = node_status(
        machine, ip="192.0.2.1", hostname="h", max_pods=110, kubelet_port=10250, transitions=transitions
    )
    assert first["capacity"] == {"cpu": "2", "memory": f"{4 << 20}Ki", "pods": "110"}
    assert first["nodeInfo"]["containerRuntimeVersion"] == "docker://20.10"
    assert not status_changed(first, again)
    moved = node_status(
        machine, ip="192.0.2.2", hostname="h", max_pods=110, kubelet_port=10250, transitions=transitions
    )
    assert status_changed(first, moved)


def test_node_resources_carry_advertised_extended_resources_and_keep_a_share_of_the_disk_free() -> None:
    machine = MachineInfo(2, 4 << 30, "6.1", "Debian")
    reported = {
        "capacity": {"cpu": "8", "example.com/dongle": "4", "ephemeral-storage": "1Ki"},
        "allocatable": {"example.com/dongle": "4", "example.com/gone": "1", "cpu": "8"},
    }
    status = node_status(
        machine,
        ip="192.0.2.1",
        hostname="h",
        max_pods=110,
        kubelet_port=1,
        storage=100 << 30,
        storage_reserve=10 << 30,
        reported=reported,
    )
    assert status["capacity"] == {
        "example.com/dongle": "4",
        "cpu": "2",
        "memory": f"{4 << 20}Ki",
        "pods": "110",
        "ephemeral-storage": "100Gi",
    }
    # what the nodefs threshold keeps free is not allocatable; a resource gone from the capacity is removed
    assert status["allocatable"] == {
        "example.com/gone": None,
        "example.com/dongle": "4",
        "cpu": "2",
        "memory": f"{4 << 20}Ki",
        "pods": "110",
        "ephemeral-storage": "90Gi",
    }


def test_a_pod_the_kubelet_ends_fails_with_its_reason_and_an_eviction_is_a_disruption() -> None:
    deadline = Ending("DeadlineExceeded", "Pod was active on the node longer than the specified deadline", 30.0)
    observed = Observed("Always", [], [view(state("running"))], ending=deadline)
    status = pod_status(observed, "2026-01-01T00:00:00Z")
    assert (status["phase"], status["reason"], status["message"]) == ("Failed", deadline.reason, deadline.message)
    assert "DisruptionTarget" not in [c["type"] for c in status["conditions"]]
    evicted = Ending("Evicted", "The node was low on resource: memory. ", 0.0, disruption=True)
    status = pod_status(Observed("Always", [], [view(state("exited", 137))], ending=evicted), "2026-01-01T00:00:01Z")
    assert status["phase"] == "Failed"
    assert status["conditions"][-1] == {
        "type": "DisruptionTarget",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": "2026-01-01T00:00:01Z",
        "reason": "TerminationByKubelet",
        "message": "The node was low on resource: memory. ",
    }
