"""The Pod Security Standards (privileged, baseline, restricted) and the namespace labels that choose
them, as kube-apiserver's built-in PodSecurity admission evaluates them.

Pure: a namespace's labels give its policy (:func:`namespace_policy`), a pod's metadata and spec give
the checks it fails at a level (:func:`check_pod`), each as Kubernetes words it (a reason and a
detail naming the containers and fields to change), in Kubernetes' order: the baseline checks, then
the restricted ones, each group by its check's name. The API's admission (``api.podsecurity``) turns
them into a refusal or warnings. Every version of a policy (``*-version`` labels) is evaluated with
the rules of the server's own version (1.32), the one a ``latest`` policy uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from minikube_py.model.errors import FieldError, invalid_value

Obj = dict[str, Any]

LABEL_PREFIX = "pod-security.kubernetes.io/"
PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
ENFORCE, AUDIT, WARN = "enforce", "audit", "warn"
LATEST = "latest"
_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)")

#: The sysctls Kubernetes calls safe (namespaced, and isolated from the other pods of the node), by
#: the kernel namespace each lives in: those the baseline level allows, and the only ones a kubelet
#: without ``--allowed-unsafe-sysctls`` runs (Kubernetes 1.32's list).
SAFE_SYSCTLS: dict[str, str] = {
    "kernel.shm_rmid_forced": "ipc",
    "net.ipv4.ip_local_port_range": "net",
    "net.ipv4.tcp_syncookies": "net",
    "net.ipv4.ping_group_range": "net",
    "net.ipv4.ip_unprivileged_port_start": "net",
    "net.ipv4.ip_local_reserved_ports": "net",
    "net.ipv4.tcp_keepalive_time": "net",
    "net.ipv4.tcp_fin_timeout": "net",
    "net.ipv4.tcp_keepalive_intvl": "net",
    "net.ipv4.tcp_keepalive_probes": "net",
    "net.ipv4.tcp_rmem": "net",
    "net.ipv4.tcp_wmem": "net",
}

#: capabilities the baseline level lets a container add: Docker's (and containerd's) defaults
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
VOLUME_TYPES = RESTRICTED_VOLUMES | {
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "hostPath",
    "iscsi",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
}
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"

#: the kinds (group, kind) whose pod template PodSecurity checks (for warnings only), and where it is
_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


# ------------------------------------------------------------------------------------ policies


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: str = LATEST  # "latest" or "v1.N"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True)
class NamespacePolicy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion


def _level_version(labels: dict[str, str], mode: str) -> LevelVersion:
    """A mode's level and version; no label is the privileged level (the admission's default), and a
    label with an unknown level is the restricted one: a typo must not open the namespace."""
    level = labels.get(LABEL_PREFIX + mode)
    version = labels.get(f"{LABEL_PREFIX}{mode}-version", LATEST)
    if not _VERSION.fullmatch(version):
        version = LATEST
    if level is None:
        return LevelVersion(PRIVILEGED, version)
    return LevelVersion(level if level in LEVELS else RESTRICTED, version)


def namespace_policy(labels: dict[str, str] | None) -> NamespacePolicy:
    """The namespace's policy. A valid ``enforce`` level stricter than the ``warn`` one, which no
    label sets, is the warn level too (with its version, unless the warn version is set): workloads,
    which only the warn level speaks to, are then told what their pods will be refused for."""
    labels = labels or {}
    enforce, audit, warn = (_level_version(labels, mode) for mode in (ENFORCE, AUDIT, WARN))
    enforced = labels.get(LABEL_PREFIX + ENFORCE)
    if LABEL_PREFIX + WARN not in labels and enforced in LEVELS and LEVELS.index(enforced) > LEVELS.index(warn.level):
        version = warn.version if f"{LABEL_PREFIX}{WARN}-version" in labels else enforce.version
        warn = LevelVersion(enforce.level, version)
    return NamespacePolicy(enforce, audit, warn)


def label_errors(labels: dict[str, str] | None) -> list[FieldError]:
    """The namespace's PodSecurity labels that name no level or version (a namespace is refused them)."""
    problems = []
    for mode in (ENFORCE, AUDIT, WARN):
        key = LABEL_PREFIX + mode
        level = (labels or {}).get(key)
        if level is not None and level not in LEVELS:
            problems.append(invalid_value(f"metadata.labels[{key}]", level, f"must be one of {', '.join(LEVELS)}"))
        version = (labels or {}).get(f"{key}-version")
        if version is not None and version != LATEST and not _VERSION.fullmatch(version):
            problems.append(invalid_value(f"metadata.labels[{key}-version]", version, 'must be "latest" or "v1.x"'))
    return problems


