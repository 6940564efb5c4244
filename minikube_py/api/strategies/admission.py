"""Mutating- and ValidatingWebhookConfigurations: the webhooks dynamic admission calls (see
:mod:`minikube_py.api.webhooks`); ValidatingAdmissionPolicies and their bindings, the checks it runs
itself (:mod:`minikube_py.api.admissionpolicies`)."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import policy as printers

MUTATING_WEBHOOK_CONFIGURATION, VALIDATING_WEBHOOK_CONFIGURATION = (
    Strategy(
        kind,
        printer=printers.WEBHOOK_CONFIGURATION,
        merge_rules=mergekeys.METADATA_ONLY,
        shape=shape.WEBHOOK_CONFIGURATION,
    )
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
)

VALIDATING_ADMISSION_POLICY = Strategy(
    "ValidatingAdmissionPolicy", printer=printers.VALIDATING_ADMISSION_POLICY, merge_rules=mergekeys.METADATA_ONLY
)
VALIDATING_ADMISSION_POLICY_BINDING = Strategy(
    "ValidatingAdmissionPolicyBinding",
    printer=printers.VALIDATING_ADMISSION_POLICY_BINDING,
    merge_rules=mergekeys.METADATA_ONLY,
)
