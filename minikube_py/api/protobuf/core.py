"""Field tables of meta/v1 and core/v1: object metadata, the core kinds and the pod template.

Numbers are those of Kubernetes' ``generated.proto`` (k8s.io/api, k8s.io/apimachinery); JSON names
and ``keep`` follow the Go struct tags (``keep`` for pointers and for fields without omitempty).
Only the parts that clients send on create are listed; status types are left empty because the
server ignores status on create.
"""

from __future__ import annotations

from minikube_py.api.protobuf.schema import (
    Message,
    boolean,
    bytes_map,
    inline,
    int_or_string,
    integer,
    integers,
    message,
    messages,
    quantity,
    quantity_map,
    string,
    string_map,
    strings,
    time,
)

#: a status message whose content pykube ignores; it still shows as ``{}`` like the JSON encoder's
EMPTY: Message = {}

# --- meta/v1 ---------------------------------------------------------------------------------------

OWNER_REFERENCE: Message = {
    5: string("apiVersion"),
    1: string("kind"),
    3: string("name"),
    4: string("uid"),
    6: boolean("controller", keep=True),
    7: boolean("blockOwnerDeletion", keep=True),
}

OBJECT_META: Message = {
    1: string("name"),
    2: string("generateName"),
    3: string("namespace"),
    4: string("selfLink"),
    5: string("uid"),
    6: string("resourceVersion"),
    7: integer("generation"),
    8: time("creationTimestamp"),
    9: time("deletionTimestamp"),
    10: integer("deletionGracePeriodSeconds", keep=True),
    11: string_map("labels"),
    12: string_map("annotations"),
    13: messages("ownerReferences", OWNER_REFERENCE),
    14: strings("finalizers"),
}


def spec_object(spec: Message) -> Message:
    """A kind with a spec and a status, numbered as every such kind's ``generated.proto`` numbers
    them: metadata 1, spec 2, status 3 (ignored: a client sends no status pykube keeps)."""
    return {1: message("metadata", OBJECT_META), 2: message("spec", spec), 3: message("status", EMPTY)}


LABEL_SELECTOR_REQUIREMENT: Message = {1: string("key"), 2: string("operator"), 3: strings("values")}

LABEL_SELECTOR: Message = {1: string_map("matchLabels"), 2: messages("matchExpressions", LABEL_SELECTOR_REQUIREMENT)}

# --- core/v1 references ----------------------------------------------------------------------------

LOCAL_OBJECT_REFERENCE: Message = {1: string("name")}

OBJECT_REFERENCE: Message = {
    1: string("kind"),
    2: string("namespace"),
    3: string("name"),
    4: string("uid"),
    5: string("apiVersion"),
    6: string("resourceVersion"),
    7: string("fieldPath"),
}

TYPED_LOCAL_OBJECT_REFERENCE: Message = {1: string("apiGroup"), 2: string("kind"), 3: string("name")}

# --- container ---------------------------------------------------------------------------------------

CONTAINER_PORT: Message = {
    1: string("name"),
    2: integer("hostPort"),
    3: integer("containerPort", keep=True),
    4: string("protocol"),
    5: string("hostIP"),
}

_KEY_SELECTOR: Message = {1: inline(LOCAL_OBJECT_REFERENCE), 2: string("key"), 3: boolean("optional", keep=True)}

ENV_VAR_SOURCE: Message = {
    1: message("fieldRef", {1: string("apiVersion"), 2: string("fieldPath")}),
    2: message("resourceFieldRef", {1: string("containerName"), 2: string("resource"), 3: quantity("divisor")}),
    3: message("configMapKeyRef", _KEY_SELECTOR),
    4: message("secretKeyRef", _KEY_SELECTOR),
}

ENV_VAR: Message = {1: string("name"), 2: string("value"), 3: message("valueFrom", ENV_VAR_SOURCE)}

_ENV_SOURCE_REF: Message = {1: inline(LOCAL_OBJECT_REFERENCE), 2: boolean("optional", keep=True)}

ENV_FROM_SOURCE: Message = {
    1: string("prefix"),
    2: message("configMapRef", _ENV_SOURCE_REF),
    3: message("secretRef", _ENV_SOURCE_REF),
}

RESOURCE_REQUIREMENTS: Message = {
    1: quantity_map("limits"),
    2: quantity_map("requests"),
    3: messages("claims", {1: string("name"), 2: string("request")}),
}

VOLUME_MOUNT: Message = {
    1: string("name"),
    2: boolean("readOnly"),
    7: string("recursiveReadOnly"),
    3: string("mountPath"),
    4: string("subPath"),
    5: string("mountPropagation"),
    6: string("subPathExpr"),
}