def policy_labels(labels: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items() if k.startswith(LABEL_PREFIX)}


def stricter(new: LevelVersion, old: LevelVersion) -> bool:
    """Whether a namespace's new enforced policy may refuse pods the old one admitted: it changed,
    is not privileged, and is no looser a level."""
    return new != old and new.level != PRIVILEGED and LEVELS.index(new.level) >= LEVELS.index(old.level)


def pod_template(group: str, kind: str, obj: Obj) -> Obj | None:
    """The pod template of a workload kind (None for other kinds, or a workload without one)."""
    path = _TEMPLATES.get((group, kind))
    if path is None:
        return None
    found: Any = obj
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return found if isinstance(found, dict) else None


#: the pod fields an update may change without PodSecurity looking again (kube-apiserver's list)
_INSIGNIFICANT = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def significant_update(new: Obj, old: Obj) -> bool:
    """Whether a pod update needs evaluating: one that changes only images, deadlines or
    tolerations (or only metadata other than the AppArmor annotations, or status) does not."""

    def apparmor(pod: Obj) -> Obj:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        return {k: v for k, v in annotations.items() if k.startswith(_APPARMOR_ANNOTATION)}

    def relevant(pod: Obj) -> Obj:
        spec = {k: v for k, v in (pod.get("spec") or {}).items() if k not in _INSIGNIFICANT}
        for key in ("initContainers", "containers", "ephemeralContainers"):
            if key in spec:
                spec[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec[key] or []]
        return spec

    if apparmor(new) != apparmor(old):
        return True
    # most updates are a status's or a label's: the same spec, told at the cost of one comparison
    return new.get("spec") != old.get("spec") and relevant(new) != relevant(old)


# ------------------------------------------------------------------------------------ wording


@dataclass(frozen=True)
class Violation:
    """A failed check: ``reason (detail)``, as the admission's messages list them."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def describe(violations: list[Violation]) -> str:
    return ", ".join(map(str, violations))


def _quoted(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def _containers(names: list[str]) -> str:
    """``container "a"`` or ``containers "a", "b"``."""
    return f"{_plural(len(names), 'container', 'containers')} {_quoted(names)}"


def _setters(pod: bool, names: list[str]) -> str:
    """Who set a forbidden value: ``pod``, ``container "a"``, ``pod and containers "a", "b"``."""
    parts = (["pod"] if pod else []) + ([_containers(names)] if names else [])
    return " and ".join(parts)


def _sorted_unique(values: list[str]) -> list[str]:
    return sorted(set(values))


# ------------------------------------------------------------------------------------ the pod


def _all_containers(spec: Obj) -> Iterator[Obj]:
    """Every container of the pod, init, regular and ephemeral, in that order."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _ctx(container: Obj) -> Obj:
    return container.get("securityContext") or {}


def _pod_ctx(spec: Obj) -> Obj:
    return spec.get("securityContext") or {}


def _named(spec: Obj, bad: Callable[[Obj], bool]) -> list[str]:
    return [c.get("name", "") for c in _all_containers(spec) if bad(c)]


Check = Callable[[Obj, Obj], Violation | None]  # (metadata, spec) -> a violation or None


def check_host_process(meta: Obj, spec: Obj) -> Violation | None:
    pod = bool((_pod_ctx(spec).get("windowsOptions") or {}).get("hostProcess"))
    names = _named(spec, lambda c: bool((_ctx(c).get("windowsOptions") or {}).get("hostProcess")))
    if not pod and not names:
        return None
    return Violation(
        "hostProcess", f"{_setters(pod, names)} must not set securityContext.windowsOptions.hostProcess=true"
    )


