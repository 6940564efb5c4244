"""Input and connection limits through a real server: small requests that would build huge or
pathological objects, unparsable and far-future resourceVersions, in-flight limits and slow clients.

Every refusal must be a ``kind: Status`` 4xx (never a 5xx or a crash), leave the store unchanged, and
cost the server little: the bombs are timed and the server's resident memory is read before and after.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_api_errors import (
    cm_path,
    configmap,
    create,
    expect_status,
    ok,
    pods_path,
    q,
    snapshot,
    unchanged,
    unscheduled_pod,
)

from minikube_py.testing import RunningServer, start_server

Obj = dict[str, Any]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def rss_mb(server: RunningServer) -> float:
    """The server process's resident memory, in MB."""
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def cheaply_refused(server: RunningServer, what: str) -> Iterator[None]:
    """The issue's bound for input bombs: refused in under a second with under 50 MB of memory growth
    (one copy bomb ran for 58 s and the process vanished); prints the figures."""
    before = rss_mb(server)
    started = time.monotonic()
    yield
    elapsed, growth = time.monotonic() - started, rss_mb(server) - before
    print(f"{what}: {elapsed:.3f} s, RSS +{growth:.1f} MB")
    assert elapsed < 1.0 and growth < 50


def nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"foo": value}
    return value


# ------------------------------------------------------------------------------------------ depth


def test_a_deeply_nested_merge_patch_is_4xx_and_pods_still_list(server: RunningServer, namespace: str) -> None:
    """The issue's case: one merge patch nesting an unknown field 248 levels deep used to be stored,
    and every later ``GET /api/v1/pods`` was a 500."""
    create(server, pods_path(namespace), unscheduled_pod("deep"))
    with unchanged(server, pods_path(namespace)):
        status, body = server.request(
            "PATCH", f"{pods_path(namespace)}/deep", {"spec": nested(248)}, content_type=MERGE
        )
        assert 400 <= status < 500, body
        expect_status((status, body), status, body["reason"])
        assert "nested too deeply" in body["message"]
    ok(server.request("GET", "/api/v1/pods"))
    ok(server.request("GET", pods_path(namespace), headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}))


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_a_deeply_nested_body_is_400(server: RunningServer, namespace: str, content_type: str) -> None:
    body = configmap("deep")
    body["metadata"]["annotations"] = nested(150)
    raw = json.dumps(body).encode()  # JSON is YAML too
    with unchanged(server, cm_path(namespace)):
        expect_status(server.request("POST", cm_path(namespace), raw, content_type=content_type), 400, "BadRequest")


def test_json_patches_cannot_deepen_an_object_past_the_bound(server: RunningServer, namespace: str) -> None:
    """Each self-copy doubles the depth: the patch is refused, not a RecursionError (500)."""
    create(server, pods_path(namespace), unscheduled_pod("self-copy"))
    ops = [
        {"op": "add", "path": "/metadata/labels", "value": {}},
        {"op": "add", "path": "/spec/x", "value": nested(90)},
    ]
    ops += [{"op": "copy", "from": "/spec", "path": "/spec/x/foo"} for _ in range(12)]
    with unchanged(server, pods_path(namespace)):
        status, body = server.request("PATCH", f"{pods_path(namespace)}/self-copy", ops, content_type=JSON_PATCH)
        assert 400 <= status < 500, body
    ok(server.request("GET", "/api/v1/pods"))


# ------------------------------------------------------------------------------------------ bombs


def test_json_patch_copy_bomb_is_refused_fast_and_cheaply(server: RunningServer, namespace: str) -> None:
    """20 ``copy`` ops of ~1 KB (a dry run, as in the issue) would build a 1 GB object."""
    create(server, cm_path(namespace), configmap("bomb"))
    ops: list[Obj] = [{"op": "add", "path": "/x", "value": {"a": "x" * 120}}]
    ops += [{"op": "copy", "from": "/x", "path": f"/x/{i}"} for i in range(20)]
    raw = json.dumps(ops, separators=(",", ":")).encode()
    assert len(raw) < 1100
    with cheaply_refused(server, "copy bomb"), unchanged(server, cm_path(namespace)):
        status, body = server.request(
            "PATCH", q(f"{cm_path(namespace)}/bomb", dryRun="All"), raw, content_type=JSON_PATCH
        )
    expect_status((status, body), 422, "Invalid")
    assert "copied by the patch exceed the limit" in body["message"]


def test_too_many_json_patch_operations_is_413(server: RunningServer, namespace: str) -> None:
    create(server, cm_path(namespace), configmap("many-ops"))
    ops = [{"op": "test", "path": "/data/k", "value": "v"}] * 10001
    with unchanged(server, cm_path(namespace)):
        body = expect_status(
            server.request("PATCH", f"{cm_path(namespace)}/many-ops", ops, content_type=JSON_PATCH),
            413,
            "RequestEntityTooLarge",
        )
    assert "10000" in body["message"]


