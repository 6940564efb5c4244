"""The ingress controller's routing decision (minikube_py.model.ingressroutes) and the Ingress and
IngressClass rules (minikube_py.model.ingress), with no server."""

from __future__ import annotations

import random
from typing import Any

from minikube_py.model.ingress import default_class, validate_ingress, validate_ingress_class
from minikube_py.model.ingressroutes import Backend, TlsSecret, build_table

Obj = dict[str, Any]


def _path(path: str, service: str, path_type: str = "Prefix", port: int | str = 80) -> Obj:
    key = "number" if isinstance(port, int) else "name"
    return {"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": {key: port}}}}


def _ingress(
    name: str, rules: list[Obj], *, created: str = "2026-01-01T00:00:00Z", annotations: Obj | None = None, **spec: Any
) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "web", "creationTimestamp": created, "annotations": annotations or {}},
        "spec": {"rules": rules, **spec},
    }


def _rule(host: str, *paths: Obj) -> Obj:
    return {"host": host, "http": {"paths": list(paths)}} if host else {"http": {"paths": list(paths)}}


def _svc(name: str, port: int | str = 80) -> Backend:
    return Backend("web", name, port)


RNG = random.Random(7)


def test_exact_host_then_wildcard_then_any_host() -> None:
    table = build_table(
        [
            _ingress(
                "a",
                [
                    _rule("", _path("/", "catchall")),
                    _rule("*.example.com", _path("/", "wild")),
                    _rule("shop.example.com", _path("/", "shop")),
                ],
            )
        ]
    )
    assert table.backend("shop.example.com:8080", "/x", {}, {}, RNG) == _svc("shop")
    assert table.backend("Blog.Example.com", "/", {}, {}, RNG) == _svc("wild")
    assert table.backend("a.b.example.com", "/", {}, {}, RNG) == _svc("catchall")  # one label only
    assert table.backend("example.com", "/", {}, {}, RNG) == _svc("catchall")


def test_longest_path_first_and_exact_before_prefix_on_a_tie() -> None:
    table = build_table(
        [
            _ingress(
                "a",
                [
                    _rule(
                        "h",
                        _path("/", "root"),
                        _path("/api", "api"),
                        _path("/api/v2", "v2"),
                        _path("/api", "exact", "Exact"),
                    )
                ],
            )
        ]
    )
    assert table.backend("h", "/api", {}, {}, RNG) == _svc("exact")
    assert table.backend("h", "/api/", {}, {}, RNG) == _svc("api")
    assert table.backend("h", "/api/v2/users", {}, {}, RNG) == _svc("v2")
    assert table.backend("h", "/apis", {}, {}, RNG) == _svc("root")  # element-wise: /api is no prefix of /apis


def test_prefix_ignores_a_trailing_slash_and_implementation_specific_is_prefix() -> None:
    table = build_table(
        [_ingress("a", [_rule("h", _path("/foo/", "foo"), _path("/bar", "bar", "ImplementationSpecific"))])]
    )
    assert table.backend("h", "/foo", {}, {}, RNG) == _svc("foo")
    assert table.backend("h", "/foo/x", {}, {}, RNG) == _svc("foo")
    assert table.backend("h", "/bar/baz", {}, {}, RNG) == _svc("bar")
    assert table.backend("h", "/foobar", {}, {}, RNG) is None


def test_no_match_goes_to_the_oldest_default_backend_else_nowhere() -> None:
    default = {"service": {"name": "fallback", "port": {"name": "http"}}}
    newer = {"service": {"name": "newer", "port": {"number": 80}}}
    table = build_table(
        [
            _ingress("b", [], created="2026-01-02T00:00:00Z", defaultBackend=newer),
            _ingress("a", [_rule("h", _path("/x", "x", "Exact"))], defaultBackend=default),
        ]
    )
    assert table.backend("h", "/y", {}, {}, RNG) == _svc("fallback", "http")
    assert build_table([]).backend("h", "/", {}, {}, RNG) is None


def test_the_older_ingress_keeps_a_contested_path() -> None:
    table = build_table(
        [
            _ingress("new", [_rule("h", _path("/", "new"))], created="2026-02-01T00:00:00Z"),
            _ingress("old", [_rule("h", _path("/", "old"))]),
        ]
    )
    assert table.backend("h", "/", {}, {}, RNG) == _svc("old")


