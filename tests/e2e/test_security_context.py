"""securityContext on the Docker agent, seen from inside the containers (the real kubectl and Docker).

Capabilities, no-new-privileges and seccomp are read from ``/proc/self/status`` and tried with an
operation that needs CAP_NET_ADMIN; users and groups from ``id``; sysctls from ``/proc/sys``. The
kubelet's refusals (runAsNonRoot, a forbidden sysctl) show in the pod's status as a kubelet writes them.
"""

from __future__ import annotations

import json

from agent_helpers import busybox_pod, cluster_fixtures, create, events_of, pod_obj, wait_for, waiting_reason
from kubectl_helpers import Kubectl

from minikube_py.testing import RunningServer

NODE = "pykube-e2e-secctx"

cluster, k = cluster_fixtures(NODE, "--proxy-mode", "none", cluster_cidr="10.163.0.0/16", namespace_prefix="sec")

STATUS = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ip addr add 192.0.2.1/32 dev lo && echo addr-ok || echo addr-no"
CAP_NET_ADMIN = 1 << 12
CAP_SYS_PTRACE = 1 << 19


def _finished_output(k: Kubectl, name: str) -> str:
    """The logs of a pod that ran to its end."""
    wait_for(
        lambda: pod_obj(k, name)["status"].get("phase") in ("Succeeded", "Failed"), f"pod {name} to end", timeout=60
    )
    return k.out("logs", name)


def proc_status(output: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in output.splitlines() if ":\t" in line)


