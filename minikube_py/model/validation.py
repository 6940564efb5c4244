"""Validation of objects on create and update, with kube-apiserver's field paths and messages.

kubectl prints the causes verbatim (``The Pod "x" is invalid: spec.containers[0].image: Required
value``), and users and scripts match on them, so the paths (``spec.ports[1].name``,
``metadata.labels``) and texts follow Kubernetes' ``pkg/apis/*/validation``. The checks cover what
pykube's kinds need to be safe to store and to act on, not every rule Kubernetes has.

Validation expects a defaulted object (defaults run first, as in kube-apiserver), so a field that
has a default is only checked for its value, never for being absent.

Each kind's checks are functions here (``validate_pod``, ``validate_pod_update``, ...); which of them
a kind gets, and its name rule and scope, is its :class:`~minikube_py.model.kindrules.KindRules`.
"""

from __future__ import annotations

import binascii
import copy
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from minikube_py.model import cronjobs, priority, quantity, storage
from minikube_py.model import resources as resources_model
from minikube_py.model.errors import (
    FieldError,
    duplicate,
    forbidden,
    go_value,
    invalid_value,
    not_supported,
    required,
    value_not_found,
)
from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.selectors import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_key_errors,
    label_selector_from_spec,
    label_value_errors,
    regex_error,
)

Obj = dict[str, Any]
Errors = list[FieldError]

_ANNOTATIONS_LIMIT = 256 * 1024
_SECRET_LIMIT = 1024 * 1024
_IMMUTABLE = "field is immutable"
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)
_ENV_NAME = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_NAME_RE = re.compile(f"^{_ENV_NAME}$")
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY}$")
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_RE = re.compile(f"^{_DNS1035}$")
_PORT_NAME_RE = re.compile("^[-a-z0-9]+$")
_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/=]")


# ------------------------------------------------------------------------------ rendering


def _label_name(path: str, name: Any) -> Errors:
    """A name that must be there and be a DNS-1123 label (a container's, a volume's, a claim template's)."""
    if not name:
        return [required(path)]
    return [invalid_value(path, name, msg) for msg in dns1123_label_errors(str(name))]


def _too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")


def _range(path: str, value: Any, lo: int, hi: int) -> Errors:
    if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
        return []
    return [invalid_value(path, value, f"must be between {lo} and {hi}, inclusive")]


def _non_negative(path: str, value: Any) -> Errors:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return []
    return [invalid_value(path, value, "must be greater than or equal to 0")]


# ------------------------------------------------------------------------------ names and labels


def dns1035_label_errors(value: str) -> list[str]:
    errs = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _DNS1035_RE.match(value):
        errs.append(
            regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                "with an alphabetic character, and end with an alphanumeric character",
                _DNS1035,
                "my-name",
                "abc-123",
            )
        )
    return errs


def _mask_trailing_dash(name: str) -> str:
    """A generateName prefix may end in '-': the random suffix follows it."""
    return name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name


