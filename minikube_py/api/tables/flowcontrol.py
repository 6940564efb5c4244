"""The printers for API Priority and Fairness: kube-apiserver's ``printFlowSchema`` (sorted by
precedence, then name, as its list printer sorts) and ``printPriorityLevelConfiguration``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name
from minikube_py.api.tables.formatting import NONE, spec_of, status_of


def _flow_schema(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(obj)
    method = (spec.get("distinguisherMethod") or {}).get("type") or NONE
    missing = next(
        (c.get("status", "") for c in status_of(obj).get("conditions") or () if c.get("type") == "Dangling"), "?"
    )
    level = (spec.get("priorityLevelConfiguration") or {}).get("name", "")
    return [obj_name(obj), level, spec.get("matchingPrecedence", 0), method, age(obj, now), missing]


def _precedence(obj: dict[str, Any]) -> tuple[int, str]:
    return spec_of(obj).get("matchingPrecedence", 0), obj_name(obj)


FLOW_SCHEMA = Printer(
    (
        NAME,
        Column("PriorityLevel", "`name` is the name of the priority level configuration being referenced Required."),
        Column(
            "MatchingPrecedence",
            "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen "
            "FlowSchema is among those with the numerically lowest (which we take to be logically highest) "
            "MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the "
            "precedence is not specified, it will be set to 1000 as default.",
        ),
        Column(
            "DistinguisherMethod",
            "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this "
            "schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.",
        ),
        AGE,
        Column("MissingPL", "indicates if the referenced priority level configuration object does not exist"),
    ),
    _flow_schema,
    order=_precedence,
)


def _priority_level(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(obj)
    shares: Any = NONE
    queues: Any = NONE
    hand: Any = NONE
    length: Any = NONE
    limited = spec.get("limited")
    if isinstance(limited, dict):
        shares = limited.get("nominalConcurrencyShares", 0)
        queuing = (limited.get("limitResponse") or {}).get("queuing")
        if isinstance(queuing, dict):
            queues, hand, length = (queuing.get(k, 0) for k in ("queues", "handSize", "queueLengthLimit"))
    return [obj_name(obj), spec.get("type", ""), shares, queues, hand, length, age(obj, now)]


PRIORITY_LEVEL = Printer(
    (
        NAME,
        Column(
            "Type",
            "`type` indicates whether this priority level is subject to limitation on request execution.  A value of "
            '`"Exempt"` means that requests of this priority level are not subject to a limit (and thus are never '
            "queued) and do not detract from the capacity made available to other priority levels.  A value of "
            '`"Limited"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the '
            "server's limited capacity is made available exclusively to this priority level. Required.",
        ),
        Column(
            "NominalConcurrencyShares",
            "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) "
            "of this level.",
        ),
        Column("Queues", "`queues` is the number of queues for this priority level."),
        Column(
            "HandSize",
            "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.",
        ),
        Column(
            "QueueLengthLimit",
            "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue.",
        ),
        AGE,
    ),
    _priority_level,
)