def _canary_table(**annotations: str) -> Any:
    canary = {
        "nginx.ingress.kubernetes.io/canary": "true",
        **{f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": v for k, v in annotations.items()},
    }
    return build_table(
        [
            _ingress("main", [_rule("h", _path("/", "v1"))]),
            _ingress("canary", [_rule("h", _path("/", "v2"))], created="2026-02-01T00:00:00Z", annotations=canary),
        ]
    )


def test_canary_weight_with_a_seeded_rng() -> None:
    table = _canary_table(canary_weight="20")
    rng = random.Random(1234)
    picks = [table.backend("h", "/", {}, {}, rng) for _ in range(1000)]
    to_v2 = picks.count(_svc("v2"))
    assert to_v2 + picks.count(_svc("v1")) == 1000
    assert 150 <= to_v2 <= 250
    never = _canary_table(canary_weight="0")
    assert {never.backend("h", "/", {}, {}, rng) for _ in range(100)} == {_svc("v1")}
    always = _canary_table(canary_weight="100")
    assert {always.backend("h", "/", {}, {}, rng) for _ in range(100)} == {_svc("v2")}


def test_canary_header_always_never_then_weight() -> None:
    table = _canary_table(canary_by_header="X-Canary", canary_weight="100")
    assert table.backend("h", "/", {"x-canary": "always"}, {}, RNG) == _svc("v2")
    assert table.backend("h", "/", {"x-canary": "never"}, {}, RNG) == _svc("v1")
    assert table.backend("h", "/", {"x-canary": "maybe"}, {}, RNG) == _svc("v2")  # falls through to the weight
    only_header = _canary_table(canary_by_header="X-Canary")
    assert only_header.backend("h", "/", {}, {}, RNG) == _svc("v1")


def test_canary_header_value_and_cookie() -> None:
    table = _canary_table(canary_by_header="X-Tier", canary_by_header_value="beta", canary_by_cookie="canary")
    assert table.backend("h", "/", {"x-tier": "beta"}, {}, RNG) == _svc("v2")
    assert table.backend("h", "/", {"x-tier": "always"}, {}, RNG) == _svc("v1")  # only the given value counts
    assert table.backend("h", "/", {"x-tier": "gold"}, {"canary": "always"}, RNG) == _svc("v2")
    assert table.backend("h", "/", {}, {"canary": "never"}, RNG) == _svc("v1")


def test_a_canary_without_a_main_ingress_serves_nothing() -> None:
    table = build_table(
        [_ingress("c", [_rule("h", _path("/", "v2"))], annotations={"nginx.ingress.kubernetes.io/canary": "true"})]
    )
    assert table.backend("h", "/", {"x-canary": "always"}, {}, RNG) is None


def test_tls_secrets_by_sni_name_exact_then_wildcard() -> None:
    table = build_table(
        [
            _ingress(
                "a",
                [],
                tls=[
                    {"hosts": ["a.example.com"], "secretName": "a-cert"},
                    {"hosts": ["*.example.com"], "secretName": "wild"},
                ],
                defaultBackend={"service": {"name": "s", "port": {"number": 80}}},
            )
        ]
    )
    assert table.tls_secret("A.example.com") == TlsSecret("web", "a-cert")
    assert table.tls_secret("b.example.com") == TlsSecret("web", "wild")
    assert table.tls_secret("other.org") is None
    assert table.secrets() == {TlsSecret("web", "a-cert"), TlsSecret("web", "wild")}


def _messages(obj: Obj) -> list[str]:
    return [e.render() for e in validate_ingress(obj)]


def test_validation_as_kubernetes() -> None:
    assert (
        _messages(
            _ingress(
                "ok",
                [_rule("*.example.com", _path("/", "s"), _path("/x", "s", "Exact", "http"))],
                tls=[{"hosts": ["*.example.com"], "secretName": "c"}],
            )
        )
        == []
    )
    no_type = _path("/", "s")
    del no_type["pathType"]
    assert _messages(_ingress("x", [_rule("h", no_type)])) == [
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    ]
    assert _messages(_ingress("x", [_rule("h", _path("foo", "s"))])) == [
        'spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path'
    ]
    assert _messages(_ingress("x", [_rule("h", _path("/", "s", "Regex"))])) == [
        'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", '
        '"ImplementationSpecific", "Prefix"'
    ]
    assert _messages(_ingress("x", [_rule("10.0.0.1", _path("/", "s"))])) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'
    ]
    assert _messages(_ingress("x", [])) == [
        "spec: Invalid value: []networking.IngressRule{}: either `defaultBackend` or `rules` must be specified"
    ]
    no_port = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s"}}}
    assert _messages(_ingress("x", [_rule("h", no_port)])) == [
        "spec.rules[0].http.paths[0].backend: Required value: port name or number is required"
    ]
    nothing = {"path": "/", "pathType": "Prefix", "backend": {}}
    assert _messages(_ingress("x", [_rule("h", nothing)])) == [
        'spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required'
    ]
    assert any(
        "a wildcard DNS-1123 subdomain must start with '*.'" in m
        for m in _messages(_ingress("x", [_rule("*.*.com", _path("/", "s"))]))
    )


def test_ingress_class_rules_and_the_default_class() -> None:
    assert validate_ingress_class({"spec": {"controller": "pykube.io/ingress"}}) == []
    assert [e.render() for e in validate_ingress_class({"spec": {}})] == ["spec.controller: Required value"]
    assert validate_ingress_class({"spec": {"controller": "nodomain"}})
    marked = {"ingressclass.kubernetes.io/is-default-class": "true"}
    classes = [
        {"metadata": {"name": "a", "annotations": marked, "creationTimestamp": "2026-01-01T00:00:00Z"}},
        {"metadata": {"name": "b", "annotations": marked, "creationTimestamp": "2026-01-02T00:00:00Z"}},
        {"metadata": {"name": "c", "creationTimestamp": "2026-01-03T00:00:00Z"}},
    ]
    chosen = default_class(classes)
    assert chosen is not None and chosen["metadata"]["name"] == "b"
    assert default_class(classes[2:]) is None
