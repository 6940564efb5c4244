"""API Priority and Fairness configuration (``flowcontrol.apiserver.k8s.io/v1``): FlowSchemas sort
requests into PriorityLevelConfigurations.

kube-apiserver keeps a fixed configuration of these objects in every cluster (two mandatory levels
and schemas, ``exempt`` and ``catch-all``, and the suggested ones for nodes, leader election,
controllers and workloads), and tools read and write them: ``kubectl get flowschemas`` is where an
administrator looks when clients see 429s, and charts of operators ship FlowSchemas of their own.
pykube serves the kinds with kube-apiserver's defaults, validation and configuration; its own limit
on concurrent requests stays ``--max-requests-inflight`` and ``--max-mutating-requests-inflight``
(it does not queue by priority level).

Pure parts, kube-apiserver's rules (``pkg/apis/flowcontrol``, the bootstrap configuration of
``apiserver/pkg/apis/flowcontrol/bootstrap`` and its ensurer): defaults, validation, the
configuration objects, how the ensurer decides what to write, and the ``Dangling`` condition.
"""

from __future__ import annotations

import math
from typing import Any

from minikube_py.model.errors import FieldError, duplicate, forbidden, invalid_value, not_supported, required
from minikube_py.model.jsoncopy import json_copy
from minikube_py.model.lenient import as_dict, as_list
from minikube_py.model.selectors import dns1123_label_errors

Obj = dict[str, Any]
Errors = list[FieldError]

GROUP = "flowcontrol.apiserver.k8s.io"
API_VERSION = f"{GROUP}/v1"
#: whether the configuration producer keeps an object's spec at the built-in one
AUTOUPDATE = "apf.kubernetes.io/autoupdate-spec"
#: the field managers of kube-apiserver's configuration producer and of its status writer
PRODUCER = "api-priority-and-fairness-config-producer-v1"
CONSUMER = "api-priority-and-fairness-config-consumer-v1"
EXEMPT, CATCH_ALL = "exempt", "catch-all"
MAX_PRECEDENCE = 10000
DEFAULT_PRECEDENCE = 1000
#: shuffle sharding deals ``handSize`` of ``queues`` cards: at most 60 bits of entropy
MAX_ENTROPY_BITS = 60
MAX_QUEUES = 10_000_000
VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "proxy", "update", "watch")
SUBJECT_KINDS = ("Group", "ServiceAccount", "User")
_SUBJECT_FIELDS = {"User": "user", "Group": "group", "ServiceAccount": "serviceAccount"}


# ------------------------------------------------------------------------------ configuration


def _limited(shares: int, lendable: int, queuing: tuple[int, int, int] | None) -> Obj:
    """A Limited level's spec; ``queuing`` is (queues, handSize, queueLengthLimit), None to reject."""
    response: Obj = {"type": "Reject"}
    if queuing is not None:
        queues, hand, length = queuing
        response = {"type": "Queue", "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": length}}
    return {
        "type": "Limited",
        "limited": {"nominalConcurrencyShares": shares, "lendablePercent": lendable, "limitResponse": response},
    }


def _users(*names: str) -> list[Obj]:
    return [{"kind": "User", "user": {"name": name}} for name in names]


def _groups(*names: str) -> list[Obj]:
    return [{"kind": "Group", "group": {"name": name}} for name in names]


def _accounts(*names: str) -> list[Obj]:
    return [{"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": n}} for n in names]


def _resources(verbs: list[str], group: str, resources: list[str], *, cluster: bool = False) -> Obj:
    return {"verbs": verbs, "apiGroups": [group], "resources": resources, "clusterScope": cluster, "namespaces": ["*"]}


_EVERYTHING = {
    "resourceRules": [_resources(["*"], "*", ["*"], cluster=True)],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
}
_ANYONE = _groups("system:unauthenticated", "system:authenticated")
_ELECTION = ["get", "create", "update"]


def _schema(level: str, precedence: int, method: str | None, *rules: Obj) -> Obj:
    spec: Obj = {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence}
    if method is not None:
        spec["distinguisherMethod"] = {"type": method}
    spec["rules"] = list(rules)
    return spec


