"""Dynamic admission: calls the webhooks of Mutating- and ValidatingWebhookConfigurations for the
writes their rules name (see :mod:`minikube_py.model.webhooks` for the rules themselves).

The configurations follow the store (:class:`~.follower.PrefixFollower`), so a write that no webhook
concerns costs a look through a list in memory, and a configuration written through this server is
answered once the dispatcher holds it. A webhook is called by its ``url`` or, for a ``service``,
at one of that Service's ready endpoints (as kube-apiserver does with
``--enable-aggregator-routing``): the API server need not run a service proxy itself. TLS is
verified against the webhook's ``caBundle`` (the system's roots without one), for the name
``<service>.<namespace>.svc`` or the URL's host.

The user a write is made by reaches the reviews through :data:`REQUEST_USER`, which the
authentication middleware sets, as it sets NodeRestriction's acting node.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from minikube_py.api import notes
from minikube_py.api.admissionpolicies import PolicyChecks
from minikube_py.api.follower import PrefixFollower
from minikube_py.api.patch.rfc import json_patch
from minikube_py.model import errors
from minikube_py.model.admissionpolicies import Binding, admission_values, bindings_of
from minikube_py.model.cel import CelError
from minikube_py.model.kinds import by_plural
from minikube_py.model.lenient import as_dict, as_list, dict_items
from minikube_py.model.matchconditions import admission_size, conditions_hold
from minikube_py.model.rbac import UserInfo
from minikube_py.model.webhooks import (
    GROUP,
    Attributes,
    InvalidResponse,
    Reinvocation,
    Webhook,
    denial,
    exempt,
    needs_namespace_labels,
    review,
    rules_match,
    selectors_match,
    verdict,
    webhooks_of,
)
from minikube_py.store.base import Event, KeyNotFound, Obj, Store

log = logging.getLogger(__name__)

#: the user of the request in hand (None outside requests: the server's own writes)
REQUEST_USER: ContextVar[UserInfo | None] = ContextVar("request_user", default=None)

_PREFIX = f"/{GROUP}/"
_NAMESPACES, _SERVICES = by_plural("", "v1", "namespaces"), by_plural("", "v1", "services")
_SLICES = by_plural("discovery.k8s.io", "v1", "endpointslices")
assert _NAMESPACES is not None and _SERVICES is not None and _SLICES is not None
_MUTATING, _VALIDATING = "mutatingwebhookconfigurations", "validatingwebhookconfigurations"
_POLICIES, _BINDINGS = "validatingadmissionpolicies", "validatingadmissionpolicybindings"


class CallFailed(Exception):
    """A webhook that could not be called, or answered no review."""


class WebhookDispatcher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._configurations: dict[str, dict[str, Obj]] = {_MUTATING: {}, _VALIDATING: {}, _POLICIES: {}, _BINDINGS: {}}
        self._mutating: list[Webhook] = []
        self._validating: list[Webhook] = []
        self._bindings: list[Binding] = []
        self._follower = PrefixFollower(
            store, _PREFIX, what="webhook configurations", load=self._load, apply=self._apply
        )
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def caught_up(self, obj: Obj) -> None:
        """Until the dispatcher holds a configuration this server just wrote (or deleted)."""
        await self._follower.caught_up(obj)

    # ------------------------------------------------------------------------------ following

    async def _load(self) -> int:
        revisions = []
        for plural in self._configurations:
            listing = await self._store.list(f"{_PREFIX}{plural}/")
            revisions.append(listing.revision)
            self._configurations[plural] = {o["metadata"]["name"]: o for o in listing.items}
        self._rebuild()
        return min(revisions)

    def _apply(self, event: Event) -> None:
        plural = event.key.split("/")[2]
        if plural not in self._configurations:
            return
        name = as_dict(event.value.get("metadata")).get("name", "")
        if event.type == "DELETED":
            self._configurations[plural].pop(name, None)
        else:
            self._configurations[plural][name] = event.value
        self._rebuild()

    def _rebuild(self) -> None:
        self._mutating = webhooks_of(list(self._configurations[_MUTATING].values()), mutating=True)
        self._validating = webhooks_of(list(self._configurations[_VALIDATING].values()), mutating=False)
        self._bindings = bindings_of(
            list(self._configurations[_POLICIES].values()), list(self._configurations[_BINDINGS].values())
        )
        self._contexts.clear()

    # ------------------------------------------------------------------------------ admission

    async def mutate(
        self, attrs: Attributes, reinvocation: Reinvocation | None = None, settle: Callable[[Obj], None] | None = None
    ) -> Obj | None:
        """The object once every mutating webhook that concerns the write has patched it in turn (the
        write's own object when none did); raises the refusal of one that denies it. ``reinvocation``
        keeps the write's two rounds apart (see :class:`Reinvocation`); ``settle`` checks and defaults
        each patched object before the next webhook sees it, as kube-apiserver decodes it."""
        reinvocation = reinvocation or Reinvocation()
        obj = attrs.object
        reinvocation.start_round(obj)
        for hook in await self._concerned(self._mutating, attrs):
            if not reinvocation.calls(hook):
                continue
            answer = await self._ask(hook, attrs)
            if answer is None or answer.patch is None or obj is None:
                reinvocation.called(hook, changed=False)
                continue
            try:
                patched = json_patch(obj, answer.patch)
            except errors.StatusError as exc:
                self._failed(hook, f"the patch does not apply: {exc.message}")
                continue
            changed = patched != obj
            if changed and settle is not None:
                settle(patched)
            reinvocation.called(hook, changed=changed)
            obj = patched
            attrs = replace(attrs, object=obj)
        reinvocation.end_round(obj)
        return obj

    async def validate(self, attrs: Attributes) -> None:
        """Raises the refusal of the first ValidatingAdmissionPolicy binding, then of the first
        validating webhook, that denies the write (the webhooks are asked at once, as kube-apiserver
        calls them in parallel)."""
        if self._bindings and not exempt(attrs):
            await PolicyChecks(self._store, attrs).run(self._bindings)
        hooks = await self._concerned(self._validating, attrs)
        if hooks:
            await asyncio.gather(*(self._ask(hook, attrs) for hook in hooks))

    async def _concerned(self, hooks: list[Webhook], attrs: Attributes) -> list[Webhook]:
        if not hooks or exempt(attrs):
            return []
        matched = [h for h in hooks if rules_match(h.spec.get("rules"), attrs)]
        labels: dict[str, str] | None = None
        if any(needs_namespace_labels(h.spec, attrs) for h in matched):
            labels = await self._namespace_labels(attrs.namespace)
        return [h for h in matched if selectors_match(h.spec, attrs, labels) and self._conditions_hold(h, attrs)]

    def _conditions_hold(self, hook: Webhook, attrs: Attributes) -> bool:
        """The webhook's match conditions; one that cannot be evaluated fails the write or, under
        ``failurePolicy: Ignore``, passes the webhook over."""
        conditions = hook.spec.get("matchConditions")
        if not conditions:
            return True
        try:
            values = admission_values(attrs, None, None)
            return conditions_hold(conditions, values, admission_size(values))
        except CelError as exc:
            self._failed(hook, str(exc))
            return False

    async def _namespace_labels(self, namespace: str) -> dict[str, str]:
        try:
            ns = await self._store.get(_NAMESPACES.key(None, namespace))
        except KeyNotFound:
            return {}
        return dict(as_dict(as_dict(ns.get("metadata")).get("labels")))

    async def _ask(self, hook: Webhook, attrs: Attributes) -> Any:
        """The webhook's verdict; None when it failed and its failure policy is Ignore. Raises its
        refusal, or the failure under ``failurePolicy: Fail``."""
        uid = str(uuid.uuid4())
        try:
            body = await self._call(hook, review(attrs, uid))
            answer = verdict(hook, body, uid)
        except (CallFailed, InvalidResponse) as exc:
            prefix = (
                "received invalid webhook response" if isinstance(exc, InvalidResponse) else "failed to call webhook"
            )
            self._failed(hook, f"{prefix}: {exc}")
            return None
        notes.warn(*answer.warnings)
        if not answer.allowed:
            status = denial(hook, attrs, answer.status)
            raise errors.StatusError(status["code"], status["reason"], status["message"], status.get("details"))
        return answer

    def _failed(self, hook: Webhook, why: str) -> None:
        message = f'failed calling webhook "{hook.name}": {why}'
        if hook.ignores_failure:
            log.warning("%s (failurePolicy Ignore: admitted)", message)
            return
        raise errors.StatusError(
            500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]}
        )

    # ------------------------------------------------------------------------------ calling

    async def _call(self, hook: Webhook, request: Obj) -> Any:
        url, host = await self._address(hook)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(hook.timeout):
                async with self._session.post(
                    url,
                    json=request,
                    ssl=self._context(hook),
                    server_hostname=host,
                    headers={"Accept": "application/json"},
                ) as response:
                    if response.status != 200:
                        raise CallFailed(f"the server responded with {response.status} {response.reason}")
                    return await response.json(content_type=None)
        except TimeoutError:
            raise CallFailed(f"Post {url!r}: context deadline exceeded ({hook.timeout:g} s)") from None
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            raise CallFailed(f"Post {url!r}: {exc}") from None

    def _context(self, hook: Webhook) -> ssl.SSLContext:
        """The TLS context that verifies the webhook: its caBundle, or the system's roots."""
        key = f"{hook.configuration}/{hook.name}"
        if key not in self._contexts:
            bundle = as_dict(hook.spec.get("clientConfig")).get("caBundle")
            if bundle:
                try:
                    pem = base64.b64decode(str(bundle)).decode()
                    self._contexts[key] = ssl.create_default_context(cadata=pem)
                except (ValueError, ssl.SSLError) as exc:
                    raise CallFailed(f"the caBundle is not a PEM certificate: {exc}") from None
            else:
                self._contexts[key] = ssl.create_default_context()
        return self._contexts[key]

    async def _address(self, hook: Webhook) -> tuple[str, str]:
        """Where to post the review, and the name the webhook's certificate must carry."""
        config = as_dict(hook.spec.get("clientConfig"))
        if config.get("url"):
            url = str(config["url"])
            return url, urlsplit(url).hostname or ""
        service = as_dict(config.get("service"))
        namespace, name = str(service.get("namespace", "")), str(service.get("name", ""))
        ip, port = await self._endpoint(namespace, name, int(service.get("port") or 443))
        host = f"[{ip}]" if ":" in ip else ip
        return f"https://{host}:{port}{service.get('path') or ''}", f"{name}.{namespace}.svc"

    async def _endpoint(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        """A ready endpoint of the Service's port ``port``: its address and target port."""
        try:
            svc = await self._store.get(_SERVICES.key(namespace, name))
        except KeyNotFound:
            raise CallFailed(f'service "{name}" not found') from None
        ports = [p for p in dict_items(as_dict(svc.get("spec")).get("ports")) if p.get("port") == port]
        if not ports:
            raise CallFailed(f'service "{namespace}/{name}" has no port {port}')
        port_name = str(ports[0].get("name") or "")
        listing = await self._store.list(_SLICES.prefix(namespace))
        candidates = []
        for slice_ in listing.items:
            if as_dict(as_dict(slice_.get("metadata")).get("labels")).get("kubernetes.io/service-name") != name:
                continue
            numbers = [p.get("port") for p in dict_items(slice_.get("ports")) if str(p.get("name") or "") == port_name]
            if not numbers or not isinstance(numbers[0], int):
                continue
            for endpoint in dict_items(slice_.get("endpoints")):
                if as_dict(endpoint.get("conditions")).get("ready", True) is not False:
                    candidates += [(str(a), numbers[0]) for a in as_list(endpoint.get("addresses"))[:1]]
        if not candidates:
            raise CallFailed(f'no endpoints available for service "{name}"')
        return random.choice(candidates)
