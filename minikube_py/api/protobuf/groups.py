"""Field tables of the named API groups whose kinds ``kubectl create`` and ``kubectl autoscale`` send.

Same conventions as :mod:`minikube_py.api.protobuf.core`: numbers from Kubernetes'
``generated.proto``, names and ``keep`` from the Go struct tags.
"""

from __future__ import annotations

from minikube_py.api.protobuf.core import (
    EMPTY,
    LABEL_SELECTOR,
    OBJECT_META,
    POD_TEMPLATE_SPEC,
    TYPED_LOCAL_OBJECT_REFERENCE,
    spec_object,
)
from minikube_py.api.protobuf.schema import (
    Field,
    Message,
    Scalar,
    boolean,
    inline,
    int_or_string,
    integer,
    message,
    messages,
    string,
    strings,
    time,
)

# --- apps/v1 -------------------------------------------------------------------------------------------

_ROLLING_UPDATE: Message = {1: int_or_string("maxUnavailable", keep=True), 2: int_or_string("maxSurge", keep=True)}

DEPLOYMENT: Message = spec_object(
    {
        1: integer("replicas", keep=True),
        2: message("selector", LABEL_SELECTOR),
        3: message("template", POD_TEMPLATE_SPEC),
        4: message("strategy", {1: string("type"), 2: message("rollingUpdate", _ROLLING_UPDATE)}),
        5: integer("minReadySeconds"),
        6: integer("revisionHistoryLimit", keep=True),
        7: boolean("paused"),
        9: integer("progressDeadlineSeconds", keep=True),
    }
)

REPLICA_SET: Message = spec_object(
    {
        1: integer("replicas", keep=True),
        4: integer("minReadySeconds"),
        2: message("selector", LABEL_SELECTOR),
        3: message("template", POD_TEMPLATE_SPEC),
    }
)

DAEMON_SET: Message = spec_object(
    {
        1: message("selector", LABEL_SELECTOR),
        2: message("template", POD_TEMPLATE_SPEC),
        3: message("updateStrategy", {1: string("type"), 2: message("rollingUpdate", _ROLLING_UPDATE)}),
        4: integer("minReadySeconds"),
        6: integer("revisionHistoryLimit", keep=True),
    }
)

# --- batch/v1 ------------------------------------------------------------------------------------------

JOB_SPEC: Message = {
    1: integer("parallelism", keep=True),
    2: integer("completions", keep=True),
    3: integer("activeDeadlineSeconds", keep=True),
    7: integer("backoffLimit", keep=True),
    12: integer("backoffLimitPerIndex", keep=True),
    13: integer("maxFailedIndexes", keep=True),
    4: message("selector", LABEL_SELECTOR),
    5: boolean("manualSelector", keep=True),
    6: message("template", POD_TEMPLATE_SPEC),
    8: integer("ttlSecondsAfterFinished", keep=True),
    9: string("completionMode"),
    10: boolean("suspend", keep=True),
    14: string("podReplacementPolicy"),
    15: string("managedBy"),
}

JOB: Message = spec_object(JOB_SPEC)

CRON_JOB: Message = spec_object(
    {
        1: string("schedule"),
        8: string("timeZone"),
        2: integer("startingDeadlineSeconds", keep=True),
        3: string("concurrencyPolicy"),
        4: boolean("suspend", keep=True),
        5: message("jobTemplate", {1: message("metadata", OBJECT_META), 2: message("spec", JOB_SPEC)}),
        6: integer("successfulJobsHistoryLimit", keep=True),
        7: integer("failedJobsHistoryLimit", keep=True),
    }
)

# --- autoscaling/v1, policy/v1 -------------------------------------------------------------------------

HORIZONTAL_POD_AUTOSCALER: Message = spec_object(
    {
        1: message("scaleTargetRef", {1: string("kind"), 2: string("name"), 3: string("apiVersion")}),
        2: integer("minReplicas", keep=True),
        3: integer("maxReplicas", keep=True),
        4: integer("targetCPUUtilizationPercentage", keep=True),
    }
)

POD_DISRUPTION_BUDGET: Message = spec_object(
    {
        1: int_or_string("minAvailable", keep=True),
        2: message("selector", LABEL_SELECTOR),
        3: int_or_string("maxUnavailable", keep=True),
        4: string("unhealthyPodEvictionPolicy"),
    }
)

#: meta/v1 DeleteOptions, as an Eviction carries them (pointer fields keep their zero values)
_DELETE_OPTIONS: Message = {
    1: integer("gracePeriodSeconds", keep=True),
    2: message("preconditions", {1: string("uid"), 2: string("resourceVersion")}),
    3: boolean("orphanDependents", keep=True),
    4: string("propagationPolicy"),
    5: strings("dryRun"),
}