EXEC_ACTION: Message = {1: strings("command")}

HTTP_GET_ACTION: Message = {
    1: string("path"),
    2: int_or_string("port", keep=True),
    3: string("host"),
    4: string("scheme"),
    5: messages("httpHeaders", {1: string("name"), 2: string("value")}),
}

TCP_SOCKET_ACTION: Message = {1: int_or_string("port", keep=True), 2: string("host")}

PROBE_HANDLER: Message = {
    1: message("exec", EXEC_ACTION),
    2: message("httpGet", HTTP_GET_ACTION),
    3: message("tcpSocket", TCP_SOCKET_ACTION),
    4: message("grpc", {1: integer("port", keep=True), 2: string("service")}),
}

PROBE: Message = {
    1: inline(PROBE_HANDLER),
    2: integer("initialDelaySeconds"),
    3: integer("timeoutSeconds"),
    4: integer("periodSeconds"),
    5: integer("successThreshold"),
    6: integer("failureThreshold"),
    7: integer("terminationGracePeriodSeconds", keep=True),
}

LIFECYCLE_HANDLER: Message = {
    1: message("exec", EXEC_ACTION),
    2: message("httpGet", HTTP_GET_ACTION),
    3: message("tcpSocket", TCP_SOCKET_ACTION),
    4: message("sleep", {1: integer("seconds", keep=True)}),
}

LIFECYCLE: Message = {
    1: message("postStart", LIFECYCLE_HANDLER),
    2: message("preStop", LIFECYCLE_HANDLER),
    3: string("stopSignal"),
}

SE_LINUX_OPTIONS: Message = {1: string("user"), 2: string("role"), 3: string("type"), 4: string("level")}

SECCOMP_PROFILE: Message = {1: string("type"), 2: string("localhostProfile")}

SECURITY_CONTEXT: Message = {
    1: message("capabilities", {1: strings("add"), 2: strings("drop")}),
    2: boolean("privileged", keep=True),
    3: message("seLinuxOptions", SE_LINUX_OPTIONS),
    4: integer("runAsUser", keep=True),
    8: integer("runAsGroup", keep=True),
    5: boolean("runAsNonRoot", keep=True),
    6: boolean("readOnlyRootFilesystem", keep=True),
    7: boolean("allowPrivilegeEscalation", keep=True),
    9: string("procMount"),
    11: message("seccompProfile", SECCOMP_PROFILE),
}

CONTAINER: Message = {
    1: string("name"),
    2: string("image"),
    3: strings("command"),
    4: strings("args"),
    5: string("workingDir"),
    6: messages("ports", CONTAINER_PORT),
    19: messages("envFrom", ENV_FROM_SOURCE),
    7: messages("env", ENV_VAR),
    8: message("resources", RESOURCE_REQUIREMENTS),
    24: string("restartPolicy"),
    9: messages("volumeMounts", VOLUME_MOUNT),
    10: message("livenessProbe", PROBE),
    11: message("readinessProbe", PROBE),
    22: message("startupProbe", PROBE),
    12: message("lifecycle", LIFECYCLE),
    13: string("terminationMessagePath"),
    20: string("terminationMessagePolicy"),
    14: string("imagePullPolicy"),
    15: message("securityContext", SECURITY_CONTEXT),
    16: boolean("stdin"),
    17: boolean("stdinOnce"),
    18: boolean("tty"),
}

# --- volumes -----------------------------------------------------------------------------------------

KEY_TO_PATH: Message = {1: string("key"), 2: string("path"), 3: integer("mode", keep=True)}

VOLUME_SOURCE: Message = {
    1: message("hostPath", {1: string("path"), 2: string("type")}),
    2: message("emptyDir", {1: string("medium"), 2: quantity("sizeLimit")}),
    6: message(
        "secret",
        {
            1: string("secretName"),
            2: messages("items", KEY_TO_PATH),
            3: integer("defaultMode", keep=True),
            4: boolean("optional", keep=True),
        },
    ),
    10: message("persistentVolumeClaim", {1: string("claimName"), 2: boolean("readOnly")}),
    19: message(
        "configMap",
        {
            1: inline(LOCAL_OBJECT_REFERENCE),
            2: messages("items", KEY_TO_PATH),
            3: integer("defaultMode", keep=True),
            4: boolean("optional", keep=True),
        },
    ),
}

VOLUME: Message = {1: string("name"), 2: inline(VOLUME_SOURCE)}

# --- pod -----------------------------------------------------------------------------------------------

