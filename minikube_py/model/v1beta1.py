"""The 2014 ``v1beta1`` API: Pods, ReplicationControllers, Services and Minions, to and from v1.

Manifests kept from Kubernetes' first months are written in this shape: ``id`` for the name,
``labels`` beside it, a pod's containers in ``desiredState.manifest``, a controller's
``replicaSelector`` and ``podTemplate``, a service's ``port``/``containerPort``/``selector`` at the top.
pykube stores nothing in it: every v1beta1 request is converted to the v1 object it means, goes
through the same registry as a v1 request, and the stored v1 object is converted back for the answer.
So a pod created through v1beta1 is a v1 pod for every other client, and the other way round.

Conversion is lossy where v1beta1 had no words for a v1 field (a ConfigMap volume, a NodePort, a
second service port). An update through v1beta1 therefore starts from the stored object (``base``)
and replaces only what v1beta1 can say, so a PUT of what a GET returned changes nothing it did not
show. The field meanings follow Kubernetes' v1beta1 types of the time:

- ``command`` was Docker's CMD (v1 ``args``) and ``entrypoint`` its ENTRYPOINT (v1 ``command``);
- ``cpu`` is millicores and ``memory`` bytes, as integers: the container's limits in v1;
- ``restartPolicy`` is an object with one key: ``{"always": {}}``, ``{"onFailure": {}}``, ``{"never": {}}``;
- a pod's status is ``Waiting`` (v1 Pending), ``Running``, or ``Terminated`` (Succeeded or Failed;
  Terminated read back is Failed, since v1beta1 cannot tell the two apart);
- ``resourceVersion`` is a number, the v1 string's value;
- condition statuses are ``Full``/``None``/``Unknown`` where v1 says ``True``/``False``/``Unknown``.

Malformed input is a 422 whose causes name the v1beta1 field paths.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from minikube_py.model import errors
from minikube_py.model.kinds import ResourceType, by_plural
from minikube_py.model.quantity import format_quantity, milli_value, value
from minikube_py.model.selectors import FieldSelector

Obj = dict[str, Any]

VERSION = "v1beta1"
#: how a request without a namespace addresses one object, as v1beta1 defaulted it
DEFAULT_NAMESPACE = "default"

_RESTART_TO_V1 = {"always": "Always", "onFailure": "OnFailure", "never": "Never"}
_RESTART_FROM_V1 = {v: k for k, v in _RESTART_TO_V1.items()}
_PULL_TO_V1 = {"PullAlways": "Always", "PullNever": "Never", "PullIfNotPresent": "IfNotPresent"}
_PULL_FROM_V1 = {v: k for k, v in _PULL_TO_V1.items()}
_PHASE_FROM_V1 = {
    "Pending": "Waiting",
    "Running": "Running",
    "Succeeded": "Terminated",
    "Failed": "Terminated",
    "Unknown": "Unknown",
}
_PHASE_TO_V1 = {"Waiting": "Pending", "Running": "Running", "Terminated": "Failed", "Unknown": "Unknown"}
_CONDITION_FROM_V1 = {"True": "Full", "False": "None", "Unknown": "Unknown"}
_CONDITION_TO_V1 = {v: k for k, v in _CONDITION_FROM_V1.items()}
#: a node condition's fields copied when set, by their v1beta1 name and their v1 name
_CONDITION_FIELDS = (
    ("lastProbeTime", "lastHeartbeatTime"),
    ("lastTransitionTime", "lastTransitionTime"),
    ("reason", "reason"),
    ("message", "message"),
)
#: v1 volume sources v1beta1 could describe, by their v1beta1 names
_VOLUME_SOURCES = {"hostDir": "hostPath", "emptyDir": "emptyDir"}
_PORT_FIELDS = ("port", "containerPort", "protocol", "name")


class _Errors(list[errors.FieldError]):
    """The causes found while converting one object; :meth:`raise_for` ends with one 422."""

    def expect(self, value: Any, kind: type | tuple[type, ...], path: str, what: str) -> bool:
        """Whether ``value`` is absent or of ``kind`` (a bool is no int here); records a cause if not."""
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is None or (isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))):
            return True
        self.append(errors.invalid_value(path, value, f"must be {what}"))
        return False

    def raise_for(self, rt: ResourceType, name: str) -> None:
        if self:
            raise errors.invalid(rt, name, list(self))


# ------------------------------------------------------------------------------ metadata


def _meta_to_v1(obj: Obj, base: Obj | None, namespaced: bool, errs: _Errors) -> Obj:
    """``id``, ``namespace``, ``labels``, ``annotations``, ``resourceVersion`` → v1 ``metadata``.
    ``uid`` and ``creationTimestamp`` are the server's: a create replaces them, an update keeps the
    stored ones (a different ``uid`` is left for v1 validation to refuse as immutable)."""
    md: Obj = copy.deepcopy(base["metadata"]) if base else {}
    for key in ("id", "generateName", "namespace", "uid"):
        errs.expect(obj.get(key), str, key, "a string")
    errs.expect(obj.get("labels"), dict, "labels", "an object")
    errs.expect(obj.get("annotations"), dict, "annotations", "an object")
    if obj.get("id"):
        md["name"] = obj["id"]
    if obj.get("generateName"):
        md["generateName"] = obj["generateName"]
    if namespaced and obj.get("namespace"):
        md["namespace"] = obj["namespace"]
    if obj.get("uid"):
        md["uid"] = obj["uid"]
    _replace(md, "labels", obj.get("labels") or None)
    if "annotations" in obj or not base:
        _replace(md, "annotations", obj.get("annotations") or None)
    rv = obj.get("resourceVersion")
    if isinstance(rv, str) and rv.isdigit():
        rv = int(rv)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv < 0:
        errs.append(errors.invalid_value("resourceVersion", rv, "must be a non-negative integer"))
    elif rv not in (None, 0) and errs.expect(rv, int, "resourceVersion", "a non-negative integer"):
        md["resourceVersion"] = str(rv)
    elif base:
        md.pop("resourceVersion", None)  # an update without one is unconditional, as in v1
    return md


def _meta_from_v1(obj: Obj, kind: str, self_link: str) -> Obj:
    md = obj.get("metadata") or {}
    out: Obj = {"kind": kind, "apiVersion": VERSION, "id": md.get("name", "")}
    if md.get("namespace"):
        out["namespace"] = md["namespace"]
    for key in ("uid", "creationTimestamp", "generateName", "deletionTimestamp", "annotations"):
        if md.get(key):
            out[key] = md[key]
    out["selfLink"] = self_link
    rv = md.get("resourceVersion")
    if isinstance(rv, str) and rv.isdigit():
        out["resourceVersion"] = int(rv)
    if md.get("labels"):
        out["labels"] = md["labels"]
    return out


def self_link(plural: str, namespace: str | None, name: str) -> str:
    """Where v1beta1 addressed an object: the namespace was a query parameter."""
    link = f"/api/{VERSION}/{plural}/{name}"
    return f"{link}?namespace={namespace}" if namespace else link


def _replace(target: Obj, key: str, value: Any) -> None:
    """Set ``target[key]``, or drop it when ``value`` is None: v1beta1 omitted what was unset."""
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


# ------------------------------------------------------------------------------ pod manifest


def _manifest_to_spec(manifest: Any, base: Obj | None, path: str, errs: _Errors) -> Obj:
    """A ``ContainerManifest`` as a v1 PodSpec. ``base`` (the stored spec of an update) keeps what
    the manifest cannot say: container fields v1beta1 lacked and volumes of other sources."""
    spec: Obj = copy.deepcopy(base) if base else {}
    if not errs.expect(manifest, dict, path, "an object") or manifest is None:
        return spec
    version = manifest.get("version")
    if version not in (None, "", VERSION, "v1beta2"):
        errs.append(errors.not_supported(f"{path}.version", version, [VERSION]))
    containers = manifest.get("containers")
    if errs.expect(containers, list, f"{path}.containers", "a list"):
        stored = {c.get("name"): c for c in spec.get("containers") or []}
        spec["containers"] = [
            _container_to_v1(
                c, stored.get(c.get("name")) if isinstance(c, dict) else None, f"{path}.containers[{i}]", errs
            )
            for i, c in enumerate(containers or [])
        ]
    volumes = manifest.get("volumes")
    if errs.expect(volumes, list, f"{path}.volumes", "a list"):
        converted = [_volume_to_v1(v, f"{path}.volumes[{i}]", errs) for i, v in enumerate(volumes or [])]
        names = {v.get("name") for v in converted}
        kept = [
            v
            for v in spec.get("volumes") or []
            if v.get("name") not in names and not any(src in v for src in _VOLUME_SOURCES.values())
        ]
        _replace(spec, "volumes", converted + kept or None)
    policy = manifest.get("restartPolicy")
    if errs.expect(policy, dict, f"{path}.restartPolicy", "an object") and policy:
        chosen = [k for k in policy if k in _RESTART_TO_V1]
        if len(chosen) != 1 or len(policy) != 1:
            errs.append(
                errors.invalid_value(
                    f"{path}.restartPolicy", policy, "must name exactly one of always, onFailure, never"
                )
            )
        else:
            spec["restartPolicy"] = _RESTART_TO_V1[chosen[0]]
    return spec


def _container_to_v1(c: Any, base: Obj | None, path: str, errs: _Errors) -> Obj:
    if not isinstance(c, dict):
        errs.append(errors.invalid_value(path, c, "must be an object"))
        return {}
    out: Obj = copy.deepcopy(base) if base else {}
    for key in ("name", "image", "workingDir"):
        if errs.expect(c.get(key), str, f"{path}.{key}", "a string"):
            _replace(out, key, c.get(key) or None)
    for old, new in (("entrypoint", "command"), ("command", "args")):
        if errs.expect(c.get(old), list, f"{path}.{old}", "a list of strings"):
            _replace(out, new, list(c[old]) if c.get(old) else None)
    ports = c.get("ports")
    if errs.expect(ports, list, f"{path}.ports", "a list"):
        _replace(out, "ports", [_port_to_v1(p, f"{path}.ports[{i}]", errs) for i, p in enumerate(ports or [])] or None)
    env = c.get("env")
    if errs.expect(env, list, f"{path}.env", "a list"):
        _replace(out, "env", [_env_to_v1(e, f"{path}.env[{i}]", errs) for i, e in enumerate(env or [])] or None)
    mounts = c.get("volumeMounts")
    if errs.expect(mounts, list, f"{path}.volumeMounts", "a list"):
        _replace(
            out,
            "volumeMounts",
            [_mount_to_v1(m, f"{path}.volumeMounts[{i}]", errs) for i, m in enumerate(mounts or [])] or None,
        )
    limits = dict((out.get("resources") or {}).get("limits") or {})
    cpu, memory = c.get("cpu"), c.get("memory")
    if errs.expect(cpu, int, f"{path}.cpu", "an integer (millicores)"):
        _replace(limits, "cpu", format_quantity(Fraction(cpu, 1000)) if cpu else None)
    if errs.expect(memory, int, f"{path}.memory", "an integer (bytes)"):
        _replace(limits, "memory", format_quantity(memory) if memory else None)
    resources = dict(out.get("resources") or {})
    _replace(resources, "limits", limits or None)
    _replace(out, "resources", resources or None)
    for probe in ("livenessProbe", "readinessProbe"):
        if errs.expect(c.get(probe), dict, f"{path}.{probe}", "an object"):
            _replace(out, probe, copy.deepcopy(c.get(probe)))
    pull = c.get("imagePullPolicy")
    if pull and pull not in _PULL_TO_V1:
        errs.append(errors.not_supported(f"{path}.imagePullPolicy", pull, list(_PULL_TO_V1)))
    elif pull:
        out["imagePullPolicy"] = _PULL_TO_V1[pull]
    return out


def _port_to_v1(p: Any, path: str, errs: _Errors) -> Obj:
    if not errs.expect(p, dict, path, "an object") or p is None:
        return {}
    out: Obj = {}
    for key, kind, what in (
        ("name", str, "a string"),
        ("hostPort", int, "an integer"),
        ("containerPort", int, "an integer"),
        ("protocol", str, "a string"),
        ("hostIP", str, "a string"),
    ):
        if errs.expect(p.get(key), kind, f"{path}.{key}", what) and p.get(key):
            out[key] = p[key]
    return out


def _env_to_v1(e: Any, path: str, errs: _Errors) -> Obj:
    """An environment variable; ``key`` is the name's older spelling."""
    if not errs.expect(e, dict, path, "an object") or e is None:
        return {}
    name = e.get("name") or e.get("key")
    errs.expect(name, str, f"{path}.name", "a string")
    out: Obj = {"name": name}
    if e.get("value") is not None:
        out["value"] = e["value"] if isinstance(e["value"], str) else str(e["value"])
    if isinstance(e.get("valueFrom"), dict):
        out["valueFrom"] = copy.deepcopy(e["valueFrom"])
    return out


