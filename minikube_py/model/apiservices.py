"""APIServices (``apiregistration.k8s.io/v1``): the API aggregation layer's pure rules.

An APIService says which server answers one group version: ``Local`` (no ``service``) for the
groups this server serves itself, or a Service in the cluster for an extension API server
(metrics-server, a custom-metrics adapter, a sample ``wardle`` server). Requests for a group version
an APIService sends to a Service are authenticated and authorized here, then proxied to one of the
Service's endpoints over TLS, with the user's identity in ``X-Remote-*`` headers and this server's
front-proxy client certificate vouching for them (the extension server trusts the headers because
the ``extension-apiserver-authentication`` ConfigMap names that CA).

Validation, the table's columns, the priorities of the built-in group versions and the messages of
the availability checks are kube-aggregator's (``pkg/apis/apiregistration/validation``,
``pkg/registry/apiservice``, ``pkg/controllers/status/remote``).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from minikube_py.model.conditions import get_condition
from minikube_py.model.errors import FieldError, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list, dict_items
from minikube_py.model.rbac import UserInfo
from minikube_py.model.selectors import dns1123_subdomain_errors
from minikube_py.model.validation import dns1035_label_errors

Obj = dict[str, Any]
Errors = list[FieldError]

GROUP = "apiregistration.k8s.io"
AVAILABLE = "Available"
#: the label the API server's own APIServices carry: ``onstart`` (created when missing at start, then
#: left to the user) for the built-in group versions, ``true`` (kept in step) for those of CRDs
AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"
ON_START, SYNCED = "onstart", "true"

#: the front-proxy client certificate's name, which extension servers accept headers from
PROXY_CLIENT_NAME = "front-proxy-client"
USER_HEADER, GROUP_HEADER, UID_HEADER, EXTRA_PREFIX = (
    "X-Remote-User",
    "X-Remote-Group",
    "X-Remote-Uid",
    "X-Remote-Extra-",
)
#: where extension API servers read how to authenticate the API server's proxied requests
AUTHENTICATION_CONFIGMAP = "extension-apiserver-authentication"

#: (group priority, version priority) of the built-in group versions, kube-apiserver's table: the
#: group order of ``kubectl api-resources``
BUILTIN_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apiregistration.k8s.io", "v1"): (18000, 1),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("autoscaling", "v1"): (17500, 15),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
}
#: a built-in group version missing from the table (metrics.k8s.io, which pykube serves itself)
OTHER_PRIORITY = (100, 100)
#: kube-apiserver's priorities for the group versions of CustomResourceDefinitions
CRD_PRIORITY = (1000, 100)


def name_of(group: str, version: str) -> str:
    """An APIService's name: ``<version>.<group>`` (``v1.`` for the core group)."""
    return f"{version}.{group}"


# ------------------------------------------------------------------------------ validation


def defaults(obj: Obj) -> None:
    """A service reference without a port means 443."""
    service = as_dict(obj.get("spec")).get("service")
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


def validate(obj: Obj) -> Errors:
    """kube-aggregator's ``ValidateAPIService`` (beyond the metadata), and the status' conditions."""
    spec = as_dict(obj.get("spec"))
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    errs: Errors = []
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    wanted = name_of(group, version)
    if name and name != wanted:
        errs.append(invalid_value("metadata.name", name, f'must be `spec.version+"."+spec.group`: "{wanted}"'))
    if not group and version != "v1":
        errs.append(
            FieldError(
                "spec.group",
                "FieldValueRequired",
                "Required value: only v1 may have an empty group and it better be legacy kube",
            )
        )
    if group:
        errs += [invalid_value("spec.group", group, why) for why in dns1123_subdomain_errors(group)]
    errs += [invalid_value("spec.version", version, why) for why in dns1035_label_errors(version)]
    for key, top in (("groupPriorityMinimum", 20000), ("versionPriority", 1000)):
        value = spec.get(key)
        number = value if isinstance(value, int) and not isinstance(value, bool) else 0
        if not 0 < number <= top:
            errs.append(invalid_value(f"spec.{key}", number, f"must be positive and less than {top}"))
    bundle, insecure = str(spec.get("caBundle") or ""), spec.get("insecureSkipTLSVerify") is True
    service = spec.get("service")
    if not isinstance(service, dict):
        if bundle:
            errs.append(
                invalid_value(
                    "spec.caBundle", f"{len(_bundle_bytes(bundle))} bytes", "local APIServices may not have a caBundle"
                )
            )
        if insecure:
            errs.append(
                invalid_value(
                    "spec.insecureSkipTLSVerify", True, "local APIServices may not have insecureSkipTLSVerify"
                )
            )
        return errs + _status_errors(obj)
    errs += [required(f"spec.service.{key}") for key in ("namespace", "name") if not service.get(key)]
    port = service.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        errs.append(
            invalid_value("spec.service.port", port, "port is not valid: must be between 1 and 65535, inclusive")
        )
    if insecure and bundle:
        errs.append(invalid_value("spec.insecureSkipTLSVerify", True, "may not be true if caBundle is present"))
    return errs + _status_errors(obj)