def _all_of(subjects: list[Obj]) -> Obj:
    return {"subjects": subjects, **_EVERYTHING}


#: kube-apiserver's configuration, (mandatory, name, spec) per level and per schema
PRIORITY_LEVELS: tuple[tuple[bool, str, Obj], ...] = (
    (True, EXEMPT, {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}}),
    (True, CATCH_ALL, _limited(5, 0, None)),
    (False, "system", _limited(30, 33, (64, 6, 50))),
    (False, "node-high", _limited(40, 25, (64, 6, 50))),
    (False, "leader-election", _limited(10, 0, (16, 4, 50))),
    (False, "workload-high", _limited(40, 50, (128, 6, 50))),
    (False, "workload-low", _limited(100, 90, (128, 6, 50))),
    (False, "global-default", _limited(20, 50, (128, 6, 50))),
)
FLOW_SCHEMAS: tuple[tuple[bool, str, Obj], ...] = (
    (True, EXEMPT, _schema(EXEMPT, 1, None, _all_of(_groups("system:masters")))),
    (
        False,
        "probes",
        _schema(
            EXEMPT,
            2,
            None,
            {
                "subjects": _ANYONE,
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}],
            },
        ),
    ),
    (
        False,
        "system-leader-election",
        _schema(
            "leader-election",
            100,
            "ByUser",
            {
                "subjects": [*_users("system:kube-controller-manager", "system:kube-scheduler"), *_accounts("*")],
                "resourceRules": [_resources(_ELECTION, "coordination.k8s.io", ["leases"])],
            },
        ),
    ),
    (
        False,
        "endpoint-controller",
        _schema(
            "workload-high",
            150,
            "ByUser",
            {
                "subjects": [
                    *_users("system:kube-controller-manager"),
                    *_accounts("endpoint-controller", "endpointslicemirroring-controller"),
                ],
                "resourceRules": [_resources(_ELECTION, "", ["endpoints"])],
            },
        ),
    ),
    (
        False,
        "workload-leader-election",
        _schema(
            "leader-election",
            200,
            "ByUser",
            {
                "subjects": _accounts("*"),
                "resourceRules": [
                    _resources(_ELECTION, "", ["endpoints", "configmaps"]),
                    _resources(_ELECTION, "coordination.k8s.io", ["leases"]),
                ],
            },
        ),
    ),
    (
        False,
        "system-node-high",
        _schema(
            "node-high",
            400,
            "ByUser",
            {
                "subjects": _groups("system:nodes"),
                "resourceRules": [
                    _resources(["*"], "", ["nodes", "nodes/status"], cluster=True),
                    _resources(["*"], "coordination.k8s.io", ["leases"]),
                ],
            },
        ),
    ),
    (False, "system-nodes", _schema("system", 500, "ByUser", _all_of(_groups("system:nodes")))),
    (
        False,
        "kube-controller-manager",
        _schema("workload-high", 800, "ByNamespace", _all_of(_users("system:kube-controller-manager"))),
    ),
    (False, "kube-scheduler", _schema("workload-high", 800, "ByNamespace", _all_of(_users("system:kube-scheduler")))),
    (False, "kube-system-service-accounts", _schema("workload-high", 900, "ByNamespace", _all_of(_accounts("*")))),
    (False, "service-accounts", _schema("workload-low", 9000, "ByUser", _all_of(_groups("system:serviceaccounts")))),
    (False, "global-default", _schema("global-default", 9900, "ByUser", _all_of(_ANYONE))),
    (True, CATCH_ALL, _schema(CATCH_ALL, MAX_PRECEDENCE, "ByUser", _all_of(_ANYONE))),
)
_MANDATORY_LEVELS = {name: spec for mandatory, name, spec in PRIORITY_LEVELS if mandatory}
_MANDATORY_SCHEMAS = {name: spec for mandatory, name, spec in FLOW_SCHEMAS if mandatory}


def configuration_object(kind: str, name: str, spec: Obj) -> Obj:
    """A configuration object as the producer creates it: marked for automatic updates."""
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "annotations": {AUTOUPDATE: "true"}},
        "spec": spec,
    }


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _go_bool(text: object) -> bool | None:
    """Go's ``strconv.ParseBool``; None for anything it refuses."""
    if text in _GO_TRUE:
        return True
    return False if text in _GO_FALSE else None


