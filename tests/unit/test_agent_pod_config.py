"""Pure pod → container translation: environment, service links, container specs, DNS, resources,
the namespaces a pod's containers share."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from minikube_py.agent.containers import app_spec, container_name, sandbox_spec, spec_hash
from minikube_py.agent.context import NodeContext
from minikube_py.agent.env import ConfigError, expand, expand_command, resolve_env, service_env
from minikube_py.agent.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_POD_UID,
    LABEL_SANDBOX_IPC,
    ContainerSpec,
    PortBinding,
)

Obj = dict[str, Any]
NODE = NodeContext("n1", "192.0.2.10", Path("/tmp/unused"), "pykube-n1", "pause:1", cluster_dns=["10.96.0.10"])


def pod(**spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u-1",
            "labels": {"app": "web"},
            "annotations": {"team": "a"},
        },
        "spec": {"serviceAccountName": "default", "containers": [{"name": "c", "image": "img:1"}], **spec},
    }


def secret(data: dict[str, str]) -> Obj:
    return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


SECRETS = {("shop", "creds"): secret({"password": "s3cr3t", "user": "bob"})}
CONFIGMAPS = {("shop", "settings"): {"data": {"MODE": "fast", "LEVEL": "3"}}}


def env_of(container: Obj, services: list[Obj] | None = None, p: Obj | None = None) -> dict[str, str]:
    return dict(
        resolve_env(
            p or pod(),
            container,
            secret=lambda ns, n: SECRETS.get((ns, n)),
            configmap=lambda ns, n: CONFIGMAPS.get((ns, n)),
            services=services or [],
            node=NODE,
            pod_ip="10.244.1.5",
        )
    )


def test_expand_replaces_known_keeps_unknown_and_unescapes() -> None:
    assert expand("$(A)-$(B)-$$(A)", {"A": "x"}) == "x-$(B)-$(A)"


def test_env_values_refer_to_earlier_variables() -> None:
    env = env_of(
        {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)2"}, {"name": "C", "value": "$(D)"}]}
    )
    assert env["B"] == "12" and env["C"] == "$(D)"


def test_value_from_secret_configmap_and_fields() -> None:
    env = env_of(
        {
            "env": [
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            ]
        }
    )
    assert (env["PW"], env["MODE"], env["POD"], env["NS"]) == ("s3cr3t", "fast", "web", "shop")
    assert (env["IP"], env["HOST"], env["NODE"], env["APP"]) == ("10.244.1.5", "192.0.2.10", "n1", "web")


def test_env_from_with_prefix_and_env_winning() -> None:
    env = env_of(
        {
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
            "env": [{"name": "user", "value": "override"}],
        }
    )
    assert env["CFG_MODE"] == "fast" and env["password"] == "s3cr3t" and env["user"] == "override"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"secretKeyRef": {"name": "absent", "key": "k"}}, 'secret "absent" not found'),
        ({"secretKeyRef": {"name": "creds", "key": "nope"}}, "couldn't find key nope in Secret shop/creds"),
        ({"configMapKeyRef": {"name": "absent", "key": "k"}}, 'configmap "absent" not found'),
    ],
)
def test_missing_sources_are_config_errors_with_kubelet_wording(ref: Obj, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        env_of({"env": [{"name": "X", "valueFrom": ref}]})
    assert raised.value.message == message


def test_optional_missing_sources_are_skipped() -> None:
    env = env_of(
        {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": True}}}]}
    )
    assert "X" not in env


def service(name: str, ns: str, ip: str, ports: list[Obj]) -> Obj:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


def test_service_links_in_docker_style() -> None:
    services = [
        service("redis-master", "shop", "10.0.0.11", [{"name": "db", "port": 6379, "protocol": "TCP"}]),
        service("headless", "shop", "None", [{"port": 80}]),
        service("elsewhere", "other", "10.0.0.12", [{"port": 80}]),
        service("kubernetes", "default", "10.96.0.1", [{"name": "https", "port": 443}]),
    ]
    env = dict(service_env(services, "shop"))
    assert env["REDIS_MASTER_SERVICE_HOST"] == "10.0.0.11"
    assert env["REDIS_MASTER_SERVICE_PORT"] == "6379"
    assert env["REDIS_MASTER_SERVICE_PORT_DB"] == "6379"
    assert env["REDIS_MASTER_PORT"] == "tcp://10.0.0.11:6379"
    assert env["REDIS_MASTER_PORT_6379_TCP"] == "tcp://10.0.0.11:6379"
    assert env["REDIS_MASTER_PORT_6379_TCP_PROTO"] == "tcp"
    assert env["REDIS_MASTER_PORT_6379_TCP_PORT"] == "6379"
    assert env["REDIS_MASTER_PORT_6379_TCP_ADDR"] == "10.0.0.11"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert not any(k.startswith(("HEADLESS_", "ELSEWHERE_")) for k in env)


def test_service_links_off_keeps_only_the_kubernetes_service() -> None:
    services = [
        service("redis", "shop", "10.0.0.11", [{"port": 6379}]),
        service("kubernetes", "default", "10.96.0.1", [{"port": 443}]),
    ]
    env = env_of({}, services, pod(enableServiceLinks=False))
    assert "KUBERNETES_SERVICE_HOST" in env and "REDIS_SERVICE_HOST" not in env


def test_command_and_args_are_expanded() -> None:
    command, args = expand_command({"command": ["echo", "$(A)"], "args": ["$(B)"]}, [("A", "1"), ("B", "2")])
    assert (command, args) == (["echo", "1"], ["2"])
    assert expand_command({}, []) == (None, None)


def test_sandbox_owns_dns_hostname_and_host_ports() -> None:
    p = pod(containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 18080}]}])
    spec = sandbox_spec(p, NODE)
    assert spec.network == "pykube-n1" and spec.hostname == "web" and spec.image == "pause:1"
    assert spec.dns == ["10.96.0.10"]
    assert spec.dns_search == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert spec.dns_options == ["ndots:5"]
    assert spec.port_bindings == [PortBinding(80, 18080, "TCP", "")]
    assert spec.labels[LABEL_CONTAINER_NAME] == "POD" and spec.labels[LABEL_POD_UID] == "u-1"
    assert spec.domainname is None
    member = sandbox_spec(pod(hostname="web-0", subdomain="web"), NODE)
    assert (member.hostname, member.domainname) == ("web-0", "web.shop.svc.cluster.local")


def test_app_container_joins_the_sandbox_with_resources_and_user() -> None:
    container = {
        "name": "c",
        "image": "img:1",
        "workingDir": "/w",
        "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
        "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True},
    }
    spec = app_spec(
        pod(),
        container,
        kind="app",
        attempt=2,
        sandbox_id="abc",
        env=[("A", "1")],
        mounts=[],
        node=NODE,
        command=["sh"],
        args=None,
    )
    assert spec.network == "container:abc" and spec.name == container_name(pod(), "c", 2)
    assert (spec.cpu_shares, spec.cpu_quota, spec.cpu_period) == (256, 50_000, 100_000)
    assert spec.memory_limit == 64 * 1024 * 1024
    assert spec.user == "1000" and spec.read_only_rootfs and spec.working_dir == "/w"
    assert spec.labels[LABEL_ATTEMPT] == "2"


def test_privileged_needs_the_node_to_allow_it() -> None:
    container = {"name": "c", "image": "i", "securityContext": {"privileged": True}}
    with pytest.raises(ConfigError):
        app_spec(
            pod(),
            container,
            kind="app",
            attempt=0,
            sandbox_id="x",
            env=[],
            mounts=[],
            node=NODE,
            command=None,
            args=None,
        )


def test_spec_hash_changes_with_the_image() -> None:
    assert spec_hash({"name": "c", "image": "a:1"}) != spec_hash({"name": "c", "image": "a:2"})
    assert spec_hash({"name": "c", "image": "a:1"}) == spec_hash({"image": "a:1", "name": "c"})


def test_resolv_conf_follows_the_dns_policy() -> None:
    from minikube_py.agent.containers import resolv_conf

    base = pod()
    assert resolv_conf(base, NODE) == (
        "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    )
    default = pod()
    default["spec"]["dnsPolicy"] = "Default"
    assert resolv_conf(default, NODE) is None
    custom = pod()
    custom["spec"].update(
        dnsPolicy="None",
        dnsConfig={
            "nameservers": ["192.0.2.53"],
            "searches": ["example.org"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        },
    )
    assert resolv_conf(custom, NODE) == "nameserver 192.0.2.53\nsearch example.org\noptions ndots:2 edns0\n"
    host = pod()
    host["spec"]["hostNetwork"] = True
    assert resolv_conf(host, NODE) is None
    host["spec"]["dnsPolicy"] = "ClusterFirstWithHostNet"
    assert resolv_conf(host, NODE).startswith("nameserver 10.96.0.10\n")


def _spec_in(p: Obj, sandbox_ipc: str = "shareable", target: str | None = None) -> ContainerSpec:
    container = p["spec"]["containers"][0]
    common: Any = {"attempt": 0, "env": [], "mounts": [], "node": NODE, "command": None, "args": None}
    return app_spec(p, container, kind="app", sandbox_id="sb", sandbox_ipc=sandbox_ipc, target=target, **common)


def test_the_pods_containers_share_the_sandboxs_ipc_namespace() -> None:
    sandbox = sandbox_spec(pod(), NODE)
    assert (sandbox.ipc, sandbox.labels[LABEL_SANDBOX_IPC], sandbox.pid) == ("shareable", "shareable", "")
    assert (_spec_in(pod()).ipc, _spec_in(pod()).pid) == ("container:sb", "")
    # a sandbox made before pods shared one cannot be joined: its containers keep their own
    assert _spec_in(pod(), sandbox_ipc="").ipc == ""


def test_host_namespaces_and_a_shared_process_namespace() -> None:
    host = pod(hostPID=True, hostIPC=True)
    sandbox = sandbox_spec(host, NODE)
    assert (sandbox.pid, sandbox.ipc, sandbox.labels[LABEL_SANDBOX_IPC]) == ("host", "host", "host")
    assert (_spec_in(host).pid, _spec_in(host).ipc) == ("host", "host")
    assert _spec_in(pod(shareProcessNamespace=True)).pid == "container:sb"
    # an ephemeral container's target wins: it is that container's namespace it joins
    assert _spec_in(pod(shareProcessNamespace=True), target="app-id").pid == "container:app-id"