def _mount_to_v1(m: Any, path: str, errs: _Errors) -> Obj:
    """A volume mount; ``path`` is the mount path's older spelling."""
    if not errs.expect(m, dict, path, "an object") or m is None:
        return {}
    out: Obj = {"name": m.get("name"), "mountPath": m.get("mountPath") or m.get("path")}
    errs.expect(out["name"], str, f"{path}.name", "a string")
    errs.expect(out["mountPath"], str, f"{path}.mountPath", "a string")
    if m.get("readOnly"):
        out["readOnly"] = True
    return out


def _volume_to_v1(v: Any, path: str, errs: _Errors) -> Obj:
    """A volume: ``source.hostDir`` is v1's hostPath, ``source.emptyDir`` or no source an emptyDir."""
    if not errs.expect(v, dict, path, "an object") or v is None:
        return {}
    out: Obj = {"name": v.get("name")}
    errs.expect(out["name"], str, f"{path}.name", "a string")
    source = v.get("source") or {}
    if not errs.expect(source, dict, f"{path}.source", "an object"):
        return out
    given = [k for k, s in source.items() if s is not None]
    unknown = [k for k in given if k not in _VOLUME_SOURCES]
    if unknown:
        errs.append(errors.not_supported(f"{path}.source", unknown[0], list(_VOLUME_SOURCES)))
    elif len(given) > 1:
        errs.append(errors.forbidden(f"{path}.source", "may not specify more than 1 volume type"))
    elif given == ["hostDir"]:
        host_dir = source["hostDir"]
        if errs.expect(host_dir, dict, f"{path}.source.hostDir", "an object"):
            out["hostPath"] = {"path": host_dir.get("path")}
    else:
        empty = source.get("emptyDir")
        out["emptyDir"] = {"medium": empty["medium"]} if isinstance(empty, dict) and empty.get("medium") else {}
    return out


