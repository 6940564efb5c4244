"""The rules of each kind that are pure functions of its objects: defaults, validation, selectable
fields and generation tracking.

The API server reaches these through the kind's strategy (:mod:`minikube_py.api.strategies`), which
adds what only a server does with an object (admission, deletion, printing, merging). They live here,
below the API layer, because model code meets objects by their ``kind`` too: metadata preparation
decides the generation by it, and :func:`~minikube_py.model.validation.validate`,
:func:`~minikube_py.model.defaults.apply_defaults` and :func:`~minikube_py.model.fields.field_set`
take a kind name. Both find a kind's rules by its name here, so a kind is declared once per layer.

Every kind of the kind table has an entry, its scope taken from the table; a kind the table does not
serve gets the generic rules (namespaced, no defaults, no checks beyond metadata).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from minikube_py.model import (
    admissionpolicies,
    apiservices,
    autoscaling,
    certificates,
    crds,
    csi,
    defaults,
    fields,
    flowcontrol,
    ingress,
    limitranges,
    networkpolicy,
    priority,
    rbac,
    runtimeclasses,
    validation,
    webhooks,
)
from minikube_py.model.errors import FieldError
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.kinds import RESOURCES
from minikube_py.model.lenient import as_dict
from minikube_py.model.selectors import FieldSelector, dns1123_label_errors, dns1123_subdomain_errors

Obj = dict[str, Any]
Errors = list[FieldError]


def _no_defaults(obj: Obj) -> None:
    """A kind whose objects have no defaults beyond what metadata preparation stamps."""


def _no_checks(obj: Obj) -> Errors:
    return []


def _no_update_checks(new: Obj, old: Obj) -> Errors:
    return []


@dataclass(frozen=True)
class KindRules:
    """One kind's pure rules. ``checks`` run on every write (create and update), ``update_checks``
    on updates only, after the metadata checks: Kubernetes lists metadata causes first."""

    kind: str
    namespaced: bool = True
    #: messages for a name that is not valid for the kind (DNS-1123 subdomain unless said otherwise)
    name_errors: Callable[[str], list[str]] = dns1123_subdomain_errors
    checks: Callable[[Obj], Errors] = _no_checks
    update_checks: Callable[[Obj, Obj], Errors] = _no_update_checks
    defaults: Callable[[Obj], None] = _no_defaults
    #: the fields a field selector may name beyond ``metadata.name`` and ``metadata.namespace``
    fields: fields.Extra = fields.no_fields
    #: whether ``metadata.generation`` counts spec changes (Kubernetes' strategy keeps it for the
    #: kinds whose controllers report ``observedGeneration``; others never show one)
    tracks_generation: bool = False
    #: whether an annotation change counts as a spec change too (its controller acts on annotations)
    generation_follows_annotations: bool = False

    def validate(self, obj: Obj, old: Obj | None = None) -> Errors:
        """Every problem with ``obj`` (a create when ``old`` is None, else an update of ``old``);
        an empty list means it may be stored."""
        md = as_dict(obj.get("metadata"))
        if old is None:
            errs = validation.validate_metadata(md, namespaced=self.namespaced, name_errors=self.name_errors)
        else:
            errs = validation.validate_metadata_update(md, as_dict(old.get("metadata")))
        errs += self.checks(obj)
        if old is not None:
            errs += self.update_checks(obj, old)
        return errs

    def defaulted(self, obj: Obj) -> Obj:
        """A defaulted copy, for comparisons that must not mutate their input."""
        out = json_copy(obj)
        self.defaults(out)
        return out

    def field_set(self, obj: Obj) -> dict[str, str]:
        """Every selectable field of ``obj`` with its string value."""
        return fields.object_fields(obj, namespaced=self.namespaced, extra=self.fields)

    def unsupported_fields(self, selector: FieldSelector) -> list[str]:
        """Fields named in ``selector`` that the kind does not offer; the API answers 400 for the first."""
        return fields.not_offered(self.field_set({}), selector)


_DECLARED = (
    KindRules(
        "Namespace",
        name_errors=dns1123_label_errors,
        defaults=defaults.default_namespace,
        fields=fields.namespace_fields,
    ),
    KindRules(
        "Pod",
        checks=validation.validate_pod,
        update_checks=validation.validate_pod_update,
        defaults=defaults.default_pod,
        fields=fields.pod_fields,
        tracks_generation=True,
    ),
    KindRules(
        "Service",
        name_errors=validation.dns1035_label_errors,
        checks=validation.validate_service,
        update_checks=validation.validate_service_update,
        defaults=defaults.default_service,
    ),
    KindRules("Endpoints", checks=validation.validate_endpoints, defaults=defaults.default_endpoints),
    KindRules(
        "ReplicationController",
        checks=validation.validate_replication_controller,
        defaults=defaults.default_replication_controller,
        fields=fields.replicas_fields,
        tracks_generation=True,
    ),
    KindRules("Node", checks=validation.validate_node, fields=fields.node_fields),
    KindRules(
        "Secret",
        checks=validation.validate_secret,
        update_checks=validation.validate_immutable_data,
        defaults=defaults.default_secret,
        fields=fields.secret_fields,
    ),
    KindRules("ConfigMap", checks=validation.validate_config_map, update_checks=validation.validate_immutable_data),
    KindRules("Event", checks=validation.validate_event, fields=fields.event_fields),
    KindRules("ServiceAccount"),
    KindRules("ResourceQuota", checks=validation.validate_resource_quota),
    KindRules("LimitRange", checks=validation.validate_limit_range, defaults=limitranges.default_limit_range),
    KindRules("PodDisruptionBudget", checks=validation.validate_pod_disruption_budget, tracks_generation=True),
    KindRules(
        "PersistentVolume",
        checks=validation.validate_persistent_volume,
        update_checks=validation.validate_persistent_volume_update,
        defaults=defaults.default_persistent_volume,
    ),
    KindRules(
        "PersistentVolumeClaim",
        checks=validation.validate_persistent_volume_claim,
        update_checks=validation.validate_persistent_volume_claim_update,
        defaults=defaults.default_persistent_volume_claim,
    ),
    KindRules(
        "Deployment",
        checks=validation.validate_deployment,
        update_checks=validation.validate_selector_immutable,
        defaults=defaults.default_deployment,
        tracks_generation=True,
        generation_follows_annotations=True,
    ),
    KindRules(
        "ReplicaSet",
        checks=validation.validate_replica_set,
        update_checks=validation.validate_selector_immutable,
        defaults=defaults.default_replica_set,
        fields=fields.replicas_fields,
        tracks_generation=True,
    ),
    KindRules(
        "DaemonSet",
        checks=validation.validate_daemon_set,
        update_checks=validation.validate_selector_immutable,
        defaults=defaults.default_daemon_set,
        tracks_generation=True,
    ),
    KindRules(
        "StatefulSet",
        checks=validation.validate_stateful_set,
        update_checks=validation.validate_stateful_set_update,
        defaults=defaults.default_stateful_set,
        tracks_generation=True,
    ),
    KindRules(
        "ControllerRevision",
        checks=validation.validate_controller_revision,
        update_checks=validation.validate_controller_revision_update,
    ),
    KindRules(
        "Job",
        checks=validation.validate_job,
        update_checks=validation.validate_job_update,
        defaults=defaults.default_job,
        fields=fields.job_fields,
        tracks_generation=True,
    ),
    KindRules(
        "CronJob", checks=validation.validate_cron_job, defaults=defaults.default_cron_job, tracks_generation=True
    ),
    KindRules(
        "PodTemplate",
        checks=validation.validate_pod_template,
        defaults=defaults.default_pod_template,
        tracks_generation=True,
    ),
    KindRules("Lease", checks=validation.validate_lease),
    KindRules(
        "RuntimeClass",
        checks=runtimeclasses.validate_runtime_class,
        update_checks=runtimeclasses.validate_runtime_class_update,
    ),
    KindRules(
        "HorizontalPodAutoscaler",
        checks=autoscaling.validate_hpa,
        defaults=autoscaling.default_hpa,
        tracks_generation=True,
    ),
    KindRules(
        "StorageClass",
        checks=validation.validate_storage_class,
        update_checks=validation.validate_storage_class_update,
        defaults=defaults.default_storage_class,
    ),
    KindRules(
        "CSIDriver",
        checks=csi.validate_csi_driver,
        update_checks=csi.validate_csi_driver_update,
        defaults=csi.default_csi_driver,
        tracks_generation=True,
    ),
    KindRules("CSINode", checks=csi.validate_csi_node, update_checks=csi.validate_csi_node_update),
    KindRules(
        "VolumeAttachment", checks=csi.validate_volume_attachment, update_checks=csi.validate_volume_attachment_update
    ),
    KindRules(
        "CSIStorageCapacity", checks=csi.validate_storage_capacity, update_checks=csi.validate_storage_capacity_update
    ),
    KindRules(
        "FlowSchema",
        checks=flowcontrol.validate_flow_schema,
        defaults=flowcontrol.default_flow_schema,
        tracks_generation=True,
    ),
    KindRules(
        "PriorityLevelConfiguration",
        checks=flowcontrol.validate_priority_level,
        defaults=flowcontrol.default_priority_level,
        tracks_generation=True,
    ),
    KindRules(
        "PriorityClass",
        checks=priority.validate_priority_class,
        update_checks=priority.validate_priority_class_update,
        defaults=priority.default_priority_class,
    ),
    KindRules(
        "EndpointSlice",
        checks=validation.validate_endpoint_slice,
        defaults=defaults.default_endpoint_slice,
        tracks_generation=True,
    ),
    KindRules("Ingress", checks=ingress.validate_ingress, tracks_generation=True),
    KindRules(
        "IngressClass",
        checks=ingress.validate_ingress_class,
        update_checks=ingress.validate_ingress_class_update,
        tracks_generation=True,
    ),
    *(
        KindRules(kind, checks=webhooks.validate_configuration, defaults=webhooks.default_configuration)
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
    ),
    KindRules(
        "ValidatingAdmissionPolicy",
        checks=admissionpolicies.validate_policy,
        defaults=admissionpolicies.default_policy,
        tracks_generation=True,
    ),
    KindRules(
        "ValidatingAdmissionPolicyBinding",
        checks=admissionpolicies.validate_binding,
        defaults=admissionpolicies.default_binding,
        tracks_generation=True,
    ),
    KindRules(
        "NetworkPolicy",
        checks=networkpolicy.validate_network_policy,
        defaults=networkpolicy.default_network_policy,
        tracks_generation=True,
    ),
    KindRules(
        "CustomResourceDefinition", checks=crds.validate, update_checks=crds.validate_update, defaults=crds.defaults
    ),
    KindRules(
        "APIService",
        name_errors=rbac.path_segment_name_errors,
        checks=apiservices.validate,
        defaults=apiservices.defaults,
    ),
    KindRules(
        "CertificateSigningRequest",
        name_errors=rbac.path_segment_name_errors,
        checks=certificates.validate,
        fields=fields.field_paths("spec.signerName"),
    ),
    KindRules("Role", name_errors=rbac.path_segment_name_errors, checks=rbac.validate_role),
    KindRules("ClusterRole", name_errors=rbac.path_segment_name_errors, checks=rbac.validate_cluster_role),
    KindRules(
        "RoleBinding",
        name_errors=rbac.path_segment_name_errors,
        checks=rbac.validate_role_binding,
        update_checks=rbac.validate_role_ref_unchanged,
    ),
    KindRules(
        "ClusterRoleBinding",
        name_errors=rbac.path_segment_name_errors,
        checks=rbac.validate_cluster_role_binding,
        update_checks=rbac.validate_role_ref_unchanged,
    ),
)


def _by_kind() -> dict[str, KindRules]:
    """The declared rules of every served kind, with the scope the kind table gives it."""
    declared = {rules.kind: rules for rules in _DECLARED}
    return {rt.kind: replace(declared.get(rt.kind) or KindRules(rt.kind), namespaced=rt.namespaced) for rt in RESOURCES}


_BY_KIND = _by_kind()


def rules_of(kind: str) -> KindRules:
    """The rules of the kind named ``kind``; the generic rules for a kind pykube does not serve."""
    return _BY_KIND.get(kind) or KindRules(kind)
