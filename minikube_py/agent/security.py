"""A pod's ``securityContext`` → what the container engine is asked for, decided as the kubelet does.

Pure: the effective settings of a container (the pod-level ``runAsUser``, ``runAsGroup``,
``runAsNonRoot`` and ``seccompProfile`` are defaults that the container's own values override;
``capabilities``, ``privileged``, ``allowPrivilegeEscalation`` and ``readOnlyRootFilesystem`` are the
container's only; ``supplementalGroups``, ``fsGroup`` and ``sysctls`` the pod's only), the checks the
kubelet makes before it starts a container (``runAsNonRoot``) or admits a pod (its sysctls), and
nothing that touches the engine: :mod:`.runtime.docker` carries the result out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from minikube_py.agent.context import NodeContext
from minikube_py.agent.env import ConfigError
from minikube_py.agent.runtime.base import SECCOMP_LOCALHOST_PREFIX, SECCOMP_RUNTIME_DEFAULT, SECCOMP_UNCONFINED
from minikube_py.model.podsecurity import SAFE_SYSCTLS

Obj = dict[str, Any]

#: The pod status reason of a pod the kubelet refuses for its sysctls
SYSCTL_FORBIDDEN = "SysctlForbidden"


def normalize_sysctl(name: str) -> str:
    """Kubernetes lets a sysctl be spelt with ``/`` separators (``net/ipv4/tcp_syncookies``): when the
    first separator is a slash, slashes and dots swap places, as in sysctl(8)."""
    dot, slash = name.find("."), name.find("/")
    if slash == -1 or (dot != -1 and dot < slash):
        return name
    return name.translate(str.maketrans("./", "/."))


def forbidden_sysctl(pod: Obj) -> str | None:
    """Why the kubelet refuses the pod (reason :data:`SYSCTL_FORBIDDEN`), or None: a sysctl outside the
    safe set, or one of the node's namespace that the pod shares (``hostNetwork``, ``hostIPC``)."""
    spec = pod.get("spec") or {}
    shared = {"net": bool(spec.get("hostNetwork")), "ipc": bool(spec.get("hostIPC"))}
    for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
        name = normalize_sysctl(str(sysctl.get("name", "")))
        namespace = SAFE_SYSCTLS.get(name)
        if namespace is None:
            return f'forbidden sysctl: "{name}" not allowlisted'
        if shared[namespace]:
            return f'forbidden sysctl: "{name}" not allowed with host {namespace} enabled'
    return None


def pod_sysctls(pod: Obj) -> dict[str, str]:
    """The pod's sysctls for its sandbox, which owns the network and IPC namespaces they live in."""
    sysctls = ((pod.get("spec") or {}).get("securityContext") or {}).get("sysctls") or []
    return {normalize_sysctl(str(s["name"])): str(s.get("value", "")) for s in sysctls}


@dataclass(frozen=True)
class ContainerSecurity:
    """The engine-facing security settings of one container (fields of :class:`ContainerSpec`)."""

    user: str | None = None  # "uid", "uid:gid" or "name:gid"; None keeps the image's
    group_add: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    seccomp: str = SECCOMP_RUNTIME_DEFAULT
    privileged: bool = False
    read_only_rootfs: bool = False


def _effective(pod: Obj, container: Obj, key: str) -> Any:
    """A setting the container's securityContext overrides and the pod's provides by default."""
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    return ctx[key] if ctx.get(key) is not None else pod_ctx.get(key)


def _image_uid(image_user: str) -> tuple[int | None, str]:
    """The image's user as the CRI reports it: (uid, "") for a numeric user, (None, name) for a named
    one; an image that names no user runs as root."""
    user = image_user.partition(":")[0]
    if not user:
        return 0, ""
    return (int(user), "") if user.isdigit() else (None, user)


def _pod_ref(pod: Obj) -> str:
    md = pod["metadata"]
    return f'"{md["name"]}_{md["namespace"]}({md["uid"]})"'