def _spec_to_manifest(spec: Obj, name: str | None, uid: str | None) -> Obj:
    manifest: Obj = {"version": VERSION}
    if name:
        manifest["id"] = name
    if uid:
        manifest["uuid"] = uid
    manifest["volumes"] = [
        _volume_from_v1(v) for v in spec.get("volumes") or [] if any(src in v for src in _VOLUME_SOURCES.values())
    ]
    manifest["containers"] = [_container_from_v1(c) for c in spec.get("containers") or []]
    policy = _RESTART_FROM_V1.get(spec.get("restartPolicy") or "Always")
    if policy:
        manifest["restartPolicy"] = {policy: {}}
    return manifest


def _container_from_v1(c: Obj) -> Obj:
    out: Obj = {"name": c.get("name", ""), "image": c.get("image", "")}
    if c.get("command"):
        out["entrypoint"] = list(c["command"])
    if c.get("args"):
        out["command"] = list(c["args"])
    if c.get("workingDir"):
        out["workingDir"] = c["workingDir"]
    if c.get("ports"):
        out["ports"] = [
            {k: p[k] for k in ("name", "hostPort", "containerPort", "protocol", "hostIP") if p.get(k)}
            for p in c["ports"]
        ]
    if c.get("env"):
        out["env"] = [{k: e[k] for k in ("name", "value", "valueFrom") if k in e} for e in c["env"]]
    limits = (c.get("resources") or {}).get("limits") or {}
    if limits.get("cpu"):
        out["cpu"] = milli_value(limits["cpu"])
    if limits.get("memory"):
        out["memory"] = value(limits["memory"])
    if c.get("volumeMounts"):
        out["volumeMounts"] = [
            {
                "name": m.get("name"),
                "mountPath": m.get("mountPath"),
                **({"readOnly": True} if m.get("readOnly") else {}),
            }
            for m in c["volumeMounts"]
        ]
    for probe in ("livenessProbe", "readinessProbe"):
        if c.get(probe):
            out[probe] = c[probe]
    if c.get("imagePullPolicy") in _PULL_FROM_V1:
        out["imagePullPolicy"] = _PULL_FROM_V1[c["imagePullPolicy"]]
    return out