def test_capabilities_no_new_privileges_and_seccomp(k: Kubectl) -> None:
    admin = {
        "capabilities": {"add": ["NET_ADMIN"]},
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    create(
        k,
        busybox_pod("admin", STATUS, restartPolicy="Never", container={"securityContext": admin}),
        busybox_pod(
            "bare", STATUS, restartPolicy="Never", container={"securityContext": {"capabilities": {"drop": ["ALL"]}}}
        ),
        busybox_pod("plain", STATUS, restartPolicy="Never"),
        busybox_pod(
            "loose",
            STATUS,
            restartPolicy="Never",
            container={"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        ),
    )
    admin_out, bare_out, plain_out, loose_out = (
        _finished_output(k, name) for name in ("admin", "bare", "plain", "loose")
    )
    admin_status, bare_status, plain_status = map(proc_status, (admin_out, bare_out, plain_out))
    assert int(admin_status["CapEff"], 16) & CAP_NET_ADMIN and "addr-ok" in admin_out, admin_out
    assert (admin_status["NoNewPrivs"], admin_status["Seccomp"]) == ("1", "2")  # 2: a filter, Docker's default
    assert int(bare_status["CapEff"], 16) == 0 and "addr-no" in bare_out, bare_out
    # without a securityContext: the engine's default capabilities (no NET_ADMIN) and seccomp profile, as a
    # kubelet with seccompDefault on runs it; Unconfined lifts the profile
    assert not int(plain_status["CapEff"], 16) & CAP_NET_ADMIN and "addr-no" in plain_out, plain_out
    assert (plain_status["NoNewPrivs"], plain_status["Seccomp"]) == ("0", "2")
    assert proc_status(loose_out)["Seccomp"] == "0"


def test_users_groups_and_the_fs_group_of_an_empty_dir(k: Kubectl) -> None:
    script = "id; stat -c 'dir %g' /data; touch /data/f && stat -c 'file %g' /data/f"
    groups = {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000}
    create(
        k,
        busybox_pod(
            "groups",
            script,
            restartPolicy="Never",
            securityContext=groups,
            volumes=[{"name": "data", "emptyDir": {}}],
            container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        ),
        # a group without a user: the image's user (root) with that group
        busybox_pod("grouponly", "id", restartPolicy="Never", container={"securityContext": {"runAsGroup": 3000}}),
    )
    out = _finished_output(k, "groups")
    ids = out.splitlines()[0]
    assert ids.startswith("uid=1000 gid=3000"), out
    supplementary = set(ids.partition("groups=")[2].split(","))
    assert {"2000", "4000"} <= {g.partition("(")[0] for g in supplementary}, out
    assert "dir 2000" in out and "file 2000" in out, out
    assert _finished_output(k, "grouponly").startswith("uid=0(root) gid=3000")


def test_run_as_non_root_refuses_root_as_the_kubelet_does(k: Kubectl) -> None:
    create(
        k,
        busybox_pod("explicit", "exec sleep 3600", securityContext={"runAsNonRoot": True, "runAsUser": 0}),
        busybox_pod("imageroot", "exec sleep 3600", container={"securityContext": {"runAsNonRoot": True}}),
        busybox_pod(
            "nonroot", "id -u", restartPolicy="Never", securityContext={"runAsNonRoot": True, "runAsUser": 1000}
        ),
    )
    for name, message in (
        ("explicit", "container's runAsUser breaks non-root policy"),
        ("imageroot", "container has runAsNonRoot and image will run as root"),
    ):
        wait_for(lambda n=name: waiting_reason(k, n) == "CreateContainerConfigError", f"{name} refused", timeout=60)
        pod = pod_obj(k, name)
        waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
        uid = pod["metadata"]["uid"]
        assert waiting["message"] == f'{message} (pod: "{name}_{k.namespace}({uid})", container: main)'
        assert f"Error: {message}" in events_of(k, name)
    assert _finished_output(k, "nonroot").strip() == "1000"


def test_safe_sysctls_are_set_and_others_make_the_kubelet_reject_the_pod(k: Kubectl) -> None:
    sysctls = [
        {"name": "net.ipv4.ip_local_port_range", "value": "20000 30000"},
        {"name": "kernel/shm_rmid_forced", "value": "1"},
    ]
    create(
        k,
        busybox_pod(
            "tuned",
            "cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/kernel/shm_rmid_forced",
            restartPolicy="Never",
            securityContext={"sysctls": sysctls},
        ),
        busybox_pod(
            "unsafe", "exec sleep 3600", securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]}
        ),
    )
    assert _finished_output(k, "tuned").split() == ["20000", "30000", "1"]
    status = wait_for(
        lambda: (s := pod_obj(k, "unsafe")["status"]).get("phase") == "Failed" and s, "unsafe rejected", timeout=60
    )
    assert status["reason"] == "SysctlForbidden"
    assert status["message"] == 'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted'
    assert "SysctlForbidden" in events_of(k, "unsafe")
    assert not status.get("containerStatuses")  # nothing of it was started


def test_a_localhost_seccomp_profile_is_a_file_of_the_node(k: Kubectl, cluster: RunningServer) -> None:
    profiles = cluster.data_dir / "agent" / "seccomp"  # the embedded agent's data dir
    profiles.mkdir(parents=True, exist_ok=True)
    deny = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    (profiles / "no-mkdir.json").write_text(json.dumps(deny))
    localhost = {"type": "Localhost", "localhostProfile": "no-mkdir.json"}
    create(
        k,
        busybox_pod(
            "confined",
            "mkdir /tmp/made && echo made || echo refused",
            restartPolicy="Never",
            securityContext={"seccompProfile": localhost},
        ),
        busybox_pod(
            "missing",
            "true",
            restartPolicy="Never",
            securityContext={"seccompProfile": {**localhost, "localhostProfile": "absent.json"}},
        ),
    )
    confined = _finished_output(k, "confined")
    lines = confined.splitlines()  # stdout and stderr, in either order
    assert "refused" in lines and "made" not in lines and "Operation not permitted" in confined, confined
    wait_for(lambda: waiting_reason(k, "missing") == "CreateContainerError", "missing profile refused", timeout=60)
    message = pod_obj(k, "missing")["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert message.startswith(f"cannot load seccomp profile '{profiles / 'absent.json'}'"), message