def _check_non_root(pod: Obj, container: Obj, uid: int | None, image_user: str) -> None:
    """``runAsNonRoot``: the kubelet refuses a container whose user is root, or cannot be known to be
    anything else (an image naming its user), with these messages."""
    if not _effective(pod, container, "runAsNonRoot"):
        return
    where = f"(pod: {_pod_ref(pod)}, container: {container['name']})"
    if uid is not None:
        if uid == 0:
            raise ConfigError(f"container's runAsUser breaks non-root policy {where}")
        return
    image_uid, username = _image_uid(image_user)
    if image_uid == 0:
        raise ConfigError(f"container has runAsNonRoot and image will run as root {where}")
    if image_uid is None:
        raise ConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({username}), "
            f"cannot verify user is non-root {where}"
        )


def _user(uid: int | None, gid: int | None, image_user: str) -> str | None:
    """The engine's ``User``: a group without a user applies to the image's user (root if it names none)."""
    if gid is None:
        return None if uid is None else str(uid)
    who = str(uid) if uid is not None else (image_user.partition(":")[0] or "0")
    return f"{who}:{gid}"


def _capability(name: str) -> str:
    upper = str(name).upper()
    return upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}"


def _seccomp(profile: Obj | None, node: NodeContext) -> str:
    """Without a profile the runtime's default profile applies, as under a kubelet with
    ``seccompDefault`` on (Kubernetes' recommended setting, and what pykube's containers always had:
    a pod that asks for nothing is not left less confined than Docker would leave it);
    ``Localhost`` profiles are files under the node's ``seccomp`` directory."""
    kind = (profile or {}).get("type", "RuntimeDefault")
    if kind == "RuntimeDefault":
        return SECCOMP_RUNTIME_DEFAULT
    if kind == "Localhost":
        relative = str((profile or {}).get("localhostProfile") or "")
        path = PurePosixPath(relative)
        if not relative or path.is_absolute() or ".." in path.parts:
            raise ConfigError(f"invalid localhostProfile {relative!r}: must be a relative path without '..'")
        return SECCOMP_LOCALHOST_PREFIX + str(node.data_dir / "seccomp" / path)
    if kind == "Unconfined":
        return SECCOMP_UNCONFINED
    raise ConfigError(f"unsupported seccompProfile type {kind!r}")


def container_security(pod: Obj, container: Obj, node: NodeContext, image_user: str = "") -> ContainerSecurity:
    """Everything the engine needs for ``container``'s securityContext; ``image_user`` is the image's
    configured user ("" for none). Raises ConfigError (CreateContainerConfigError) for a container
    the node must not start."""
    ctx = container.get("securityContext") or {}
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    privileged = bool(ctx.get("privileged"))
    if privileged and not node.allow_privileged:
        raise ConfigError(
            "privileged containers are not allowed on this node (start the agent with --allow-privileged)"
        )
    uid, gid = _effective(pod, container, "runAsUser"), _effective(pod, container, "runAsGroup")
    _check_non_root(pod, container, uid, image_user)
    groups = [str(g) for g in pod_ctx.get("supplementalGroups") or []]
    if pod_ctx.get("fsGroup") is not None:
        groups.append(str(pod_ctx["fsGroup"]))
    capabilities = ctx.get("capabilities") or {}
    return ContainerSecurity(
        user=_user(uid, gid, image_user),
        group_add=list(dict.fromkeys(groups)),
        cap_add=[_capability(c) for c in capabilities.get("add") or []],
        cap_drop=[_capability(c) for c in capabilities.get("drop") or []],
        no_new_privileges=ctx.get("allowPrivilegeEscalation") is False,
        # a privileged container is unconfined whatever its profile says
        seccomp=SECCOMP_UNCONFINED if privileged else _seccomp(_effective(pod, container, "seccompProfile"), node),
        privileged=privileged,
        read_only_rootfs=bool(ctx.get("readOnlyRootFilesystem")),
    )