def _volume_from_v1(v: Obj) -> Obj:
    if "hostPath" in v:
        source: Obj = {"hostDir": {"path": (v["hostPath"] or {}).get("path", "")}}
    else:
        medium = (v.get("emptyDir") or {}).get("medium")
        source = {"emptyDir": {"medium": medium} if medium else {}}
    return {"name": v.get("name", ""), "source": source}


# ------------------------------------------------------------------------------ Pod


def pod_to_v1(obj: Obj, base: Obj | None = None) -> Obj:
    """A v1beta1 Pod as the v1 Pod it describes; ``base`` is the stored pod an update replaces.
    ``currentState`` is ignored: a pod's status is written by its node, not by clients."""
    errs = _Errors()
    md = _meta_to_v1(obj, base, True, errs)
    desired = obj.get("desiredState") or {}
    if errs.expect(desired, dict, "desiredState", "an object"):
        spec = _manifest_to_spec(desired.get("manifest"), (base or {}).get("spec"), "desiredState.manifest", errs)
        if errs.expect(desired.get("host"), str, "desiredState.host", "a string") and desired.get("host"):
            spec["nodeName"] = desired["host"]
    else:
        spec = {}
    if errs.expect(obj.get("nodeSelector"), dict, "nodeSelector", "an object") and "nodeSelector" in obj:
        _replace(spec, "nodeSelector", obj["nodeSelector"] or None)
    errs.raise_for(_PODS, str(md.get("name", "")))
    out: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}
    if base and "status" in base:
        out["status"] = copy.deepcopy(base["status"])
    return out


