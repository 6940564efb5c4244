"""Turn a ``application/vnd.kubernetes.protobuf`` request body into the object's JSON dict.

Since client-go 1.32 kubectl's typed clients (``kubectl create secret|deployment|...``,
``kubectl autoscale``) POST protobuf and never fall back to JSON, so the API must read it. The rest
of pykube only speaks JSON dicts, so decoding produces exactly what Kubernetes' JSON encoder would
have sent for the same object, and everything after this point is shared with the JSON path.

Go's protobuf encoder writes every non-pointer field, zero or not, while its JSON encoder drops
zero values of ``omitempty`` fields; the field tables' ``keep`` flag carries the difference.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube_py.api.protobuf import core, groups
from minikube_py.api.protobuf.schema import Field, Message, Scalar, Shape
from minikube_py.api.protobuf.wire import WireError, WireType, iter_fields, read_varint, to_signed
from minikube_py.model.errors import bad_request
from minikube_py.model.times import rfc3339

MAGIC = b"k8s\x00"

#: (apiVersion, kind) -> field table of the object inside the envelope
KINDS: dict[tuple[str, str], Message] = {
    ("v1", "Secret"): core.SECRET,
    ("v1", "ConfigMap"): core.CONFIG_MAP,
    ("v1", "Namespace"): core.NAMESPACE,
    ("v1", "ServiceAccount"): core.SERVICE_ACCOUNT,
    ("v1", "Service"): core.SERVICE,
    ("v1", "ResourceQuota"): core.RESOURCE_QUOTA,
    ("v1", "Pod"): core.POD,
    ("apps/v1", "Deployment"): groups.DEPLOYMENT,
    ("apps/v1", "ReplicaSet"): groups.REPLICA_SET,
    ("apps/v1", "DaemonSet"): groups.DAEMON_SET,
    ("batch/v1", "Job"): groups.JOB,
    ("batch/v1", "CronJob"): groups.CRON_JOB,
    ("autoscaling/v1", "HorizontalPodAutoscaler"): groups.HORIZONTAL_POD_AUTOSCALER,
    ("policy/v1", "PodDisruptionBudget"): groups.POD_DISRUPTION_BUDGET,
    ("policy/v1", "Eviction"): groups.EVICTION,
    ("policy/v1beta1", "Eviction"): groups.EVICTION,
    ("rbac.authorization.k8s.io/v1", "Role"): groups.ROLE,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): groups.CLUSTER_ROLE,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): groups.ROLE_BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): groups.ROLE_BINDING,
    ("scheduling.k8s.io/v1", "PriorityClass"): groups.PRIORITY_CLASS,
    ("networking.k8s.io/v1", "Ingress"): groups.INGRESS,
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): groups.CERTIFICATE_SIGNING_REQUEST,
    ("authentication.k8s.io/v1", "TokenRequest"): groups.TOKEN_REQUEST,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): groups.SELF_SUBJECT_REVIEW,
    ("authentication.k8s.io/v1", "TokenReview"): groups.TOKEN_REVIEW,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): groups.SELF_SUBJECT_ACCESS_REVIEW,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): groups.SELF_SUBJECT_RULES_REVIEW,
    ("authorization.k8s.io/v1", "SubjectAccessReview"): groups.SUBJECT_ACCESS_REVIEW,
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): groups.SUBJECT_ACCESS_REVIEW,
}

# runtime.Unknown, the envelope after the magic
_TYPE_META: Message = {1: Field("apiVersion", Scalar.STRING), 2: Field("kind", Scalar.STRING)}
_UNKNOWN: Message = {
    1: Field("typeMeta", _TYPE_META),
    2: Field("raw", Scalar.BYTES),
    3: Field("contentEncoding", Scalar.STRING),
    4: Field("contentType", Scalar.STRING),
}
_MAP_ENTRY_KEY = Field("key", Scalar.STRING)
_QUANTITY: Message = {1: Field("string", Scalar.STRING)}
#: JSON value of a map entry that has no value on the wire
_ZERO = {Scalar.STRING: "", Scalar.BYTES: "", Scalar.QUANTITY: "", Scalar.INT: 0, Scalar.BOOL: False}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Go's zero time.Time (year 1) in Unix seconds; encoders normally omit it altogether
_GO_ZERO_TIME = -62135596800


def decode_object(body: bytes) -> dict[str, Any]:
    """The object in a protobuf request body as the JSON dict Kubernetes' JSON encoder would produce.

    Raises a 400 :class:`StatusError` for a malformed body or a kind without a field table.
    """
    if not body.startswith(MAGIC):
        raise bad_request("unable to decode protobuf body: missing the k8s protobuf magic prefix")
    try:
        envelope = _unwrap_envelope(memoryview(body)[len(MAGIC) :])
    except WireError as e:
        raise bad_request(f"unable to decode protobuf body: {e}") from None
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    table = KINDS.get((api_version, kind))
    if table is None:
        raise bad_request(f"unable to decode protobuf body for kind {kind} in {api_version or 'no apiVersion'}")
    try:
        fields = decode_message(envelope.get("raw", b""), table)
    except WireError as e:
        raise bad_request(f"unable to decode protobuf body for kind {kind}: {e}") from None
    return {"apiVersion": api_version, "kind": kind, **fields}


def _unwrap_envelope(buf: memoryview) -> dict[str, Any]:
    envelope: dict[str, Any] = {}
    for number, wire_type, value in iter_fields(buf):
        field = _UNKNOWN.get(number)
        if field is None:
            continue
        if number == 2:  # the raw object stays bytes until its kind is known
            envelope["raw"] = bytes(_expect_len(field, wire_type, value))
        else:
            envelope[field.name] = _value(field, wire_type, value)
    if envelope.get("contentEncoding"):
        raise WireError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    return envelope


def decode_message(buf: bytes | memoryview, table: Message) -> dict[str, Any]:
    """One message as a JSON dict; fields missing from ``table`` are skipped."""
    out: dict[str, Any] = {}
    for number, wire_type, value in iter_fields(buf):
        field = table.get(number)
        if field is None:
            continue
        if field.shape is Shape.LIST:
            out.setdefault(field.name, []).extend(_list_items(field, wire_type, value))
        elif field.shape is Shape.MAP:
            key, item = _map_entry(field, wire_type, value)
            out.setdefault(field.name, {})[key] = item
        elif not field.name:
            out.update(decode_message(_expect_len(field, wire_type, value), _message_table(field)))
        else:
            decoded = _value(field, wire_type, value)
            if _shown(field, decoded):
                out[field.name] = decoded
            else:  # proto's last-value-wins also applies to a zero after a non-zero
                out.pop(field.name, None)
    return out


def _shown(field: Field, value: Any) -> bool:
    """Whether the JSON encoder would write this value of a singular field."""
    if value is None or value == "":
        return False
    if isinstance(value, dict):
        return True  # Go's encoder never omits a struct, even an empty one
    return bool(value) or field.keep


def _value(field: Field, wire_type: WireType, value: int | memoryview) -> Any:
    """The JSON value of one occurrence of ``field`` (None for a zero Time)."""
    kind = field.type
    if not isinstance(kind, Scalar):
        return decode_message(_expect_len(field, wire_type, value), kind)
    if kind is Scalar.INT:
        return to_signed(_expect_varint(field, wire_type, value))
    if kind is Scalar.BOOL:
        return _expect_varint(field, wire_type, value) != 0
    data = _expect_len(field, wire_type, value)
    if kind is Scalar.STRING:
        return _text(data)
    if kind is Scalar.BYTES:
        return base64.b64encode(data).decode("ascii")
    if kind is Scalar.TIME:
        return _time(data)
    if kind is Scalar.INT_OR_STRING:
        return _int_or_string(data)
    return decode_message(data, _QUANTITY).get("string", "")


def _list_items(field: Field, wire_type: WireType, value: int | memoryview) -> list[Any]:
    if field.type is Scalar.INT and wire_type == WireType.LEN:  # packed, as proto3 writers send it
        assert isinstance(value, memoryview)
        items, pos = [], 0
        while pos < len(value):
            item, pos = read_varint(value, pos)
            items.append(to_signed(item))
        return items
    return [_value(field, wire_type, value)]


def _map_entry(field: Field, wire_type: WireType, value: int | memoryview) -> tuple[str, Any]:
    key: str = ""
    item: Any = None
    for number, entry_type, entry_value in iter_fields(_expect_len(field, wire_type, value)):
        if number == 1:
            key = _value(_MAP_ENTRY_KEY, entry_type, entry_value)
        elif number == 2:
            item = _value(field, entry_type, entry_value)
    if item is None:  # an absent value is the type's zero value
        item = _ZERO.get(field.type, {}) if isinstance(field.type, Scalar) else {}
    return key, item


def _message_table(field: Field) -> Message:
    assert not isinstance(field.type, Scalar)
    return field.type


def _expect_len(field: Field, wire_type: WireType, value: int | memoryview) -> memoryview:
    if wire_type != WireType.LEN or not isinstance(value, memoryview):
        raise WireError(f"field {field.name or '(inline)'}: expected length-delimited data, got wire type {wire_type}")
    return value


def _expect_varint(field: Field, wire_type: WireType, value: int | memoryview) -> int:
    if wire_type != WireType.VARINT or not isinstance(value, int):
        raise WireError(f"field {field.name}: expected a varint, got wire type {wire_type}")
    return value


def _text(data: bytes | memoryview) -> str:
    """Go strings may hold any bytes; its JSON encoder writes invalid UTF-8 as U+FFFD, and so do we."""
    return bytes(data).decode("utf-8", errors="replace")


def _time(data: memoryview) -> str | None:
    """metav1.Time: whole seconds only (Kubernetes drops nanos), RFC 3339 in UTC like Go's encoder."""
    seconds = 0
    for number, wire_type, value in iter_fields(data):
        if number == 1:
            seconds = to_signed(_expect_varint(Field("seconds", Scalar.INT), wire_type, value))
    if not data or seconds == _GO_ZERO_TIME:
        return None
    try:
        return rfc3339(_EPOCH + timedelta(seconds=seconds))
    except OverflowError:
        raise WireError(f"time out of range: {seconds} seconds") from None


def _int_or_string(data: memoryview) -> int | str:
    is_string, number, text = False, 0, ""
    for field_number, wire_type, value in iter_fields(data):
        if field_number == 1:
            is_string = _expect_varint(Field("type", Scalar.INT), wire_type, value) == 1
        elif field_number == 2:
            number = to_signed(_expect_varint(Field("intVal", Scalar.INT), wire_type, value))
        elif field_number == 3:
            text = _text(_expect_len(Field("strVal", Scalar.STRING), wire_type, value))
    return text if is_string else number
