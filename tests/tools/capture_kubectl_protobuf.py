"""Capture the protobuf bodies real kubectl POSTs, as fixtures for tests/unit/test_protobuf.py.

Runs a minimal fake API server on 127.0.0.1 (version, legacy discovery, an empty OpenAPI v2, the
two objects that ``create job --from=cronjob/...`` and ``autoscale`` read) and drives kubectl
through every ``create`` generator and ``autoscale`` against it, saving each POST body as
``<case>.bin``. With ``--dry-run-dir`` it also saves ``kubectl ... --dry-run=client -o json`` of each
case, the JSON the decoded bodies are expected to match (apart from ``creationTimestamp: null``).

    .venv/bin/python tests/tools/capture_kubectl_protobuf.py [--out DIR] [--kubectl PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from minikube_py.api.protobuf import decode_object
from minikube_py.model.errors import StatusError

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "unit" / "data" / "protobuf"

#: throwaway self-signed EC pair for ``create secret tls`` (kubectl checks that they match)
TLS_CERT = """-----BEGIN CERTIFICATE-----
MIIBGjCBwaADAgECAgEBMAoGCCqGSM49BAMCMBYxFDASBgNVBAMMC3Rscy5leGFt
cGxlMCAXDTI0MDEwMTAwMDAwMFoYDzIxMjQwMTAxMDAwMDAwWjAWMRQwEgYDVQQD
DAt0bHMuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABC1o0hprF09I
xmS9c5u57gfk7kleqS3LFXiuLVtnXiqZLEa842BpbXUGShO6VHys093Qn98y3KrD
1qnWyu0VhEkwCgYIKoZIzj0EAwIDSAAwRQIgKOVwNePriYH4ius7GVHTVtZa+2My
oVkGjrQ0fUw2ASICIQDZa9PeNjxz7xURwwKcSrVFTV1bU3Dqfiaiz8mRPlC4lg==
-----END CERTIFICATE-----
"""
TLS_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKYAGjvrCDDubY+dk
0tfF0jRV583i4XpFYF7sJEuNssKhRANCAAQtaNIaaxdPSMZkvXObue4H5O5JXqkt
yxV4ri1bZ14qmSxGvONgaW11BkoTulR8rNPd0J/fMtyqw9ap1srtFYRJ
-----END PRIVATE KEY-----
"""
#: input files of the --from-file cases, written into a scratch directory as {dir}/<name>
INPUT_FILES: dict[str, bytes] = {
    "tls.crt": TLS_CERT.encode(),
    "tls.key": TLS_KEY.encode(),
    "app.properties": b"color=blue\nsize=3\n",
    "logo.bin": bytes([0x89, 0x50, 0x4E, 0x47, 0x00, 0xFF, 0xFE]),
}

CRONJOB_UID = "6a1f3c1e-0000-4000-8000-00000000c0de"
DEPLOYMENT_UID = "6a1f3c1e-0000-4000-8000-00000000d0de"

#: (case name, kubectl arguments); the file is <case>.bin
CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "secret_generic_literal",
        (
            "create",
            "secret",
            "generic",
            "s1",
            "--from-literal=user=admin",
            "--from-literal=password=s3cr3t",
            "--from-literal=empty=",
        ),
    ),
    (
        "secret_generic_file",
        (
            "create",
            "secret",
            "generic",
            "s2",
            "--from-file={dir}/app.properties",
            "--from-file=picture={dir}/logo.bin",
            "--type=example.com/custom",
        ),
    ),
    (
        "secret_docker_registry",
        (
            "create",
            "secret",
            "docker-registry",
            "regcred",
            "--docker-server=registry.example.com",
            "--docker-username=bob",
            "--docker-password=hunter2",
            "--docker-email=bob@example.com",
        ),
    ),
    ("secret_tls", ("create", "secret", "tls", "tls1", "--cert={dir}/tls.crt", "--key={dir}/tls.key")),
    ("configmap_literal", ("create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=greeting=hello world")),
    (
        "configmap_file",
        ("create", "configmap", "cm2", "--from-file={dir}/app.properties", "--from-file={dir}/logo.bin"),
    ),
    ("namespace", ("create", "namespace", "ns1")),
    ("serviceaccount", ("create", "serviceaccount", "sa1", "-n", "team-a")),
    ("service_clusterip", ("create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:8443")),
    ("service_headless", ("create", "service", "clusterip", "hl", "--clusterip=None")),
    ("service_nodeport", ("create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080")),
    ("service_loadbalancer", ("create", "service", "loadbalancer", "lb", "--tcp=5678:8080")),
    ("service_externalname", ("create", "service", "externalname", "ext", "--external-name=db.example.com")),
    ("deployment", ("create", "deployment", "web", "--image=nginx:1.27", "--port=80", "--replicas=3")),
    ("deployment_zero", ("create", "deployment", "idle", "--image=busybox", "--replicas=0", "--", "sleep", "3600")),
    ("job", ("create", "job", "j1", "--image=busybox", "--", "echo", "hello", "world")),
    (
        "cronjob",
        ("create", "cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *", "--restart=OnFailure", "--", "date"),
    ),
    ("job_from_cronjob", ("create", "job", "j2", "--from=cronjob/cj1")),
    ("autoscale", ("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80")),
    ("poddisruptionbudget", ("create", "poddisruptionbudget", "pdb1", "--selector=app=web", "--min-available=1")),
    (
        "poddisruptionbudget_percent",
        ("create", "poddisruptionbudget", "pdb2", "--selector=app=web", "--max-unavailable=50%"),
    ),
    ("quota", ("create", "quota", "q1", "--hard=cpu=1,memory=1Gi,pods=10", "--scopes=NotBestEffort")),
    (
        "priorityclass",
        ("create", "priorityclass", "high", "--value=1000", "--description=important", "--preemption-policy=Never"),
    ),
    ("role", ("create", "role", "r1", "--verb=get,list", "--resource=pods,deployments.apps")),
    ("rolebinding", ("create", "rolebinding", "rb1", "--role=r1", "--user=alice", "--serviceaccount=default:sa1")),
    ("clusterrole", ("create", "clusterrole", "cr1", "--verb=get", "--non-resource-url=/healthz")),
    ("clusterrolebinding", ("create", "clusterrolebinding", "crb1", "--clusterrole=cr1", "--group=devs")),
    ("ingress", ("create", "ingress", "ing1", "--class=nginx", "--rule=foo.com/bar*=svc1:8080,tls=my-cert")),
    ("token", ("create", "token", "sa1", "--duration=1h", "--audience=api")),
)


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()


