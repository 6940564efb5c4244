"""Dynamic admission with the real server (in this process) and the real kubectl, calling real HTTPS
webhooks: a TLS server on loopback in the test that answers AdmissionReviews as each path says
(deny, patch, allow with a warning, hang, garbage), reached by ``url`` and through a Service's endpoint.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from inprocess import InProcessServer, start_in_process

from minikube_py import pki

Obj = dict[str, Any]
HOOKS = "/apis/admissionregistration.k8s.io/v1"


class HookServer:
    """An HTTPS AdmissionReview server: the path of each call decides the answer; every review it
    gets is kept, by path."""

    def __init__(self, tmp: Path) -> None:
        cert, key = pki.self_signed_serving_cert("hooks", ["127.0.0.1", "hook.webhooks.svc"])
        (tmp / "hook.crt").write_bytes(cert)
        (tmp / "hook.key").write_bytes(key)
        self.ca_bundle = base64.b64encode(cert).decode()
        self.reviews: dict[str, list[Obj]] = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hooks.reviews.setdefault(self.path, []).append(review)
                self._answer(self.path, review["request"])

            def _answer(self, path: str, request: Obj) -> None:
                response: Obj = {"uid": request["uid"], "allowed": True}
                if path == "/deny":
                    response = {**response, "allowed": False, "status": {"message": "no pods today"}}
                elif path == "/mutate":
                    patch = [{"op": "add", "path": "/metadata/labels", "value": {"mutated": "yes"}}]
                    response["patchType"] = "JSONPatch"
                    response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
                    response["warnings"] = ["labelled by the webhook"]
                elif path == "/guarantee":  # limits equal to requests: a Guaranteed pod
                    resources = {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"},
                    }
                    patch = [{"op": "add", "path": "/spec/containers/0/resources", "value": resources}]
                    response["patchType"] = "JSONPatch"
                    response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
                elif path in ("/stamp", "/inject"):
                    names = [c["name"] for c in request["object"]["spec"]["containers"]]
                    patch = (
                        [{"op": "add", "path": "/metadata/annotations", "value": {"stamped": ",".join(names)}}]
                        if path == "/stamp"
                        else [
                            {
                                "op": "add",
                                "path": "/spec/containers/-",
                                "value": {"name": "sidecar", "image": "busybox"},
                            }
                        ]
                        if "sidecar" not in names
                        else []
                    )
                    response["patchType"] = "JSONPatch"
                    response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
                elif path == "/slow":
                    time.sleep(3)
                elif path == "/garbage":
                    response = {"uid": "somebody-else", "allowed": True}
                body = json.dumps(
                    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tmp / "hook.crt", tmp / "hook.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HookServer]:
    server = HookServer(tmp_path_factory.mktemp("hooks"))
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = start_in_process(tmp_path_factory.mktemp("webhooks") / "data")
    for namespace in ("hooked", "plain", "webhooks", "strict", "reinvoked"):
        running.kubectl("create", "namespace", namespace)
    running.kubectl("label", "namespace", "hooked", "hooks=on")
    running.kubectl("label", "namespace", "strict", "hooks=on", "pod-security.kubernetes.io/enforce=restricted")
    yield running
    running.stop()


def configuration(kind: str, name: str, client: Obj, rules: list[Obj], **webhook: Any) -> Obj:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.pykube.test",
                "clientConfig": client,
                "rules": rules,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                **webhook,
            }
        ],
    }


def pod_rule(*operations: str) -> list[Obj]:
    return [{"operations": list(operations), "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]


def configmap_rule(*operations: str) -> list[Obj]:
    return [{"operations": list(operations), "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]


def pod(name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "schedulerName": "nobody"},
    }


def apply(server: InProcessServer, obj: Obj, *args: str) -> Any:
    return server.kubectl(*args, "apply", "-f", "-", input=json.dumps(obj), check=False)


def delete_configuration(server: InProcessServer, obj: Obj) -> None:
    plural = obj["kind"].lower() + "s"
    server.kubectl("delete", plural, obj["metadata"]["name"])


def test_a_validating_webhook_refuses_what_it_selects_with_its_message(
    server: InProcessServer, hooks: HookServer
) -> None:
    deny = configuration(
        "ValidatingWebhookConfiguration",
        "deny",
        {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle},
        pod_rule("CREATE"),
        namespaceSelector={"matchLabels": {"hooks": "on"}},
    )
    assert apply(server, deny).returncode == 0
    try:
        refused = apply(server, pod("p1"), "-n", "hooked")
        assert refused.returncode == 1
        assert (
            'pods "p1" is forbidden: admission webhook "deny.pykube.test" denied the request: no pods today'
            in refused.stderr
        )
        assert server.request("GET", "/api/v1/namespaces/hooked/pods/p1")[0] == 404
        assert apply(server, pod("p1"), "-n", "plain").returncode == 0  # the namespace selector spares it
        # PodSecurity judges before validating webhooks do, as in kube-apiserver
        strict = apply(server, pod("p2"), "-n", "strict")
        assert 'pods "p2" is forbidden: violates PodSecurity "restricted:latest"' in strict.stderr
        (review,) = hooks.reviews["/deny"]
        request = review["request"]
        assert review["apiVersion"] == "admission.k8s.io/v1" and request["operation"] == "CREATE"
        assert request["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
        assert request["namespace"] == "hooked" and request["object"]["metadata"]["name"] == "p1"
        assert request["userInfo"]["username"] and "system:masters" in request["userInfo"]["groups"]
        assert request["dryRun"] is False and request["oldObject"] is None
        table = server.kubectl("get", "validatingwebhookconfigurations").stdout.split()
        assert table[:4] == ["NAME", "WEBHOOKS", "AGE", "deny"] and table[4] == "1"
    finally:
        delete_configuration(server, deny)


def test_a_mutating_webhook_patches_before_validation_and_warns(server: InProcessServer, hooks: HookServer) -> None:
    mutate = configuration(
        "MutatingWebhookConfiguration",
        "label",
        {"url": hooks.url("/mutate"), "caBundle": hooks.ca_bundle},
        configmap_rule("CREATE", "UPDATE"),
        objectSelector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
    )
    assert apply(server, mutate).returncode == 0
    try:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m1"}, "data": {"k": "v"}}
        created = server.kubectl("-n", "plain", "create", "-f", "-", input=json.dumps(cm))
        assert "Warning: labelled by the webhook" in created.stderr
        stored = json.loads(server.kubectl("-n", "plain", "get", "cm", "m1", "-o", "json").stdout)
        assert stored["metadata"]["labels"] == {"mutated": "yes"}
        dry = server.kubectl(
            "-n", "plain", "create", "--dry-run=server", "-f", "-", input=json.dumps({**cm, "metadata": {"name": "m2"}})
        )
        assert dry.returncode == 0 and hooks.reviews["/mutate"][-1]["request"]["dryRun"] is True
        skipped = {**cm, "metadata": {"name": "m3", "labels": {"skip": "1"}}}
        server.kubectl("-n", "plain", "create", "-f", "-", input=json.dumps(skipped))
        stored = json.loads(server.kubectl("-n", "plain", "get", "cm", "m3", "-o", "json").stdout)
        assert stored["metadata"]["labels"] == {"skip": "1"}  # the object selector passed it over
        server.kubectl("-n", "plain", "label", "cm", "m1", "extra=1")
        update = hooks.reviews["/mutate"][-1]["request"]
        assert update["operation"] == "UPDATE" and update["oldObject"]["metadata"]["labels"] == {"mutated": "yes"}
    finally:
        delete_configuration(server, mutate)


def test_built_in_admission_comes_before_the_webhooks_and_the_writer_owns_only_its_fields(
    server: InProcessServer, hooks: HookServer
) -> None:
    """kube-apiserver's order: the writer's managed fields, the built-in mutating plugins (the
    ServiceAccount token volume, DefaultTolerationSeconds), the mutating webhooks, then the pod's QoS
    class from what they left."""
    guarantee = configuration(
        "MutatingWebhookConfiguration",
        "guarantee",
        {"url": hooks.url("/guarantee"), "caBundle": hooks.ca_bundle},
        pod_rule("CREATE"),
        namespaceSelector={"matchLabels": {"hooks": "on"}},
    )
    assert apply(server, guarantee).returncode == 0
    try:
        server.kubectl("-n", "hooked", "create", "-f", "-", input=json.dumps(pod("guaranteed")))
        seen = hooks.reviews["/guarantee"][-1]["request"]["object"]["spec"]
        assert seen["serviceAccountName"] == "default" and len(seen["tolerations"]) == 2
        assert [v["name"].startswith("kube-api-access-") for v in seen["volumes"]] == [True]
        shown = server.kubectl("-n", "hooked", "get", "pod", "guaranteed", "-o", "json", "--show-managed-fields")
        stored = json.loads(shown.stdout)
        assert stored["status"]["qosClass"] == "Guaranteed"
        (mine,) = [e for e in stored["metadata"]["managedFields"] if e["manager"] == "kubectl-create"]
        assert set(mine["fieldsV1"]) == {"f:spec"}  # no status: the system's
        spec_fields = mine["fieldsV1"]["f:spec"]
        for added in ("f:serviceAccountName", "f:tolerations", "f:volumes", "f:priority"):
            assert added not in spec_fields  # admission's, nobody's
        (container,) = [v for k, v in spec_fields["f:containers"].items() if k.startswith("k:")]
        assert container["f:resources"] == {}  # the defaulted empty map; its requests and limits are the webhook's
    finally:
        delete_configuration(server, guarantee)


def test_a_change_by_a_later_webhook_reinvokes_the_built_in_plugins_and_the_webhooks_that_ask(
    server: InProcessServer, hooks: HookServer
) -> None:
    """kube-apiserver's reinvocation: "a-stamp" (IfNeeded) records the pod's containers, then
    "b-inject" adds a sidecar; the mutating chain runs once more, so the sidecar gets the
    namespace's LimitRange defaults and the token mount, and "a-stamp" (only it) sees the sidecar."""
    only_here = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "reinvoked"}}}
    stamp, inject = (
        configuration(
            "MutatingWebhookConfiguration",
            name,
            {"url": hooks.url(path), "caBundle": hooks.ca_bundle},
            pod_rule("CREATE"),
            **only_here,
            **extra,
        )
        for name, path, extra in (
            ("a-stamp", "/stamp", {"reinvocationPolicy": "IfNeeded"}),
            ("b-inject", "/inject", {}),
        )
    )
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "200m"}, "defaultRequest": {"cpu": "100m"}}]},
    }
    assert apply(server, limits, "-n", "reinvoked").returncode == 0
    for hook in (stamp, inject):
        assert apply(server, hook).returncode == 0
    before = {path: len(hooks.reviews.get(path, [])) for path in ("/stamp", "/inject")}
    try:
        server.kubectl("-n", "reinvoked", "create", "-f", "-", input=json.dumps(pod("injected")))
        stored = json.loads(server.kubectl("-n", "reinvoked", "get", "pod", "injected", "-o", "json").stdout)
        assert stored["metadata"]["annotations"]["stamped"] == "c,sidecar"
        app, sidecar = stored["spec"]["containers"]
        assert sidecar["resources"] == {"limits": {"cpu": "200m"}, "requests": {"cpu": "100m"}}
        (volume,) = [v["name"] for v in stored["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
        assert [m["name"] for m in sidecar["volumeMounts"]] == [m["name"] for m in app["volumeMounts"]] == [volume]
        calls = {path: len(hooks.reviews[path]) - before[path] for path in before}
        assert calls == {"/stamp": 2, "/inject": 1}
    finally:
        for hook in (stamp, inject):
            delete_configuration(server, hook)


@pytest.mark.parametrize(("policy", "created"), [("Fail", False), ("Ignore", True)])
def test_an_unreachable_webhook_fails_the_write_or_is_passed_over(
    server: InProcessServer, hooks: HookServer, policy: str, created: bool
) -> None:
    closed = configuration(
        "ValidatingWebhookConfiguration",
        f"closed-{policy.lower()}",
        {"url": "https://127.0.0.1:1/never", "caBundle": hooks.ca_bundle},
        configmap_rule("CREATE"),
        failurePolicy=policy,
        namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "webhooks"}},
    )
    assert apply(server, closed).returncode == 0
    try:
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c-{policy.lower()}"}}
        done = apply(server, cm, "-n", "webhooks")
        assert (done.returncode == 0) is created
        if not created:
            assert (
                'Internal error occurred: failed calling webhook "closed-fail.pykube.test": failed to call webhook: '
                in done.stderr
            )
    finally:
        delete_configuration(server, closed)