def _status_errors(obj: Obj) -> Errors:
    return [
        not_supported(f"status.conditions[{i}].status", c.get("status"), ["True", "False", "Unknown"])
        for i, c in enumerate(dict_items(as_dict(obj.get("status")).get("conditions")))
        if c.get("status") not in ("True", "False", "Unknown")
    ]


def _bundle_bytes(bundle: str) -> bytes:
    try:
        return base64.b64decode(bundle)
    except (binascii.Error, ValueError):
        return bundle.encode()


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class Remote:
    """An APIService that sends its group version to a Service: where, and how to trust it."""

    name: str
    group: str
    version: str
    namespace: str
    service: str
    port: int
    ca_bundle: bytes
    insecure: bool
    available: bool
    group_priority: int
    version_priority: int

    @property
    def host_name(self) -> str:
        """The name the extension server's serving certificate must carry."""
        return f"{self.service}.{self.namespace}.svc"


def remote_of(obj: Obj) -> Remote | None:
    """The APIService's Service, or None for a Local one."""
    spec = as_dict(obj.get("spec"))
    service = spec.get("service")
    if not isinstance(service, dict):
        return None
    return Remote(
        name=str(obj["metadata"]["name"]),
        group=str(spec.get("group") or ""),
        version=str(spec.get("version") or ""),
        namespace=str(service.get("namespace") or ""),
        service=str(service.get("name") or ""),
        port=int(service.get("port") or 443),
        ca_bundle=_bundle_bytes(str(spec.get("caBundle") or "")),
        insecure=spec.get("insecureSkipTLSVerify") is True,
        available=is_available(obj),
        group_priority=int(spec.get("groupPriorityMinimum") or 0),
        version_priority=int(spec.get("versionPriority") or 0),
    )


def is_available(obj: Obj) -> bool:
    condition = get_condition(as_dict(obj.get("status")), AVAILABLE)
    return condition is not None and condition.get("status") == "True"


def service_column(obj: Obj) -> str:
    """The SERVICE column: ``namespace/name``, or ``Local``."""
    remote = remote_of(obj)
    return "Local" if remote is None else f"{remote.namespace}/{remote.service}"


def available_column(obj: Obj) -> str:
    """The AVAILABLE column: ``True``, ``False (Reason)``, or ``Unknown`` before any check."""
    condition = get_condition(as_dict(obj.get("status")), AVAILABLE)
    if condition is None:
        return "Unknown"
    status, reason = str(condition.get("status") or ""), condition.get("reason")
    return status if status == "True" or not reason else f"{status} ({reason})"


def openapi_path(index: Any, group: str, version: str) -> str | None:
    """Where an extension server's ``/openapi/v3`` index says its document of ``group``/``version``
    is (``/openapi/v3/apis/<group>/<version>?hash=...``); None when it names none. Only a path under
    ``/openapi/v3/`` of that server is taken: an index cannot send the API server elsewhere."""
    entry = as_dict(as_dict(as_dict(index).get("paths")).get(f"apis/{group}/{version}"))
    url = entry.get("serverRelativeURL")
    return url if isinstance(url, str) and url.startswith("/openapi/v3/") else None


def ordered(remotes: Iterable[Remote]) -> list[tuple[str, list[Remote]]]:
    """Remote group versions by group, groups in discovery's order: the highest
    ``groupPriorityMinimum`` first, then by name."""
    groups: dict[str, list[Remote]] = {}
    for remote in remotes:
        groups.setdefault(remote.group, []).append(remote)
    return sorted(groups.items(), key=lambda item: (-max(r.group_priority for r in item[1]), item[0]))


# ------------------------------------------------------------------------------ availability


@dataclass(frozen=True)
class Verdict:
    """One availability check's outcome, the ``Available`` condition it writes."""

    status: str
    reason: str
    message: str


LOCAL = Verdict("True", "Local", "Local APIServices are always available")
PASSED = Verdict("True", "Passed", "all checks passed")


def service_verdict(remote: Remote, service: Obj | None, endpoints: Obj | None) -> Verdict | str:
    """The checks before the call: the Service exists, listens on the port and (a ClusterIP
    Service) has endpoints for it; else the endpoints' port name to dial (the discovery check
    follows). kube-aggregator's reasons and messages."""
    where = f'service/{remote.service} in "{remote.namespace}"'
    if service is None:
        return Verdict("False", "ServiceNotFound", f"{where} is not present")
    spec = as_dict(service.get("spec"))
    ports = [p for p in dict_items(spec.get("ports")) if p.get("port") == remote.port]
    if spec.get("type", "ClusterIP") == "ExternalName":
        return ""
    if not ports:
        return Verdict("False", "ServicePortError", f"{where} is not listening on port {remote.port}")
    port_name = str(ports[0].get("name") or "")
    if endpoints is None:
        return Verdict(
            "False", "EndpointsNotFound", f'cannot find endpoints for service/{remote.service} in "{remote.namespace}"'
        )
    for subset in dict_items(endpoints.get("subsets")):
        if as_list(subset.get("addresses")) and any(
            str(p.get("name") or "") == port_name for p in dict_items(subset.get("ports"))
        ):
            return port_name
    return Verdict(
        "False",
        "MissingEndpoints",
        f'endpoints for service/{remote.service} in "{remote.namespace}" have no addresses with port name "{port_name}"',
    )