def billion_laughs(levels: int = 9) -> bytes:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: lol}",
        'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"data: {{k: *a{levels - 1}}}")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("content_type", ["application/yaml", "application/apply-patch+yaml"])
def test_yaml_alias_bomb_is_400_fast_and_stores_nothing(
    server: RunningServer, namespace: str, content_type: str
) -> None:
    raw = billion_laughs()
    assert len(raw) < 600
    with cheaply_refused(server, f"alias bomb ({content_type})"), unchanged(server, cm_path(namespace)):
        if content_type == "application/yaml":
            status, body = server.request("POST", cm_path(namespace), raw, content_type=content_type)
        else:
            status, body = server.request(
                "PATCH", q(f"{cm_path(namespace)}/lol", fieldManager="t"), raw, content_type=content_type
            )
    expect_status((status, body), 400, "BadRequest")
    assert "aliasing" in body["message"]


def test_yaml_with_a_few_aliases_is_still_accepted(server: RunningServer, namespace: str) -> None:
    raw = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchors\n  labels: &l {app: web}\n"
        b"  annotations: *l\ndata: {k: v}\n"
    )
    created = ok(server.request("POST", cm_path(namespace), raw, content_type="application/yaml"), 201)
    assert created["metadata"]["annotations"] == {"app": "web"}


def test_yaml_values_json_cannot_encode_are_400_not_stored(server: RunningServer, namespace: str) -> None:
    """Non-string keys and integers past 64 bits decode from YAML but cannot be encoded or read back."""
    with unchanged(server, cm_path(namespace), pods_path(namespace)):
        raw = (
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intkeys, labels: {a: b}}\ndata: {k: v}\nextra: {1: 2}\n"
        )
        expect_status(
            server.request("POST", cm_path(namespace), raw, content_type="application/yaml"), 400, "BadRequest"
        )
        raw = (
            b"apiVersion: v1\nkind: Pod\nmetadata: {name: bigint}\nspec:\n  schedulerName: none\n"
            b"  activeDeadlineSeconds: 123456789012345678901234567890\n"
            b"  containers: [{name: c, image: busybox}]\n"
        )
        status, body = server.request("POST", pods_path(namespace), raw, content_type="application/yaml")
        assert 400 <= status < 500, body
    ok(server.request("GET", "/api/v1/configmaps"))


# ------------------------------------------------------------------------------------------ sizes


def env_pod(name: str, size: int) -> Obj:
    """A pod whose one env value is ``size`` bytes: no validation limits env values, unlike
    ConfigMap data and annotations, so only the object limit stops it."""
    body = unscheduled_pod(name)
    body["spec"]["containers"][0]["env"] = [{"name": "BLOB", "value": "x" * size}]
    return body


def test_an_object_over_1_5_mib_is_413_after_decoding(server: RunningServer, namespace: str) -> None:
    with unchanged(server, pods_path(namespace)):  # a body under 3 MiB, an object over 1.5 MiB
        body = expect_status(
            server.request("POST", pods_path(namespace), env_pod("too-big", 1600 * 1024)), 413, "RequestEntityTooLarge"
        )
    assert "1572864" in body["message"]
    create(server, pods_path(namespace), env_pod("fits", 1400 * 1024))


def test_patches_cannot_grow_an_object_past_the_limit(server: RunningServer, namespace: str) -> None:
    """A Lease: its spec may change and no validation bounds its strings, so only the object limit
    stops the growth (a pod's spec is immutable, a ConfigMap's data validated to 1 MiB: both 422)."""
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    create(server, leases, {"metadata": {"name": "growing"}, "spec": {"holderIdentity": "x" * (1024 * 1024)}})
    path = f"{leases}/growing"
    with unchanged(server, leases):
        expect_status(
            server.request("PATCH", path, {"spec": {"preferredHolder": "y" * 600_000}}, content_type=MERGE),
            413,
            "RequestEntityTooLarge",
        )
        expect_status(
            server.request(
                "PATCH",
                path,
                [{"op": "copy", "from": "/spec/holderIdentity", "path": "/spec/preferredHolder"}],
                content_type=JSON_PATCH,
            ),
            413,
            "RequestEntityTooLarge",
        )
        expect_status(
            server.request(
                "PATCH", q(path, dryRun="All"), {"spec": {"preferredHolder": "y" * 600_000}}, content_type=MERGE
            ),
            413,
            "RequestEntityTooLarge",
        )


# ------------------------------------------------------------------------------------------ resourceVersion


