"""Ingress and IngressClass (networking.k8s.io/v1): validation as kube-apiserver's, and which class
an Ingress belongs to.

pykube's own controller (``pykube.io/ingress``) serves the Ingresses of the classes naming it; the
server bootstraps one such class, ``pykube``, marked as the cluster's default, and the
DefaultIngressClass admission gives it to every new Ingress that names none.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from minikube_py.model.errors import FieldError, invalid_value, not_supported, required
from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.selectors import dns1123_subdomain_errors
from minikube_py.model.validation import dns1035_label_errors

Obj = dict[str, Any]
Errors = list[FieldError]

#: the controller pykube's agents run, and the class the server bootstraps for it
CONTROLLER = "pykube.io/ingress"
DEFAULT_CLASS_NAME = "pykube"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
#: the annotation older Ingresses name their class by (before spec.ingressClassName)
CLASS_ANNOTATION = "kubernetes.io/ingress.class"

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
#: what an Exact or Prefix path may not contain (kube-apiserver's check of a clean, absolute path)
_UNCLEAN = ("//", "/./", "/../", "%2f", "%2F")
_UNCLEAN_ENDINGS = ("/..", "/.")
_WILDCARD = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")


# ------------------------------------------------------------------------------ classes


def is_default_class(klass: Obj) -> bool:
    return as_dict(as_dict(klass.get("metadata")).get("annotations")).get(DEFAULT_CLASS_ANNOTATION) == "true"


def default_class(classes: list[Obj]) -> Obj | None:
    """The class a new Ingress without one gets: of those marked default, the newest (as the
    DefaultIngressClass plugin, which since 1.28 picks the most recently created one)."""
    marked = sorted((c for c in classes if is_default_class(c)), key=lambda c: c["metadata"]["name"])
    if not marked:
        return None
    return max(marked, key=lambda c: str(c["metadata"].get("creationTimestamp", "")))


def class_of(ingress: Obj) -> str | None:
    """The class an Ingress names (its field, else the older annotation)."""
    name = as_dict(ingress.get("spec")).get("ingressClassName")
    if name:
        return str(name)
    return as_dict(as_dict(ingress.get("metadata")).get("annotations")).get(CLASS_ANNOTATION)


def validate_ingress_class(obj: Obj) -> Errors:
    """``ValidateIngressClass``: a controller named as a domain-prefixed path of at most 250 bytes."""
    spec = as_dict(obj.get("spec"))
    controller = spec.get("controller")
    if not controller:
        return [required("spec.controller")]
    errs: Errors = []
    if len(str(controller)) > 250:
        errs.append(FieldError("spec.controller", "FieldValueTooLong", "Too long: may not be more than 250 bytes"))
    domain, slash, path = str(controller).partition("/")
    if not slash or not path:
        errs.append(
            invalid_value("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")')
        )
    else:
        errs.extend(invalid_value("spec.controller", controller, msg) for msg in dns1123_subdomain_errors(domain))
    return errs


def validate_ingress_class_update(new: Obj, old: Obj) -> Errors:
    if as_dict(new.get("spec")).get("controller") != as_dict(old.get("spec")).get("controller"):
        return [invalid_value("spec.controller", as_dict(new.get("spec")).get("controller"), "field is immutable")]
    return []


# ------------------------------------------------------------------------------ ingresses


def validate_ingress(obj: Obj) -> Errors:
    """``ValidateIngressSpec``: rules or a default backend, well-formed hosts, paths and backends,
    and TLS hosts."""
    spec = as_dict(obj.get("spec"))
    errs: Errors = []
    rules = as_list(spec.get("rules"))
    if spec.get("defaultBackend") is not None:
        errs += _backend(as_dict(spec.get("defaultBackend")), "spec.defaultBackend")
    elif not rules:
        # kube-apiserver prints the Go value of the empty rules list
        shown = "[]networking.IngressRule{}" if spec.get("rules") == [] else "[]networking.IngressRule(nil)"
        errs.append(
            FieldError(
                "spec",
                "FieldValueInvalid",
                f"Invalid value: {shown}: either `defaultBackend` or `rules` must be specified",
            )
        )
    for i, rule in enumerate(rules):
        errs += _rule(as_dict(rule), f"spec.rules[{i}]")
    for i, tls in enumerate(as_list(spec.get("tls"))):
        for j, host in enumerate(as_list(as_dict(tls).get("hosts"))):
            errs += _host(str(host), f"spec.tls[{i}].hosts[{j}]")
    name = spec.get("ingressClassName")
    if name is not None:
        errs.extend(invalid_value("spec.ingressClassName", name, msg) for msg in dns1123_subdomain_errors(str(name)))
    return errs


def _host(host: str, path: str) -> Errors:
    if host.startswith("*"):
        if _WILDCARD.match(host) and len(host) <= 253:
            return []
        return [
            invalid_value(
                path,
                host,
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid "
                "DNS subdomain, which must consist of lower case alphanumeric characters, "
                "'-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
                "regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                "([-a-z0-9]*[a-z0-9])?)*')",
            )
        ]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return [invalid_value(path, host, msg) for msg in dns1123_subdomain_errors(host)]
    return [invalid_value(path, host, "must be a DNS name, not an IP address")]


def _rule(rule: Obj, path: str) -> Errors:
    errs: Errors = []
    if rule.get("host"):
        errs += _host(str(rule["host"]), f"{path}.host")
    http = rule.get("http")
    if http is None:
        return errs
    paths = as_list(as_dict(http).get("paths"))
    if not paths:
        return [*errs, required(f"{path}.http.paths")]
    for i, entry in enumerate(paths):
        errs += _http_path(as_dict(entry), f"{path}.http.paths[{i}]")
    return errs


def _http_path(entry: Obj, path: str) -> Errors:
    errs: Errors = []
    path_type, value = entry.get("pathType"), entry.get("path")
    if path_type is None:
        errs.append(FieldError(f"{path}.pathType", "FieldValueRequired", "Required value: pathType must be specified"))
    elif path_type not in PATH_TYPES:
        errs.append(not_supported(f"{path}.pathType", path_type, list(PATH_TYPES)))
    if path_type in ("Exact", "Prefix"):
        text = str(value or "")
        if not text.startswith("/"):
            errs.append(invalid_value(f"{path}.path", text, "must be an absolute path"))
        for bad in _UNCLEAN:
            if bad in text:
                errs.append(invalid_value(f"{path}.path", text, f"must not contain '{bad}'"))
        for bad in _UNCLEAN_ENDINGS:
            if text.endswith(bad):
                errs.append(invalid_value(f"{path}.path", text, f"cannot end with '{bad}'"))
    elif value and not str(value).startswith("/"):
        errs.append(invalid_value(f"{path}.path", value, "must be an absolute path"))
    return errs + _backend(as_dict(entry.get("backend")), f"{path}.backend")


def _backend(backend: Obj, path: str) -> Errors:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid_value(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        resource = as_dict(resource)
        return [required(f"{path}.resource.{key}") for key in ("kind", "name") if not resource.get(key)]
    if service is None:
        return [invalid_value(path, "", "resource or service backend is required")]
    service = as_dict(service)
    errs: Errors = []
    name = service.get("name")
    if not name:
        errs.append(required(f"{path}.service.name"))
    else:
        errs.extend(invalid_value(f"{path}.service.name", name, msg) for msg in dns1035_label_errors(str(name)))
    port = as_dict(service.get("port"))
    port_name, number = port.get("name"), port.get("number")
    if port_name and number:
        errs.append(invalid_value(path, "", "cannot set both port name & port number"))
    elif port_name:
        if not _PORT_NAME.match(str(port_name)) or len(str(port_name)) > 15:
            errs.append(
                invalid_value(
                    f"{path}.service.port.name",
                    port_name,
                    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                )
            )
    elif number:
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errs.append(invalid_value(f"{path}.service.port.number", number, "must be between 1 and 65535, inclusive"))
    else:
        errs.append(FieldError(path, "FieldValueRequired", "Required value: port name or number is required"))
    return errs