def pod_from_v1(pod: Obj) -> Obj:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    out = _meta_from_v1(pod, "Pod", self_link("pods", md.get("namespace"), md.get("name", "")))
    desired: Obj = {"manifest": _spec_to_manifest(spec, md.get("name"), md.get("uid"))}
    if spec.get("nodeName"):
        desired["host"] = spec["nodeName"]
    out["desiredState"] = desired
    out["currentState"] = _pod_state_from_v1(spec, status)
    if spec.get("nodeSelector"):
        out["nodeSelector"] = spec["nodeSelector"]
    return out


def _pod_state_from_v1(spec: Obj, status: Obj) -> Obj:
    state: Obj = {"status": _PHASE_FROM_V1.get(status.get("phase") or "Pending", "Unknown")}
    for key, source in (
        ("message", status.get("message")),
        ("host", spec.get("nodeName")),
        ("hostIP", status.get("hostIP")),
        ("podIP", status.get("podIP")),
    ):
        if source:
            state[key] = source
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is not None:
        state["Condition"] = [{"kind": "Ready", "status": _CONDITION_FROM_V1.get(ready.get("status"), "Unknown")}]
    info = {cs.get("name", ""): _container_status_from_v1(cs) for cs in status.get("containerStatuses") or []}
    if info:
        state["info"] = info
    return state


def _container_status_from_v1(cs: Obj) -> Obj:
    out: Obj = {
        "state": _container_state_from_v1(cs.get("state") or {}),
        "ready": bool(cs.get("ready")),
        "restartCount": cs.get("restartCount", 0),
        "image": cs.get("image", ""),
        "imageID": cs.get("imageID", ""),
    }
    if cs.get("lastState"):
        out["lastState"] = _container_state_from_v1(cs["lastState"])
    if cs.get("containerID"):
        out["containerID"] = cs["containerID"]
    return out


def _container_state_from_v1(state: Obj) -> Obj:
    """v1beta1 named the terminated state ``termination``."""
    renamed = {"waiting": "waiting", "running": "running", "terminated": "termination"}
    return {renamed[k]: v for k, v in state.items() if k in renamed}


# ------------------------------------------------------------------------------ ReplicationController


def replication_controller_to_v1(obj: Obj, base: Obj | None = None) -> Obj:
    """A v1beta1 ReplicationController as v1: ``desiredState.replicas``, ``replicaSelector`` and
    ``podTemplate`` (``desiredState.manifest`` and ``labels``) make the spec."""
    errs = _Errors()
    md = _meta_to_v1(obj, base, True, errs)
    spec: Obj = copy.deepcopy((base or {}).get("spec") or {})
    desired = obj.get("desiredState") or {}
    if errs.expect(desired, dict, "desiredState", "an object"):
        replicas = desired.get("replicas")
        if errs.expect(replicas, int, "desiredState.replicas", "an integer") and replicas is not None:
            spec["replicas"] = replicas
        selector = desired.get("replicaSelector")
        if errs.expect(selector, dict, "desiredState.replicaSelector", "an object"):
            _replace(spec, "selector", selector or None)
        template = desired.get("podTemplate")
        if errs.expect(template, dict, "desiredState.podTemplate", "an object") and template is not None:
            spec["template"] = _template_to_v1(template, spec.get("template"), errs)
    errs.raise_for(_RCS, str(md.get("name", "")))
    out: Obj = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": md, "spec": spec}
    if base and "status" in base:
        out["status"] = copy.deepcopy(base["status"])
    return out