@pytest.mark.parametrize("rv", ["abc", "-1", "1.5", "99999999999999999999999"])
def test_an_unparsable_resource_version_on_list_or_watch_is_400(server: RunningServer, namespace: str, rv: str) -> None:
    expect_status(server.request("GET", q(cm_path(namespace), resourceVersion=rv)), 400, "BadRequest")
    expect_status(server.request("GET", q(cm_path(namespace), watch="true", resourceVersion=rv)), 400, "BadRequest")


@pytest.mark.parametrize("watch", [True, False])
def test_a_far_future_resource_version_is_too_large_after_a_short_wait(
    server: RunningServer, namespace: str, watch: bool
) -> None:
    params = {"resourceVersion": "900000000000", **({"watch": "true", "timeoutSeconds": "60"} if watch else {})}
    started = time.monotonic()
    body = expect_status(server.request("GET", q(cm_path(namespace), **params)), 504, "Timeout")
    elapsed = time.monotonic() - started
    assert 2.5 <= elapsed < 6, elapsed
    assert body["message"].startswith("Timeout: Too large resource version: 900000000000, current: ")
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert body["details"]["retryAfterSeconds"] == 1


def test_a_current_resource_version_lists_at_once(server: RunningServer, namespace: str) -> None:
    rv = ok(server.request("GET", cm_path(namespace)))["metadata"]["resourceVersion"]
    started = time.monotonic()
    ok(server.request("GET", q(cm_path(namespace), resourceVersion=rv)))
    assert time.monotonic() - started < 1


# ------------------------------------------------------------------------------------------ connections


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server allowing one read-only and one mutating request at a time, and 2 s for headers."""
    srv = start_server(
        tmp_path_factory.mktemp("limited") / "data",
        "--max-requests-inflight",
        "1",
        "--max-mutating-requests-inflight",
        "1",
        "--request-header-timeout",
        "2",
    )
    yield srv
    srv.stop()


def _tls_socket(server: RunningServer) -> ssl.SSLSocket:
    url = urllib.parse.urlparse(server.url)
    raw = socket.create_connection((url.hostname, url.port), timeout=10)
    return server.ssl_context().wrap_socket(raw, server_hostname=url.hostname)


def _hold(server: RunningServer, method: str, path: str) -> threading.Thread:
    """A request that stays in flight for about three seconds (a far-future resourceVersion waits)."""
    thread = threading.Thread(target=server.request, args=(method, path), daemon=True)
    thread.start()
    time.sleep(0.5)
    return thread


def test_read_only_requests_over_the_limit_get_429_with_retry_after(limited: RunningServer) -> None:
    holder = _hold(limited, "GET", q(cm_path("default"), resourceVersion="900000000000"))
    status, body = limited.request("GET", cm_path("default"))
    expect_status((status, body), 429, "TooManyRequests")
    # watches are long-running and not counted
    events = limited.request("GET", q(cm_path("default"), watch="true", timeoutSeconds="1"))
    assert events[0] == 200
    # a mutating request has its own budget
    create(limited, cm_path("default"), configmap("while-reads-are-full"))
    holder.join(10)
    ok(limited.request("GET", cm_path("default")))


def test_retry_after_header_is_sent(limited: RunningServer) -> None:
    holder = _hold(limited, "GET", q(cm_path("default"), resourceVersion="900000000000"))
    conn = _tls_socket(limited)
    conn.sendall(
        f"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {limited.admin_token}\r\nConnection: close\r\n\r\n".encode()
    )
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 429"), head
    assert "Retry-After: 1" in head
    holder.join(10)


def test_mutating_requests_over_the_limit_get_429(limited: RunningServer) -> None:
    """A POST whose body is still arriving holds the one mutating slot."""
    body = json.dumps(configmap("slow")).encode()
    slow = _tls_socket(limited)
    slow.sendall(
        f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {limited.admin_token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    time.sleep(0.5)
    before = snapshot(limited, cm_path("default"))
    expect_status(limited.request("POST", cm_path("default"), configmap("refused")), 429, "TooManyRequests")
    assert snapshot(limited, cm_path("default")) == before
    ok(limited.request("GET", cm_path("default")))  # reads have their own budget
    slow.sendall(body[10:])
    slow.settimeout(10)
    assert slow.recv(100).startswith(b"HTTP/1.1 201")
    slow.close()
    create(limited, cm_path("default"), configmap("after"))


def test_a_connection_that_never_finishes_its_headers_is_closed(limited: RunningServer) -> None:
    conns = [_tls_socket(limited) for _ in range(20)]
    for conn in conns:
        conn.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")  # ... and never the rest
        conn.settimeout(8)
    started = time.monotonic()
    for conn in conns:
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):  # closed, however TLS reports it
            assert conn.recv(100) == b""
        conn.close()
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed
    ok(limited.request("GET", "/api/v1/namespaces"))


# ------------------------------------------------------------------------------------------ unknown fields


def with_unknown_fields(name: str) -> Obj:
    body = unscheduled_pod(name)
    body["spec"]["foo"] = {"deep": {"er": 1}}
    body["spec"]["containers"][0]["bar"] = "x"
    body["metadata"]["baz"] = "y"
    body["extra"] = True
    return body


def request_with_warnings(
    server: RunningServer, method: str, path: str, body: Obj, content_type: str = "application/json"
) -> tuple[int, Any, list[str]]:
    """A request as :meth:`RunningServer.request`, also returning the answer's Warning headers."""
    status, headers, answer = server.exchange(method, path, body, content_type=content_type)
    return status, answer, headers.get_all("Warning") or []