def ensured(kind: str, existing: Obj, spec: Obj, *, mandatory: bool) -> Obj | None:
    """What the configuration producer writes over ``existing``, a configuration object whose
    built-in spec is ``spec``: None when it is as it should be. A mandatory object always gets the
    built-in spec back; a suggested one only while its annotation says so (without one, only while
    nobody changed it: generation 1). The annotation is rewritten to say what was decided. The
    ``exempt`` level keeps the cluster's ``spec.exempt`` values, which administrators may tune."""
    md = as_dict(existing.get("metadata"))
    annotations = as_dict(md.get("annotations"))
    update = mandatory or _go_bool(annotations.get(AUTOUPDATE))
    if update is None:
        update = md.get("generation") == 1
    wanted_spec = spec
    if kind == "PriorityLevelConfiguration" and md.get("name") == EXEMPT:
        kept = as_dict(existing.get("spec")).get("exempt")
        wanted_spec = {**spec, "exempt": kept} if isinstance(kept, dict) else spec
    value = "true" if update else "false"
    spec_changes = update and _defaulted(kind, wanted_spec) != existing.get("spec")
    if annotations.get(AUTOUPDATE) == value and not spec_changes:
        return None
    written = {**existing, "metadata": {**md, "annotations": {**annotations, AUTOUPDATE: value}}}
    if spec_changes:
        written["spec"] = wanted_spec
    return written


def unwanted(existing: Obj, names: set[str]) -> bool:
    """Whether the producer deletes ``existing``: no longer part of the configuration (``names``)
    and still marked as the producer's to keep."""
    md = as_dict(existing.get("metadata"))
    return md.get("name") not in names and _go_bool(as_dict(md.get("annotations")).get(AUTOUPDATE)) is True


def _defaulted(kind: str, spec: Obj) -> Obj:
    """``spec`` as the server stores it, to compare with a stored object."""
    obj: Obj = {"spec": json_copy(spec)}
    (default_flow_schema if kind == "FlowSchema" else default_priority_level)(obj)
    return obj["spec"]


def dangling_condition(schema: Obj, levels: set[str]) -> Obj:
    """The ``Dangling`` condition the flow controller keeps on a FlowSchema (without its time):
    whether the priority level it names exists."""
    level = as_dict(as_dict(schema.get("spec")).get("priorityLevelConfiguration")).get("name", "")
    quoted = '"' + str(level).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if level in levels:
        return {
            "type": "Dangling",
            "status": "False",
            "reason": "Found",
            "message": f"This FlowSchema references the PriorityLevelConfiguration object named {quoted} and it exists",
        }
    return {
        "type": "Dangling",
        "status": "True",
        "reason": "NotFound",
        "message": f"This FlowSchema references the PriorityLevelConfiguration object named {quoted} "
        "but there is no such object",
    }


# ------------------------------------------------------------------------------ defaults


def default_flow_schema(obj: Obj) -> None:
    """``SetDefaults_FlowSchemaSpec``: precedence 1000 when unset."""
    spec = obj.get("spec")
    if isinstance(spec, dict) and not spec.get("matchingPrecedence"):
        spec["matchingPrecedence"] = DEFAULT_PRECEDENCE