def check_host_namespaces(meta: Obj, spec: Obj) -> Violation | None:
    shared = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    return Violation("host namespaces", ", ".join(shared)) if shared else None


def check_privileged(meta: Obj, spec: Obj) -> Violation | None:
    names = _named(spec, lambda c: bool(_ctx(c).get("privileged")))
    if not names:
        return None
    return Violation("privileged", f"{_containers(names)} must not set securityContext.privileged=true")


def _added(container: Obj) -> list[str]:
    return [str(c) for c in (_ctx(container).get("capabilities") or {}).get("add") or []]


def _forbidden_adds(spec: Obj, allowed: frozenset[str]) -> str | None:
    names, caps = [], []
    for container in _all_containers(spec):
        bad = [c for c in _added(container) if c not in allowed]
        if bad:
            names.append(container.get("name", ""))
            caps += bad
    if not names:
        return None
    return f"{_containers(names)} must not include {_quoted(_sorted_unique(caps))} in securityContext.capabilities.add"


def check_capabilities_baseline(meta: Obj, spec: Obj) -> Violation | None:
    detail = _forbidden_adds(spec, BASELINE_CAPABILITIES)
    return None if detail is None else Violation("non-default capabilities", detail)


def check_host_path_volumes(meta: Obj, spec: Obj) -> Violation | None:
    names = [v.get("name", "") for v in spec.get("volumes") or [] if "hostPath" in v]
    if not names:
        return None
    return Violation("hostPath volumes", f"{_plural(len(names), 'volume', 'volumes')} {_quoted(names)}")


def check_host_ports(meta: Obj, spec: Obj) -> Violation | None:
    names, ports = [], set()
    for container in _all_containers(spec):
        used = [p["hostPort"] for p in container.get("ports") or [] if p.get("hostPort")]
        if used:
            names.append(container.get("name", ""))
            ports.update(used)
    if not names:
        return None
    listed = ", ".join(str(p) for p in sorted(ports))
    verb = _plural(len(names), "uses", "use")
    return Violation("hostPort", f"{_containers(names)} {verb} {_plural(len(ports), 'hostPort', 'hostPorts')} {listed}")


def check_apparmor(meta: Obj, spec: Obj) -> Violation | None:
    """Neither the fields (``appArmorProfile.type``) nor the older annotations may ask for no profile."""
    pod = (_pod_ctx(spec).get("appArmorProfile") or {}).get("type") == "Unconfined"
    names = _named(spec, lambda c: (_ctx(c).get("appArmorProfile") or {}).get("type") == "Unconfined")
    annotations = sorted(
        f'{key}="{value}"'
        for key, value in (meta.get("annotations") or {}).items()
        if key.startswith(_APPARMOR_ANNOTATION)
        and value not in ("", "runtime/default")
        and not str(value).startswith("localhost/")
    )
    setters = (["pod"] if pod else []) + ([_containers(names)] if names else [])
    if annotations:
        setters.append(_plural(len(annotations), "annotation", "annotations"))
    if not setters:
        return None
    values = (['"Unconfined"'] if pod or names else []) + [f'"{a}"' for a in annotations]
    reason = _plural(len(values), "forbidden AppArmor profile", "forbidden AppArmor profiles")
    return Violation(reason, f"{' and '.join(setters)} must not set AppArmor profile type to {', '.join(values)}")


def check_selinux(meta: Obj, spec: Obj) -> Violation | None:
    """Only the container types may be chosen, and neither a user nor a role."""
    types: list[str] = []
    user = role = False

    def bad(options: Obj | None) -> bool:
        nonlocal user, role
        if not options:
            return False
        wrong = False
        if options.get("type", "") not in SELINUX_TYPES:
            types.append(options["type"])
            wrong = True
        if options.get("user"):
            user = wrong = True
        if options.get("role"):
            role = wrong = True
        return wrong

    pod = bad(_pod_ctx(spec).get("seLinuxOptions"))
    names = _named(spec, lambda c: bad(_ctx(c).get("seLinuxOptions")))
    if not pod and not names:
        return None
    problems = []
    if types:
        unique = _sorted_unique(types)
        problems.append(f"{_plural(len(unique), 'type', 'types')} {_quoted(unique)}")
    if user:
        problems.append("user may not be set")
    if role:
        problems.append("role may not be set")
    return Violation(
        "seLinuxOptions", f"{_setters(pod, names)} set forbidden securityContext.seLinuxOptions: {'; '.join(problems)}"
    )