def test_match_conditions_decide_which_writes_a_webhook_sees(server: InProcessServer, hooks: HookServer) -> None:
    conditional = configuration(
        "ValidatingWebhookConfiguration",
        "conditional",
        {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle},
        configmap_rule("CREATE"),
        namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "webhooks"}},
        matchConditions=[
            {"name": "not-skipped", "expression": "!('skip' in object.metadata.?labels.orValue({}))"},
            {"name": "by-admins", "expression": "'system:masters' in request.userInfo.groups"},
            {"name": "erring", "expression": "!has(object.data) || object.data.size() > 0"},
        ],
    )
    assert apply(server, conditional).returncode == 0
    try:
        skipped = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "skipped", "labels": {"skip": "y"}}}
        assert apply(server, skipped, "-n", "webhooks").returncode == 0  # a false condition: not called
        sent = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "sent"}}
        assert "no pods today" in apply(server, sent, "-n", "webhooks").stderr  # all true: called, and it denies
        broken = configuration(
            "ValidatingWebhookConfiguration",
            "broken-condition",
            {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle},
            configmap_rule("CREATE"),
            matchConditions=[{"name": "typo", "expression": "object.metadata.nope == 1"}],
        )
        assert apply(server, broken).returncode == 0
        try:
            failed = apply(server, {**sent, "metadata": {"name": "other"}}, "-n", "plain")
            assert (
                'failed calling webhook "broken-condition.pykube.test": failed to evaluate match condition'
                in failed.stderr
            )
        finally:
            delete_configuration(server, broken)
    finally:
        delete_configuration(server, conditional)