#: policy/v1 (and v1beta1) Eviction, which ``kubectl drain`` POSTs to ``pods/<name>/eviction``
EVICTION: Message = {1: message("metadata", OBJECT_META), 2: message("deleteOptions", _DELETE_OPTIONS)}

# --- rbac.authorization.k8s.io/v1 ----------------------------------------------------------------------

_POLICY_RULE: Message = {
    1: strings("verbs"),
    2: strings("apiGroups"),
    3: strings("resources"),
    4: strings("resourceNames"),
    5: strings("nonResourceURLs"),
}

ROLE: Message = {1: message("metadata", OBJECT_META), 2: messages("rules", _POLICY_RULE)}

CLUSTER_ROLE: Message = {**ROLE, 3: message("aggregationRule", {1: messages("clusterRoleSelectors", LABEL_SELECTOR)})}

ROLE_BINDING: Message = {
    1: message("metadata", OBJECT_META),
    2: messages("subjects", {1: string("kind"), 2: string("apiGroup"), 3: string("name"), 4: string("namespace")}),
    3: message("roleRef", {1: string("apiGroup"), 2: string("kind"), 3: string("name")}),
}

# --- scheduling, networking, authentication ------------------------------------------------------------

PRIORITY_CLASS: Message = {
    1: message("metadata", OBJECT_META),
    2: integer("value", keep=True),
    3: boolean("globalDefault"),
    4: string("description"),
    5: string("preemptionPolicy"),
}

_INGRESS_BACKEND: Message = {
    4: message("service", {1: string("name"), 2: message("port", {1: string("name"), 2: integer("number")})}),
    3: message("resource", TYPED_LOCAL_OBJECT_REFERENCE),
}

INGRESS: Message = spec_object(
    {
        4: string("ingressClassName"),
        1: message("defaultBackend", _INGRESS_BACKEND),
        2: messages("tls", {1: strings("hosts"), 2: string("secretName")}),
        3: messages(
            "rules",
            {
                1: string("host"),
                2: inline(
                    {
                        1: message(
                            "http",
                            {
                                1: messages(
                                    "paths",
                                    {1: string("path"), 3: string("pathType"), 2: message("backend", _INGRESS_BACKEND)},
                                )
                            },
                        )
                    }
                ),
            },
        ),
    }
)

TOKEN_REQUEST: Message = spec_object(
    {
        1: strings("audiences"),
        4: integer("expirationSeconds", keep=True),
        3: message("boundObjectRef", {1: string("kind"), 2: string("apiVersion"), 3: string("name"), 4: string("uid")}),
    }
)

SELF_SUBJECT_REVIEW: Message = {1: message("metadata", OBJECT_META), 2: message("status", EMPTY)}
TOKEN_REVIEW: Message = spec_object({1: string("token"), 2: strings("audiences")})

# --- authorization.k8s.io/v1: the access reviews (kubectl auth can-i) ------------------------------------

_RESOURCE_ATTRIBUTES: Message = {
    1: string("namespace"),
    2: string("verb"),
    3: string("group"),
    4: string("version"),
    5: string("resource"),
    6: string("subresource"),
    7: string("name"),
}
_NON_RESOURCE_ATTRIBUTES: Message = {1: string("path"), 2: string("verb")}

SELF_SUBJECT_ACCESS_REVIEW: Message = spec_object(
    {
        1: message("resourceAttributes", _RESOURCE_ATTRIBUTES),
        2: message("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
    }
)

SELF_SUBJECT_RULES_REVIEW: Message = spec_object({1: string("namespace")})

SUBJECT_ACCESS_REVIEW: Message = spec_object(
    {
        1: message("resourceAttributes", _RESOURCE_ATTRIBUTES),
        2: message("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
        3: string("user"),
        4: strings("groups"),
        6: string("uid"),
    }
)

# --- certificates.k8s.io/v1: kubectl certificate approve|deny PUT the whole request to /approval ---------

CERTIFICATE_SIGNING_REQUEST: Message = {
    1: message("metadata", OBJECT_META),
    2: message(
        "spec",
        {
            1: Field("request", Scalar.BYTES),
            7: string("signerName"),
            8: integer("expirationSeconds", keep=True),
            5: strings("usages"),
            2: string("username"),
            3: string("uid"),
            4: strings("groups"),
        },
    ),
    3: message(
        "status",
        {
            1: messages(
                "conditions",
                {
                    1: string("type"),
                    6: string("status"),
                    2: string("reason"),
                    3: string("message"),
                    4: time("lastUpdateTime"),
                    5: time("lastTransitionTime"),
                },
            ),
            2: Field("certificate", Scalar.BYTES),
        },
    ),
}
