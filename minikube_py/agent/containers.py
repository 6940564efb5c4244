"""Pod spec → runtime container specs: names, labels, sandbox networking and DNS, resources, security
(decided by :mod:`.security`).

Pure: everything the runtime needs to create a pod's containers is decided here from the pod object
and the node context, so it can be checked without Docker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from minikube_py.agent.context import NodeContext
from minikube_py.agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_GRACE,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RUNTIME_HANDLER,
    LABEL_SANDBOX_IPC,
    LABEL_SPEC_HASH,
    SANDBOX_NAME,
    ContainerSpec,
    Mount,
    PortBinding,
)
from minikube_py.agent.security import container_security, pod_sysctls
from minikube_py.model.quantity import milli_value, value

Obj = dict[str, Any]

#: CPU shares per CPU and the floor the kernel accepts, as kubelet's cgroup settings
_SHARES_PER_CPU = 1024
_MIN_SHARES = 2
_QUOTA_PERIOD = 100_000
_MIN_QUOTA = 1_000


def container_name(pod: Obj, name: str, attempt: int) -> str:
    """Unique per engine and readable in ``docker ps``, in dockershim's shape."""
    md = pod["metadata"]
    return f"k8s_{name}_{md['name']}_{md['namespace']}_{md['uid']}_{attempt}"


def spec_hash(container: Obj) -> str:
    """Changes when anything of the container's definition changes (its image, in practice: the rest
    of a pod's containers is immutable)."""
    return hashlib.sha256(json.dumps(container, sort_keys=True).encode()).hexdigest()[:16]


def labels_for(pod: Obj, node: NodeContext, name: str, kind: str, attempt: int, hash_: str = "") -> dict[str, str]:
    md = pod["metadata"]
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return {
        LABEL_MANAGED: "true",
        LABEL_NODE: node.name,
        LABEL_POD_UID: md["uid"],
        LABEL_POD_NAME: md["name"],
        LABEL_POD_NAMESPACE: md["namespace"],
        LABEL_CONTAINER_NAME: name,
        LABEL_CONTAINER_KIND: kind,
        LABEL_ATTEMPT: str(attempt),
        LABEL_SPEC_HASH: hash_,
        LABEL_GRACE: str(grace),
    }


