"""Kubernetes' defaulting for the kinds pykube serves (``SetDefaults_*`` of core/v1, apps/v1 and
batch/v1, plus what the default admission plugins add to a Pod).

Clients read defaults back (``kubectl get -o yaml`` and ``kubectl apply``'s three-way diff both
see them), and controllers rely on them (a ReplicaSet without ``replicas`` means one), so the values
are Kubernetes' own. Fields the client set are never touched, and every function is idempotent:
the registry defaults an object on create and again on every update.

Each kind's defaulting is a function here (``default_pod``, ...), named as its kind's defaults by its
:class:`~minikube_py.model.kindrules.KindRules`. Call order: defaulting runs after
:func:`minikube_py.model.meta.prepare_for_create`, because a Job's generated selector is built from
its UID. Allocation (ClusterIP, NodePort) is not defaulting and happens in the API layer.

Objects may still be malformed here (validation runs afterwards), so every step only descends
into values of the expected type.
"""

from __future__ import annotations

import copy
import re
from typing import Any

Obj = dict[str, Any]

_DEFAULT_TOLERATION_SECONDS = 300
_NODE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")
_DEFAULT_FILE_MODE = 0o644
#: a reference's repository part must be lower case; Kubernetes ignores a tag it cannot parse
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


def _dict(parent: Any, key: str, create: bool = False) -> Obj | None:
    """``parent[key]`` if it is a dict (created empty when absent and ``create``), else None."""
    if not isinstance(parent, dict):
        return None
    if create and parent.get(key) is None:
        parent[key] = {}
    value = parent.get(key)
    return value if isinstance(value, dict) else None


def _dicts(parent: Any, key: str) -> list[Obj]:
    """The dict items of the list ``parent[key]`` (nothing if it is absent or not a list)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# ------------------------------------------------------------------------------ images


def image_tag(image: str) -> str:
    """The tag of an image reference as Kubernetes' ``ParseImageName`` sees it: ``latest`` when
    neither tag nor digest is given, "" for a digest-only or unparsable reference.
    A registry port (``127.0.0.1:5000/busybox``) is not a tag."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    domain, _, rest = name.partition("/")
    repository = (
        rest if rest and ("." in domain or ":" in domain or domain == "localhost" or domain != domain.lower()) else name
    )
    if repository != name and not _DOMAIN.match(domain):
        return ""
    if not image or not _REPOSITORY.match(repository):
        return ""
    if tag:
        return tag
    return "" if digest else "latest"


def default_pull_policy(image: str) -> str:
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"


# ------------------------------------------------------------------------------ pod spec


def _container(c: Obj) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = default_pull_policy(c.get("image") if isinstance(c.get("image"), str) else "")
    c.setdefault("resources", {})
    for port in _dicts(c, "ports"):
        port.setdefault("protocol", "TCP")
    for probe_name in _PROBES:
        probe = _dict(c, probe_name)
        if probe is None:
            continue
        for key, value in (
            ("timeoutSeconds", 1),
            ("periodSeconds", 10),
            ("successThreshold", 1),
            ("failureThreshold", 3),
        ):
            probe.setdefault(key, value)
        http_get = _dict(probe, "httpGet")
        if http_get is not None:
            http_get.setdefault("path", "/")
            http_get.setdefault("scheme", "HTTP")
    for env in _dicts(c, "env"):
        field_ref = _dict(_dict(env, "valueFrom"), "fieldRef")
        if field_ref is not None:
            field_ref.setdefault("apiVersion", "v1")


def _volume(v: Obj) -> None:
    for source_name in _VOLUME_SOURCES_WITH_MODE:
        source = _dict(v, source_name)
        if source is not None:
            source.setdefault("defaultMode", _DEFAULT_FILE_MODE)
    if not any(k != "name" for k in v):
        v["emptyDir"] = {}  # a volume without a source is an emptyDir


def _pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec``: what every pod spec gets, in a Pod or in a template."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    containers = _dicts(spec, "containers") + _dicts(spec, "initContainers")
    for c in containers + _dicts(spec, "ephemeralContainers"):
        _container(c)
    if spec.get("hostNetwork") is True:
        for c in containers:
            for port in _dicts(c, "ports"):
                if "containerPort" in port:
                    port.setdefault("hostPort", port["containerPort"])
    for v in _dicts(spec, "volumes"):
        _volume(v)


def _pod_template(obj: Obj) -> None:
    spec = _dict(_dict(_dict(obj, "spec"), "template"), "spec")
    if spec is not None:
        _pod_spec(spec)


def default_pod_template(obj: Obj) -> None:
    """A PodTemplate's template is a struct in Go, never absent: its pod spec is defaulted as any."""
    spec = _dict(_dict(obj, "template", create=True), "spec", create=True)
    if spec is not None:
        _pod_spec(spec)


