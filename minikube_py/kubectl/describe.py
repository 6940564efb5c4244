"""``kubectl describe`` (pods, deployments, config maps and namespaces here; other kinds in
:mod:`.describekinds`): for pods the object, its containers, conditions, volumes and its events, laid
out as kubectl lays them out (one Go tabwriter with padding 2 over the whole text, so each run of
``Key:\\tvalue`` lines aligns on its own)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.get import named_objects, parse_requests
from minikube_py.kubectl.printing import go_tabwriter
from minikube_py.kubectl.session import Session, run
from minikube_py.model.rollout import equal_ignore_hash
from minikube_py.model.selectors import selector_to_string
from minikube_py.model.times import parse_time, since

Obj = dict[str, Any]
#: describe leaves out apply's copy of the configuration and puts long annotations on lines of their own
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATION = 140


class Text:
    """kubectl's prefix writer: lines at indentation levels of two spaces."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    @classmethod
    def named(cls, meta: Obj, *, namespace: bool = True) -> Text:
        """A writer opened with the object's ``Name:`` (and ``Namespace:``) line, as most describers begin."""
        w = cls()
        w.line(0, f"Name:\t{meta['name']}")
        if namespace:
            w.line(0, f"Namespace:\t{meta.get('namespace', '')}")
        return w

    @classmethod
    def headed(cls, meta: Obj, *, namespace: bool = True) -> Text:
        """:meth:`named`, then the object's labels and annotations: the head of the simpler kinds."""
        w = cls.named(meta, namespace=namespace)
        w.map(0, "Labels", meta.get("labels"))
        w.annotations(0, meta.get("annotations"))
        return w

    def line(self, level: int, text: str) -> None:
        self.parts.append("  " * level + text + "\n")

    def optional(self, level: int, title: str, value: object) -> None:
        """``title:  value`` when the object sets ``value``; kubectl leaves the line out otherwise."""
        if value:
            self.line(level, f"{title}:\t{value}")

    def header(self, level: int, *titles: str) -> None:
        """A table's column titles and the rule of dashes under each."""
        self.line(level, "\t".join(titles))
        self.line(level, "\t".join("-" * len(title) for title in titles))

    def map(self, level: int, title: str, values: dict[str, str] | None, sep: str = "=") -> None:
        """``Labels:  a=b`` with further pairs on lines of their own, aligned under the first."""
        items = sorted((values or {}).items())
        if not items:
            self.line(level, f"{title}:\t<none>")
            return
        for i, (key, value) in enumerate(items):  # kubectl does not indent the further pairs' lines
            self.line(level if i == 0 else 0, (f"{title}:\t" if i == 0 else "\t") + f"{key}{sep}{value}")

    def annotations(self, level: int, values: dict[str, str] | None) -> None:
        """``Annotations:`` as kubectl prints them: apply's copy left out; a long or multi-line value
        on lines of its own under its key, each cut at 138 characters."""
        items = sorted((k, v) for k, v in (values or {}).items() if k != LAST_APPLIED)
        if not items:
            self.line(level, "Annotations:\t<none>")
            return
        for i, (key, value) in enumerate(items):
            head = "Annotations:\t" if i == 0 else "\t"
            value = value.removesuffix("\n")
            if len(value) + len(key) + 2 > MAX_ANNOTATION or "\n" in value:
                self.line(level, f"{head}{key}:")
                for part in value.split("\n"):
                    cut = MAX_ANNOTATION - 2
                    self.line(level, "\t  " + (part[:cut] + "..." if len(part) > cut else part))
            else:
                self.line(level, f"{head}{key}: {value}")

    def render(self) -> str:
        return go_tabwriter("".join(self.parts), 2)


def go_time(value: str | None) -> str:
    """RFC 1123 with a numeric zone, as describe prints times: ``Mon, 02 Jan 2006 15:04:05 +0000``."""
    moment = parse_time(value)
    return moment.strftime("%a, %d %b %Y %H:%M:%S %z") if moment else ""


def parts(obj: Obj) -> tuple[Obj, Obj, Obj]:
    """An object's metadata, spec and status (the latter two empty when it has none)."""
    return obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}


def controlled_by(w: Text, meta: Obj) -> None:
    """``Controlled By:  Kind/name`` when an owner reference is the object's controller."""
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        w.line(0, f"Controlled By:\t{owner['kind']}/{owner['name']}")