def check_proc_mount(meta: Obj, spec: Obj) -> Violation | None:
    names, values = [], []
    for container in _all_containers(spec):
        mount = _ctx(container).get("procMount")
        if mount not in (None, "Default"):
            names.append(container.get("name", ""))
            values.append(str(mount))
    if not names:
        return None
    return Violation(
        "procMount", f"{_containers(names)} must not set securityContext.procMount to {_quoted(_sorted_unique(values))}"
    )


def _unconfined(spec: Obj, allowed: tuple[str, ...]) -> tuple[bool, list[str], list[str]]:
    """Who sets a seccomp profile type outside ``allowed``: the pod, the containers, and the types."""
    types = []
    pod_type = (_pod_ctx(spec).get("seccompProfile") or {}).get("type")
    pod = pod_type is not None and pod_type not in allowed
    if pod:
        types.append(pod_type)
    names = []
    for container in _all_containers(spec):
        kind = (_ctx(container).get("seccompProfile") or {}).get("type")
        if kind is not None and kind not in allowed:
            names.append(container.get("name", ""))
            types.append(kind)
    return pod, names, _sorted_unique(types)


def check_seccomp_baseline(meta: Obj, spec: Obj) -> Violation | None:
    pod, names, types = _unconfined(spec, ("RuntimeDefault", "Localhost"))
    if not types:
        return None
    return Violation(
        "seccompProfile", f"{_setters(pod, names)} must not set securityContext.seccompProfile.type to {_quoted(types)}"
    )