def _string_map(value: Any, path: str, entry_errors: Callable[[str, Any], Errors]) -> Errors:
    """The problems of a map of strings (labels, annotations), entry by entry in key order; an absent
    map has none, anything but a map is one."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [invalid_value(path, value, "must be a map of strings")]
    return [err for key in sorted(value) for err in entry_errors(key, value[key])]


def validate_labels(labels: Any, path: str) -> Errors:
    def entry(key: str, value: Any) -> Errors:
        errs = [invalid_value(path, key, msg) for msg in label_key_errors(key)]
        if not isinstance(value, str):
            return [*errs, invalid_value(path, value, "must be a string")]
        return errs + [invalid_value(path, value, msg) for msg in label_value_errors(value)]

    return _string_map(labels, path, entry)


def label_selector_errors(selector: Any, path: str) -> Errors:
    """A ``metav1.LabelSelector`` at ``path``: valid label keys and values, known operators."""
    if not isinstance(selector, dict):
        return [invalid_value(path, selector, "must be a label selector")]
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    try:
        label_selector_from_spec(selector)
    except (ValueError, AttributeError) as exc:
        errs.append(invalid_value(path, selector, str(exc)))
    return errs


def _annotations(annotations: Any, path: str) -> Errors:
    # keys are qualified names in any case; the values are free text, limited only in total size
    errs = _string_map(
        annotations, path, lambda key, _: [invalid_value(path, key, m) for m in label_key_errors(key.lower())]
    )
    if isinstance(annotations, dict):
        size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
        if size > _ANNOTATIONS_LIMIT:
            errs.append(_too_long(path, _ANNOTATIONS_LIMIT))
    return errs


def _owner_references(refs: Any, path: str) -> Errors:
    errs: Errors = []
    controllers: list[str] = []
    for i, ref in enumerate(as_list(refs)):
        ref = as_dict(ref)
        for key in ("apiVersion", "kind", "name", "uid"):
            if not ref.get(key):
                errs.append(FieldError(f"{path}[{i}].{key}", "FieldValueRequired", "Required value: must not be empty"))
        if ref.get("controller") is True:
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        errs.append(
            invalid_value(
                path,
                refs,
                'Only one reference can have Controller set to true. Found "true" in '
                f"references for {controllers[0]} and {controllers[1]}",
            )
        )
    return errs


def validate_metadata(md: Obj, *, namespaced: bool, name_errors: Callable[[str], list[str]]) -> Errors:
    """ObjectMeta of a new object: its name (``name_errors`` is the kind's name rule, a DNS-1123
    subdomain for most kinds), its namespace as the kind's scope wants it, labels and the rest."""
    errs: Errors = []
    generate = md.get("generateName")
    if isinstance(generate, str) and generate:
        errs.extend(
            invalid_value("metadata.generateName", generate, msg) for msg in name_errors(_mask_trailing_dash(generate))
        )
    name = md.get("name")
    if not name:
        errs.append(
            FieldError("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
        )
    elif not isinstance(name, str):
        errs.append(invalid_value("metadata.name", name, "must be a string"))
    else:
        errs.extend(invalid_value("metadata.name", name, msg) for msg in name_errors(name))
    namespace = md.get("namespace")
    if namespaced:
        if not namespace:
            errs.append(required("metadata.namespace"))
        else:
            errs.extend(
                invalid_value("metadata.namespace", namespace, msg) for msg in dns1123_label_errors(str(namespace))
            )
    elif namespace:
        errs.append(forbidden("metadata.namespace", "not allowed on this type"))
    return errs + _metadata_common(md)


def _metadata_common(md: Obj) -> Errors:
    errs = _non_negative("metadata.generation", md.get("generation"))
    errs += validate_labels(md.get("labels"), "metadata.labels")
    errs += _annotations(md.get("annotations"), "metadata.annotations")
    errs += _owner_references(md.get("ownerReferences"), "metadata.ownerReferences")
    for finalizer in as_list(md.get("finalizers")):
        errs.extend(invalid_value("metadata.finalizers", finalizer, msg) for msg in label_key_errors(str(finalizer)))
    return errs


def validate_metadata_update(md: Obj, old_md: Obj) -> Errors:
    """ObjectMeta of an update: identity and deletion stay, finalizers may not be added to a
    terminating object, the generation never goes back."""
    errs: Errors = []
    if old_md.get("deletionTimestamp"):
        added = sorted(set(as_list(md.get("finalizers"))) - set(as_list(old_md.get("finalizers"))))
        if added:
            errs.append(
                forbidden(
                    "metadata.finalizers",
                    f"no new finalizers can be added if the object is being deleted, found new finalizers {go_value(added)}",
                )
            )
    if (md.get("generation") or 0) < (old_md.get("generation") or 0):
        errs.append(invalid_value("metadata.generation", md.get("generation"), "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
        if md.get(key) != old_md.get(key):
            errs.append(invalid_value(f"metadata.{key}", md.get(key, ""), _IMMUTABLE))
    return errs + _metadata_common(md)


# ------------------------------------------------------------------------------ pods


@functools.lru_cache(maxsize=1024, typed=True)
def _parse_quantity(raw: str | int | float) -> Fraction:
    """A memo of :func:`quantity.parse_quantity`: every pod carries a few quantities, nearly always
    the same handful of spellings, and parsing one into an exact Fraction costs ~10 µs. Fractions are
    immutable, so sharing them is safe; ``typed`` keeps ``True`` (malformed) apart from ``1``."""
    return quantity.parse_quantity(raw)


def _quantities(resources: Obj, path: str) -> Errors:
    """A container's ``resources``: valid names and quantities in both lists, a request no larger
    than its limit, and equal to it for what cannot be overcommitted (hugepages, extended resources)."""
    errs: Errors = []
    parsed: dict[str, dict[str, Any]] = {}
    for bag in ("limits", "requests"):
        problems, parsed[bag] = _resource_list(resources.get(bag), f"{path}.{bag}", names="container")
        errs += problems
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is None:
            if not resources_model.overcommit_allowed(name):
                errs.append(required(f"{path}.limits", "Limit must be set for non overcommitable resources"))
            continue
        spelled_request = quantity.format_quantity(str(resources["requests"][name]))
        spelled_limit = quantity.format_quantity(str(resources["limits"][name]))
        if request != limit and not resources_model.overcommit_allowed(name):
            errs.append(
                invalid_value(f"{path}.requests", spelled_request, f"must be equal to {name} limit of {spelled_limit}")
            )
        elif request > limit:
            errs.append(
                invalid_value(
                    f"{path}.requests",
                    spelled_request,
                    f"must be less than or equal to {name} limit of {spelled_limit}",
                )
            )
    named = parsed["limits"].keys() | parsed["requests"].keys()
    if any(resources_model.is_hugepages(n) for n in named) and not named & {"cpu", "memory"}:
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs


#: what only a sidecar among the init containers may have: an ordinary one runs to its end, once
_SIDECAR_ONLY = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def _container_restart_policy(c: Obj, field: str, path: str) -> Errors:
    """A container's own ``restartPolicy``: ``Always`` makes an init container a sidecar, and is the
    only value there; app containers may not set one (Kubernetes 1.32)."""
    policy = c.get("restartPolicy")
    if field == "initContainers":
        if policy is not None and policy != "Always":
            return [not_supported(f"{path}.restartPolicy", policy, ["Always"])]
        if policy == "Always":
            return []
        return [
            forbidden(f"{path}.{key}", "may not be set for init containers without restartPolicy=Always")
            for key in _SIDECAR_ONLY
            if c.get(key) is not None
        ]
    if field == "containers" and policy is not None:
        return [forbidden(f"{path}.restartPolicy", "may not be set for non-init containers")]
    return []


_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def _lifecycle(lifecycle: Obj, path: str, grace: Any) -> Errors:
    """``validateLifecycle``: each hook names exactly one handler, and a complete one; a ``sleep``
    lasts between 1 s and the pod's grace period."""
    errs: Errors = []
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook)
        if handler is None:
            continue
        handler, where = as_dict(handler), f"{path}.{hook}"
        kinds = [kind for kind in _HANDLERS if handler.get(kind) is not None]
        if not kinds:
            errs.append(FieldError(where, "FieldValueRequired", "Required value: must specify a handler type"))
            continue
        errs += [forbidden(f"{where}.{kind}", "may not specify more than 1 handler type") for kind in kinds[1:]]
        kind, action = kinds[0], as_dict(handler[kinds[0]])
        if kind == "exec" and not as_list(action.get("command")):
            errs.append(required(f"{where}.exec.command"))
        elif kind == "httpGet":
            if action.get("port") in (None, "", 0):
                errs.append(required(f"{where}.httpGet.port"))
            scheme = action.get("scheme", "HTTP")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{where}.httpGet.scheme", scheme, ["HTTP", "HTTPS"]))
        elif kind == "sleep":
            seconds = action.get("seconds")
            limit = grace if isinstance(grace, int) else 30
            if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 < seconds <= limit:
                errs.append(
                    invalid_value(
                        f"{where}.sleep",
                        seconds,
                        f"must be greater than 0 and less than terminationGracePeriodSeconds ({limit})",
                    )
                )
    return errs


def _container(c: Obj, path: str, volumes: set[str]) -> Errors:
    errs = _label_name(f"{path}.name", c.get("name"))
    image = c.get("image")
    if not image:
        errs.append(required(f"{path}.image"))
    elif not isinstance(image, str) or image != image.strip():
        errs.append(invalid_value(f"{path}.image", image, "must not have leading or trailing whitespace"))
    policy = c.get("imagePullPolicy")
    if policy not in ("Always", "IfNotPresent", "Never"):
        errs.append(not_supported(f"{path}.imagePullPolicy", policy, ["Always", "IfNotPresent", "Never"]))
    port_names: set[str] = set()
    for i, port in enumerate(as_list(c.get("ports"))):
        errs += _container_port(as_dict(port), f"{path}.ports[{i}]", port_names)
    for i, env in enumerate(as_list(c.get("env"))):
        env_name = as_dict(env).get("name")
        if not env_name:
            errs.append(required(f"{path}.env[{i}].name"))
        elif not _ENV_NAME_RE.match(str(env_name)):
            errs.append(
                invalid_value(
                    f"{path}.env[{i}].name",
                    env_name,
                    regex_error(
                        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                        "and must not start with a digit",
                        _ENV_NAME,
                        "my.env-name",
                        "MY_ENV.NAME",
                        "MyEnvName1",
                    ),
                )
            )
    for i, mount in enumerate(as_list(c.get("volumeMounts"))):
        mount = as_dict(mount)
        mount_name = mount.get("name")
        if not mount_name:
            errs.append(required(f"{path}.volumeMounts[{i}].name"))
        elif mount_name not in volumes:
            errs.append(value_not_found(f"{path}.volumeMounts[{i}].name", mount_name))
        if not mount.get("mountPath"):
            errs.append(required(f"{path}.volumeMounts[{i}].mountPath"))
    errs += _security_context(c.get("securityContext"), f"{path}.securityContext")
    return errs + _quantities(as_dict(c.get("resources")), f"{path}.resources")


#: the largest user and group id Kubernetes accepts
_MAX_ID = 2**31 - 1
_SECCOMP_TYPES = ["Localhost", "RuntimeDefault", "Unconfined"]


def _security_context(ctx: Any, path: str) -> Errors:
    """What of a pod's or container's securityContext a node could not carry out: user and group ids
    out of range, a seccomp profile of no known type or outside the node's profile directory, a
    sysctl named twice."""
    ctx = as_dict(ctx)
    errs: Errors = []
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if ctx.get(key) is not None:
            errs += _range(f"{path}.{key}", ctx[key], 0, _MAX_ID)
    for i, gid in enumerate(as_list(ctx.get("supplementalGroups"))):
        errs += _range(f"{path}.supplementalGroups[{i}]", gid, 0, _MAX_ID)
    profile = ctx.get("seccompProfile")
    if profile is not None:
        errs += _seccomp_profile(as_dict(profile), f"{path}.seccompProfile")
    names: set[str] = set()
    for i, sysctl in enumerate(as_list(ctx.get("sysctls"))):
        name = as_dict(sysctl).get("name")
        if not name:
            errs.append(required(f"{path}.sysctls[{i}].name"))
        elif name in names:
            errs.append(duplicate(f"{path}.sysctls[{i}].name", name))
        names.add(name)
    return errs


def _seccomp_profile(profile: Obj, path: str) -> Errors:
    kind = profile.get("type")
    if not kind:
        return [
            FieldError(
                f"{path}.type", "FieldValueRequired", "Required value: type is required when seccompProfile is set"
            )
        ]
    if kind not in _SECCOMP_TYPES:
        return [not_supported(f"{path}.type", kind, _SECCOMP_TYPES)]
    if kind != "Localhost":
        return []
    local = profile.get("localhostProfile")
    if local is None:
        return [
            FieldError(
                f"{path}.localhostProfile",
                "FieldValueRequired",
                "Required value: must be set when seccomp type is Localhost",
            )
        ]
    errs = []
    if str(local).startswith("/"):
        errs.append(invalid_value(f"{path}.localhostProfile", local, "must be a relative path"))
    if ".." in str(local).split("/"):
        errs.append(invalid_value(f"{path}.localhostProfile", local, "must not contain '..'"))
    return errs


def _container_port(port: Obj, path: str, names: set[str]) -> Errors:
    errs: Errors = []
    name = port.get("name")
    if name:
        errs.extend(invalid_value(f"{path}.name", name, msg) for msg in port_name_errors(str(name)))
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    if not port.get("containerPort"):
        errs.append(required(f"{path}.containerPort"))
    else:
        errs += _range(f"{path}.containerPort", port["containerPort"], 1, 65535)
    if port.get("hostPort"):
        errs += _range(f"{path}.hostPort", port["hostPort"], 1, 65535)
    if port.get("protocol") not in _PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", port.get("protocol"), _PROTOCOLS))
    return errs


def port_name_errors(name: str) -> list[str]:
    """An IANA service name, as a port's ``name`` must be."""
    errs = ["must be no more than 15 characters"] if len(name) > 15 else []
    if not _PORT_NAME_RE.match(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_pod_spec(
    spec: Any, path: str, restart_policies: tuple[str, ...] = ("Always", "OnFailure", "Never")
) -> Errors:
    """A pod spec, in a Pod (``path`` ``spec``) or a template (``spec.template.spec``).
    ``restart_policies`` narrows the policy for workloads: apps kinds need Always, Jobs not."""
    spec = as_dict(spec)
    errs: Errors = []
    volumes: set[str] = set()
    for i, volume in enumerate(as_list(spec.get("volumes"))):
        vname = as_dict(volume).get("name")
        errs += _label_name(f"{path}.volumes[{i}].name", vname)
        if not vname:
            continue
        if vname in volumes:
            errs.append(duplicate(f"{path}.volumes[{i}].name", vname))
        volumes.add(vname)
    containers = as_list(spec.get("containers"))
    if not containers:
        errs.append(required(f"{path}.containers"))
    seen: set[str] = set()
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for i, c in enumerate(as_list(spec.get(field))):
            c = as_dict(c)
            errs += _container(c, f"{path}.{field}[{i}]", volumes)
            errs += _container_restart_policy(c, field, f"{path}.{field}[{i}]")
            if field != "ephemeralContainers" and c.get("lifecycle") is not None:
                grace = spec.get("terminationGracePeriodSeconds", 30)
                errs += _lifecycle(as_dict(c.get("lifecycle")), f"{path}.{field}[{i}].lifecycle", grace)
            cname = c.get("name")
            if cname and cname in seen:
                errs.append(duplicate(f"{path}.{field}[{i}].name", cname))
            seen.add(cname)
    errs += _ephemeral_containers(spec, path)
    policy = spec.get("restartPolicy")
    if policy not in restart_policies:
        errs.append(not_supported(f"{path}.restartPolicy", policy, list(restart_policies)))
    dns = spec.get("dnsPolicy")
    dns_policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if dns not in dns_policies:
        errs.append(not_supported(f"{path}.dnsPolicy", dns, dns_policies))
    errs += _non_negative(f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"))
    if spec.get("activeDeadlineSeconds") is not None:
        errs += _range(f"{path}.activeDeadlineSeconds", spec["activeDeadlineSeconds"], 1, 2**31 - 1)
    errs += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    errs += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    errs += resource_list_errors(spec.get("overhead"), f"{path}.overhead")
    errs += _class_name(spec.get("priorityClassName"), f"{path}.priorityClassName")
    errs += _class_name(spec.get("runtimeClassName"), f"{path}.runtimeClassName")
    if spec.get("preemptionPolicy") is not None:
        errs += priority.validate_preemption_policy(spec["preemptionPolicy"], f"{path}.preemptionPolicy")
    errs += _security_context(spec.get("securityContext"), f"{path}.securityContext")
    errs += _pod_affinity(as_dict(spec.get("affinity")), f"{path}.affinity")
    errs += _spread_constraints(as_list(spec.get("topologySpreadConstraints")), f"{path}.topologySpreadConstraints")
    return errs


def _topology_key(key: Any, path: str) -> Errors:
    if not key:
        return [FieldError(path, "FieldValueRequired", "Required value: can not be empty")]
    return [invalid_value(path, key, msg) for msg in label_key_errors(str(key))]


def _pod_affinity(affinity: Obj, path: str) -> Errors:
    """Pod affinity and anti-affinity terms: a topology key each, preferred weights of 1 to 100."""
    errs: Errors = []
    for kind in ("podAffinity", "podAntiAffinity"):
        rules, where = as_dict(affinity.get(kind)), f"{path}.{kind}"
        for i, term in enumerate(as_list(rules.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            term_path = f"{where}.requiredDuringSchedulingIgnoredDuringExecution[{i}].topologyKey"
            errs += _topology_key(as_dict(term).get("topologyKey"), term_path)
        for i, weighted in enumerate(as_list(rules.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            weighted, at = as_dict(weighted), f"{where}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
            weight = weighted.get("weight")
            if not isinstance(weight, int) or not 1 <= weight <= 100:
                errs.append(invalid_value(f"{at}.weight", weight, "must be in the range 1-100"))
            term = as_dict(weighted.get("podAffinityTerm"))
            errs += _topology_key(term.get("topologyKey"), f"{at}.podAffinityTerm.topologyKey")
    return errs


def _spread_constraints(constraints: list[Any], path: str) -> Errors:
    """Topology spread constraints: a positive maxSkew, a topology key, a known action, minDomains
    only with DoNotSchedule, known policies, and no two on the same key and action."""
    errs: Errors = []
    seen: set[tuple[Any, Any]] = set()
    actions = ["DoNotSchedule", "ScheduleAnyway"]
    for i, constraint in enumerate(constraints):
        constraint, at = as_dict(constraint), f"{path}[{i}]"
        skew = constraint.get("maxSkew")
        if not isinstance(skew, int) or skew <= 0:
            errs.append(invalid_value(f"{at}.maxSkew", skew, "must be greater than zero"))
        key, action = constraint.get("topologyKey"), constraint.get("whenUnsatisfiable")
        errs += _topology_key(key, f"{at}.topologyKey")
        if action not in actions:
            errs.append(not_supported(f"{at}.whenUnsatisfiable", action, actions))
        domains = constraint.get("minDomains")
        if domains is not None:
            if not isinstance(domains, int) or domains <= 0:
                errs.append(invalid_value(f"{at}.minDomains", domains, "must be greater than zero"))
            if action != "DoNotSchedule":
                detail = f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"
                errs.append(invalid_value(f"{at}.minDomains", domains, detail))
        for policy in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if constraint.get(policy) is not None and constraint[policy] not in ("Honor", "Ignore"):
                errs.append(not_supported(f"{at}.{policy}", constraint[policy], ["Honor", "Ignore"]))
        if (key, action) in seen:
            errs.append(duplicate(at, f"{{{key}, {action}}}"))
        seen.add((key, action))
    return errs


#: what an ephemeral container may not have: it is started once, for debugging, outside the pod's
#: resources and lifecycle (Kubernetes' EphemeralContainer lists these fields but forbids them)
_EPHEMERAL_FORBIDDEN = (
    "ports",
    "lifecycle",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "resources",
    "resizePolicy",
    "restartPolicy",
)


def _ephemeral_containers(spec: Obj, path: str) -> Errors:
    """The rules ephemeral containers add to a container's: none of the fields above (an empty
    ``resources``, which defaulting writes, counts as unset), and ``targetContainerName`` naming a
    container or init container of the pod."""
    errs: Errors = []
    targets = {as_dict(c).get("name") for field in ("containers", "initContainers") for c in as_list(spec.get(field))}
    for i, c in enumerate(as_list(spec.get("ephemeralContainers"))):
        c = as_dict(c)
        at = f"{path}.ephemeralContainers[{i}]"
        errs += [
            forbidden(f"{at}.{name}", "cannot be set for an Ephemeral Container")
            for name in _EPHEMERAL_FORBIDDEN
            if c.get(name) not in (None, {}, [], "")
        ]
        target = c.get("targetContainerName")
        if target and target not in targets:
            errs.append(value_not_found(f"{at}.targetContainerName", target))
    return errs


def validate_pod(obj: Obj) -> Errors:
    return validate_pod_spec(obj.get("spec"), "spec")


def validate_pod_create(obj: Obj) -> Errors:
    """A new pod has no ephemeral containers: they are added to a running pod, through the
    ``ephemeralcontainers`` subresource only."""
    if as_list(as_dict(obj.get("spec")).get("ephemeralContainers")):
        return [forbidden("spec.ephemeralContainers", "cannot be set on create")]
    return []


def validate_ephemeral_containers_update(new: Obj, old: Obj) -> Errors:
    """An update through ``pods/<name>/ephemeralcontainers``: the pod's spec must stay valid, and the
    ephemeral containers it had stay exactly as they were (they may be added, never changed or
    removed: the kubelet started them once and will not start them again)."""
    errs = validate_metadata_update(as_dict(new.get("metadata")), as_dict(old.get("metadata")))
    errs += validate_pod_spec(new.get("spec"), "spec")
    wanted = {as_dict(c).get("name"): c for c in as_list(as_dict(new.get("spec")).get("ephemeralContainers"))}
    for c in as_list(as_dict(old.get("spec")).get("ephemeralContainers")):
        name = as_dict(c).get("name")
        if name not in wanted:
            errs.append(
                forbidden("spec.ephemeralContainers", f'existing ephemeral containers "{name}" may not be removed')
            )
        elif wanted[name] != c:
            errs.append(
                forbidden("spec.ephemeralContainers", f'existing ephemeral containers "{name}" may not be changed')
            )
    return errs


def validate_pod_update(new: Obj, old: Obj) -> Errors:
    """Only images, ``activeDeadlineSeconds``, added tolerations and a negative grace period
    raised to 1 may change in a pod's spec; anything else is one Forbidden cause on ``spec``."""
    spec, old_spec = dict(as_dict(new.get("spec"))), as_dict(old.get("spec"))
    for field in ("containers", "initContainers"):
        mine, theirs = as_list(spec.get(field)), as_list(old_spec.get(field))
        if mine and len(mine) == len(theirs):
            spec[field] = [
                {**as_dict(c), "image": as_dict(o).get("image")} if "image" in as_dict(o) else c
                for c, o in zip(mine, theirs, strict=True)
            ]
    _restore(spec, old_spec, "activeDeadlineSeconds")
    old_tolerations = as_list(old_spec.get("tolerations"))
    if all(t in as_list(spec.get("tolerations")) for t in old_tolerations):
        _restore(spec, old_spec, "tolerations")
    grace, old_grace = spec.get("terminationGracePeriodSeconds"), old_spec.get("terminationGracePeriodSeconds")
    if grace == 1 and isinstance(old_grace, int) and old_grace < 0:
        spec["terminationGracePeriodSeconds"] = old_grace
    if spec != old_spec:
        return [forbidden("spec", _POD_UPDATE_FORBIDDEN)]
    return []


def _restore(spec: Obj, old_spec: Obj, field: str) -> None:
    if field in old_spec:
        spec[field] = old_spec[field]
    else:
        spec.pop(field, None)


# ------------------------------------------------------------------------------ services


def validate_service(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    svc_type = spec.get("type")
    if svc_type not in types:
        errs.append(not_supported("spec.type", svc_type, types))
    headless = spec.get("clusterIP") == "None"
    ports = as_list(spec.get("ports"))
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))
    if svc_type == "ExternalName" and not spec.get("externalName"):
        errs.append(required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(as_dict(port), f"spec.ports[{i}]", len(ports) > 1, names)
        if as_dict(port).get("nodePort") and svc_type == "ClusterIP":
            errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    affinity = spec.get("sessionAffinity")
    if affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None" and not _is_ip(cluster_ip):
        errs.append(
            invalid_value(
                "spec.clusterIPs[0]", cluster_ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
        )
    if spec.get("selector") is not None:
        errs += validate_labels(spec.get("selector"), "spec.selector")
    return errs


def _service_port(port: Obj, path: str, name_required: bool, names: set[str]) -> Errors:
    errs: Errors = []
    name = port.get("name")
    if not name:
        if name_required:
            errs.append(required(f"{path}.name"))
    else:
        errs.extend(invalid_value(f"{path}.name", name, msg) for msg in dns1123_label_errors(str(name)))
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    errs += _range(f"{path}.port", port.get("port", 0), 1, 65535)
    if port.get("protocol") not in _PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", port.get("protocol"), _PROTOCOLS))
    target = port.get("targetPort")
    if isinstance(target, str):
        errs.extend(invalid_value(f"{path}.targetPort", target, msg) for msg in port_name_errors(target))
    elif target is not None:
        errs += _range(f"{path}.targetPort", target, 1, 65535)
    if port.get("nodePort"):
        errs += _range(f"{path}.nodePort", port["nodePort"], 1, 65535)
    return errs


def validate_service_update(new: Obj, old: Obj) -> Errors:
    """An allocated ClusterIP stays: changing it is an error (an absent one is the allocator's to
    carry over, as kube-apiserver does for ``kubectl replace``)."""
    ip, old_ip = as_dict(new.get("spec")).get("clusterIP"), as_dict(old.get("spec")).get("clusterIP")
    if ip and old_ip and ip != old_ip:
        return [invalid_value("spec.clusterIPs[0]", [ip], "may not change once set")]
    return []


def _is_ip(text: Any) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------ workloads


def _template(spec: Obj, restart_policies: tuple[str, ...], path: str = "spec") -> Errors:
    """The pod template of the workload spec at ``path`` (a CronJob's is ``spec.jobTemplate.spec``;
    "": the object itself holds it, as a PodTemplate does)."""
    where = f"{path}.template" if path else "template"
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required(where)]
    errs = validate_labels(as_dict(template.get("metadata")).get("labels"), f"{where}.metadata.labels")
    errs += _annotations(as_dict(template.get("metadata")).get("annotations"), f"{where}.metadata.annotations")
    if as_list(as_dict(template.get("spec")).get("ephemeralContainers")):  # only a running pod gets them
        errs.append(forbidden(f"{where}.spec.ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs + validate_pod_spec(template.get("spec"), f"{where}.spec", restart_policies)


def validate_pod_template(obj: Obj) -> Errors:
    """``ValidatePodTemplate``: the template as any pod template, with every restart policy."""
    return _template(obj, ("Always", "OnFailure", "Never"), path="")


def _selector_matches_template(selector: Any, spec: Obj, kind_word: str) -> Errors:
    """The common apps/batch rules: a non-empty valid selector that selects the template."""
    if selector is None:
        return [required("spec.selector")]
    if not isinstance(selector, dict):
        return [invalid_value("spec.selector", selector, "must be a label selector")]
    errs: Errors = []
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid_value("spec.selector", selector, f"empty selector is invalid for {kind_word}"))
    errs += validate_labels(selector.get("matchLabels"), "spec.selector.matchLabels")
    try:
        parsed = label_selector_from_spec(selector)
    except ValueError as exc:
        return [*errs, invalid_value("spec.selector", selector, str(exc))]
    labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    if not errs and isinstance(spec.get("template"), dict) and not parsed.matches(labels):
        errs.append(
            invalid_value("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
        )
    return errs


def _workload(kind_word: str, restart_policies: tuple[str, ...]) -> Callable[[Obj], Errors]:
    def check(obj: Obj) -> Errors:
        spec = as_dict(obj.get("spec"))
        errs = _non_negative("spec.replicas", spec.get("replicas"))
        errs += _selector_matches_template(spec.get("selector"), spec, kind_word)
        errs += _non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
        return errs + _template(spec, restart_policies)

    return check


validate_replica_set = _workload("replicaset", ("Always",))
validate_daemon_set = _workload("daemonset", ("Always",))


def validate_deployment(obj: Obj) -> Errors:
    errs = _workload("deployment", ("Always",))(obj)
    strategy = as_dict(as_dict(obj.get("spec")).get("strategy"))
    kind = strategy.get("type")
    if kind not in ("Recreate", "RollingUpdate"):
        errs.append(not_supported("spec.strategy.type", kind, ["Recreate", "RollingUpdate"]))
    elif kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        errs.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    return errs


#: what a StatefulSet's spec may change to after creation (``ValidateStatefulSetUpdate``)
STATEFUL_SET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)
_RETENTION = ["Retain", "Delete"]


def validate_stateful_set(obj: Obj) -> Errors:
    """``ValidateStatefulSet``, and the pod template besides: Kubernetes leaves a StatefulSet's pod
    spec unchecked (its volume mounts name claim templates, not volumes), so a typo surfaced only as
    FailedCreate events. Here the template is checked as a pod spec whose volumes include one per
    claim template, which is what the controller gives its pods."""
    spec = as_dict(obj.get("spec"))
    errs = _non_negative("spec.replicas", spec.get("replicas"))
    errs += _non_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += _non_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    errs += _non_negative("spec.ordinals.start", as_dict(spec.get("ordinals")).get("start"))
    policy = spec.get("podManagementPolicy")
    if policy not in ("OrderedReady", "Parallel"):
        errs.append(not_supported("spec.podManagementPolicy", policy, ["OrderedReady", "Parallel"]))
    strategy = as_dict(spec.get("updateStrategy"))
    kind = strategy.get("type")
    if kind not in ("RollingUpdate", "OnDelete"):
        errs.append(not_supported("spec.updateStrategy.type", kind, ["OnDelete", "RollingUpdate"]))
    elif kind == "OnDelete" and strategy.get("rollingUpdate") is not None:
        errs.append(
            invalid_value(
                "spec.updateStrategy.rollingUpdate",
                strategy["rollingUpdate"],
                "only allowed for updateStrategy 'RollingUpdate'",
            )
        )
    else:
        errs += _non_negative(
            "spec.updateStrategy.rollingUpdate.partition", as_dict(strategy.get("rollingUpdate")).get("partition")
        )
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for when in ("whenDeleted", "whenScaled"):
        if retention.get(when) not in _RETENTION:
            errs.append(
                not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{when}", retention.get(when), _RETENTION)
            )
    service = spec.get("serviceName")
    if service:  # it becomes each pod's ``subdomain``, so a pod could never be made with a bad one
        errs.extend(invalid_value("spec.serviceName", service, msg) for msg in dns1123_label_errors(str(service)))
    errs += _selector_matches_template(spec.get("selector"), spec, "statefulset")
    claims, claim_errs = _claim_templates(spec.get("volumeClaimTemplates"))
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*errs, *claim_errs, required("spec.template")]
    pod_spec = dict(as_dict(template.get("spec")))
    volumes = as_list(pod_spec.get("volumes"))
    named = {as_dict(v).get("name") for v in volumes}  # (a claim replaces a template volume of its name)
    pod_spec["volumes"] = [*volumes, *({"name": c} for c in dict.fromkeys(claims) if c not in named)]
    errs += _template({"template": {**template, "spec": pod_spec}}, ("Always",))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in StatefulSet is not Supported"
            )
        )
    return errs + claim_errs


def _claim_templates(templates: Any) -> tuple[list[str], Errors]:
    """The names of a StatefulSet's claim templates (those a pod's volume mounts may name) and what
    is wrong with them: each needs a name, and a spec valid for a claim, as the claims made from it."""
    names: list[str] = []
    errs: Errors = []
    for i, claim in enumerate(as_list(templates)):
        path = f"spec.volumeClaimTemplates[{i}]"
        claim = as_dict(claim)
        name = as_dict(claim.get("metadata")).get("name")
        errs += _label_name(f"{path}.metadata.name", name)
        if name:
            if name in names:
                errs.append(duplicate(f"{path}.metadata.name", name))
            names.append(str(name))
        errs += validate_claim_spec(as_dict(claim.get("spec")), f"{path}.spec")
    return names, errs


def validate_stateful_set_update(new: Obj, old: Obj) -> Errors:
    """Only the fields of :data:`STATEFUL_SET_MUTABLE` change after creation: the others (selector,
    service, claim templates, pod management) shape identities pods and claims already carry."""
    mine, theirs = as_dict(new.get("spec")), as_dict(old.get("spec"))
    fixed = [k for k in {*mine, *theirs} if k not in STATEFUL_SET_MUTABLE and mine.get(k) != theirs.get(k)]
    if not fixed:
        return []
    return [
        forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'revisionHistoryLimit', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )
    ]


def validate_controller_revision(obj: Obj) -> Errors:
    """``ValidateControllerRevision``: the data is what the revision is for, and numbers count up from 0."""
    errs = [] if obj.get("data") is not None else [required("data")]
    revision = obj.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        errs.append(invalid_value("revision", revision, "must be greater than or equal to 0"))
    return errs


def validate_controller_revision_update(new: Obj, old: Obj) -> Errors:
    return _immutable(new, old, "data")


def validate_replication_controller(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs = _non_negative("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    if not selector:
        errs.append(required("spec.selector"))
    else:
        errs += validate_labels(selector, "spec.selector")
        labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
        if isinstance(selector, dict) and not all(labels.get(k) == v for k, v in selector.items()):
            errs.append(
                invalid_value("spec.template.metadata.labels", labels, "`selector` does not match template `labels`")
            )
    return errs + _template(spec, ("Always",))


def validate_job(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        errs += _non_negative(f"spec.{field}", spec.get(field))
    mode = spec.get("completionMode")
    if mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported("spec.completionMode", mode, ["NonIndexed", "Indexed"]))
    elif mode == "Indexed" and spec.get("completions") is None:
        errs.append(required("spec.completions"))
    errs += _selector_matches_template(spec.get("selector"), spec, "job")
    return errs + _template(spec, ("OnFailure", "Never"))


def validate_cron_job(obj: Obj) -> Errors:
    """``ValidateCronJobCreate``/``Update``: a schedule that parses in an existing zone, a known
    concurrency policy, and a job template whose selector the Jobs will generate themselves."""
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    schedule = spec.get("schedule")
    if not schedule:
        errs.append(required("spec.schedule"))
    elif not isinstance(schedule, str):
        errs.append(invalid_value("spec.schedule", schedule, "must be a string"))
    else:
        if (problem := cronjobs.schedule_error(schedule)) is not None:
            errs.append(invalid_value("spec.schedule", schedule, problem))
        if "TZ" in schedule:
            errs.append(
                invalid_value(
                    "spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
                )
            )
    errs += _non_negative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    zone = spec.get("timeZone")
    if zone is not None:
        if not isinstance(zone, str) or not zone:
            errs.append(invalid_value("spec.timeZone", zone, "timeZone must be nil or non-empty string"))
        else:
            try:
                cronjobs.load_zone(zone)
            except ZoneInfoNotFoundError:
                errs.append(invalid_value("spec.timeZone", zone, f"unknown time zone {zone}"))
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in cronjobs.CONCURRENCY_POLICIES:
        errs.append(not_supported("spec.concurrencyPolicy", policy, list(cronjobs.CONCURRENCY_POLICIES)))
    for limit in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs += _non_negative(f"spec.{limit}", spec.get(limit))
    template = spec.get("jobTemplate")
    if not isinstance(template, dict):
        errs.append(required("spec.jobTemplate"))
    else:
        errs += _job_template(template)
    name = as_dict(obj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > 52:  # the Jobs' names add "-" and 10 digits, within 63
        errs.append(invalid_value("metadata.name", name, "must be no more than 52 characters"))
    return errs


def _job_template(template: Obj) -> Errors:
    path = "spec.jobTemplate"
    md = as_dict(template.get("metadata"))
    errs = validate_labels(md.get("labels"), f"{path}.metadata.labels")
    errs += _annotations(md.get("annotations"), f"{path}.metadata.annotations")
    spec = as_dict(template.get("spec"))
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        errs += _non_negative(f"{path}.spec.{field}", spec.get(field))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        errs.append(not_supported(f"{path}.spec.completionMode", mode, ["NonIndexed", "Indexed"]))
    if spec.get("selector") is not None:
        errs.append(invalid_value(f"{path}.spec.selector", spec["selector"], "`selector` will be auto-generated"))
    if spec.get("manualSelector") is True:
        errs.append(not_supported(f"{path}.spec.manualSelector", True, ["nil", "false"]))
    return errs + _template(spec, ("OnFailure", "Never"), f"{path}.spec")


def _immutable(new: Obj, old: Obj, *fields: str) -> Errors:
    """Each dotted path must be unchanged; the cause shows the new value, as Kubernetes does."""
    errs: Errors = []
    for field in fields:
        mine, theirs = _path(new, field), _path(old, field)
        if mine != theirs:
            errs.append(invalid_value(field, mine, _IMMUTABLE))
    return errs


def validate_selector_immutable(new: Obj, old: Obj) -> Errors:
    """The apps kinds: a selector picks the pods a controller owns, so it may not change."""
    return _immutable(new, old, "spec.selector")


def validate_job_update(new: Obj, old: Obj) -> Errors:
    """A Job's pods are made from its template once: neither the selector nor the template changes."""
    return _immutable(new, old, "spec.selector", "spec.template")


def _path(obj: Obj, dotted: str) -> Any:
    node: Any = obj
    for part in dotted.split("."):
        node = as_dict(node).get(part)
    return node


# ------------------------------------------------------------------------------ config


def _data_keys(data: Any, path: str) -> Errors:
    errs: Errors = []
    for key in sorted(as_dict(data)):
        where = f"{path}[{key}]"
        if len(key) > 253:
            errs.append(invalid_value(where, key, "must be no more than 253 characters"))
        if not _CONFIG_KEY_RE.match(key):
            errs.append(
                invalid_value(
                    where,
                    key,
                    regex_error(
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                        _CONFIG_KEY,
                        "key.name",
                        "KEY_NAME",
                        "key-name",
                    ),
                )
            )
        if key == ".":
            errs.append(invalid_value(where, key, "must not be '.'"))
        elif key == "..":
            errs.append(invalid_value(where, key, "must not be '..'"))
        elif key.startswith(".."):
            errs.append(invalid_value(where, key, "must not start with '..'"))
    return errs


def validate_config_map(obj: Obj) -> Errors:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    errs = _data_keys(data, "data") + _data_keys(binary, "binaryData")
    errs.extend(
        invalid_value(f"data[{key}]", key, "duplicate of key present in binaryData")
        for key in sorted(data)
        if key in binary
    )
    size = sum(len(str(v).encode()) for v in data.values()) + sum(len(str(v)) * 3 // 4 for v in binary.values())
    if size > _SECRET_LIMIT:
        errs.append(_too_long("", _SECRET_LIMIT))
    return errs


def base64_error(text: Any) -> str | None:
    """Go's ``illegal base64 data at input byte N`` for a value that is not standard base64."""
    if not isinstance(text, str):
        return "illegal base64 data at input byte 0"
    for i, ch in enumerate(text):
        if not _BASE64_CHARS.match(ch) or (ch == "=" and text[i:].strip("=")):
            return f"illegal base64 data at input byte {i}"
    try:
        binascii.a2b_base64(text.encode(), strict_mode=True)
    except binascii.Error:
        return f"illegal base64 data at input byte {len(text) - len(text) % 4 if len(text) % 4 else len(text)}"
    return None


#: keys a typed Secret must carry
_SECRET_TYPE_KEYS = {
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
}


def validate_secret(obj: Obj) -> Errors:
    data = as_dict(obj.get("data"))
    errs = _data_keys(data, "data")
    size = 0
    for key in sorted(data):
        problem = base64_error(data[key])
        if problem:
            errs.append(invalid_value(f"data[{key}]", "<secret contents redacted>", problem))
        else:
            size += len(data[key]) * 3 // 4
    if size > _SECRET_LIMIT:
        errs.append(_too_long("data", _SECRET_LIMIT))
    errs.extend(required(f"data[{key}]") for key in _SECRET_TYPE_KEYS.get(str(obj.get("type")), ()) if key not in data)
    return errs


def validate_immutable_data(new: Obj, old: Obj) -> Errors:
    """``immutable: true`` freezes the data and the flag itself."""
    if old.get("immutable") is not True:
        return []
    errs: Errors = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for field in ("data", "binaryData"):
        if (new.get(field) or {}) != (old.get(field) or {}):
            errs.append(forbidden(field, "field is immutable when `immutable` is set"))
    return errs


# ------------------------------------------------------------------------------ the rest


def validate_node(obj: Obj) -> Errors:
    errs: Errors = []
    for i, taint in enumerate(as_list(as_dict(obj.get("spec")).get("taints"))):
        taint = as_dict(taint)
        key = taint.get("key")
        if not key:
            errs.append(required(f"spec.taints[{i}].key"))
        else:
            errs.extend(invalid_value(f"spec.taints[{i}].key", key, msg) for msg in label_key_errors(str(key)))
        if taint.get("value"):
            errs.extend(
                invalid_value(f"spec.taints[{i}].value", taint["value"], msg)
                for msg in label_value_errors(str(taint["value"]))
            )
        if taint.get("effect") not in _TAINT_EFFECTS:
            errs.append(not_supported(f"spec.taints[{i}].effect", taint.get("effect"), _TAINT_EFFECTS))
    return errs


_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _go_toleration(t: Obj) -> str:
    """A toleration as Go's ``%#v`` prints the internal type, which kube-apiserver's messages quote."""
    seconds = t.get("tolerationSeconds")
    pointer = "(*int64)(nil)" if seconds is None else f"(*int64)({seconds})"
    fields = (
        f"{name.capitalize()}:{json.dumps(str(t.get(name) or ''))}" for name in ("key", "operator", "value", "effect")
    )
    return f"core.Toleration{{{', '.join(fields)}, TolerationSeconds:{pointer}}}"


def validate_tolerations(tolerations: Any, path: str) -> Errors:
    """``ValidateTolerations``: a key that is a label name (an empty one only with Exists, which
    tolerates everything), a value only with Equal and fit for a label, seconds only for NoExecute, a
    known effect (empty: every effect). A pod's, a RuntimeClass's."""
    errs: Errors = []
    for i, t in enumerate(as_list(tolerations)):
        t = as_dict(t)
        seconds = t.get("tolerationSeconds")
        fields = (*(str(t.get(f) or "") for f in ("key", "operator", "value", "effect")), _hashable(seconds))
        errs.extend(
            FieldError(f"{path}[{i}]{suffix}", reason, message) for suffix, reason, message in _toleration(*fields)
        )
    return errs


def _hashable(value: Any) -> Any:
    return value if value is None or isinstance(value, int | str) else repr(value)


@functools.lru_cache(maxsize=1024)
def _toleration(key: str, operator: str, value: str, effect: str, seconds: Any) -> tuple[tuple[str, str, str], ...]:
    """One toleration's problems as (field suffix, reason, message): memoized, since nearly every pod
    carries the same two (not-ready and unreachable, for 300 s)."""
    errs: Errors = []
    errs.extend(invalid_value(".key", key, msg) for msg in label_key_errors(key) if key)
    if not key and operator != "Exists":
        errs.append(
            invalid_value(
                ".operator",
                operator,
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        )
    if seconds is not None and effect != "NoExecute":
        errs.append(invalid_value(".effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    if operator in ("Equal", ""):
        problems = label_value_errors(value)
        if problems:
            errs.append(invalid_value(".operator", value, ";".join(problems)))
    elif operator == "Exists":
        if value:
            spelled = _go_toleration(
                {"key": key, "operator": operator, "value": value, "effect": effect, "tolerationSeconds": seconds}
            )
            errs.append(
                FieldError(
                    ".operator",
                    "FieldValueInvalid",
                    f"Invalid value: {spelled}: value must be empty when `operator` is 'Exists'",
                )
            )
    else:
        errs.append(not_supported(".operator", operator, ["Equal", "Exists"]))
    if effect and effect not in _TAINT_EFFECTS:
        errs.append(not_supported(".effect", effect, _TAINT_EFFECTS))
    return tuple((e.field, e.reason, e.message) for e in errs)


def unique_tolerations(tolerations: Any, path: str) -> Errors:
    """Tolerations whose key, operator, value and effect repeat an earlier one's (a RuntimeClass's,
    whose list is keyed by them)."""
    errs: Errors = []
    seen: set[tuple[str, ...]] = set()
    for i, t in enumerate(as_list(tolerations)):
        t = as_dict(t)
        identity = tuple(str(t.get(f) or "") for f in ("key", "operator", "value", "effect"))
        if identity in seen:
            errs.append(FieldError(f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {_go_toleration(t)}"))
        seen.add(identity)
    return errs


def validate_lease(obj: Obj) -> Errors:
    duration = as_dict(obj.get("spec")).get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        return [invalid_value("spec.leaseDurationSeconds", duration, "must be greater than 0")]
    return []


def validate_event(obj: Obj) -> Errors:
    ref = as_dict(obj.get("involvedObject"))
    namespace = as_dict(obj.get("metadata")).get("namespace")
    if ref.get("namespace") and ref["namespace"] != namespace:
        return [invalid_value("involvedObject.namespace", ref["namespace"], "does not match event.namespace")]
    return []


def _endpoint_ports(ports: Any, path: str) -> Errors:
    errs: Errors = []
    for i, port in enumerate(as_list(ports)):
        port = as_dict(port)
        errs += _range(f"{path}[{i}].port", port.get("port", 0), 1, 65535)
        if port.get("protocol") not in _PROTOCOLS:
            errs.append(not_supported(f"{path}[{i}].protocol", port.get("protocol"), _PROTOCOLS))
    return errs


def validate_endpoints(obj: Obj) -> Errors:
    errs: Errors = []
    for s, subset in enumerate(as_list(obj.get("subsets"))):
        subset = as_dict(subset)
        for field in ("addresses", "notReadyAddresses"):
            for a, address in enumerate(as_list(subset.get(field))):
                ip = as_dict(address).get("ip")
                where = f"subsets[{s}].{field}[{a}].ip"
                if not ip:
                    errs.append(required(where))
                elif not _is_ip(ip):
                    errs.append(
                        invalid_value(where, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
                    )
        errs += _endpoint_ports(subset.get("ports"), f"subsets[{s}].ports")
    return errs


def validate_endpoint_slice(obj: Obj) -> Errors:
    errs: Errors = []
    families = ["FQDN", "IPv4", "IPv6"]
    if obj.get("addressType") not in families:
        errs.append(not_supported("addressType", obj.get("addressType"), families))
    for i, endpoint in enumerate(as_list(obj.get("endpoints"))):
        addresses = as_list(as_dict(endpoint).get("addresses"))
        if not addresses:
            errs.append(required(f"endpoints[{i}].addresses"))
        elif len(addresses) > 100:
            errs.append(
                FieldError(
                    f"endpoints[{i}].addresses",
                    "FieldValueTooMany",
                    f"Too many: {len(addresses)}: must have at most 100 items",
                )
            )
    return errs + _endpoint_ports(obj.get("ports"), "ports")


# ------------------------------------------------------------------------------ policy: budgets, quotas, limits


def _int_or_percent(value: Any, path: str) -> Errors:
    """ValidatePositiveIntOrPercent, plus the 100% ceiling budgets have."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [invalid_value(path, value, "must be an integer or percentage (e.g '5%')")]
    if isinstance(value, int):
        return _non_negative(path, value)
    if not re.fullmatch(r"[0-9]+%", value):
        return [invalid_value(path, value, "must be an integer or percentage (e.g '5%')")]
    if int(value[:-1]) > 100:
        return [invalid_value(path, value, "must not be greater than 100%")]
    return []


def validate_pod_disruption_budget(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        errs.append(
            invalid_value("spec.minAvailable", min_available, "minAvailable and maxUnavailable cannot be both set")
        )
    if min_available is not None:
        errs += _int_or_percent(min_available, "spec.minAvailable")
    if max_unavailable is not None:
        errs += _int_or_percent(max_unavailable, "spec.maxUnavailable")
    if spec.get("selector") is not None:
        errs += label_selector_errors(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
    return errs


#: the rules for the names of a container's resources and of a quota's
_NAME_RULES: dict[str, Callable[[str], list[str]]] = {
    "container": resources_model.container_name_problems,
    "quota": resources_model.quota_name_problems,
}


def _resource_list(resources: Any, path: str, *, names: str = "") -> tuple[Errors, dict[str, Fraction]]:
    """Quantities that parse and are not negative, by resource name; with ``names`` ("container",
    "quota"), the names must be ones a container (a quota) may use, in whole units where they count
    objects or devices, and a container's hugepages in whole pages."""
    errs: Errors = []
    parsed: dict[str, Fraction] = {}
    name_rule = _NAME_RULES.get(names)
    container = names == "container"
    for name, raw in sorted(as_dict(resources).items()):
        where = f"{path}[{name}]"
        if name_rule is not None:
            errs += [invalid_value(where, name, problem) for problem in name_rule(name)]
        try:
            amount = _parse_quantity(raw)
        except (ValueError, TypeError):
            errs.append(invalid_value(where, raw, quantity.FORMAT_ERROR))
            continue
        if amount < 0:
            errs.append(invalid_value(where, str(raw), "must be greater than or equal to 0"))
        if name_rule is not None and resources_model.is_integer(name) and math.ceil(amount * 1000) % 1000:
            errs.append(invalid_value(where, quantity.format_quantity(str(raw)), "must be an integer"))
        if container and resources_model.is_hugepages(name) and not _whole_pages(name, amount):
            spelled = quantity.format_quantity(str(raw))
            errs.append(invalid_value(where, spelled, f"{spelled} is not positive integer multiple of {name}"))
        parsed[name] = amount
    return errs, parsed


def _whole_pages(name: str, amount: Fraction) -> bool:
    """Whether ``amount`` of ``hugepages-<size>`` is a positive number of whole pages."""
    try:
        page = quantity.value(name.removeprefix(resources_model.HUGEPAGES_PREFIX))
    except ValueError:
        return False
    return page > 0 and amount > 0 and quantity.value(amount) % page == 0


def resource_list_errors(resources: Any, path: str) -> Errors:
    """The problems of a list of resource quantities a pod's containers are charged with (a pod's
    overhead, a RuntimeClass's)."""
    return _resource_list(resources, path, names="container")[0]


_QUOTA_SCOPES = [
    "BestEffort",
    "NotBestEffort",
    "Terminating",
    "NotTerminating",
    "PriorityClass",
    "CrossNamespacePodAffinity",
]


def validate_resource_quota(obj: Obj) -> Errors:
    spec = as_dict(obj.get("spec"))
    errs, _ = _resource_list(spec.get("hard"), "spec.hard", names="quota")
    for i, scope in enumerate(as_list(spec.get("scopes"))):
        if scope not in _QUOTA_SCOPES:
            errs.append(not_supported(f"spec.scopes[{i}]", scope, _QUOTA_SCOPES))
    for i, expression in enumerate(as_list(as_dict(spec.get("scopeSelector")).get("matchExpressions"))):
        path = f"spec.scopeSelector.matchExpressions[{i}]"
        expression = as_dict(expression)
        if expression.get("scopeName") not in _QUOTA_SCOPES:
            errs.append(not_supported(f"{path}.scopeName", expression.get("scopeName"), _QUOTA_SCOPES))
        if expression.get("operator") not in _SCOPE_OPERATORS:
            errs.append(not_supported(f"{path}.operator", expression.get("operator"), _SCOPE_OPERATORS))
    return errs


_SCOPE_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"]
_LIMIT_TYPES = ["Container", "PersistentVolumeClaim", "Pod"]


def validate_limit_range(obj: Obj) -> Errors:
    errs: Errors = []
    for i, item in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
        path = f"spec.limits[{i}]"
        item = as_dict(item)
        if item.get("type") not in _LIMIT_TYPES:
            errs.append(not_supported(f"{path}.type", item.get("type"), _LIMIT_TYPES))
        bounds = {}
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            field_errs, bounds[field] = _resource_list(item.get(field), f"{path}.{field}")
            errs += field_errs
        for name, low in sorted(bounds["min"].items()):
            high = bounds["max"].get(name)
            if high is not None and low > high:
                errs.append(
                    invalid_value(
                        f"{path}.min[{name}]",
                        item["min"][name],
                        f"min value {item['min'][name]} is greater than max value {item['max'][name]}",
                    )
                )
        for name, ratio in sorted(bounds["maxLimitRequestRatio"].items()):
            if ratio < 1:
                errs.append(
                    invalid_value(
                        f"{path}.maxLimitRequestRatio[{name}]",
                        item["maxLimitRequestRatio"][name],
                        "ratio must be greater than or equal to 1",
                    )
                )
    return errs


# ------------------------------------------------------------------------------ persistent storage


def _access_modes(modes: Any, path: str, required_detail: str | None = None) -> Errors:
    modes = as_list(modes)
    if not modes:
        if required_detail is None:
            return [required(path)]
        return [FieldError(path, "FieldValueRequired", f"Required value: {required_detail}")]
    errs: Errors = []
    supported = sorted(storage.ACCESS_MODES)
    for mode in modes:
        if mode not in storage.ACCESS_MODES:
            errs.append(not_supported(path, mode, supported))
    if storage.READ_WRITE_ONCE_POD in modes and len(modes) > 1:
        errs.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return errs


def _positive_storage(raw: Any, path: str) -> Errors:
    try:
        amount = _parse_quantity(raw)
    except (ValueError, TypeError):
        return [invalid_value(path, raw, quantity.FORMAT_ERROR)]
    if amount <= 0:
        return [invalid_value(path, str(raw), "must be greater than zero")]
    return []


def _class_name(value: Any, path: str) -> Errors:
    if not value:
        return []
    return [invalid_value(path, value, msg) for msg in dns1123_subdomain_errors(str(value))]


def _volume_mode(value: Any, path: str) -> Errors:
    if value is None or value in storage.VOLUME_MODES:
        return []
    return [not_supported(path, value, list(storage.VOLUME_MODES))]


def _absolute_path(value: Any, path: str) -> Errors:
    """``validateLocalDescendingPath`` and friends: a required absolute path without ``..``."""
    if not value:
        return [required(path)]
    text = str(value)
    errs = [] if text.startswith("/") else [invalid_value(path, text, "must be an absolute path")]
    if ".." in text.split("/"):
        errs.append(invalid_value(path, text, "must not contain '..'"))
    return errs


def _node_selector(selector: Any, path: str) -> Errors:
    """A required NodeSelector: at least one term, each expression with a known operator and the
    values its operator needs."""
    terms = as_list(as_dict(selector).get("nodeSelectorTerms"))
    if not terms:
        return [
            FieldError(
                f"{path}.nodeSelectorTerms",
                "FieldValueRequired",
                "Required value: must have at least one node selector term",
            )
        ]
    errs: Errors = []
    operators = ["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"]
    for i, term in enumerate(terms):
        for kind in ("matchExpressions", "matchFields"):
            for j, expr in enumerate(as_list(as_dict(term).get(kind))):
                expr, where = as_dict(expr), f"{path}.nodeSelectorTerms[{i}].{kind}[{j}]"
                key, operator, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
                if not key:
                    errs.append(required(f"{where}.key"))
                elif kind == "matchExpressions":
                    errs.extend(invalid_value(f"{where}.key", key, msg) for msg in label_key_errors(str(key)))
                if operator not in operators:
                    errs.append(invalid_value(f"{where}.operator", operator, "not a valid selector operator"))
                elif operator in ("In", "NotIn") and not values:
                    errs.append(
                        FieldError(
                            f"{where}.values",
                            "FieldValueRequired",
                            "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                        )
                    )
                elif operator in ("Exists", "DoesNotExist") and values:
                    errs.append(
                        forbidden(
                            f"{where}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                        )
                    )
    return errs


def _persistent_volume_source(spec: Obj) -> Errors:
    sources = [source for source in storage.VOLUME_SOURCES if spec.get(source) is not None]
    if not sources:
        return [FieldError("spec", "FieldValueRequired", "Required value: must specify a volume type")]
    if len(sources) > 1:
        return [forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type")]
    source = sources[0]
    body = as_dict(spec[source])
    if source == "hostPath":
        errs = [] if body.get("path") else [required("spec.hostPath.path")]
        kind = body.get("type")
        if kind and kind not in HOST_PATH_TYPES:
            errs.append(not_supported("spec.hostPath.type", kind, sorted(HOST_PATH_TYPES)))
        return errs
    if source == "local":
        errs = _absolute_path(body.get("path"), "spec.local.path")
        if spec.get("nodeAffinity") is None:
            errs.append(
                FieldError(
                    "spec.nodeAffinity", "FieldValueRequired", "Required value: Local volume requires node affinity"
                )
            )
        return errs
    if source == "nfs":
        errs = [] if body.get("server") else [required("spec.nfs.server")]
        return errs + _absolute_path(body.get("path"), "spec.nfs.path")
    return []


#: ``hostPath.type`` values ("" means no check)
HOST_PATH_TYPES = frozenset(
    {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
)


def validate_persistent_volume(obj: Obj) -> Errors:
    """``ValidatePersistentVolumeSpec``: access modes, a positive ``storage`` capacity (the only
    resource), a known reclaim policy and volume mode, a valid class name, exactly one volume source
    and a well-formed node affinity (required for ``local`` volumes)."""
    spec = as_dict(obj.get("spec"))
    errs = _access_modes(spec.get("accessModes"), "spec.accessModes")
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        errs.append(required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported("spec.capacity", ",".join(sorted(capacity)), ["storage"]))
    for name in sorted(capacity):
        errs += _positive_storage(capacity[name], f"spec.capacity[{name}]")
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in storage.RECLAIM_POLICIES:
        errs.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, list(storage.RECLAIM_POLICIES)))
    errs += _class_name(spec.get("storageClassName"), "spec.storageClassName")
    errs += _volume_mode(spec.get("volumeMode"), "spec.volumeMode")
    errs += _persistent_volume_source(spec)
    affinity = spec.get("nodeAffinity")
    if affinity is not None:
        required_selector = as_dict(affinity).get("required")
        if required_selector is None:
            errs.append(
                FieldError(
                    "spec.nodeAffinity.required",
                    "FieldValueRequired",
                    "Required value: must specify required node constraints",
                )
            )
        else:
            errs += _node_selector(required_selector, "spec.nodeAffinity.required")
    claim = spec.get("claimRef")
    if claim is not None and not as_dict(claim).get("name"):
        errs.append(required("spec.claimRef.name"))
    return errs


def validate_persistent_volume_update(new: Obj, old: Obj) -> Errors:
    """A volume's source and mode stay what they were; node affinity may only be added."""
    spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errs: Errors = []
    if any(spec.get(source) != old_spec.get(source) for source in storage.VOLUME_SOURCES):
        errs.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
    if spec.get("volumeMode") != old_spec.get("volumeMode"):
        errs.append(invalid_value("volumeMode", spec.get("volumeMode"), _IMMUTABLE))
    if old_spec.get("nodeAffinity") is not None and spec.get("nodeAffinity") != old_spec.get("nodeAffinity"):
        errs.append(invalid_value("spec.nodeAffinity", spec.get("nodeAffinity"), _IMMUTABLE))
    return errs


def validate_claim_spec(spec: Obj, path: str) -> Errors:
    """``ValidatePersistentVolumeClaimSpec``, also for a StatefulSet's ``volumeClaimTemplates``."""
    errs = _access_modes(spec.get("accessModes"), f"{path}.accessModes", "at least 1 access mode is required")
    selector = spec.get("selector")
    if selector is not None:
        errs += validate_labels(as_dict(selector).get("matchLabels"), f"{path}.selector.matchLabels")
        try:
            label_selector_from_spec(as_dict(selector))
        except ValueError as exc:
            errs.append(invalid_value(f"{path}.selector", selector, str(exc)))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errs.append(required(f"{path}.resources[storage]"))
    else:
        errs += _positive_storage(requests["storage"], f"{path}.resources[storage]")
    errs += _class_name(spec.get("storageClassName"), f"{path}.storageClassName")
    return errs + _volume_mode(spec.get("volumeMode"), f"{path}.volumeMode")


def validate_persistent_volume_claim(obj: Obj) -> Errors:
    return validate_claim_spec(as_dict(obj.get("spec")), "spec")


_CLAIM_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
)


def validate_persistent_volume_claim_update(new: Obj, old: Obj) -> Errors:
    """A claim's spec is fixed once made (quota and limits were judged on it), except that the
    binder sets ``volumeName`` once, a class may be filled in where an unbound claim named none, and
    a bound claim may change its request (never below what it already has)."""
    spec, old_spec = copy.deepcopy(as_dict(new.get("spec"))), as_dict(old.get("spec"))
    if not old_spec.get("volumeName"):
        _restore(spec, old_spec, "volumeName")
        if old_spec.get("storageClassName") is None:
            _restore(spec, old_spec, "storageClassName")  # the retroactive default class
    errs: Errors = []
    bound = as_dict(old.get("status")).get("phase") == storage.CLAIM_BOUND
    request, old_request = storage.claim_request(new), storage.claim_request(old)
    if bound and request is not None and old_request is not None and request != old_request:
        # a smaller request is only a way back from a failed expansion, never below what the claim has
        capacity = storage.storage_quantity(as_dict(old.get("status")).get("capacity"))
        if request < old_request and capacity is not None and request <= capacity:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
        _restore(as_dict(spec.get("resources")), as_dict(old_spec.get("resources")), "requests")
    if spec != old_spec:
        errs.append(forbidden("spec", _CLAIM_SPEC_IMMUTABLE))
    return errs


def validate_storage_class(obj: Obj) -> Errors:
    """``ValidateStorageClass``: a provisioner name, known reclaim policy and binding mode."""
    provisioner = obj.get("provisioner")
    errs: Errors = []
    if not provisioner:
        errs.append(required("provisioner"))
    elif len(str(provisioner)) > 63:
        errs.append(_too_long("provisioner", 63))
    else:
        errs.extend(
            invalid_value("provisioner", provisioner, msg) for msg in label_key_errors(str(provisioner).lower())
        )
    parameters = obj.get("parameters")
    for key in sorted(as_dict(parameters)):
        if not key:
            errs.append(invalid_value("parameters", key, "key may not be empty"))
    policy = obj.get("reclaimPolicy")
    if policy not in storage.CLASS_RECLAIM_POLICIES:
        errs.append(not_supported("reclaimPolicy", policy, list(storage.CLASS_RECLAIM_POLICIES)))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode"))
    elif mode not in storage.BINDING_MODES:
        errs.append(not_supported("volumeBindingMode", mode, list(storage.BINDING_MODES)))
    return errs


def validate_storage_class_update(new: Obj, old: Obj) -> Errors:
    """What a class promised its volumes does not change: provisioner, parameters, reclaim policy
    and binding mode are fixed."""
    errs: Errors = []
    for field in ("parameters", "provisioner", "reclaimPolicy"):
        if (new.get(field) or None) != (old.get(field) or None):
            errs.append(forbidden(field, f"updates to {field} are forbidden."))
    if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
        errs.append(invalid_value("volumeBindingMode", new.get("volumeBindingMode"), _IMMUTABLE))
    return errs


def validate(kind: str, obj: Obj, old: Obj | None = None) -> list[FieldError]:
    """Every problem with ``obj`` (a create when ``old`` is None, else an update of ``old``), by the
    rules of the kind named ``kind``; an empty list means it may be stored. The API server asks the
    kind's strategy, which holds the same :class:`~minikube_py.model.kindrules.KindRules`."""
    # imported here: the table of kind rules is made of this module's checks
    from minikube_py.model.kindrules import rules_of

    return rules_of(kind).validate(obj, old)
