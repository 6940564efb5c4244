"""A container's environment, as kubelet builds it: service links, envFrom, env, and $(VAR) expansion.

Pure functions over plain objects; Secrets and ConfigMaps come through lookups so that callers decide
where they are cached. Errors carry kubelet's wording because they end up in the pod's status
(``CreateContainerConfigError``) where users read them.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from typing import Any

from minikube_py.agent.context import NodeContext
from minikube_py.model.quantity import parse_quantity

Obj = dict[str, Any]
#: (namespace, name) → the object from a cache, or None when it does not exist
Lookup = Callable[[str, str], Obj | None]

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """The container cannot be configured (a missing Secret key, say); shown as CreateContainerConfigError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known variables are replaced, unknown ones stay as written, and
    ``$$`` is an escaped ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def service_env(services: list[Obj], namespace: str) -> list[tuple[str, str]]:
    """Docker-links style variables for every service of the namespace that has a cluster IP; the
    ``kubernetes`` service of ``default`` is always included, as kubelet does for the master service."""
    result: list[tuple[str, str]] = []
    chosen = [
        s
        for s in services
        if s["metadata"].get("namespace") == namespace
        or (s["metadata"].get("namespace") == "default" and s["metadata"]["name"] == "kubernetes")
    ]
    for svc in sorted(chosen, key=lambda s: (s["metadata"]["name"], s["metadata"].get("namespace", ""))):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or ip == "None" or not ports:
            continue
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        result += [(f"{prefix}_SERVICE_HOST", ip), (f"{prefix}_SERVICE_PORT", str(ports[0]["port"]))]
        for port in ports:
            if port.get("name"):
                result.append((f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}", str(port["port"])))
        first = ports[0]
        result.append((f"{prefix}_PORT", f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"))
        for port in ports:
            proto = port.get("protocol", "TCP")
            base = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            result += [
                (base, f"{proto.lower()}://{ip}:{port['port']}"),
                (f"{base}_PROTO", proto.lower()),
                (f"{base}_PORT", str(port["port"])),
                (f"{base}_ADDR", ip),
            ]
    return result


def _secret_value(secret: Obj, key: str) -> str | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        return None
    return base64.b64decode(raw).decode(errors="replace")


def _field(pod: Obj, path: str, node: NodeContext, pod_ip: str) -> str:
    md = pod["metadata"]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return (md.get(match.group(1)) or {}).get(match.group(2), "")
    simple = {
        "metadata.name": md.get("name", ""),
        "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""),
        "spec.nodeName": node.name,
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": node.ip,
        "status.hostIPs": node.ip,
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef {path}")
    return simple[path]


def _resource_field(container: Obj, ref: Obj) -> str:
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is None:
        return "0"
    divisor = parse_quantity(str(ref.get("divisor", "1")))
    amount = parse_quantity(str(value))
    return str(math.ceil(amount / divisor))  # kubelet rounds up


def _fetch(lookup: Lookup, namespace: str, ref: Obj, kind: str) -> Obj | None:
    """The referenced object; None when it is missing but optional, ConfigError when it is required."""
    obj = lookup(namespace, ref["name"])
    if obj is None and not ref.get("optional"):
        raise ConfigError(f'{kind} "{ref["name"]}" not found')
    return obj


def resolve_env(
    pod: Obj, container: Obj, *, secret: Lookup, configmap: Lookup, services: list[Obj], node: NodeContext, pod_ip: str
) -> list[tuple[str, str]]:
    """The environment in kubelet's order: service variables, then envFrom, then env (later names
    win); env values may refer to any variable defined before them."""
    namespace = pod["metadata"].get("namespace", "default")
    values: dict[str, str] = {}
    if (pod.get("spec") or {}).get("enableServiceLinks", True):
        values.update(service_env(services, namespace))
    else:
        values.update(
            service_env(
                [
                    s
                    for s in services
                    if s["metadata"]["name"] == "kubernetes" and s["metadata"].get("namespace") == "default"
                ],
                "default",
            )
        )
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            cm = _fetch(configmap, namespace, source["configMapRef"], "configmap")
            for key, value in ((cm or {}).get("data") or {}).items():
                values[prefix + key] = value
        elif "secretRef" in source:
            sec = _fetch(secret, namespace, source["secretRef"], "secret")
            for key in (sec or {}).get("data") or {}:
                values[prefix + key] = _secret_value(sec or {}, key) or ""
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var or "valueFrom" not in var:
            values[name] = expand(var.get("value", ""), values)
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            ref = source["secretKeyRef" if kind == "Secret" else "configMapKeyRef"]
            obj = _fetch(secret if kind == "Secret" else configmap, namespace, ref, kind.lower())
            if obj is None:
                continue
            value = _secret_value(obj, ref["key"]) if kind == "Secret" else (obj.get("data") or {}).get(ref["key"])
            if value is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
            values[name] = value
        elif "fieldRef" in source:
            values[name] = _field(pod, source["fieldRef"]["fieldPath"], node, pod_ip)
        elif "resourceFieldRef" in source:
            values[name] = _resource_field(container, source["resourceFieldRef"])
    return list(values.items())


def expand_command(container: Obj, env: list[tuple[str, str]]) -> tuple[list[str] | None, list[str] | None]:
    """``command`` and ``args`` with $(VAR) references to the container's environment expanded."""
    values = dict(env)
    command = container.get("command")
    args = container.get("args")
    return (
        [expand(c, values) for c in command] if command is not None else None,
        [expand(a, values) for a in args] if args is not None else None,
    )