def describe_pod(pod: Obj, events: list[Obj], now: datetime) -> str:
    meta, spec, status = parts(pod)
    w = Text.named(meta)
    w.line(0, f"Priority:\t{spec.get('priority', 0)}")
    w.optional(0, "Priority Class Name", spec.get("priorityClassName"))
    w.optional(0, "Runtime Class Name", spec.get("runtimeClassName"))
    w.line(0, f"Service Account:\t{spec.get('serviceAccountName', '')}")
    node = spec.get("nodeName")
    w.line(0, f"Node:\t{node + '/' + status.get('hostIP', '') if node else '<none>'}")
    if status.get("startTime"):
        w.line(0, f"Start Time:\t{go_time(status['startTime'])}")
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    if meta.get("deletionTimestamp"):
        w.line(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'], now)})")
        w.line(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s")
    else:
        w.line(0, f"Status:\t{status.get('phase', '')}")
    w.optional(0, "Reason", status.get("reason"))
    w.optional(0, "Message", status.get("message"))
    w.line(0, f"IP:\t{status.get('podIP', '')}")
    ips = status.get("podIPs") or []
    if ips:
        w.line(0, "IPs:")
        for ip in ips:
            w.line(1, f"IP:\t{ip['ip']}")
    else:
        w.line(0, "IPs:\t<none>")
    controlled_by(w, meta)
    statuses = {s["name"]: s for s in status.get("containerStatuses") or []}
    if spec.get("initContainers"):
        init_statuses = {s["name"]: s for s in status.get("initContainerStatuses") or []}
        w.line(0, "Init Containers:")
        for container in spec["initContainers"]:
            _container(w, container, init_statuses.get(container["name"]))
    w.line(0, "Containers:")
    for container in spec.get("containers") or []:
        _container(w, container, statuses.get(container["name"]))
    if status.get("conditions"):
        w.line(0, "Conditions:")
        w.line(1, "Type\tStatus")
        for condition in status["conditions"]:
            w.line(1, f"{condition['type']} \t{condition['status']} ")
    _volumes(w, spec.get("volumes") or [])
    w.line(0, f"QoS Class:\t{status.get('qosClass', '')}")
    w.map(0, "Node-Selectors", spec.get("nodeSelector"), sep=":")
    _tolerations(w, spec.get("tolerations") or [])
    events_section(w, events, now)
    return w.render()


def _container(w: Text, c: Obj, st: Obj | None, name_prefix: str = "") -> None:
    """A container; in a pod template its name is indented one space more (``name_prefix``)."""
    w.line(1, f"{name_prefix}{c['name']}:")
    if st is not None and st.get("containerID"):
        w.line(2, f"Container ID:\t{st['containerID']}")
    w.line(2, f"Image:\t{c.get('image', '')}")
    if st is not None:
        w.line(2, f"Image ID:\t{st.get('imageID', '')}")
    ports = c.get("ports") or []
    w.line(2, "Port:\t" + (", ".join(f"{p['containerPort']}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"))
    w.line(
        2, "Host Port:\t" + (", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>")
    )
    for title, key in (("Command", "command"), ("Args", "args")):
        if c.get(key):
            w.line(2, f"{title}:")
            for part in c[key]:
                for piece in str(part).split("\n"):
                    w.line(3, piece)
    if st is not None:
        _state(w, "State", st.get("state") or {})
        if st.get("lastState"):
            _state(w, "Last State", st["lastState"])
        w.line(2, f"Ready:\t{'True' if st.get('ready') else 'False'}")
        w.line(2, f"Restart Count:\t{st.get('restartCount', 0)}")
    resources = c.get("resources") or {}
    for title in ("limits", "requests"):
        if resources.get(title):
            w.line(2, f"{title.capitalize()}:")
            for key, value in sorted(resources[title].items()):
                w.line(3, f"{key}:\t{value}")
    env = c.get("env") or []
    if not env and not c.get("envFrom"):
        w.line(2, "Environment:\t<none>")
    else:
        w.line(2, "Environment:")
        for e in env:
            if "value" in e or "valueFrom" not in e:
                w.line(3, f"{e['name']}:\t{e.get('value', '')}")
            else:
                w.line(3, f"{e['name']}:\t{_value_from(e['valueFrom'])}")
    mounts = c.get("volumeMounts") or []
    if not mounts:
        w.line(2, "Mounts:\t<none>")
    else:
        w.line(2, "Mounts:")
        for m in sorted(mounts, key=lambda m: m["mountPath"]):
            flags = "ro" if m.get("readOnly") else "rw"
            sub = f',path="{m["subPath"]}"' if m.get("subPath") else ""
            w.line(3, f"{m['mountPath']} from {m['name']} ({flags}{sub})")


def _value_from(source: Obj) -> str:
    if "fieldRef" in source:
        ref = source["fieldRef"]
        return f"({ref.get('apiVersion', 'v1')}:{ref['fieldPath']})"
    for kind, label in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
        if kind in source:
            ref = source[kind]
            return f"<set to the key '{ref['key']}' of {label} '{ref.get('name', '')}'>" + (
                "  Optional: true" if ref.get("optional") else "  Optional: false"
            )
    return ""


def _state(w: Text, title: str, state: Obj) -> None:
    if "running" in state:
        w.line(2, f"{title}:\tRunning")
        w.line(3, f"Started:\t{go_time(state['running'].get('startedAt'))}")
    elif "waiting" in state:
        w.line(2, f"{title}:\tWaiting")
        if state["waiting"].get("reason"):
            w.line(3, f"Reason:\t{state['waiting']['reason']}")
    elif "terminated" in state:
        t = state["terminated"]
        w.line(2, f"{title}:\tTerminated")
        w.optional(3, "Reason", t.get("reason"))
        w.optional(3, "Message", t.get("message"))
        w.line(3, f"Exit Code:\t{t.get('exitCode', 0)}")
        w.optional(3, "Signal", t.get("signal"))
        w.line(3, f"Started:\t{go_time(t.get('startedAt'))}")
        w.line(3, f"Finished:\t{go_time(t.get('finishedAt'))}")
    else:
        w.line(2, f"{title}:\tWaiting")


def _volumes(w: Text, volumes: list[Obj], level: int = 0) -> None:
    if not volumes:
        w.line(level, "Volumes:\t<none>")
        return
    w.line(level, "Volumes:")
    for volume in volumes:
        w.line(level + 1, f"{volume['name']}:")
        if "projected" in volume:
            w.line(level + 2, "Type:\tProjected (a volume that contains injected data from multiple sources)")
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    w.line(
                        level + 2,
                        f"TokenExpirationSeconds:\t{source['serviceAccountToken'].get('expirationSeconds', 3600)}",
                    )
                if "configMap" in source:
                    w.line(level + 2, f"ConfigMapName:\t{source['configMap'].get('name', '')}")
                    optional = source["configMap"].get("optional")
                    w.line(level + 2, f"ConfigMapOptional:\t{'<nil>' if optional is None else str(optional).lower()}")
                if "secret" in source:
                    w.line(level + 2, f"SecretName:\t{source['secret'].get('name', '')}")
                    optional = source["secret"].get("optional")
                    w.line(level + 2, f"SecretOptional:\t{'<nil>' if optional is None else str(optional).lower()}")
                if "downwardAPI" in source:
                    w.line(level + 2, "DownwardAPI:\ttrue")
        elif "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            w.line(level + 2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
            w.line(level + 2, f"Medium:\t{empty.get('medium', '')}")
            w.line(level + 2, f"SizeLimit:\t{empty.get('sizeLimit', '<unset>')}")
        elif "hostPath" in volume:
            w.line(level + 2, "Type:\tHostPath (bare host directory volume)")
            w.line(level + 2, f"Path:\t{volume['hostPath']['path']}")
            w.line(level + 2, f"HostPathType:\t{volume['hostPath'].get('type', '')}")
        elif "configMap" in volume:
            cm = volume["configMap"]
            w.line(level + 2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
            w.line(level + 2, f"Name:\t{cm.get('name', '')}")
            w.line(level + 2, f"Optional:\t{str(bool(cm.get('optional'))).lower()}")
        elif "secret" in volume:
            secret = volume["secret"]
            w.line(level + 2, "Type:\tSecret (a volume populated by a Secret)")
            w.line(level + 2, f"SecretName:\t{secret.get('secretName', '')}")
            w.line(level + 2, f"Optional:\t{str(bool(secret.get('optional'))).lower()}")
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]
            w.line(
                level + 2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)"
            )
            w.line(level + 2, f"ClaimName:\t{claim.get('claimName', '')}")
            w.line(level + 2, f"ReadOnly:\t{str(bool(claim.get('readOnly'))).lower()}")


def _tolerations(w: Text, tolerations: list[Obj], level: int = 0) -> None:
    if not tolerations:
        w.line(level, "Tolerations:\t<none>")
        return
    for i, t in enumerate(tolerations):
        text = t.get("key", "")
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        w.line(level, ("Tolerations:\t" if i == 0 else "\t") + text)


def events_section(w: Text, events: list[Obj], now: datetime) -> None:
    if not events:
        w.line(0, "Events:\t<none>")
        return
    w.line(0, "Events:")
    w.line(1, "Type\tReason\tAge\tFrom\tMessage")
    w.line(1, "----\t------\t----\t----\t-------")

    def last(event: Obj) -> str:
        return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""

    for event in sorted(events, key=lambda e: parse_time(last(e)) or now):
        age = since(last(event), now)
        if (event.get("count") or 1) > 1:
            first = event.get("firstTimestamp") or last(event)
            age = f"{age} (x{event['count']} over {since(first, now)})"
        source = event.get("source") or {}
        origin = source.get("component") or event.get("reportingComponent") or ""
        message = " ".join(str(event.get("message", "")).strip().split("\n"))
        w.line(1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{age}\t{origin}\t{message}")


def describe_configmap(cm: Obj, events: list[Obj], now: datetime) -> str:
    w = Text.headed(cm["metadata"])
    w.line(0, "\nData\n====")
    for key, value in sorted((cm.get("data") or {}).items()):
        w.line(0, f"{key}:\n----\n{value}\n")
    w.line(0, "\nBinaryData\n====")
    for key, value in sorted((cm.get("binaryData") or {}).items()):
        w.line(0, f"{key}: {len(base64.b64decode(value))} bytes")
    w.line(0, "")
    events_section(w, events, now)
    return w.render()


def conditions_section(w: Text, status: Obj) -> None:
    """A workload's ``Conditions:`` table (type, status, reason), left out when it has none."""
    if status.get("conditions"):
        w.line(0, "Conditions:")
        w.header(1, "Type", "Status", "Reason")
        for c in status["conditions"]:
            w.line(1, f"{c['type']} \t{c['status']} \t{c.get('reason', '')}")


def pod_template(w: Text, template: Obj) -> None:
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    w.line(0, "Pod Template:")
    w.map(1, "Labels", meta.get("labels"))
    if meta.get("annotations"):
        w.annotations(1, meta["annotations"])
    w.optional(1, "Service Account", spec.get("serviceAccountName"))
    if spec.get("initContainers"):
        w.line(1, "Init Containers:")
        for container in spec["initContainers"]:
            _container(w, container, None, name_prefix=" ")
    w.line(1, "Containers:")
    for container in spec.get("containers") or []:
        _container(w, container, None, name_prefix=" ")
    _volumes(w, spec.get("volumes") or [], level=1)
    w.map(1, "Node-Selectors", spec.get("nodeSelector"), sep=":")
    _tolerations(w, spec.get("tolerations") or [], level=1)


def _replica_sets(sets: list[Obj]) -> str:
    return (
        ", ".join(
            f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/"
            f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"
            for rs in sets
        )
        or "<none>"
    )


def describe_deployment(d: Obj, replica_sets: list[Obj], events: list[Obj], now: datetime) -> str:
    meta, spec, status = parts(d)
    w = Text.named(meta)
    w.line(0, f"CreationTimestamp:\t{go_time(meta.get('creationTimestamp'))}")
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    w.line(0, f"Selector:\t{selector_to_string(spec.get('selector'))}")
    w.line(
        0,
        f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
        f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
        f"{status.get('unavailableReplicas', 0)} unavailable",
    )
    strategy = spec.get("strategy") or {}
    w.line(0, f"StrategyType:\t{strategy.get('type', '')}")
    w.line(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    rolling = strategy.get("rollingUpdate")
    if strategy.get("type") == "RollingUpdate" and rolling is not None:
        w.line(
            0,
            f"RollingUpdateStrategy:\t{rolling.get('maxUnavailable')} max unavailable, "
            f"{rolling.get('maxSurge')} max surge",
        )
    pod_template(w, spec.get("template") or {})
    conditions_section(w, status)
    # oldest first, as kubectl sorts them; the new one is the oldest whose template is the deployment's
    owned = sorted(
        (
            rs
            for rs in replica_sets
            if any(
                o.get("controller") and o.get("uid") == meta.get("uid")
                for o in rs["metadata"].get("ownerReferences") or []
            )
        ),
        key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"]),
    )
    new = [
        rs
        for rs in owned
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, spec.get("template") or {})
    ][:1]
    old = [rs for rs in owned if rs not in new]
    w.line(0, f"OldReplicaSets:\t{_replica_sets(old)}")
    w.line(0, f"NewReplicaSet:\t{_replica_sets(new)}")
    events_section(w, events, now)
    return w.render()


async def _namespace_text(session: Session, ns: Obj) -> str:
    """A namespace, with its quotas' use and its limit ranges' bounds."""
    meta = ns["metadata"]
    w = Text.headed(meta, namespace=False)
    w.line(0, f"Status:\t{(ns.get('status') or {}).get('phase', '')}")
    quotas = (await session.api.list(f"/api/v1/namespaces/{meta['name']}/resourcequotas")).get("items", [])
    limits = (await session.api.list(f"/api/v1/namespaces/{meta['name']}/limitranges")).get("items", [])
    if not quotas:
        w.line(0, "\nNo resource quota.")
    else:
        w.line(0, "\nResource Quotas")
        for quota in quotas:
            w.line(1, f"Name:\t{quota['metadata']['name']}")
            w.line(1, "Resource\tUsed\tHard")
            w.line(1, "--------\t---\t---")
            status = quota.get("status") or {}
            for resource, hard in sorted((status.get("hard") or {}).items()):
                w.line(1, f"{resource}\t{(status.get('used') or {}).get(resource, '0')}\t{hard}")
    if not limits:
        w.line(0, "\nNo LimitRange resource.")
    else:
        w.line(0, "\nResource Limits")
        for limit in limits:
            w.line(0, " Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio")
            w.line(0, " ----\t--------\t---\t---\t---------------\t-------------\t-----------------------")
            for item in (limit.get("spec") or {}).get("limits") or []:
                columns = ("min", "max", "defaultRequest", "default", "maxLimitRequestRatio")
                for resource in sorted({r for c in columns for r in item.get(c) or {}}):
                    values = "\t".join(str((item.get(c) or {}).get(resource, "-")) for c in columns)
                    w.line(0, f" {item.get('type', '')}\t{resource}\t{values}")
    return w.render()


DESCRIBED = frozenset(
    {
        "Pod",
        "ConfigMap",
        "Deployment",
        "Service",
        "Endpoints",
        "Secret",
        "ServiceAccount",
        "ReplicationController",
        "ReplicaSet",
        "DaemonSet",
        "Job",
        "Node",
        "NetworkPolicy",
        "PriorityClass",
        "CertificateSigningRequest",
    }
)


#: the (group, kind)s kubectl 1.32 has a describer of its own for; it describes every other kind (custom
#: resources, APIServices, CRDs, Leases...) with its generic describer (:mod:`.describegeneric`)
KUBECTL_DESCRIBERS = frozenset(
    {
        *(
            ("", kind)
            for kind in (
                "Pod",
                "ReplicationController",
                "Secret",
                "Service",
                "ServiceAccount",
                "Node",
                "LimitRange",
                "ResourceQuota",
                "PersistentVolume",
                "PersistentVolumeClaim",
                "Namespace",
                "Endpoints",
                "ConfigMap",
            )
        ),
        *(("apps", kind) for kind in ("StatefulSet", "Deployment", "DaemonSet", "ReplicaSet")),
        *(("batch", kind) for kind in ("Job", "CronJob")),
        *(("networking.k8s.io", kind) for kind in ("Ingress", "IngressClass", "NetworkPolicy")),
        *(("rbac.authorization.k8s.io", kind) for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")),
        ("discovery.k8s.io", "EndpointSlice"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSINode"),
        ("policy", "PodDisruptionBudget"),
        ("scheduling.k8s.io", "PriorityClass"),
    }
)


async def _owned_pods(session: Session, obj: Obj, selector: str) -> list[Obj]:
    """The pods the controller ``obj`` selects and controls."""
    listed = await session.api.list(f"/api/v1/namespaces/{obj['metadata']['namespace']}/pods", label_selector=selector)
    uid = obj["metadata"].get("uid")
    return [
        p
        for p in listed.get("items", [])
        if any(o.get("controller") and o.get("uid") == uid for o in p["metadata"].get("ownerReferences") or [])
    ]


async def _text(session: Session, obj: Obj, events: list[Obj], now: datetime) -> str:
    """One object described, with what its kind's description needs fetched from the cluster."""
    from minikube_py.kubectl import describekinds as kinds
    from minikube_py.model.selectors import labels_to_string

    kind, meta, spec = obj["kind"], obj["metadata"], obj.get("spec") or {}
    namespace = meta.get("namespace", "")
    if kind == "Pod":
        return describe_pod(obj, events, now)
    if kind == "ConfigMap":
        return describe_configmap(obj, events, now)
    if kind == "Deployment":
        listed = await session.api.list(
            f"/apis/apps/v1/namespaces/{namespace}/replicasets", label_selector=selector_to_string(spec.get("selector"))
        )
        return describe_deployment(obj, listed.get("items", []), events, now)
    if kind == "Service":
        slices = await session.api.list(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            label_selector=f"kubernetes.io/service-name={meta['name']}",
        )
        return kinds.describe_service(obj, slices.get("items", []), events, now)
    if kind == "Endpoints":
        return kinds.describe_endpoints(obj, events, now)
    if kind == "Secret":
        return kinds.describe_secret(obj, events, now)
    if kind == "ServiceAccount":
        secrets = await session.api.list(f"/api/v1/namespaces/{namespace}/secrets")
        return kinds.describe_serviceaccount(obj, secrets.get("items", []), events, now)
    if kind == "Job":
        return kinds.describe_job(obj, events, now)
    if kind == "NetworkPolicy":
        return kinds.describe_network_policy(obj, events, now)
    if kind == "PriorityClass":
        return kinds.describe_priority_class(obj, events, now)
    if kind == "CertificateSigningRequest":
        return kinds.describe_certificate_signing_request(obj, events, now)
    selector = (
        labels_to_string(spec.get("selector"))
        if kind == "ReplicationController"
        else selector_to_string(spec.get("selector"))
    )
    pods = await _owned_pods(session, obj, selector)
    if kind == "DaemonSet":
        return kinds.describe_daemonset(obj, pods, events, now)
    return kinds.describe_replicas(obj, pods, events, now)


async def _node_text(session: Session, node: Obj, now: datetime) -> str:
    """A node with its lease (or why there is none), the pods it runs, and its events (the kubelet names
    the node by its name where other objects have a uid)."""
    from minikube_py.client.errors import NotFoundError
    from minikube_py.kubectl import describekinds as kinds

    name = node["metadata"]["name"]
    try:
        lease: Obj | str = await session.api.get(
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        )
    except NotFoundError as exc:
        lease = exc.message
    pods = await session.api.list(
        "/api/v1/pods", field_selector=f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"
    )
    events: list[Obj] = []
    for uid in (node["metadata"].get("uid", ""), name):  # the node controller's events, then the kubelet's
        listed = await session.api.list(
            "/api/v1/events",
            field_selector=f"involvedObject.name={name},"
            f"involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid={uid}",
        )
        events += listed.get("items", [])
    return kinds.describe_node(node, lease, pods.get("items", []), events, now)


@click.command()
@click.argument("args", nargs=-1)
@click.option("-l", "--selector", default=None, help="Label selector.")
def describe(args: tuple[str, ...], selector: str | None) -> None:
    """Show details of a resource or group of resources, with their events."""

    async def work(session: Session) -> None:
        found = await named_objects(session, args, selector, all_=selector is None)
        if not found:
            namespaced = all(r.resource.namespaced for r in parse_requests(await session.discovery(), args))
            click.echo(
                f"No resources found in {session.namespace} namespace."
                if namespaced and not session.flags.all_namespaces
                else "No resources found",
                err=True,
            )
            return
        texts = []
        for res, namespace, name in found:
            obj = await session.api.get(res.path(namespace, name))
            if res.kind in ("Namespace", "Node"):  # no events of their own kind, or the kubelet's way
                texts.append(
                    await _namespace_text(session, obj)
                    if res.kind == "Namespace"
                    else await _node_text(session, obj, datetime.now(UTC))
                )
                continue
            generic = (res.group, res.kind) not in KUBECTL_DESCRIBERS
            if not generic and res.kind not in DESCRIBED:
                raise CommandError(f"pykube kubectl does not describe {res.qualified} yet")
            about = [f"involvedObject.name={name}", f"involvedObject.uid={obj['metadata'].get('uid', '')}"]
            if namespace:
                about.insert(1, f"involvedObject.namespace={namespace}")
            events = (
                await session.api.list(
                    f"/api/v1/namespaces/{namespace or 'default'}/events", field_selector=",".join(about)
                )
            ).get("items", [])
            if generic:
                from minikube_py.kubectl.describegeneric import describe_generic

                texts.append(describe_generic(obj, events, datetime.now(UTC)))
            else:
                texts.append(await _text(session, {"kind": res.kind, **obj}, events, datetime.now(UTC)))
        click.echo("\n\n".join(texts), nl=False)

    run(work)