DISCOVERY: dict[str, tuple[Resource, ...]] = {
    "v1": (
        Resource("secrets", "Secret"),
        Resource("configmaps", "ConfigMap"),
        Resource("namespaces", "Namespace", namespaced=False),
        Resource("serviceaccounts", "ServiceAccount", subresources=("token",)),
        Resource("services", "Service"),
        Resource("pods", "Pod"),
        Resource("resourcequotas", "ResourceQuota"),
    ),
    "apps/v1": (Resource("deployments", "Deployment", subresources=("scale",)),),
    "batch/v1": (Resource("jobs", "Job"), Resource("cronjobs", "CronJob")),
    "autoscaling/v1": (Resource("horizontalpodautoscalers", "HorizontalPodAutoscaler"),),
    "policy/v1": (Resource("poddisruptionbudgets", "PodDisruptionBudget"),),
    "rbac.authorization.k8s.io/v1": (
        Resource("roles", "Role"),
        Resource("rolebindings", "RoleBinding"),
        Resource("clusterroles", "ClusterRole", namespaced=False),
        Resource("clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    ),
    "scheduling.k8s.io/v1": (Resource("priorityclasses", "PriorityClass", namespaced=False),),
    "networking.k8s.io/v1": (Resource("ingresses", "Ingress"),),
}

_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_SUBRESOURCE_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "token": ("authentication.k8s.io", "v1", "TokenRequest")}
_CONTAINER_DEFAULTS = {
    "resources": {},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "imagePullPolicy": "Always",
}
_POD_DEFAULTS = {
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "securityContext": {},
    "schedulerName": "default-scheduler",
}

#: what GET answers: the server-side (defaulted) objects the reading commands start from
STORED: dict[str, dict[str, Any]] = {
    "/apis/batch/v1/namespaces/default/cronjobs/cj1": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cj1", "namespace": "default", "uid": CRONJOB_UID, "resourceVersion": "7"},
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"name": "cj1", "labels": {"team": "a"}},
                "spec": {
                    "backoffLimit": 6,
                    "completionMode": "NonIndexed",
                    "suspend": False,
                    "template": {
                        "metadata": {},
                        "spec": {
                            "containers": [
                                {"name": "cj1", "image": "busybox", "command": ["date"], **_CONTAINER_DEFAULTS}
                            ],
                            "restartPolicy": "OnFailure",
                            **_POD_DEFAULTS,
                        },
                    },
                },
            },
        },
    },
    "/apis/apps/v1/namespaces/default/deployments/web": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": DEPLOYMENT_UID,
            "resourceVersion": "9",
            "labels": {"app": "web"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "nginx", "image": "nginx:1.27", **_CONTAINER_DEFAULTS}],
                    "restartPolicy": "Always",
                    **_POD_DEFAULTS,
                },
            },
        },
    },
}


@dataclass
class Recorder:
    """The POST bodies of the case that is running."""

    posts: list[tuple[str, str, bytes]] = field(default_factory=list)


