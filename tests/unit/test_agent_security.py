"""securityContext → the engine's container settings, and the kubelet's checks (runAsNonRoot, sysctls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.containers import app_spec, sandbox_spec
from minikube_py.agent.context import NodeContext
from minikube_py.agent.env import ConfigError
from minikube_py.agent.runtime.base import SECCOMP_RUNTIME_DEFAULT, SECCOMP_UNCONFINED
from minikube_py.agent.security import container_security, forbidden_sysctl, normalize_sysctl, pod_sysctls

Obj = dict[str, Any]
NODE = NodeContext("n1", "192.0.2.10", Path("/var/lib/pykube"), "pykube-n1", "pause:1")
PRIVILEGED_NODE = NodeContext(
    "n1", "192.0.2.10", Path("/var/lib/pykube"), "pykube-n1", "pause:1", allow_privileged=True
)


def pod(pod_ctx: Obj | None = None, ctx: Obj | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "c", "image": "img:1"}
    if ctx is not None:
        container["securityContext"] = ctx
    spec = {"containers": [container], **spec}
    if pod_ctx is not None:
        spec["securityContext"] = pod_ctx
    return {"metadata": {"name": "web", "namespace": "shop", "uid": "u-1"}, "spec": spec}


def security(p: Obj, image_user: str = "", node: NodeContext = NODE) -> Any:
    return container_security(p, p["spec"]["containers"][0], node, image_user)


def test_nothing_set_keeps_the_images_user_and_the_runtimes_default_seccomp_profile() -> None:
    sec = security(pod())
    assert sec.user is None and sec.group_add == [] and sec.cap_add == [] and sec.cap_drop == []
    assert not sec.no_new_privileges and not sec.privileged and not sec.read_only_rootfs
    assert sec.seccomp == SECCOMP_RUNTIME_DEFAULT


def test_the_containers_user_and_group_override_the_pods() -> None:
    assert security(pod({"runAsUser": 1000, "runAsGroup": 3000})).user == "1000:3000"
    assert security(pod({"runAsUser": 1000, "runAsGroup": 3000}, {"runAsUser": 2000})).user == "2000:3000"
    assert security(pod({"runAsUser": 1000}, {"runAsGroup": 5})).user == "1000:5"
    assert security(pod(ctx={"runAsUser": 7})).user == "7"


def test_a_group_without_a_user_applies_to_the_images_user() -> None:
    assert security(pod({"runAsGroup": 3000}), image_user="").user == "0:3000"
    assert security(pod({"runAsGroup": 3000}), image_user="nobody:nogroup").user == "nobody:3000"
    assert security(pod({"runAsGroup": 3000}), image_user="65534").user == "65534:3000"


def test_supplemental_groups_and_fs_group_are_supplementary_groups() -> None:
    sec = security(pod({"supplementalGroups": [4000, 5000], "fsGroup": 2000}))
    assert sec.group_add == ["4000", "5000", "2000"]
    assert security(pod({"supplementalGroups": [2000], "fsGroup": 2000})).group_add == ["2000"]


def test_capabilities_in_the_engines_spelling() -> None:
    sec = security(pod(ctx={"capabilities": {"add": ["NET_ADMIN", "cap_sys_ptrace"], "drop": ["all"]}}))
    assert sec.cap_add == ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"] and sec.cap_drop == ["ALL"]


def test_allow_privilege_escalation_false_sets_no_new_privileges() -> None:
    assert security(pod(ctx={"allowPrivilegeEscalation": False})).no_new_privileges
    assert not security(pod(ctx={"allowPrivilegeEscalation": True})).no_new_privileges


@pytest.mark.parametrize(
    ("pod_profile", "profile", "expected"),
    [
        ({"type": "RuntimeDefault"}, None, SECCOMP_RUNTIME_DEFAULT),
        ({"type": "RuntimeDefault"}, {"type": "Unconfined"}, SECCOMP_UNCONFINED),
        (
            None,
            {"type": "Localhost", "localhostProfile": "prof/audit.json"},
            "localhost//var/lib/pykube/seccomp/prof/audit.json",
        ),
    ],
)
def test_seccomp_profiles(pod_profile: Obj | None, profile: Obj | None, expected: str) -> None:
    p = pod({"seccompProfile": pod_profile} if pod_profile else None, {"seccompProfile": profile} if profile else None)
    assert security(p).seccomp == expected


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.json", ""])
def test_a_localhost_profile_stays_in_the_nodes_seccomp_directory(path: str) -> None:
    with pytest.raises(ConfigError, match="localhostProfile"):
        security(pod(ctx={"seccompProfile": {"type": "Localhost", "localhostProfile": path}}))


def test_a_privileged_container_is_unconfined_and_needs_the_node_to_allow_it() -> None:
    p = pod(ctx={"privileged": True, "seccompProfile": {"type": "RuntimeDefault"}})
    with pytest.raises(ConfigError, match="--allow-privileged"):
        security(p)
    sec = security(p, node=PRIVILEGED_NODE)
    assert sec.privileged and sec.seccomp == SECCOMP_UNCONFINED


@pytest.mark.parametrize(
    ("pod_ctx", "ctx", "image_user", "message"),
    [
        (
            {"runAsNonRoot": True},
            {"runAsUser": 0},
            "1000",
            'container\'s runAsUser breaks non-root policy (pod: "web_shop(u-1)", container: c)',
        ),
        (
            {"runAsNonRoot": True},
            None,
            "",
            'container has runAsNonRoot and image will run as root (pod: "web_shop(u-1)", container: c)',
        ),
        (
            None,
            {"runAsNonRoot": True},
            "0:0",
            'container has runAsNonRoot and image will run as root (pod: "web_shop(u-1)", container: c)',
        ),
        (
            {"runAsNonRoot": True},
            None,
            "nobody",
            "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is "
            'non-root (pod: "web_shop(u-1)", container: c)',
        ),
    ],
)
def test_run_as_non_root_refuses_root_with_the_kubelets_words(
    pod_ctx: Obj | None, ctx: Obj | None, image_user: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        security(pod(pod_ctx, ctx), image_user=image_user)
    assert refused.value.message == message


def test_run_as_non_root_admits_a_non_root_user() -> None:
    assert security(pod({"runAsNonRoot": True, "runAsUser": 1000}), image_user="").user == "1000"
    assert security(pod({"runAsNonRoot": True}), image_user="1000:1000").user is None
    # the container's runAsNonRoot: false overrides the pod's true
    assert security(pod({"runAsNonRoot": True}, {"runAsNonRoot": False}), image_user="").user is None


def test_sysctl_names_may_use_slashes() -> None:
    assert normalize_sysctl("net/ipv4/tcp_syncookies") == "net.ipv4.tcp_syncookies"
    assert normalize_sysctl("net/ipv4/conf/eno2.100/rp_filter") == "net.ipv4.conf.eno2/100.rp_filter"
    assert normalize_sysctl("net.ipv4.conf.eno2/100.rp_filter") == "net.ipv4.conf.eno2/100.rp_filter"


def test_safe_sysctls_go_to_the_sandbox_which_owns_their_namespaces() -> None:
    p = pod({"sysctls": [{"name": "net/ipv4/ip_local_port_range", "value": "1024 65000"}]})
    assert forbidden_sysctl(p) is None
    assert pod_sysctls(p) == {"net.ipv4.ip_local_port_range": "1024 65000"}
    assert sandbox_spec(p, NODE).sysctls == {"net.ipv4.ip_local_port_range": "1024 65000"}
    assert sandbox_spec(pod(), NODE).sysctls == {}


def test_unsafe_sysctls_and_those_of_a_shared_host_namespace_are_forbidden() -> None:
    unsafe = pod({"sysctls": [{"name": "kernel.msgmax", "value": "65536"}]})
    assert forbidden_sysctl(unsafe) == 'forbidden sysctl: "kernel.msgmax" not allowlisted'
    net = pod({"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}, hostNetwork=True)
    assert forbidden_sysctl(net) == 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled'
    ipc = pod({"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]}, hostIPC=True)
    assert forbidden_sysctl(ipc) == 'forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled'


def test_app_spec_carries_the_decisions_out() -> None:
    p = pod(
        {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000]},
        {"capabilities": {"add": ["NET_ADMIN"]}, "allowPrivilegeEscalation": False},
    )
    common: Any = {"attempt": 0, "env": [], "mounts": [], "node": NODE, "command": None, "args": None}
    spec = app_spec(p, p["spec"]["containers"][0], kind="app", sandbox_id="sb", **common)
    assert (spec.user, spec.group_add, spec.cap_add) == ("1000:3000", ["4000"], ["CAP_NET_ADMIN"])
    assert spec.no_new_privileges and spec.seccomp == SECCOMP_RUNTIME_DEFAULT and spec.sysctls == {}