def test_unknown_fields_are_dropped_with_a_warning(server: RunningServer, namespace: str) -> None:
    status, created, warnings = request_with_warnings(
        server, "POST", pods_path(namespace), with_unknown_fields("unknown")
    )
    assert status == 201, created
    assert sorted(warnings) == sorted(
        f'299 - "unknown field \\"{path}\\""'
        for path in ("spec.foo", "spec.containers[0].bar", "metadata.baz", "extra")
    )
    stored = ok(server.request("GET", f"{pods_path(namespace)}/unknown"))
    assert "foo" not in stored["spec"] and "bar" not in stored["spec"]["containers"][0]
    assert "baz" not in stored["metadata"] and "extra" not in stored
    # known fields, and everything below the parts the schema names, stay
    assert stored["spec"]["schedulerName"] and stored["spec"]["containers"][0]["image"]


def test_fields_added_by_a_patch_are_dropped_with_a_warning(server: RunningServer, namespace: str) -> None:
    create(server, pods_path(namespace), unscheduled_pod("patched"))
    status, patched, warnings = request_with_warnings(
        server,
        "PATCH",
        f"{pods_path(namespace)}/patched",
        {"metadata": {"labels": {"a": "b"}}, "spec": {"foo": "x"}},
        content_type=MERGE,
    )
    assert status == 200, patched
    assert warnings == ['299 - "unknown field \\"spec.foo\\""']
    assert patched["metadata"]["labels"] == {"a": "b"} and "foo" not in patched["spec"]


def test_unknown_fields_under_strict_validation_are_400(server: RunningServer, namespace: str) -> None:
    with unchanged(server, pods_path(namespace)):
        body = expect_status(
            server.request("POST", q(pods_path(namespace), fieldValidation="Strict"), with_unknown_fields("strict")),
            400,
            "BadRequest",
        )
        assert "strict decoding error: " in body["message"] and 'unknown field "spec.foo"' in body["message"]
    create(server, pods_path(namespace), unscheduled_pod("strict-patch"))
    with unchanged(server, pods_path(namespace)):
        expect_status(
            server.request(
                "PATCH",
                q(f"{pods_path(namespace)}/strict-patch", fieldValidation="Strict"),
                {"spec": {"foo": "x"}},
                content_type=MERGE,
            ),
            400,
            "BadRequest",
        )
        expect_status(
            server.request("POST", q(pods_path(namespace), fieldValidation="Sloppy"), unscheduled_pod("bad-mode")),
            400,
            "BadRequest",
        )


def test_ignore_drops_unknown_fields_silently(server: RunningServer, namespace: str) -> None:
    status, created, warnings = request_with_warnings(
        server, "POST", q(pods_path(namespace), fieldValidation="Ignore"), with_unknown_fields("ignored")
    )
    assert status == 201 and warnings == [] and "foo" not in created["spec"]


def test_kubectl_prints_the_warning(server: RunningServer, namespace: str) -> None:
    body = unscheduled_pod("kubectl-unknown")
    body["spec"]["foo"] = "x"
    done = server.kubectl("create", "-n", namespace, "--validate=warn", "-f", "-", input=json.dumps(body))
    assert 'unknown field "spec.foo"' in done.stderr
    strict = server.kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({**body, "metadata": {"name": "kubectl-strict"}}),
        check=False,
    )
    assert strict.returncode != 0 and 'unknown field "spec.foo"' in strict.stderr


# ------------------------------------------------------------------------------------------ data at rest


def test_data_dir_is_private_even_when_it_existed_open(tmp_path: Path) -> None:
    """A data dir made 0755 beforehand becomes 0700, and every file in it is 0600 (a Secret in
    state.db was readable by other users)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    srv = start_server(data)
    try:
        create(srv, cm_path("default"), configmap("written"))  # the store has written its WAL
        assert data.stat().st_mode & 0o777 == 0o700
        modes = {str(p.relative_to(data)): p.stat().st_mode & 0o777 for p in data.rglob("*")}
        assert "state.db" in modes and "node-token" in modes and "pki/ca.key" in modes, modes
        loose = {
            name: oct(mode) for name, mode in modes.items() if mode & 0o077 and not name.endswith(".crt")
        }  # certificates are public by nature
        assert loose == {}, loose
    finally:
        srv.stop()