def _template_to_v1(template: Obj, base: Obj | None, errs: _Errors) -> Obj:
    path = "desiredState.podTemplate"
    out: Obj = copy.deepcopy(base) if base else {}
    tmd = dict(out.get("metadata") or {})
    for key in ("labels", "annotations"):
        if errs.expect(template.get(key), dict, f"{path}.{key}", "an object"):
            _replace(tmd, key, template.get(key) or None)
    out["metadata"] = tmd
    state = template.get("desiredState") or {}
    if errs.expect(state, dict, f"{path}.desiredState", "an object"):
        out["spec"] = _manifest_to_spec(state.get("manifest"), out.get("spec"), f"{path}.desiredState.manifest", errs)
        if (
            errs.expect(template.get("nodeSelector"), dict, f"{path}.nodeSelector", "an object")
            and "nodeSelector" in template
        ):
            _replace(out["spec"], "nodeSelector", template["nodeSelector"] or None)
    return out


def replication_controller_from_v1(rc: Obj) -> Obj:
    md = rc.get("metadata") or {}
    spec = rc.get("spec") or {}
    out = _meta_from_v1(
        rc, "ReplicationController", self_link("replicationControllers", md.get("namespace"), md.get("name", ""))
    )
    desired: Obj = {"replicas": spec.get("replicas", 1)}
    if spec.get("selector"):
        desired["replicaSelector"] = spec["selector"]
    template = spec.get("template") or {}
    tmd = template.get("metadata") or {}
    pod_template: Obj = {"desiredState": {"manifest": _spec_to_manifest(template.get("spec") or {}, None, None)}}
    for key in ("labels", "annotations"):
        if tmd.get(key):
            pod_template[key] = tmd[key]
    if (template.get("spec") or {}).get("nodeSelector"):
        pod_template["nodeSelector"] = template["spec"]["nodeSelector"]
    desired["podTemplate"] = pod_template
    out["desiredState"] = desired
    out["currentState"] = {"replicas": (rc.get("status") or {}).get("replicas", 0)}
    return out


# ------------------------------------------------------------------------------ Service


def service_to_v1(obj: Obj, base: Obj | None = None) -> Obj:
    """A v1beta1 Service as v1: ``port``/``containerPort``/``protocol``/``portName`` are its first
    port (``containerPort`` a number or a port name, the port itself when absent), ``portalIP`` the
    ClusterIP, ``createExternalLoadBalancer`` the LoadBalancer type, ``publicIPs`` the external IPs."""
    errs = _Errors()
    md = _meta_to_v1(obj, base, True, errs)
    spec: Obj = copy.deepcopy((base or {}).get("spec") or {})
    stored_ports = list(spec.get("ports") or [])
    if obj.get("ports"):
        if errs.expect(obj["ports"], list, "ports", "a list"):
            spec["ports"] = [
                _service_port_to_v1(
                    p,
                    {k: f"ports[{i}].{k}" for k in _PORT_FIELDS},
                    stored_ports[i] if i < len(stored_ports) else None,
                    errs,
                )
                if errs.expect(p, dict, f"ports[{i}]", "an object") and p is not None
                else {}
                for i, p in enumerate(obj["ports"])
            ]
    else:
        first = {
            "port": obj.get("port"),
            "containerPort": obj.get("containerPort"),
            "protocol": obj.get("protocol"),
            "name": obj.get("portName"),
        }
        if obj.get("port") is None:
            errs.append(errors.required("port"))
        paths = {k: k for k in _PORT_FIELDS} | {"name": "portName"}
        spec["ports"] = [
            _service_port_to_v1(first, paths, stored_ports[0] if stored_ports else None, errs),
            *stored_ports[1:],
        ]
    selector = obj.get("selector")
    if errs.expect(selector, dict, "selector", "an object"):
        _replace(spec, "selector", selector or None)
    portal = obj.get("portalIP")
    if errs.expect(portal, str, "portalIP", "a string") and portal:
        spec["clusterIP"] = portal
    public = obj.get("publicIPs")
    if errs.expect(public, list, "publicIPs", "a list of strings") and "publicIPs" in obj:
        balancer = _ingress_ips(base or {})  # shown among publicIPs, but the load balancer's, not the spec's
        _replace(spec, "externalIPs", [ip for ip in public or [] if ip not in balancer] or None)
    affinity = obj.get("sessionAffinity")
    if errs.expect(affinity, str, "sessionAffinity", "a string") and affinity:
        spec["sessionAffinity"] = affinity
    external = obj.get("createExternalLoadBalancer")
    errs.expect(external, bool, "createExternalLoadBalancer", "true or false")
    if external is True:
        spec["type"] = "LoadBalancer"
    elif spec.get("type") in (None, "LoadBalancer"):
        spec["type"] = "ClusterIP"
    errs.raise_for(_SERVICES, str(md.get("name", "")))
    out: Obj = {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}
    if base and "status" in base:
        out["status"] = copy.deepcopy(base["status"])
    return out