def default_pod(pod: Obj) -> None:
    """A Pod object gets, beyond ``SetDefaults_PodSpec``: requests copied from limits and
    ``enableServiceLinks`` (``SetDefaults_Pod``), and the account it names in either field in both
    (the deprecated ``serviceAccount`` is the v1 spelling of ``serviceAccountName``). Templates get
    none of these; what the ServiceAccount, Priority and DefaultTolerationSeconds admission plugins
    add is the pod strategy's mutating admission, after the writer's managed fields are recorded."""
    spec = _dict(pod, "spec")
    if spec is None:
        return
    _pod_spec(spec)
    for c in _dicts(spec, "containers") + _dicts(spec, "initContainers"):
        resources = _dict(c, "resources")
        limits = _dict(resources, "limits")
        if resources is not None and limits:
            requests = _dict(resources, "requests", create=True)
            if requests is not None:
                for name, quantity in limits.items():
                    requests.setdefault(name, quantity)
    spec.setdefault("enableServiceLinks", True)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = account
        spec.setdefault("serviceAccount", account)


def default_tolerations(spec: Obj) -> None:
    """Tolerate not-ready and unreachable nodes for 300 s, unless the pod already tolerates
    that taint's NoExecute effect (a toleration with an empty key or effect covers it)."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    for taint in _NODE_TAINTS:
        covered = any(
            isinstance(t, dict) and t.get("key", "") in ("", taint) and t.get("effect", "") in ("", "NoExecute")
            for t in tolerations
        )
        if not covered:
            tolerations.append(
                {
                    "key": taint,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": _DEFAULT_TOLERATION_SECONDS,
                }
            )
    spec["tolerations"] = tolerations


# ------------------------------------------------------------------------------ workloads


def default_replication_controller(rc: Obj) -> None:
    """A v1 ReplicationController's selector and labels default to its template's labels."""
    spec = _dict(rc, "spec")
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    template_labels = _dict(_dict(_dict(spec, "template"), "metadata"), "labels")
    if template_labels:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        md = _dict(rc, "metadata", create=True)
        if md is not None and not md.get("labels"):
            md["labels"] = dict(template_labels)
    _pod_template(rc)


def default_replica_set(rs: Obj) -> None:
    spec = _dict(rs, "spec")
    if spec is not None:
        spec.setdefault("replicas", 1)
        _pod_template(rs)


def default_deployment(d: Obj) -> None:
    spec = _dict(d, "spec")
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    _rolling_update(spec, "strategy", maxUnavailable="25%", maxSurge="25%")
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_template(d)


def _rolling_update(spec: Obj, field: str, **rolling_defaults: object) -> None:
    """The update strategy ``field`` of a workload: RollingUpdate unless set, its ``rollingUpdate``
    parameters defaulted for that kind, and the revision history Kubernetes keeps (10)."""
    strategy = _dict(spec, field, create=True)
    if strategy is not None:
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = _dict(strategy, "rollingUpdate", create=True)
            if rolling is not None:
                for key, value in rolling_defaults.items():
                    rolling.setdefault(key, value)
    spec.setdefault("revisionHistoryLimit", 10)


def default_daemon_set(ds: Obj) -> None:
    spec = _dict(ds, "spec")
    if spec is None:
        return
    _rolling_update(spec, "updateStrategy", maxUnavailable=1, maxSurge=0)
    _pod_template(ds)


def default_stateful_set(sts: Obj) -> None:
    """apps/v1 ``SetDefaults_StatefulSet``; each claim template is defaulted as a claim is
    (``volumeMode: Filesystem``) and shows the ``Pending`` phase a new claim starts in."""
    spec = _dict(sts, "spec")
    if spec is None:
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    _rolling_update(spec, "updateStrategy", partition=0)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy", create=True)
    if retention is not None:
        retention.setdefault("whenDeleted", "Retain")
        retention.setdefault("whenScaled", "Retain")
    for claim in _dicts(spec, "volumeClaimTemplates"):
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim_spec = _dict(claim, "spec", create=True)
        if claim_spec is not None:
            claim_spec.setdefault("volumeMode", "Filesystem")
        status = _dict(claim, "status", create=True)
        if status is not None:
            status.setdefault("phase", "Pending")
    _pod_template(sts)


#: the labels a Job stamps on its pods, and the one its generated selector uses
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
_JOB_UID_LABELS = ("controller-uid", JOB_UID_LABEL)
_JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")


def default_job(job: Obj) -> None:
    """batch/v1 Job defaults. Unless ``manualSelector`` is true the selector is generated from the
    Job's UID and the pod template gets the ``controller-uid``/``job-name`` labels (labels the
    user set are kept; a clash is validation's to report). The Job's own labels default to the
    template's, generated ones included."""
    spec = _dict(job, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    md = _dict(job, "metadata", create=True) or {}
    template_md = _dict(_dict(spec, "template", create=True), "metadata", create=True)
    if spec.get("manualSelector") is not True and template_md is not None and md.get("uid"):
        labels = _dict(template_md, "labels", create=True)
        selector = _dict(spec, "selector", create=True)
        match_labels = _dict(selector, "matchLabels", create=True)
        if labels is not None and match_labels is not None:
            for key in _JOB_NAME_LABELS:
                labels.setdefault(key, md.get("name", ""))
            for key in _JOB_UID_LABELS:
                labels.setdefault(key, md["uid"])
            match_labels.setdefault(JOB_UID_LABEL, md["uid"])
    template_labels = _dict(template_md, "labels")
    if template_labels and not md.get("labels"):
        md["labels"] = dict(template_labels)
    _pod_template(job)


def default_cron_job(cronjob: Obj) -> None:
    """batch/v1 CronJob defaults. The job template is not defaulted as a Job (its Jobs are, when
    they are made), but its pod template is, as every pod template is."""
    spec = _dict(cronjob, "spec")
    if spec is None:
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    pod_spec = _dict(_dict(_dict(_dict(spec, "jobTemplate"), "spec"), "template"), "spec")
    if pod_spec is not None:
        _pod_spec(pod_spec)


# ------------------------------------------------------------------------------ others


def default_service(svc: Obj) -> None:
    spec = _dict(svc, "spec", create=True)
    if spec is None:
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP" and not spec.get("sessionAffinityConfig"):
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    for port in _dicts(spec, "ports"):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and "port" in port:
            port["targetPort"] = port["port"]
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("ipFamilies", ["IPv4"])


def default_secret(secret: Obj) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"


def default_namespace(ns: Obj) -> None:
    """Namespaces get the ``kubernetes`` finalizer (the namespace controller empties them before
    they go), phase Active, and the ``kubernetes.io/metadata.name`` label that lets
    NetworkPolicies and selectors pick a namespace by name."""
    spec = _dict(ns, "spec", create=True)
    if spec is not None and spec.get("finalizers") is None:
        spec["finalizers"] = ["kubernetes"]
    status = _dict(ns, "status", create=True)
    if status is not None:
        status.setdefault("phase", "Active")
    md = _dict(ns, "metadata", create=True)
    if md is not None and md.get("name"):
        labels = _dict(md, "labels", create=True)
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = md["name"]


def default_endpoints(ep: Obj) -> None:
    for subset in _dicts(ep, "subsets"):
        for port in _dicts(subset, "ports"):
            port.setdefault("protocol", "TCP")


def default_endpoint_slice(slice_: Obj) -> None:
    for port in _dicts(slice_, "ports"):
        port.setdefault("protocol", "TCP")


def apply_defaults(kind: str, obj: Obj) -> None:
    """Fill in ``obj``'s defaults in place, by the rules of the kind named ``kind`` (kinds without
    defaults are left as they are). The API server asks the kind's strategy instead."""
    # imported here: the table of kind rules is made of this module's defaulting functions
    from minikube_py.model.kindrules import rules_of

    rules_of(kind).defaults(obj)


def defaulted(kind: str, obj: Obj) -> Obj:
    """A defaulted copy, for comparisons that must not mutate their input."""
    out = copy.deepcopy(obj)
    apply_defaults(kind, out)
    return out


# ------------------------------------------------------------------------------ persistent storage


def default_persistent_volume(pv: Obj) -> None:
    """``SetDefaults_PersistentVolume``: a static volume is retained after its claim goes, holds a
    filesystem, and starts Pending (the binder makes it Available)."""
    spec = _dict(pv, "spec", create=True)
    if spec is None:
        return
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    host_path = _dict(spec, "hostPath")
    if host_path is not None:
        host_path.setdefault("type", "")
    _phase_pending(pv)


def default_persistent_volume_claim(pvc: Obj) -> None:
    """``SetDefaults_PersistentVolumeClaim``: a filesystem claim, Pending until bound."""
    spec = _dict(pvc, "spec", create=True)
    if spec is not None:
        spec.setdefault("volumeMode", "Filesystem")
    _phase_pending(pvc)


def _phase_pending(obj: Obj) -> None:
    """A volume or a claim with a status but no phase is Pending: the binder moves it on from there."""
    status = _dict(obj, "status")
    if status is not None and not status.get("phase"):
        status["phase"] = "Pending"


def default_storage_class(sc: Obj) -> None:
    """``SetDefaults_StorageClass``: provisioned volumes are deleted with their claim, and bound as
    soon as the claim is made."""
    sc.setdefault("reclaimPolicy", "Delete")
    sc.setdefault("volumeBindingMode", "Immediate")