def check_sysctls(meta: Obj, spec: Obj) -> Violation | None:
    names = [s.get("name", "") for s in _pod_ctx(spec).get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    return Violation("forbidden sysctls", ", ".join(dict.fromkeys(names))) if names else None


def _windows(spec: Obj) -> bool:
    """Restricted's Linux-only checks do not apply to a pod that says it runs on Windows."""
    return (spec.get("os") or {}).get("name") == "windows"


def check_privilege_escalation(meta: Obj, spec: Obj) -> Violation | None:
    if _windows(spec):
        return None
    names = _named(spec, lambda c: _ctx(c).get("allowPrivilegeEscalation") is not False)
    if not names:
        return None
    return Violation(
        "allowPrivilegeEscalation != false",
        f"{_containers(names)} must set securityContext.allowPrivilegeEscalation=false",
    )


def check_capabilities_restricted(meta: Obj, spec: Obj) -> Violation | None:
    """Every container drops ALL and adds nothing but NET_BIND_SERVICE."""
    if _windows(spec):
        return None
    undropped = _named(spec, lambda c: "ALL" not in ((_ctx(c).get("capabilities") or {}).get("drop") or []))
    problems = [f'{_containers(undropped)} must set securityContext.capabilities.drop=["ALL"]'] if undropped else []
    added = _forbidden_adds(spec, frozenset({"NET_BIND_SERVICE"}))
    if added is not None:
        problems.append(added)
    return Violation("unrestricted capabilities", "; ".join(problems)) if problems else None


def check_restricted_volumes(meta: Obj, spec: Obj) -> Violation | None:
    names, types = [], []
    for volume in spec.get("volumes") or []:
        kind = next((key for key in volume if key in VOLUME_TYPES), "unknown")
        if kind not in RESTRICTED_VOLUMES:
            names.append(volume.get("name", ""))
            types.append(kind)
    if not names:
        return None
    unique = _sorted_unique(types)
    detail = (
        f"{_plural(len(names), 'volume', 'volumes')} {_quoted(names)} {_plural(len(names), 'uses', 'use')} "
        f"{_plural(len(unique), 'restricted volume type', 'restricted volume types')} {_quoted(unique)}"
    )
    return Violation("restricted volume types", detail)


def _pod_or_containers(spec: Obj, key: str, good: Callable[[Any], bool], must: str, must_not: str) -> str | None:
    """A setting every container needs, which the pod may give them all: the pod and the containers
    that set a wrong value (``must_not``), and, when the pod gives none, the containers that set none
    either (``must``)."""
    pod_value = _pod_ctx(spec).get(key)
    pod = pod_value is not None and not good(pod_value)
    wrong, unset = [], []
    for container in _all_containers(spec):
        value = _ctx(container).get(key)
        if value is None:
            if pod_value is None:
                unset.append(container.get("name", ""))
        elif not good(value):
            wrong.append(container.get("name", ""))
    problems = []
    if pod or wrong:
        problems.append(f"{_setters(pod, wrong)} {must_not}")
    if unset:
        problems.append(f"pod or {_containers(unset)} {must}")
    return "; ".join(problems) or None


def check_run_as_non_root(meta: Obj, spec: Obj) -> Violation | None:
    detail = _pod_or_containers(
        spec,
        "runAsNonRoot",
        lambda v: v is True,
        "must set securityContext.runAsNonRoot=true",
        "must not set securityContext.runAsNonRoot=false",
    )
    return None if detail is None else Violation("runAsNonRoot != true", detail)


def check_run_as_user(meta: Obj, spec: Obj) -> Violation | None:
    pod = _pod_ctx(spec).get("runAsUser") == 0
    names = _named(spec, lambda c: _ctx(c).get("runAsUser") == 0)
    if not pod and not names:
        return None
    return Violation("runAsUser=0", f"{_setters(pod, names)} must not set runAsUser=0")


def check_seccomp_restricted(meta: Obj, spec: Obj) -> Violation | None:
    if _windows(spec):
        return None
    allowed = ("RuntimeDefault", "Localhost")
    pod, wrong, types = _unconfined(spec, allowed)
    problems = (
        [f"{_setters(pod, wrong)} must not set securityContext.seccompProfile.type to {_quoted(types)}"]
        if types
        else []
    )
    if (_pod_ctx(spec).get("seccompProfile") or {}).get("type") is None:
        unset = _named(spec, lambda c: (_ctx(c).get("seccompProfile") or {}).get("type") is None)
        if unset:
            problems.append(
                f'pod or {_containers(unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
            )
    return Violation("seccompProfile", "; ".join(problems)) if problems else None


#: Kubernetes' checks by name (the order of its messages: baseline ones, then restricted ones, each
#: sorted by name); a restricted check may replace baseline ones, which restricted then skips
BASELINE_CHECKS: dict[str, Check] = {
    "appArmorProfile": check_apparmor,
    "capabilities_baseline": check_capabilities_baseline,
    "hostNamespaces": check_host_namespaces,
    "hostPathVolumes": check_host_path_volumes,
    "hostPorts": check_host_ports,
    "privileged": check_privileged,
    "procMount": check_proc_mount,
    "seLinuxOptions": check_selinux,
    "seccompProfile_baseline": check_seccomp_baseline,
    "sysctls": check_sysctls,
    "windowsHostProcess": check_host_process,
}
RESTRICTED_CHECKS: dict[str, Check] = {
    "allowPrivilegeEscalation": check_privilege_escalation,
    "capabilities_restricted": check_capabilities_restricted,
    "restrictedVolumes": check_restricted_volumes,
    "runAsNonRoot": check_run_as_non_root,
    "runAsUser": check_run_as_user,
    "seccompProfile_restricted": check_seccomp_restricted,
}
_REPLACED = {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline"}


def checks(level: str) -> list[Check]:
    if level == PRIVILEGED:
        return []
    if level == BASELINE:
        return list(BASELINE_CHECKS.values())
    kept = [check for name, check in BASELINE_CHECKS.items() if name not in _REPLACED]
    return kept + list(RESTRICTED_CHECKS.values())


def check_pod(level: str, meta: Obj | None, spec: Obj | None) -> list[Violation]:
    """What a pod (or pod template) with ``meta`` and ``spec`` breaks of ``level``, in Kubernetes' order."""
    meta, spec = meta or {}, spec or {}
    return [v for check in checks(level) if (v := check(meta, spec)) is not None]


# ------------------------------------------------------------------------------------ admission


#: the audit annotations PodSecurity leaves on a request's audit events
ENFORCE_POLICY_ANNOTATION = LABEL_PREFIX + "enforce-policy"
AUDIT_VIOLATIONS_ANNOTATION = LABEL_PREFIX + "audit-violations"


@dataclass(frozen=True)
class Decision:
    """PodSecurity's answer for one write: the refusal (None: admitted), the warnings, and the
    annotations for the request's audit events."""

    refusal: str | None = None
    warnings: tuple[str, ...] = ()
    audit: tuple[tuple[str, str], ...] = ()


def _would_violate(level: LevelVersion, meta: Obj | None, spec: Obj | None) -> str | None:
    failed = check_pod(level.level, meta, spec)
    return f'would violate PodSecurity "{level}": {describe(failed)}' if failed else None


def admit_pod(policy: NamespacePolicy, meta: Obj | None, spec: Obj | None) -> Decision:
    """A pod is refused when it breaks the enforced level, warned about when it breaks the warn level
    (unless that is the enforced policy itself, whose refusal says it all), and its audit events say
    which policy was enforced and what of the audit level it breaks."""
    failed = check_pod(policy.enforce.level, meta, spec)
    refusal = f'violates PodSecurity "{policy.enforce}": {describe(failed)}' if failed else None
    warned = _would_violate(policy.warn, meta, spec) if policy.warn != policy.enforce else None
    audited = _would_violate(policy.audit, meta, spec)
    audit = ((ENFORCE_POLICY_ANNOTATION, str(policy.enforce)),)
    if audited is not None:
        audit += ((AUDIT_VIOLATIONS_ANNOTATION, audited),)
    return Decision(refusal, () if warned is None else (warned,), audit)


def admit_template(policy: NamespacePolicy, template: Obj) -> Decision:
    """A workload's pod template is never refused (its pods will be): only the warn and audit levels
    speak."""
    meta, spec = template.get("metadata"), template.get("spec")
    warned, audited = _would_violate(policy.warn, meta, spec), _would_violate(policy.audit, meta, spec)
    return Decision(
        None, () if warned is None else (warned,), () if audited is None else ((AUDIT_VIOLATIONS_ANNOTATION, audited),)
    )


#: how many of a namespace's pods a new enforced level is tried against (kube-apiserver's default)
MAX_PODS_TO_CHECK = 3000


def existing_pod_warnings(namespace: str, enforce: LevelVersion, pods: list[Obj]) -> list[str]:
    """The warnings for labelling a namespace with a stricter ``enforce`` level, as kube-apiserver
    words them: which existing pods the level would refuse, grouped by the checks they fail
    (``web-1 (and 2 other pods): privileged, runAsNonRoot != true``, each group named by its first
    pod by name), sorted. The pods keep running: the level applies to new ones only."""
    groups: dict[str, tuple[str, int]] = {}
    for pod in pods[:MAX_PODS_TO_CHECK]:
        failed = check_pod(enforce.level, pod.get("metadata"), pod.get("spec"))
        if failed:
            reasons = ", ".join(v.reason for v in failed)
            name = (pod.get("metadata") or {}).get("name", "")
            first, count = groups.get(reasons, (name, 0))
            groups[reasons] = (min(first, name), count + 1)
    warnings = []
    if len(pods) > MAX_PODS_TO_CHECK:
        warnings.append(
            f"new PodSecurity enforce level only checked against the first {MAX_PODS_TO_CHECK} of {len(pods)} existing pods"
        )
    if not groups:
        return warnings
    warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{enforce}"')
    lines = []
    for reasons, (first, count) in groups.items():
        others = "" if count == 1 else f" (and {count - 1} other {_plural(count - 1, 'pod', 'pods')})"
        lines.append(f"{first}{others}: {reasons}")
    return warnings + sorted(lines)