def failed_discovery(message: str) -> Verdict:
    return Verdict("False", "FailedDiscoveryCheck", message)


def with_verdict(obj: Obj, verdict: Verdict, now: str) -> Obj | None:
    """``obj``'s status with ``verdict`` as its Available condition, or None when it says so
    already (kube-aggregator writes only changes). The transition time moves with the status only."""
    status = as_dict(obj.get("status"))
    old = get_condition(status, AVAILABLE)
    if old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (
        verdict.status,
        verdict.reason,
        verdict.message,
    ):
        return None
    changed = old is None or old.get("status") != verdict.status
    condition = {
        "type": AVAILABLE,
        "status": verdict.status,
        "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime", now),
        "reason": verdict.reason,
        "message": verdict.message,
    }
    others = [c for c in dict_items(status.get("conditions")) if c.get("type") != AVAILABLE]
    return {**status, "conditions": [*others, condition]}


# ------------------------------------------------------------------------------ the API server's own


def local_apiservice(group: str, version: str, priority: tuple[int, int], automanaged: str) -> Obj:
    """The Local APIService of a group version this server serves (kube-apiserver's autoregistration)."""
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "APIService",
        "metadata": {"name": name_of(group, version), "labels": {AUTOMANAGED: automanaged}},
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": priority[0],
            "versionPriority": priority[1],
        },
    }


def proxy_headers(user: UserInfo) -> list[tuple[str, str]]:
    """The identity an extension server reads from a proxied request (``requestheader``)."""
    headers = [(USER_HEADER, user.name)]
    headers += [(GROUP_HEADER, group) for group in user.groups]
    for key, values in user.extra.items():
        escaped = urllib.parse.quote(key, safe="-!#$&'*+.^_`|~")
        headers += [(EXTRA_PREFIX + escaped, value) for value in values]
    return headers


def is_identity_header(name: str) -> bool:
    """Whether a client's header claims an identity only the API server may assert (dropped)."""
    lowered = name.lower()
    return lowered in (USER_HEADER.lower(), GROUP_HEADER.lower(), UID_HEADER.lower()) or lowered.startswith(
        EXTRA_PREFIX.lower()
    )


def authentication_config(client_ca: bytes, front_proxy_ca: bytes) -> Obj:
    """The ``extension-apiserver-authentication`` ConfigMap's data, as kube-apiserver publishes it:
    how an extension server authenticates client certificates and trusts the proxy's headers."""
    return {
        "client-ca-file": client_ca.decode(),
        "requestheader-client-ca-file": front_proxy_ca.decode(),
        "requestheader-allowed-names": f'["{PROXY_CLIENT_NAME}"]',
        "requestheader-username-headers": f'["{USER_HEADER}"]',
        "requestheader-group-headers": f'["{GROUP_HEADER}"]',
        "requestheader-extra-headers-prefix": f'["{EXTRA_PREFIX}"]',
    }


def local_changes(
    stored: dict[str, Obj], builtin: Iterable[tuple[str, str]], custom: Iterable[tuple[str, str]], *, starting: bool
) -> tuple[list[Obj], list[str]]:
    """What keeps the Local APIServices in step with what this server serves (kube-apiserver's
    autoregistration): the APIServices to create and the names to delete. The built-in group
    versions' are created at start when missing, then left to the user (``onstart``); those of CRDs
    follow the CRDs (``true``): created when a CRD serves a new group version, deleted when none does."""
    creates = []
    if starting:
        for group, version in builtin:
            if name_of(group, version) not in stored:
                creates.append(
                    local_apiservice(group, version, BUILTIN_PRIORITIES.get((group, version), OTHER_PRIORITY), ON_START)
                )
    wanted = {name_of(group, version): (group, version) for group, version in custom}
    for name, (group, version) in wanted.items():
        if name not in stored and all(c["metadata"]["name"] != name for c in creates):
            creates.append(local_apiservice(group, version, CRD_PRIORITY, SYNCED))
    deletes = [
        name
        for name, obj in stored.items()
        if as_dict(as_dict(obj.get("metadata")).get("labels")).get(AUTOMANAGED) == SYNCED and name not in wanted
    ]
    return creates, deletes


def merge_bundles(*bundles: str) -> str:
    """PEM bundles as one, each certificate once, in the order first seen: the CAs every server of
    a cluster publishes for extension servers (each proxies with a front-proxy CA of its own)."""
    blocks = [
        f"{_BEGIN}{block.split(_END)[0]}{_END}\n"
        for bundle in bundles
        for block in bundle.split(_BEGIN)[1:]
        if _END in block
    ]
    return "".join(dict.fromkeys(blocks))


_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