def default_priority_level(obj: Obj) -> None:
    """The v1 defaults: a Limited level gets 30 nominal shares and lends nothing, an Exempt one 0 and
    nothing, a queuing response 64 queues, hands of 8 and 50 requests a queue."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    exempt = spec.get("exempt")
    if isinstance(exempt, dict):
        exempt.setdefault("nominalConcurrencyShares", 0)
        exempt.setdefault("lendablePercent", 0)
    limited = spec.get("limited")
    if not isinstance(limited, dict):
        return
    if limited.get("nominalConcurrencyShares") is None:
        limited["nominalConcurrencyShares"] = 30
    limited.setdefault("lendablePercent", 0)
    queuing = as_dict(limited.get("limitResponse")).get("queuing")
    if isinstance(queuing, dict):
        for key, value in (("handSize", 8), ("queues", 64), ("queueLengthLimit", 50)):
            if not queuing.get(key):
                queuing[key] = value


# ------------------------------------------------------------------------------ validation


def _star_alone(path: str, values: list[Any], what: str) -> Errors:
    if "*" in values and len(values) > 1:
        return [invalid_value(path, values, f"if '*' is present, must not specify other {what}")]
    return []


def _verbs(path: str, verbs: list[Any]) -> Errors:
    if not verbs:
        return [required(path, "verbs must contain at least one value")]
    errs = _star_alone(path, verbs, "verbs")
    if "*" not in verbs:
        errs += [not_supported(path, v, list(VERBS)) for v in verbs if v not in VERBS]
    return errs


def _url_errors(url: Any) -> str | None:
    text = url if isinstance(url, str) else ""
    if text == "*":
        return None
    if not text.startswith("/"):
        return "must start with slash"
    if any(c.isspace() for c in text):
        return "must not contain white-space"
    if "//" in text:
        return "must not contain double slash"
    if "*" in text and not (text.endswith("/*") and text.count("*") == 1):
        return "wildcard can only do suffix matching"
    return None


def _subject_errors(path: str, subject: Obj) -> Errors:
    kind = subject.get("kind")
    if kind not in _SUBJECT_FIELDS:
        return [not_supported(f"{path}.kind", kind, list(SUBJECT_KINDS))]
    errs: Errors = []
    for other_kind, other in _SUBJECT_FIELDS.items():
        if other_kind != kind and subject.get(other) is not None:
            errs.append(forbidden(f"{path}.{other}", f"{other} is forbidden when subject kind is not '{other_kind}'"))
    field = _SUBJECT_FIELDS[kind]
    body = subject.get(field)
    if not isinstance(body, dict):
        return [required(f"{path}.{field}", f"{field} is required when subject kind is '{kind}'"), *errs]
    if kind == "ServiceAccount":
        if not body.get("namespace"):
            errs.append(required(f"{path}.{field}.namespace", "must specify namespace for service account"))
        if not body.get("name"):
            errs.append(required(f"{path}.{field}.name", "must specify name for service account"))
    elif not body.get("name"):
        errs.append(required(f"{path}.{field}.name", "username is required" if kind == "User" else "name is required"))
    return errs


def _resource_rule_errors(path: str, rule: Obj) -> Errors:
    errs = _verbs(f"{path}.verbs", as_list(rule.get("verbs")))
    for field, what, needed in (
        ("apiGroups", "api groups", "resource rules must supply at least one api group"),
        ("resources", "resources", "resource rules must supply at least one resource"),
    ):
        values = as_list(rule.get(field))
        errs += [required(f"{path}.{field}", needed)] if not values else _star_alone(f"{path}.{field}", values, what)
    namespaces = as_list(rule.get("namespaces"))
    if not namespaces and not rule.get("clusterScope"):
        errs.append(
            required(
                f"{path}.namespaces", "resource rules that are not cluster scoped must supply at least one namespace"
            )
        )
    errs += _star_alone(f"{path}.namespaces", namespaces, "namespaces")
    for i, namespace in enumerate(namespaces):
        if namespace == "*":
            continue
        text = namespace if isinstance(namespace, str) else ""
        errs += [
            invalid_value(
                f"{path}.namespaces[{i}]", text, f"each member of this list must be '*' or a DNS-1123 label; {m}"
            )
            for m in dns1123_label_errors(text)
        ]
    return errs


def _non_resource_rule_errors(path: str, rule: Obj) -> Errors:
    errs = _verbs(f"{path}.verbs", as_list(rule.get("verbs")))
    urls = as_list(rule.get("nonResourceURLs"))
    if not urls:
        return [*errs, required(f"{path}.nonResourceURLs", "nonResourceURLs must contain at least one value")]
    errs += _star_alone(f"{path}.nonResourceURLs", urls, "non-resource URLs")
    for i, url in enumerate(urls):
        problem = _url_errors(url)
        if problem is not None:
            errs.append(invalid_value(f"{path}.nonResourceURLs[{i}]", url, problem))
    return errs


def _conditions_errors(obj: Obj) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, condition in enumerate(as_list(as_dict(obj.get("status")).get("conditions"))):
        kind = as_dict(condition).get("type")
        if not kind:
            errs.append(required(f"status.conditions[{i}].type", "must not be empty"))
        elif kind in seen:
            errs.append(duplicate(f"status.conditions[{i}].type", kind))
        else:
            seen.add(str(kind))
    return errs


def _mandatory_errors(obj: Obj, fixed: dict[str, Obj], kind: str) -> Errors:
    """The mandatory objects' specs are fixed (the ``exempt`` level's ``spec.exempt`` aside)."""
    name = as_dict(obj.get("metadata")).get("name")
    if name not in fixed:
        return []
    spec = as_dict(obj.get("spec"))
    wanted = _defaulted(kind, fixed[name])
    if kind == "PriorityLevelConfiguration" and name == EXEMPT:
        spec, wanted = (
            {k: v for k, v in spec.items() if k != "exempt"},
            {k: v for k, v in wanted.items() if k != "exempt"},
        )
        if spec != wanted:
            return [
                invalid_value(
                    "spec", spec, f"spec of '{name}' except the 'spec.exempt' field must equal the fixed value"
                )
            ]
        return []
    if spec != wanted:
        return [invalid_value("spec", spec, f"spec of '{name}' must equal the fixed value")]
    return []


def validate_flow_schema(obj: Obj) -> Errors:
    """``ValidateFlowSchema``: a precedence in 1..10000 (1 for ``exempt`` alone), a known
    distinguisher, a named priority level, and rules with subjects and something to match."""
    spec = as_dict(obj.get("spec"))
    name = as_dict(obj.get("metadata")).get("name")
    errs: Errors = []
    precedence = spec.get("matchingPrecedence")
    if isinstance(precedence, int) and not isinstance(precedence, bool):
        if precedence <= 0:
            errs.append(invalid_value("spec.matchingPrecedence", precedence, "must be a positive value"))
        elif precedence > MAX_PRECEDENCE:
            errs.append(
                invalid_value("spec.matchingPrecedence", precedence, f"must not be greater than {MAX_PRECEDENCE}")
            )
        elif precedence == 1 and name != EXEMPT:
            errs.append(
                invalid_value(
                    "spec.matchingPrecedence",
                    precedence,
                    "only the schema named 'exempt' may have matchingPrecedence 1",
                )
            )
    method = spec.get("distinguisherMethod")
    if isinstance(method, dict) and method.get("type") not in ("ByUser", "ByNamespace"):
        errs.append(not_supported("spec.distinguisherMethod.type", method.get("type"), ["ByNamespace", "ByUser"]))
    if not as_dict(spec.get("priorityLevelConfiguration")).get("name"):
        errs.append(required("spec.priorityLevelConfiguration.name", "must reference a priority level"))
    for i, rule in enumerate(as_list(spec.get("rules"))):
        rule, path = as_dict(rule), f"spec.rules[{i}]"
        subjects = as_list(rule.get("subjects"))
        if not subjects:
            errs.append(required(f"{path}.subjects", "subjects must contain at least one value"))
        for j, subject in enumerate(subjects):
            errs += _subject_errors(f"{path}.subjects[{j}]", as_dict(subject))
        resource_rules, other_rules = as_list(rule.get("resourceRules")), as_list(rule.get("nonResourceRules"))
        if not resource_rules and not other_rules:
            errs.append(required(path, "at least one of resourceRules and nonResourceRules has to be non-empty"))
        for j, resource_rule in enumerate(resource_rules):
            errs += _resource_rule_errors(f"{path}.resourceRules[{j}]", as_dict(resource_rule))
        for j, other_rule in enumerate(other_rules):
            errs += _non_resource_rule_errors(f"{path}.nonResourceRules[{j}]", as_dict(other_rule))
    return errs + _mandatory_errors(obj, _MANDATORY_SCHEMAS, "FlowSchema") + _conditions_errors(obj)


def _percent_errors(path: str, value: Any) -> Errors:
    if isinstance(value, int) and not 0 <= value <= 100:
        return [invalid_value(path, value, "must be between 0 and 100, inclusive")]
    return []


def _shares_errors(path: str, value: Any) -> Errors:
    if isinstance(value, int) and value < 0:
        return [invalid_value(path, value, "must be a non-negative integer")]
    return []


def _queuing_errors(path: str, queuing: Obj) -> Errors:
    errs: Errors = []
    length, queues, hand = (queuing.get(k) for k in ("queueLengthLimit", "queues", "handSize"))
    for field, value in (("queueLengthLimit", length), ("queues", queues), ("handSize", hand)):
        if isinstance(value, int) and value <= 0:
            errs.append(invalid_value(f"{path}.{field}", value, "must be positive"))
    if isinstance(queues, int) and queues > MAX_QUEUES:
        errs.append(invalid_value(f"{path}.queues", queues, f"must not be greater than {MAX_QUEUES}"))
    if isinstance(queues, int) and isinstance(hand, int) and queues > 0 and hand > 0:
        if hand > queues:
            errs.append(invalid_value(f"{path}.handSize", hand, f"should not be greater than queues ({queues})"))
        elif math.ceil(math.log2(queues) * hand) > MAX_ENTROPY_BITS:
            errs.append(
                invalid_value(
                    f"{path}.handSize",
                    hand,
                    f"required entropy bits of deckSize {queues} and handSize {hand} should not be greater than "
                    f"{MAX_ENTROPY_BITS}",
                )
            )
    return errs


def _limited_errors(limited: Obj) -> Errors:
    errs = _shares_errors("spec.limited.nominalConcurrencyShares", limited.get("nominalConcurrencyShares"))
    errs += _percent_errors("spec.limited.lendablePercent", limited.get("lendablePercent"))
    borrowing = limited.get("borrowingLimitPercent")
    if isinstance(borrowing, int) and borrowing < 0:
        errs.append(
            invalid_value(
                "spec.limited.borrowingLimitPercent", borrowing, "if specified, must be a non-negative integer"
            )
        )
    response = as_dict(limited.get("limitResponse"))
    kind, queuing = response.get("type"), response.get("queuing")
    path = "spec.limited.limitResponse"
    if kind == "Reject":
        if queuing is not None:
            errs.append(forbidden(f"{path}.queuing", "must be nil if limited.limitResponse.type is not Limited"))
    elif kind == "Queue":
        if not isinstance(queuing, dict):
            errs.append(required(f"{path}.queuing", "must not be empty if limited.limitResponse.type is Limited"))
        else:
            errs += _queuing_errors(f"{path}.queuing", queuing)
    else:
        errs.append(not_supported(f"{path}.type", kind, ["Queue", "Reject"]))
    return errs


def validate_priority_level(obj: Obj) -> Errors:
    """``ValidatePriorityLevelConfiguration``: Exempt exactly for the level named ``exempt``, the
    fields of the other type absent, shares and percentages in range, queues that can be dealt."""
    spec = as_dict(obj.get("spec"))
    name = as_dict(obj.get("metadata")).get("name")
    kind = spec.get("type")
    errs: Errors = []
    if kind not in ("Exempt", "Limited"):
        errs.append(not_supported("spec.type", kind, ["Exempt", "Limited"]))
    elif (kind == "Exempt") != (name == EXEMPT):
        errs.append(invalid_value("spec.type", kind, "type must be 'Exempt' if and only if name is 'exempt'"))
    if kind == "Limited":
        if spec.get("exempt") is not None:
            errs.append(forbidden("spec.exempt", "must be nil if the type is Limited"))
        limited = spec.get("limited")
        if isinstance(limited, dict):
            errs += _limited_errors(limited)
        else:
            errs.append(required("spec.limited", "must not be empty when type is Limited"))
    elif kind == "Exempt":
        if spec.get("limited") is not None:
            errs.append(forbidden("spec.limited", "must be nil if the type is not Limited"))
        exempt = as_dict(spec.get("exempt"))
        errs += _shares_errors("spec.exempt.nominalConcurrencyShares", exempt.get("nominalConcurrencyShares"))
        errs += _percent_errors("spec.exempt.lendablePercent", exempt.get("lendablePercent"))
    return errs + _mandatory_errors(obj, _MANDATORY_LEVELS, "PriorityLevelConfiguration")