def _dns(pod: Obj, node: NodeContext) -> tuple[list[str], list[str], list[str]]:
    """Kubernetes' DNS policies: ClusterFirst uses the cluster DNS (except with hostNetwork, where only
    ClusterFirstWithHostNet does), Default and a host-network ClusterFirst the node's own resolver,
    None only ``dnsConfig``; ``dnsConfig`` is appended in every case."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy", "ClusterFirst")
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    cluster_first = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork"))
    if cluster_first and node.cluster_dns:
        ns = pod["metadata"]["namespace"]
        domain = node.cluster_domain
        servers = list(node.cluster_dns)
        searches = [f"{ns}.svc.{domain}", f"svc.{domain}", domain]
        options = ["ndots:5"]
    config = spec.get("dnsConfig") or {}
    servers += config.get("nameservers") or []
    searches += config.get("searches") or []
    for option in config.get("options") or []:
        options.append(f"{option['name']}:{option['value']}" if option.get("value") else option["name"])
    return servers, searches, options


def resolv_conf(pod: Obj, node: NodeContext) -> str | None:
    """The pod's /etc/resolv.conf, or None to keep the engine's (the node's own resolver)."""
    servers, searches, options = _dns(pod, node)
    if not (servers or searches or options):
        return None
    lines = [f"nameserver {s}" for s in servers[:3]]  # the resolver reads three at most
    if searches:
        lines.append("search " + " ".join(dict.fromkeys(searches)))
    if options:
        lines.append("options " + " ".join(dict.fromkeys(options)))
    return "\n".join(lines) + "\n"


def _domain(pod: Obj, node: NodeContext) -> str | None:
    """``<subdomain>.<ns>.svc.<cluster domain>`` for a pod with a ``subdomain`` (a StatefulSet's), as
    the kubelet writes it into /etc/hosts: the pod then knows its own FQDN (``hostname -f``)."""
    spec = pod.get("spec") or {}
    if spec.get("hostNetwork") or not spec.get("subdomain"):
        return None
    return f"{spec['subdomain']}.{pod['metadata']['namespace']}.svc.{node.cluster_domain}"


def sandbox_spec(pod: Obj, node: NodeContext, runtime_handler: str = "") -> ContainerSpec:
    """The pause container: it owns the pod's network and IPC namespaces, hence its IP, hostname, DNS
    settings and host ports; the pod's containers join it. With ``shareProcessNamespace`` its process
    namespace is theirs too; ``hostPID``/``hostIPC`` put the pod in the node's. ``runtime_handler``:
    its RuntimeClass's, kept in a label for the containers that join it."""
    spec = pod.get("spec") or {}
    servers, searches, options = _dns(pod, node)
    ipc = "host" if spec.get("hostIPC") else "shareable"
    bindings = [
        PortBinding(p["containerPort"], p["hostPort"], p.get("protocol", "TCP"), p.get("hostIP", ""))
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
        for p in c.get("ports") or []
        if p.get("hostPort")
    ]
    return ContainerSpec(
        name=container_name(pod, SANDBOX_NAME, 0),
        image=node.pause_image,
        labels={
            **labels_for(pod, node, SANDBOX_NAME, "sandbox", 0),
            LABEL_SANDBOX_IPC: ipc,
            **({LABEL_RUNTIME_HANDLER: runtime_handler} if runtime_handler else {}),
        },
        runtime_handler=runtime_handler,
        network="host" if spec.get("hostNetwork") else node.network,
        hostname=None if spec.get("hostNetwork") else (spec.get("hostname") or pod["metadata"]["name"])[:63],
        domainname=_domain(pod, node),
        dns=servers,
        dns_search=searches,
        dns_options=options,
        port_bindings=bindings,
        pid="host" if spec.get("hostPID") else "",
        ipc=ipc,
        sysctls=pod_sysctls(pod),
    )


def _pid_mode(pod: Obj, sandbox_id: str, target: str | None) -> str:
    """A container's process namespace: its ephemeral target's, the node's (hostPID), the sandbox's
    (shareProcessNamespace), or its own."""
    spec = pod.get("spec") or {}
    if target:
        return f"container:{target}"
    if spec.get("hostPID"):
        return "host"
    return f"container:{sandbox_id}" if spec.get("shareProcessNamespace") else ""


def _ipc_mode(pod: Obj, sandbox_id: str, sandbox_ipc: str) -> str:
    """A container's IPC namespace: the node's (hostIPC), else the sandbox's when it may be joined."""
    if (pod.get("spec") or {}).get("hostIPC"):
        return "host"
    return f"container:{sandbox_id}" if sandbox_ipc == "shareable" else ""


def _resources(container: Obj) -> dict[str, int | None]:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = max(_MIN_SHARES, milli_value(cpu_request) * _SHARES_PER_CPU // 1000) if cpu_request else None
    quota = period = None
    if limits.get("cpu"):
        period = _QUOTA_PERIOD
        quota = max(_MIN_QUOTA, milli_value(limits["cpu"]) * _QUOTA_PERIOD // 1000)
    memory = value(limits["memory"]) if limits.get("memory") else None
    return {"cpu_shares": shares, "cpu_quota": quota, "cpu_period": period, "memory_limit": memory}


def app_spec(
    pod: Obj,
    container: Obj,
    *,
    kind: str,
    attempt: int,
    sandbox_id: str,
    env: list[tuple[str, str]],
    mounts: list[Mount],
    node: NodeContext,
    command: list[str] | None,
    args: list[str] | None,
    target: str | None = None,
    sandbox_ipc: str = "shareable",
    image_user: str = "",
    runtime_handler: str = "",
) -> ContainerSpec:
    """An init, app or ephemeral container joined to the sandbox's network and IPC namespaces, and to a
    process namespace by :func:`_pid_mode` (``target``: the runtime id of an ephemeral container's
    target; ``sandbox_ipc``: the sandbox's :data:`LABEL_SANDBOX_IPC`, ``runtime_handler`` its
    :data:`LABEL_RUNTIME_HANDLER`). ``command``/``args`` come
    already expanded (see env.expand_command); ``image_user`` is the user the image's config names
    ("" for none), which ``runAsNonRoot`` and a ``runAsGroup`` without ``runAsUser`` depend on. Raises
    ConfigError for a container the node must not start (see :func:`.security.container_security`)."""
    security = container_security(pod, container, node, image_user)
    return ContainerSpec(
        name=container_name(pod, container["name"], attempt),
        image=container["image"],
        labels=labels_for(pod, node, container["name"], kind, attempt, spec_hash(container)),
        entrypoint=command,
        cmd=args,
        env=env,
        working_dir=container.get("workingDir"),
        mounts=mounts,
        network=f"container:{sandbox_id}",
        pid=_pid_mode(pod, sandbox_id, target),
        ipc=_ipc_mode(pod, sandbox_id, sandbox_ipc),
        user=security.user,
        group_add=security.group_add,
        cap_add=security.cap_add,
        cap_drop=security.cap_drop,
        no_new_privileges=security.no_new_privileges,
        seccomp=security.seccomp,
        read_only_rootfs=security.read_only_rootfs,
        privileged=security.privileged,
        tty=bool(container.get("tty")),
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        annotations=dict(pod["metadata"].get("annotations") or {}),
        runtime_handler=runtime_handler,
        **_resources(container),
    )