def _resource_list(group_version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for r in DISCOVERY[group_version]:
        resources.append(
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            }
        )
        for sub in r.subresources:
            group, version, kind = _SUBRESOURCE_KINDS[sub]
            resources.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "group": group,
                    "version": version,
                    "kind": kind,
                    "verbs": ["create", "get"],
                }
            )
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _group_list() -> dict[str, Any]:
    groups = []
    for gv in DISCOVERY:
        if "/" in gv:
            version = {"groupVersion": gv, "version": gv.split("/")[1]}
            groups.append({"name": gv.split("/")[0], "versions": [version], "preferredVersion": version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _echo(path: str, body: bytes) -> dict[str, Any]:
    """The 201 answer: the posted object itself, so kubectl prints ``<kind>/<name> created``."""
    try:
        obj = decode_object(body)
    except StatusError:
        obj = json.loads(body) if body.startswith(b"{") else {"metadata": {"name": path.rsplit("/", 1)[-1]}}
    if obj.get("kind") == "TokenRequest":
        obj["status"] = {"token": "captured-token", "expirationTimestamp": "2124-01-01T00:00:00Z"}
    return obj


def build_app(recorder: Recorder) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "POST":
            body = await request.read()
            recorder.posts.append((path, request.content_type, body))
            return web.json_response(_echo(path, body), status=201)
        if path == "/version":
            return web.json_response(_VERSION)
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return web.json_response(_group_list())
        if path == "/openapi/v2":
            return web.Response(body=b"", content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        if group_version in DISCOVERY:
            return web.json_response(_resource_list(group_version))
        if path in STORED:
            return web.json_response(STORED[path])
        return web.json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "NotFound",
                "code": 404,
                "message": f"{path} not found",
            },
            status=404,
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _kubectl(kubectl: str, server: str, args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        kubectl, "--server", server, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@dataclass
class Captured:
    bodies: dict[str, bytes] = field(default_factory=dict)  # case -> protobuf POST body
    dry_runs: dict[str, str] = field(default_factory=dict)  # case -> --dry-run=client -o json output
    failures: list[str] = field(default_factory=list)


async def capture(kubectl: str, inputs: Path, env: dict[str, str], dry_run: bool) -> Captured:
    """Run every case against a fresh fake server; file I/O is left to the caller."""
    recorder = Recorder()
    runner = web.AppRunner(build_app(recorder))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server = f"http://127.0.0.1:{runner.addresses[0][1]}"
    result = Captured()
    try:
        for case, template in CASES:
            args = [a.replace("{dir}", str(inputs)) for a in template]
            recorder.posts.clear()
            code, stdout, stderr = await _kubectl(kubectl, server, args, env)
            protobuf = [body for _, ctype, body in recorder.posts if ctype == "application/vnd.kubernetes.protobuf"]
            if code != 0 or len(protobuf) != 1:
                seen = [(p, c) for p, c, _ in recorder.posts]
                result.failures.append(f"{case}: rc={code} posts={seen}\n{stdout}{stderr}")
                continue
            result.bodies[case] = protobuf[0]
            print(f"{case}: {len(protobuf[0])} bytes  {stdout.strip()}")
            if dry_run:
                split = args.index("--") if "--" in args else len(args)  # flags go before the command
                code, stdout, stderr = await _kubectl(
                    kubectl, server, [*args[:split], "--dry-run=client", "-o", "json", *args[split:]], env
                )
                result.dry_runs[case] = stdout if code == 0 else stderr
    finally:
        await runner.cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write <case>.bin")
    parser.add_argument("--kubectl", default="kubectl", help="kubectl binary (the dispatcher picks v1.32)")
    parser.add_argument("--dry-run-dir", type=Path, help="also save each case's --dry-run=client -o json here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        inputs, home = Path(scratch) / "inputs", Path(scratch) / "home"
        inputs.mkdir()
        home.mkdir()
        for name, content in INPUT_FILES.items():
            (inputs / name).write_bytes(content)
        # no kubeconfig and a fresh discovery cache, so only --server and this run's answers count
        env = {
            **os.environ,
            "HOME": str(home),
            "KUBECACHEDIR": str(Path(scratch) / "cache"),
            "KUBECONFIG": str(home / "no-kubeconfig"),
        }
        result = asyncio.run(capture(args.kubectl, inputs, env, args.dry_run_dir is not None))
    args.out.mkdir(parents=True, exist_ok=True)
    for case, body in result.bodies.items():
        (args.out / f"{case}.bin").write_bytes(body)
    if args.dry_run_dir is not None:
        args.dry_run_dir.mkdir(parents=True, exist_ok=True)
        for case, text in result.dry_runs.items():
            (args.dry_run_dir / f"{case}.json").write_text(text)
    for failure in result.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    sys.exit(1 if result.failures else 0)


if __name__ == "__main__":
    main()