def test_a_slow_or_confused_webhook_fails_the_write(server: InProcessServer, hooks: HookServer) -> None:
    for path, why in (("/slow", "context deadline exceeded"), ("/garbage", "received invalid webhook response")):
        hook = configuration(
            "ValidatingWebhookConfiguration",
            path.strip("/"),
            {"url": hooks.url(path), "caBundle": hooks.ca_bundle},
            configmap_rule("CREATE"),
            timeoutSeconds=1,
            namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "webhooks"}},
        )
        assert apply(server, hook).returncode == 0
        try:
            done = apply(
                server, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}, "-n", "webhooks"
            )
            assert done.returncode == 1 and why in done.stderr, done.stderr
        finally:
            delete_configuration(server, hook)


def test_a_webhook_behind_a_service_and_one_guarding_deletes(server: InProcessServer, hooks: HookServer) -> None:
    """The Service's ready endpoint is called, its certificate checked for ``hook.webhooks.svc``; the
    webhook refuses deleting the ConfigMaps labelled ``protected``, and nothing keeps the
    configuration itself from being deleted."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hook"},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": hooks.port}]},
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "hook-1", "labels": {"kubernetes.io/service-name": "hook"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": hooks.port, "protocol": "TCP"}],
    }
    for obj in (service, endpoints):
        assert apply(server, obj, "-n", "webhooks").returncode == 0
    for name, labels in (("kept", {"protected": "yes"}), ("free", {})):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
        server.kubectl("-n", "plain", "create", "-f", "-", input=json.dumps(cm))
    guard = configuration(
        "ValidatingWebhookConfiguration",
        "guard",
        {"service": {"namespace": "webhooks", "name": "hook", "path": "/deny"}, "caBundle": hooks.ca_bundle},
        [
            *configmap_rule("DELETE"),
            {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]},
        ],
        objectSelector={"matchLabels": {"protected": "yes"}},
    )
    assert apply(server, guard).returncode == 0
    try:
        refused = server.kubectl("-n", "plain", "delete", "cm", "kept", check=False)
        assert 'admission webhook "guard.pykube.test" denied the request: no pods today' in refused.stderr
        deleting = [r["request"] for r in hooks.reviews["/deny"] if r["request"]["operation"] == "DELETE"]
        assert deleting[-1]["object"] is None and deleting[-1]["oldObject"]["metadata"]["name"] == "kept"
        assert server.kubectl("-n", "plain", "delete", "cm", "free").returncode == 0
    finally:
        delete_configuration(server, guard)  # a webhook never judges its own configuration
    assert server.kubectl("-n", "plain", "delete", "cm", "kept").returncode == 0


def test_an_invalid_configuration_is_refused_with_its_causes(server: InProcessServer) -> None:
    bad = configuration(
        "ValidatingWebhookConfiguration",
        "bad",
        {"url": "http://127.0.0.1/x"},
        [{"operations": ["WRITE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        timeoutSeconds=60,
    )
    del bad["webhooks"][0]["sideEffects"]
    done = apply(server, bad)
    assert done.returncode == 1
    for cause in (
        "webhooks[0].clientConfig.url: Invalid value: \"http://127.0.0.1/x\": 'https' is the only allowed URL scheme",
        'webhooks[0].rules[0].operations[0]: Unsupported value: "WRITE"',
        "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        "webhooks[0].timeoutSeconds: Invalid value: 60: the timeout value must be between 1 and 30 seconds",
    ):
        assert cause in done.stderr, done.stderr
