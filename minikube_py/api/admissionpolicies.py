"""ValidatingAdmissionPolicies at work: for a write, the bindings that concern it, their parameters
and the write's namespace fetched, the checks run (:mod:`minikube_py.model.admissionpolicies`), and
the verdicts carried out: the first denial refuses the write, warnings reach the client, audit
records reach the audit log.

The webhook dispatcher (:mod:`minikube_py.api.webhooks`) follows the policies and bindings with the
webhook configurations (they share a store prefix) and asks this module first, as kube-apiserver runs
its ValidatingAdmissionPolicy plugin before its validating webhooks.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from minikube_py.api import notes
from minikube_py.model import cel, errors
from minikube_py.model.admissionpolicies import (
    AUDIT_KEY,
    REASON_CODES,
    Binding,
    Failure,
    admission_values,
    audit_annotations,
    bind,
    denial_message,
    failures,
    rules_apply,
    warning_message,
)
from minikube_py.model.kinds import by_kind, by_plural
from minikube_py.model.lenient import as_dict
from minikube_py.model.matchconditions import admission_size, conditions_hold
from minikube_py.model.selectors import stored_selector
from minikube_py.model.webhooks import Attributes, needs_namespace_labels, selectors_match
from minikube_py.store.base import KeyNotFound, Obj, Store

_NAMESPACES = by_plural("", "v1", "namespaces")
assert _NAMESPACES is not None
#: why a binding whose parameters cannot be found refuses writes (kube-apiserver's words)
NO_PARAMS = "no params found for policy binding with `Deny` parameterNotFoundAction"


class PolicyChecks:
    """The checks of one write (one per write: it keeps the namespace it fetched)."""

    def __init__(self, store: Store, attrs: Attributes) -> None:
        self._store = store
        self._attrs = attrs
        self._namespace: Obj | bool | None = False  # False: not fetched yet
        self._plain: tuple[cel.Bound, int] | None = None

    async def run(self, bindings: list[Binding]) -> None:
        """Raises the first denial of the bindings that concern the write."""
        denials: list[tuple[Binding, Failure]] = []
        for binding in bindings:
            if await self._concerns(binding):
                denials += await self._check(binding)
        if denials:
            binding, failure = denials[0]
            raise self._refusal(binding, failure)

    async def _namespace_object(self) -> Obj | None:
        if self._namespace is False:
            self._namespace = None
            if self._attrs.namespaced and self._attrs.namespace:
                with contextlib.suppress(KeyNotFound):
                    self._namespace = await self._store.get(_NAMESPACES.key(None, self._attrs.namespace))
        return self._namespace if isinstance(self._namespace, dict) else None

    async def _concerns(self, binding: Binding) -> bool:
        for match in binding.matches:
            if not rules_apply(match, self._attrs):
                return False
            labels = None
            if needs_namespace_labels(match, self._attrs):
                labels = as_dict(as_dict((await self._namespace_object() or {}).get("metadata")).get("labels"))
            if not selectors_match(match, self._attrs, labels):
                return False
        return True

    async def _check(self, binding: Binding) -> list[tuple[Binding, Failure]]:
        """The denials of one binding, after its warnings and audit records are out."""
        namespace = await self._namespace_object()
        if self._plain is None:  # the write's own values, converted and weighed once for every binding
            values = admission_values(self._attrs, None, namespace)
            self._plain = (bind(values), admission_size(values))
        bound, size = self._plain
        try:
            if not conditions_hold(binding.spec.get("matchConditions"), bound, size):
                return []
            params = await self._params(binding)
        except cel.CelError as exc:
            return self._act(binding, [Failure(str(exc), "Invalid", 0, error=True)])
        if params is None:
            return []
        denials = []
        for param in params:
            if param is not None:
                bound = bind(admission_values(self._attrs, param, namespace))
            with_params = size + cel.collection_size(param)
            for key, value in audit_annotations(binding.spec, bound, with_params).items():
                notes.annotate(f"{binding.policy_name}/{key}", value)
            denials += self._act(binding, failures(binding.spec, bound, with_params))
        return denials

    def _act(self, binding: Binding, found: list[Failure]) -> list[tuple[Binding, Failure]]:
        actions = set(binding.binding_spec.get("validationActions") or ())
        denials = []
        audits = []
        for failure in found:
            if failure.error and binding.ignores_failure:
                continue
            if "Deny" in actions:
                denials.append((binding, failure))
            if "Warn" in actions:
                notes.warn(warning_message(binding, failure.message))
            if "Audit" in actions:
                audits.append(
                    {
                        "message": failure.message,
                        "policy": binding.policy_name,
                        "binding": binding.name,
                        "expressionIndex": failure.index,
                        "validationActions": sorted(actions),
                    }
                )
        if audits:
            notes.annotate(AUDIT_KEY, json.dumps(audits, separators=(",", ":")))
        return denials

    async def _params(self, binding: Binding) -> list[Obj | None] | None:
        """The parameter objects the checks run with ([None]: the policy takes none); None when the
        binding stands aside (none found, ``parameterNotFoundAction: Allow``). A binding that must
        have some and finds none raises."""
        kind = binding.spec.get("paramKind")
        ref = binding.binding_spec.get("paramRef")
        if not isinstance(kind, dict):
            return [None]
        if not isinstance(ref, dict):
            raise cel.CelError(f"policy '{binding.policy_name}' needs parameters, and its binding names none")
        rt = by_kind(str(kind.get("apiVersion", "")), str(kind.get("kind", "")))
        if rt is None:
            raise cel.CelError(f"paramKind {kind.get('apiVersion')}/{kind.get('kind')} is not served")
        namespace = str(ref.get("namespace") or (self._attrs.namespace if rt.namespaced else ""))
        found: list[Obj | None] = []
        if ref.get("name"):
            with contextlib.suppress(KeyNotFound):
                found.append(await self._store.get(rt.key(namespace if rt.namespaced else None, str(ref["name"]))))
        else:
            selector = stored_selector(ref.get("selector") or {})
            listing = await self._store.list(rt.prefix(namespace if rt.namespaced else None))
            found += [o for o in listing.items if selector.matches(as_dict(as_dict(o.get("metadata")).get("labels")))]
        if found:
            return found
        if ref.get("parameterNotFoundAction") == "Deny":
            raise cel.CelError(NO_PARAMS)
        return None

    def _refusal(self, binding: Binding, failure: Failure) -> errors.StatusError:
        """kube-apiserver's refusal: a Forbidden-worded message with the validation's reason and code."""
        message = denial_message(binding, failure.message)
        attrs = self._attrs
        rt = by_plural(attrs.group, attrs.version, attrs.resource)
        subject = f'{rt.qualified if rt else attrs.resource} "{attrs.name}"' if attrs.name else attrs.resource
        details: dict[str, Any] = {"name": attrs.name, "kind": attrs.resource, "causes": [{"message": message}]}
        if attrs.group:
            details["group"] = attrs.group
        code = REASON_CODES.get(failure.reason, 422)
        return errors.StatusError(code, failure.reason, f"{subject} is forbidden: {message}", details)