def _service_port_to_v1(p: Any, paths: dict[str, str], base: Obj | None, errs: _Errors) -> Obj:
    """One port; ``paths`` names its fields as the request spelled them (``portName`` at the top)."""
    out: Obj = copy.deepcopy(base) if base and base.get("port") == p.get("port") else {}
    if errs.expect(p.get("port"), int, paths["port"], "an integer") and p.get("port") is not None:
        out["port"] = p["port"]
    target = p.get("containerPort")
    if errs.expect(target, (int, str), paths["containerPort"], "a port number or name"):
        _replace(out, "targetPort", target if target not in (None, "", 0) else p.get("port"))
    for key in ("protocol", "name"):
        if errs.expect(p.get(key), str, paths[key], "a string"):
            _replace(out, key, p.get(key) or None)
    return out


def service_from_v1(svc: Obj) -> Obj:
    md = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    out = _meta_from_v1(svc, "Service", self_link("services", md.get("namespace"), md.get("name", "")))
    ports = spec.get("ports") or [{}]
    first = ports[0]
    out["port"] = first.get("port", 0)
    if first.get("name"):
        out["portName"] = first["name"]
    out["protocol"] = first.get("protocol", "TCP")
    out["containerPort"] = first.get("targetPort", first.get("port", 0))
    out["selector"] = spec.get("selector")
    if spec.get("clusterIP"):
        out["portalIP"] = spec["clusterIP"]
    if spec.get("type") == "LoadBalancer":
        out["createExternalLoadBalancer"] = True
    external = list(spec.get("externalIPs") or [])
    public = external + [ip for ip in _ingress_ips(svc) if ip not in external]
    if public:
        out["publicIPs"] = public
    if spec.get("sessionAffinity"):
        out["sessionAffinity"] = spec["sessionAffinity"]
    if len(ports) > 1:  # v1beta1's last form listed every port; the first stays in the old fields too
        out["ports"] = [
            {
                "name": p.get("name", ""),
                "protocol": p.get("protocol", "TCP"),
                "port": p.get("port", 0),
                "containerPort": p.get("targetPort", p.get("port", 0)),
            }
            for p in ports
        ]
    return out


def _ingress_ips(svc: Obj) -> list[str]:
    """The load balancer's addresses: v1beta1 showed them among ``publicIPs``, where the cloud
    provider of the time wrote them."""
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if isinstance(i, dict) and i.get("ip")]


# ------------------------------------------------------------------------------ Minion


def minion_to_v1(obj: Obj, base: Obj | None = None) -> Obj:
    """A v1beta1 Minion as a v1 Node: ``hostIP`` its InternalIP, ``resources.capacity`` its capacity
    (cpu in millicores, the rest as plain numbers or quantities), ``unschedulable`` and ``podCIDR``
    its spec. ``status`` is kept from ``base`` on an update: a node reports its own."""
    errs = _Errors()
    md = _meta_to_v1(obj, base, False, errs)
    spec: Obj = copy.deepcopy((base or {}).get("spec") or {})
    for key, kind, what in (
        ("unschedulable", bool, "true or false"),
        ("podCIDR", str, "a string"),
        ("externalID", str, "a string"),
    ):
        if errs.expect(obj.get(key), kind, key, what) and key in obj:
            _replace(spec, key, obj[key] or None)
    out: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": md, "spec": spec}
    if base:
        if "status" in base:
            out["status"] = copy.deepcopy(base["status"])
    else:
        out["status"] = _node_status_to_v1(obj, errs)
    errs.raise_for(_NODES, str(md.get("name", "")))
    return out


def _node_status_to_v1(obj: Obj, errs: _Errors) -> Obj:
    status: Obj = {}
    if errs.expect(obj.get("hostIP"), str, "hostIP", "a string") and obj.get("hostIP"):
        status["addresses"] = [{"type": "InternalIP", "address": obj["hostIP"]}]
    capacity = (obj.get("resources") or {}).get("capacity") if isinstance(obj.get("resources"), dict) else None
    if errs.expect(capacity, dict, "resources.capacity", "an object") and capacity:
        converted: Obj = {}
        for name, amount in capacity.items():
            if not errs.expect(amount, (int, str), f"resources.capacity.{name}", "a number or a quantity"):
                continue
            if name == "cpu" and isinstance(amount, int):
                converted[name] = format_quantity(Fraction(amount, 1000))
            else:
                converted[name] = str(amount)
        status["capacity"] = converted
    conditions = (obj.get("status") or {}).get("conditions") if isinstance(obj.get("status"), dict) else None
    if errs.expect(conditions, list, "status.conditions", "a list") and conditions:
        status["conditions"] = [
            {
                "type": c.get("kind"),
                "status": _CONDITION_TO_V1.get(c.get("status"), "Unknown"),
                **{v1: c[v1beta1] for v1beta1, v1 in _CONDITION_FIELDS if c.get(v1beta1)},
            }
            for c in conditions
            if isinstance(c, dict)
        ]
    return status