POD_SECURITY_CONTEXT: Message = {
    1: message("seLinuxOptions", SE_LINUX_OPTIONS),
    2: integer("runAsUser", keep=True),
    6: integer("runAsGroup", keep=True),
    3: boolean("runAsNonRoot", keep=True),
    4: integers("supplementalGroups"),
    5: integer("fsGroup", keep=True),
    7: messages("sysctls", {1: string("name"), 2: string("value")}),
    9: string("fsGroupChangePolicy"),
    10: message("seccompProfile", SECCOMP_PROFILE),
}

TOLERATION: Message = {
    1: string("key"),
    2: string("operator"),
    3: string("value"),
    4: string("effect"),
    5: integer("tolerationSeconds", keep=True),
}

POD_SPEC: Message = {
    1: messages("volumes", VOLUME),
    20: messages("initContainers", CONTAINER),
    2: messages("containers", CONTAINER),
    3: string("restartPolicy"),
    4: integer("terminationGracePeriodSeconds", keep=True),
    5: integer("activeDeadlineSeconds", keep=True),
    6: string("dnsPolicy"),
    7: string_map("nodeSelector"),
    8: string("serviceAccountName"),
    9: string("serviceAccount"),
    21: boolean("automountServiceAccountToken", keep=True),
    10: string("nodeName"),
    11: boolean("hostNetwork"),
    12: boolean("hostPID"),
    13: boolean("hostIPC"),
    27: boolean("shareProcessNamespace", keep=True),
    14: message("securityContext", POD_SECURITY_CONTEXT),
    15: messages("imagePullSecrets", LOCAL_OBJECT_REFERENCE),
    16: string("hostname"),
    17: string("subdomain"),
    19: string("schedulerName"),
    22: messages("tolerations", TOLERATION),
    23: messages("hostAliases", {1: string("ip"), 2: strings("hostnames")}),
    24: string("priorityClassName"),
    25: integer("priority", keep=True),
    29: string("runtimeClassName"),
    30: boolean("enableServiceLinks", keep=True),
    31: string("preemptionPolicy"),
    35: boolean("setHostnameAsFQDN", keep=True),
}

POD_TEMPLATE_SPEC: Message = {1: message("metadata", OBJECT_META), 2: message("spec", POD_SPEC)}

POD: Message = spec_object(POD_SPEC)

# --- core/v1 kinds -------------------------------------------------------------------------------------

SECRET: Message = {
    1: message("metadata", OBJECT_META),
    5: boolean("immutable", keep=True),
    2: bytes_map("data"),
    4: string_map("stringData"),
    3: string("type"),
}

CONFIG_MAP: Message = {
    1: message("metadata", OBJECT_META),
    4: boolean("immutable", keep=True),
    2: string_map("data"),
    3: bytes_map("binaryData"),
}

NAMESPACE: Message = spec_object({1: strings("finalizers")})

SERVICE_ACCOUNT: Message = {
    1: message("metadata", OBJECT_META),
    2: messages("secrets", OBJECT_REFERENCE),
    3: messages("imagePullSecrets", LOCAL_OBJECT_REFERENCE),
    4: boolean("automountServiceAccountToken", keep=True),
}

SERVICE_PORT: Message = {
    1: string("name"),
    2: string("protocol"),
    6: string("appProtocol"),
    3: integer("port", keep=True),
    4: int_or_string("targetPort"),
    5: integer("nodePort"),
}

SERVICE_SPEC: Message = {
    1: messages("ports", SERVICE_PORT),
    2: string_map("selector"),
    3: string("clusterIP"),
    18: strings("clusterIPs"),
    4: string("type"),
    5: strings("externalIPs"),
    7: string("sessionAffinity"),
    8: string("loadBalancerIP"),
    9: strings("loadBalancerSourceRanges"),
    10: string("externalName"),
    11: string("externalTrafficPolicy"),
    12: integer("healthCheckNodePort"),
    13: boolean("publishNotReadyAddresses"),
    14: message("sessionAffinityConfig", {1: message("clientIP", {1: integer("timeoutSeconds", keep=True)})}),
    19: strings("ipFamilies"),
    17: string("ipFamilyPolicy"),
    20: boolean("allocateLoadBalancerNodePorts", keep=True),
    21: string("loadBalancerClass"),
    22: string("internalTrafficPolicy"),
    23: string("trafficDistribution"),
}

SERVICE: Message = spec_object(SERVICE_SPEC)

RESOURCE_QUOTA: Message = spec_object(
    {
        1: quantity_map("hard"),
        2: strings("scopes"),
        3: message(
            "scopeSelector",
            {1: messages("matchExpressions", {1: string("scopeName"), 2: string("operator"), 3: strings("values")})},
        ),
    }
)