def minion_from_v1(node: Obj) -> Obj:
    md = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    out = _meta_from_v1(node, "Minion", self_link("minions", None, md.get("name", "")))
    addresses = status.get("addresses") or []
    internal = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
    host_ip = internal or next((a.get("address") for a in addresses), None)
    if host_ip:
        out["hostIP"] = host_ip
    capacity = {
        name: milli_value(q) if name == "cpu" else value(q) for name, q in (status.get("capacity") or {}).items()
    }
    out["resources"] = {"capacity": capacity} if capacity else {}
    for key in ("podCIDR", "unschedulable", "externalID"):
        if spec.get(key):
            out[key] = spec[key]
    out["status"] = {
        "conditions": [
            {
                "kind": c.get("type"),
                "status": _CONDITION_FROM_V1.get(c.get("status"), "Unknown"),
                **{v1beta1: c[v1] for v1beta1, v1 in _CONDITION_FIELDS if c.get(v1)},
            }
            for c in status.get("conditions") or []
        ]
    }
    if addresses:
        out["status"]["addresses"] = addresses
    return out


# ------------------------------------------------------------------------------ field selectors

#: v1beta1's field labels (``fields=DesiredState.Host=``, as its scheduler asked for unbound pods)
#: and the v1 fields they select, by v1beta1 kind; ``name`` works for every kind
_FIELD_LABELS: dict[str, dict[str, str]] = {
    "Pod": {"DesiredState.Host": "spec.nodeName", "Status.Host": "spec.nodeName", "DesiredState.Status": "status.phase"}
}


def field_selector_to_v1(kind: str, selector: FieldSelector) -> FieldSelector:
    """A field selector in v1beta1's words as v1's; v1 field names pass through unchanged.
    ``DesiredState.Status`` values are v1beta1 statuses (``Terminated`` selects Failed pods, as the
    conversion of the time did)."""
    labels = {"name": "metadata.name", **_FIELD_LABELS.get(kind, {})}
    converted = []
    for field, op, wanted in selector.requirements:
        v1_field = labels.get(field, field)
        if v1_field == "status.phase" and field != v1_field:
            wanted = _PHASE_TO_V1.get(wanted, wanted)
        converted.append((v1_field, op, wanted))
    return FieldSelector(tuple(converted))


# ------------------------------------------------------------------------------ the resource table


@dataclass(frozen=True)
class LegacyResource:
    """One v1beta1 collection and the v1 resource whose objects it shows."""

    plural: str  # the path segment, as v1beta1 spelled it
    kind: str  # the v1beta1 kind
    rt: ResourceType
    to_v1: Callable[[Obj, Obj | None], Obj]
    from_v1: Callable[[Obj], Obj]

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _v1(plural: str) -> ResourceType:
    rt = by_plural("", "v1", plural)
    assert rt is not None, plural
    return rt


_PODS, _RCS, _SERVICES, _NODES = _v1("pods"), _v1("replicationcontrollers"), _v1("services"), _v1("nodes")

RESOURCES: dict[str, LegacyResource] = {
    r.plural: r
    for r in (
        LegacyResource("pods", "Pod", _PODS, pod_to_v1, pod_from_v1),
        LegacyResource(
            "replicationControllers",
            "ReplicationController",
            _RCS,
            replication_controller_to_v1,
            replication_controller_from_v1,
        ),
        LegacyResource("services", "Service", _SERVICES, service_to_v1, service_from_v1),
        LegacyResource("minions", "Minion", _NODES, minion_to_v1, minion_from_v1),
    )
}


def list_from_v1(resource: LegacyResource, items: list[Obj], revision: int, link: str) -> Obj:
    """A v1beta1 list: type and list metadata flat beside ``items``; a MinionList repeated its items
    as ``minions``, the name the first releases used."""
    converted = [resource.from_v1(item) for item in items]
    out: Obj = {
        "kind": resource.list_kind,
        "apiVersion": VERSION,
        "selfLink": link,
        "resourceVersion": revision,
        "items": converted,
    }
    if resource.kind == "Minion":
        out["minions"] = converted
    return out
