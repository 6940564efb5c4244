"""``pykube kubectl get`` prints what kubectl v1.32 prints, for every form it supports: the same
command runs through both against one server and the outputs (stdout, stderr, exit code) must match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubectl_helpers import (
    MANUAL_SCHEDULER,
    Kubectl,
    configmap,
    deployment,
    pod,
    service,
    to_yaml,
    wait_for,
    wait_until_rolled_out,
)
from pykube_kubectl_helpers import pykube_kubectl, real_kubectl, same_output, without_ages

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def cluster(server: RunningServer) -> Iterator[Kubectl]:
    """One namespace for the module with pods (pending: no node), services, a deployment and config maps."""
    name = f"pkctl-get-{os.urandom(2).hex()}"
    server.kubectl("create", "namespace", name)
    k = Kubectl(server, name)
    marker = {"marker": name}
    k.apply(
        pod(
            "web",
            {"app": "web", "tier": "fe", **marker},
            image="pykube.local/busybox:1.35",
            schedulerName=MANUAL_SCHEDULER,
        ),
        pod("db-long-name", {"app": "db", **marker}, image="pykube.local/busybox:1.35", schedulerName=MANUAL_SCHEDULER),
        service("websvc"),
        deployment("dep", replicas=0, image="pykube.local/pause:1"),
        configmap("settings", {"app": "web"}, mode="fast", multi="line one\nline two\n"),
    )
    wait_until_rolled_out(k, "dep")
    yield k
    server.kubectl("delete", "namespace", name, "--wait=false")


GET_FORMS = [
    "get pods",
    "get pods -o wide",
    "get po,svc",
    "get all",
    "get pods --show-labels",
    "get pods -L app,tier",
    "get pods -L app -L tier --show-labels",
    "get pods --no-headers",
    "get pod/web svc/websvc",
    "get pods web",
    "get pods web db-long-name",
    "get pods web nope",
    "get pods nope",
    "get pods nope --ignore-not-found",
    "get widgets",
    "get deploy,rs",
    "get deploy -o wide",
    "get cm -o name",
    "get pods,svc -o name",
    "get pods -o json",
    "get pod web -o json",
    "get cm settings -o yaml",
    "get pods -o yaml",
    "get svc -o jsonpath={.items[*].metadata.name}",
    "get pod web -o jsonpath={.metadata.labels.app}",
    'get pods -o jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.spec.containers[0].image}{"\\n"}{end}',
    "get pods -o custom-columns=NAME:.metadata.name,IMAGES:.spec.containers[*].image,NODE:.spec.nodeName",
    "get pods --sort-by=.metadata.name",
    "get pods --sort-by={.metadata.name} -o name",
    "get pods -l app=web",
    "get pods -l app=none",
    "get pods --field-selector metadata.name=db-long-name",
    "get cm -l app=web -o yaml",
    "get configmaps settings",
    # pages of one object (limit and continue over HTTP): the same rows as one page
    "get pods --chunk-size=1",
    "get cm -o name --chunk-size=1",
    "get pods -o json --chunk-size=1",
]


@pytest.mark.parametrize("command", GET_FORMS)
def test_get_prints_as_kubectl(cluster: Kubectl, command: str) -> None:
    same_output(cluster.server, "-n", cluster.namespace, *command.split(" "))


def test_describe_prints_as_kubectl(cluster: Kubectl) -> None:
    # one key only: kubectl walks a config map's data in Go's random map order
    cluster.apply(configmap("one-key", {"app": "web"}, text="line one\nline two\n"))
    cluster.run("annotate", "cm", "one-key", "long=" + "x" * 150, "multi=a\nb")
    for command in (
        "describe cm one-key",
        "describe pods",
        "describe pod web",
        f"describe ns {cluster.namespace}",
        "describe pod nope",
        "describe deployment dep",
        "describe deploy",
    ):
        same_output(cluster.server, "-n", cluster.namespace, *command.split(" "))


def test_describe_of_more_kinds_prints_as_kubectl(k: Kubectl) -> None:
    """In a namespace of its own: its pods would change what the module's get forms list."""
    cluster = k
    cluster.apply(service("websvc"))
    template = {
        "metadata": {"labels": {"app": "more"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "pykube.local/pause:1",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "X", "value": "1"}],
                }
            ],
            "schedulerName": MANUAL_SCHEDULER,
        },
    }
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sec", "labels": {"a": "b"}},
            "data": {"password": "czNjcmV0"},
        },  # one key: kubectl walks a secret's data in Go's random map order
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "robot"},
            "imagePullSecrets": [{"name": "pull-one"}, {"name": "pull-two"}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "np"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "more"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080},
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "rcm", "labels": {"made": "rc"}},
            "spec": {"replicas": 2, "selector": {"app": "more"}, "template": template},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "dsm"},
            "spec": {
                "selector": {"matchLabels": {"app": "dsm"}},
                "template": {**template, "metadata": {"labels": {"app": "dsm"}}},
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "jobm"},
            "spec": {"template": {"spec": {**template["spec"], "restartPolicy": "Never"}}},
        },
    )
    wait_for(lambda: cluster.obj("rc", "rcm")["status"], lambda s: s.get("replicas") == 2, "the rc's pods")
    wait_for(lambda: cluster.obj("job", "jobm")["status"], lambda s: s.get("active") == 1, "the job's pod")
    for command in (
        "describe secret sec",
        "describe sa robot",
        "describe svc np",
        "describe svc websvc",
        "describe endpoints websvc",
        "describe rc rcm",
        "describe replicasets",
        "describe ds dsm",
        "describe job jobm",
        "describe jobs",
        "describe sa",
    ):
        same_output(cluster.server, "-n", cluster.namespace, *command.split(" "))


def test_describe_of_kinds_kubectl_has_no_describer_for_prints_as_kubectl(k: Kubectl) -> None:
    """kubectl's generic describer: a custom resource's fields as a tree (odd names, nested lists,
    floats as Go prints them), an APIService, a CRD."""
    group = f"t{os.urandom(3).hex()}.pykube.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gizmos.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    k.server.kubectl("apply", "-f", "-", input=json.dumps(crd))
    try:
        wait_for(lambda: k.run("get", "gizmos", check=False).returncode, lambda rc: rc == 0, "the CRD's resource")
        gizmo = {
            "apiVersion": f"{group}/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g1", "labels": {"a": "b"}, "annotations": {"note": "hi"}},
            "spec": {
                "floats": [100.5, 1234567.5, 1.5e-07, -0.00012, 3],
                "podIP": "10.0.0.1",
                "URLPath": "/x",
                "dash-name": "d",
                "v1beta1": "digits stay",
                "with_underscore": None,
                "enabled": True,
                "items": [{"name": "a", "count": 1}, {"name": "b"}],
                "multi": "line one\nline two",
            },
        }
        k.apply(gizmo)
        for command in (
            "describe gizmo g1",
            "describe gizmos",
            f"describe crd gizmos.{group}",
            "describe apiservice v1.apps",
        ):
            same_output(k.server, "-n", k.namespace, *command.split(" "))
    finally:
        k.server.kubectl("delete", "crd", f"gizmos.{group}", "--wait=false")


def test_describe_of_network_policies_prints_as_kubectl(k: Kubectl) -> None:
    """Each direction left alone, isolating, or allowing by rules of every peer and port form."""

    def policy(name: str, spec: dict[str, object], **meta: object) -> dict[str, object]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, **meta},
            "spec": spec,
        }

    k.apply(
        policy("deny", {"podSelector": {}}),
        policy("egress-only", {"podSelector": {}, "policyTypes": ["Egress"]}),
        policy(
            "rules",
            {
                "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}},
                            {"ipBlock": {"cidr": "192.168.0.0/16"}},
                            {"podSelector": {"matchLabels": {"app": "web"}}},
                        ],
                        "ports": [{"port": 80, "protocol": "UDP"}, {"port": "http"}],
                    },
                    {},
                ],
                "egress": [
                    {
                        "to": [
                            {"namespaceSelector": {"matchLabels": {"team": "a"}}},
                            {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "dns"}}},
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"port": 8000, "endPort": 8080},
                            {"protocol": "SCTP"},
                        ],
                    }
                ],
            },
            labels={"a": "b"},
            annotations={"note": "x"},
        ),
    )
    for command in (
        "describe netpol deny",
        "describe networkpolicy egress-only",
        "describe netpol rules",
        "describe netpol",
    ):
        same_output(k.server, "-n", k.namespace, *command.split(" "))


def test_describe_namespace_with_quota_and_limits(k: Kubectl) -> None:
    k.run("create", "quota", "q1", "--hard=pods=10,cpu=2")
    k.apply(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "lr1"},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "200m"},
                        "defaultRequest": {"cpu": "100m"},
                        "max": {"cpu": "1"},
                    }
                ]
            },
        }
    )
    wait_for(lambda: k.obj("resourcequota", "q1").get("status", {}).get("used"), bool, "the quota to be counted")
    done = same_output(k.server, "describe", "namespace", k.namespace)
    assert "Resource Quotas" in done.stdout and " Container  cpu" in done.stdout


def test_get_across_namespaces_adds_the_namespace_column(cluster: Kubectl) -> None:
    for extra in ((), ("-o", "wide"), ("--show-labels",), ("-o", "name")):
        same_output(cluster.server, "get", "pods", "-A", "-l", f"marker={cluster.namespace}", *extra)


def test_get_in_an_empty_namespace_says_so_on_stderr(cluster: Kubectl) -> None:
    result = same_output(cluster.server, "get", "pods", "-n", "pkctl-nothing-here")
    assert result.stderr == "No resources found in pkctl-nothing-here namespace.\n" and result.rc == 0


def test_cluster_scoped_and_legacy_names(cluster: Kubectl) -> None:
    same_output(cluster.server, "get", "namespace", cluster.namespace)
    same_output(cluster.server, "get", "ns", cluster.namespace, "-o", "name")
    # the 2014 name of nodes: kubectl v1.32 forgot it, pykube's still knows it
    minions = pykube_kubectl(cluster.server, "get", "minions", "--no-headers")
    nodes = pykube_kubectl(cluster.server, "get", "nodes", "--no-headers")
    assert (minions.rc, minions.stdout) == (0, nodes.stdout)


def test_global_flags_go_before_or_after_the_verb(cluster: Kubectl) -> None:
    before = pykube_kubectl(cluster.server, "-n", cluster.namespace, "get", "pods", "-o", "name")
    after = pykube_kubectl(cluster.server, "get", "pods", "-o", "name", f"--namespace={cluster.namespace}")
    assert before == after and before.stdout == "pod/db-long-name\npod/web\n"


def test_verbosity_six_logs_each_request(cluster: Kubectl) -> None:
    done = pykube_kubectl(cluster.server, "get", "pods", "-n", cluster.namespace, "-v=6", "-o", "name")
    assert done.stdout == "pod/db-long-name\npod/web\n"
    wanted = f"] GET {cluster.server.url}/api/v1/namespaces/{cluster.namespace}/pods?limit=500 200 OK in "
    assert any(wanted in line and line.startswith("I") for line in done.stderr.splitlines()), done.stderr


def test_an_unreachable_server_is_reported_as_kubectl_reports_it(cluster: Kubectl) -> None:
    from minikube_py.testing import free_port

    args = ("get", "pods", "--server", f"https://127.0.0.1:{free_port()}")
    ours, theirs = pykube_kubectl(cluster.server, *args), real_kubectl(cluster.server, *args)
    # kubectl logs each failed discovery attempt first (with times and its pid); its last line is the verdict
    assert (ours.stderr, ours.rc) == (theirs.stderr.splitlines(keepends=True)[-1], theirs.rc) and ours.rc == 1


def test_server_and_token_flags_override_the_kubeconfig(cluster: Kubectl) -> None:
    server = cluster.server
    bad = pykube_kubectl(server, "get", "pods", "-n", cluster.namespace, "--token", "not-a-token")
    assert bad.rc == 1 and bad.stderr.startswith("error: You must be logged in to the server ("), bad.stderr
    moved = pykube_kubectl(server, "get", "pods", "-n", cluster.namespace, "-o", "name", "--server", server.url)
    assert moved.stdout == "pod/db-long-name\npod/web\n"


def test_watch_prints_new_rows_aligned_without_repeating_the_header(cluster: Kubectl) -> None:
    """``-w`` lists, then prints each change as a row; both watchers see the same change the same way."""
    args = ["-n", cluster.namespace, "get", "pods", "-w", "-l", "watched=yes"]
    env = {**os.environ, "KUBECONFIG": str(cluster.server.kubeconfig), "KUBECACHEDIR": str(cluster.server.cache_dir)}
    cluster.apply(
        pod("watched-1", {"watched": "yes"}, image="pykube.local/busybox:1.35", schedulerName=MANUAL_SCHEDULER)
    )
    ours = subprocess.Popen(
        [sys.executable, "-m", "minikube_py.cli.main", "kubectl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    theirs = subprocess.Popen(
        ["/usr/bin/kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        # the row's AGE may tick between the two starts; everything else is the same
        first = [without_ages(ours.stdout.readline()), without_ages(ours.stdout.readline())]  # type: ignore[union-attr]
        assert [without_ages(theirs.stdout.readline()), without_ages(theirs.stdout.readline())] == first  # type: ignore[union-attr]
        assert first[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        cluster.apply(
            pod(
                "watched-2-longer",
                {"watched": "yes"},
                image="pykube.local/busybox:1.35",
                schedulerName=MANUAL_SCHEDULER,
            )
        )
        line = ours.stdout.readline()  # type: ignore[union-attr]
        assert without_ages(line) == without_ages(theirs.stdout.readline())  # type: ignore[union-attr]
        # aligned with the table above it: the NAME column widened to fit the new name, as kubectl's does
        assert line.index("0/1") == len("watched-2-longer") + 3
        assert line.split()[:3] == ["watched-2-longer", "0/1", "Pending"]
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
        cluster.run("delete", "pod", "-l", "watched=yes", "--wait=false")


def test_info_verbs_print_as_kubectl(cluster: Kubectl) -> None:
    for command in (
        "api-resources",
        "api-resources -o wide",
        "api-resources -o name",
        "api-resources --namespaced=false",
        "cluster-info",
        "config view",
        "config view --minify",
        "config current-context",
    ):
        same_output(cluster.server, *command.split(" "))
    ours = pykube_kubectl(cluster.server, "version")
    server_version = cluster.server.kubectl("version").stdout.splitlines()[-1]
    assert ours.stdout.splitlines()[-1] == server_version and ours.rc == 0


def test_api_versions_and_context_editing_print_as_kubectl(cluster: Kubectl, tmp_path: Path) -> None:
    """Each CLI edits a copy of the kubeconfig of its own; what they print, and the contexts they leave,
    must be the same."""
    same_output(cluster.server, "api-versions")
    copies = {}
    for cli in ("pykube", "kubectl"):
        copies[cli] = tmp_path / f"{cli}.yaml"
        copies[cli].write_text(cluster.server.kubeconfig.read_text())
    for command in [
        "config get-contexts",
        "config set-context --current --namespace=foo",
        "config set-context other --cluster=x --user=y",
        "config set-context other --namespace=z",
        "config get-contexts",
        "config get-contexts -o name",
        "config get-contexts other",
        "config get-contexts nope",
        "config get-contexts --no-headers",
        "config set-context",
        "config set-context --current other",
        "config use-context other",
        "config use-context nope",
        "config current-context",
        "config get-contexts",
        "config view",
    ]:
        ours, theirs = (
            runner(cluster.server, *command.split(" "), env={"KUBECONFIG": str(copies[cli])})
            for cli, runner in (("pykube", pykube_kubectl), ("kubectl", real_kubectl))
        )
        assert ours == theirs, (command, ours, theirs)


def test_completion_scripts_complete_the_verbs() -> None:
    script = subprocess.run(
        [sys.executable, "-m", "minikube_py.cli.main", "kubectl", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "_PYKUBE_COMPLETE=bash_complete" in script and "complete " in script
    assert (
        "#compdef pykube"
        in subprocess.run(
            [sys.executable, "-m", "minikube_py.cli.main", "kubectl", "completion", "zsh"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    env = {
        **os.environ,
        "COMP_WORDS": "pykube kubectl rollout h",
        "COMP_CWORD": "3",
        "_PYKUBE_COMPLETE": "bash_complete",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from minikube_py.cli.main import main; sys.argv[0] = 'pykube'; main()"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.stdout.split() == ["plain,history"], done


@pytest.mark.parametrize(
    "template",
    [
        '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}',
        '{{range $i, $p := .items}}{{$i}}={{$p.metadata.name}} {{index $p.metadata.labels "app"}}{{"\\n"}}{{end}}',
        '{{range .items}}{{if eq .metadata.name "web"}}W{{else if .spec.nodeName}}N{{else}}O{{end}}{{end}}',
        '{{len .items}} {{.items | len}} {{printf "%s-%d" .kind 7}} {{.nope}}',
        '{{range .items}}{{.spec.containers}}{{.metadata.labels}}{{"\\n"}}{{end}}',
        "{{- range .items }} {{ .metadata.name -}} {{ end }}|{{with .items}}{{len .}}{{end}}",
    ],
)
def test_go_templates_print_as_kubectl(cluster: Kubectl, template: str) -> None:
    same_output(cluster.server, "-n", cluster.namespace, "get", "pods", "-o", f"go-template={template}")


def test_json_shape_of_several_objects_is_a_list(cluster: Kubectl) -> None:
    import json

    listed = json.loads(pykube_kubectl(cluster.server, "-n", cluster.namespace, "get", "pods,cm", "-o", "json").stdout)
    assert listed["kind"] == "List" and {i["kind"] for i in listed["items"]} == {"Pod", "ConfigMap"}
    assert all("managedFields" not in i["metadata"] for i in listed["items"])
    wait_for(lambda: to_yaml(listed), bool, "a list that dumps")


@pytest.mark.parametrize("output", ["name", "yaml", 'jsonpath={.metadata.name}{"\\n"}'])
def test_watch_prints_each_changed_object_as_kubectl(cluster: Kubectl, output: str) -> None:
    """``-w -o FORMAT``: the listing, then every change as its own object (YAML documents separated by
    ``---``); both watchers print the same. The watch resumes from the listing's resourceVersion, so
    once a watcher has printed the listing it cannot miss the changes that follow."""
    cluster.apply(configmap("watched-cm-0", {"watched": "cm"}))
    args = ["-n", cluster.namespace, "get", "cm", "-w", "-o", output, "-l", "watched=cm"]
    env = {**os.environ, "KUBECONFIG": str(cluster.server.kubeconfig), "KUBECACHEDIR": str(cluster.server.cache_dir)}
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for command in ([sys.executable, "-m", "minikube_py.cli.main", "kubectl", *args], ["/usr/bin/kubectl", *args])
    ]
    seen = ["", ""]
    try:
        for i, proc in enumerate(procs):
            while "watched-cm-0" not in seen[i]:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, proc.stderr.read()  # type: ignore[union-attr]
                seen[i] += line
        cluster.apply(configmap("watched-cm-1", {"watched": "cm"}, a="1"))
        cluster.run("label", "cm", "watched-cm-1", "more=yes")
        cluster.run("delete", "cm", "watched-cm-0", "watched-cm-1")
        # three events of watched-cm-1 (added, labelled, deleted), the last of all; in YAML its name is
        # also in the last-applied annotation
        expected = 3 * (2 if output == "yaml" else 1)
        for i, proc in enumerate(procs):
            while seen[i].count("watched-cm-1") < expected:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, seen[i]
                seen[i] += line
    finally:
        for proc in procs:
            proc.terminate()
    ours, theirs = (seen[i] + proc.communicate(timeout=30)[0] for i, proc in enumerate(procs))
    assert ours == theirs, ours


def test_server_warnings_print_once_as_kubectl_prints_them(server: RunningServer) -> None:
    """The API's Warning headers, on stderr as ``Warning: <text>``, each text once per run."""
    done = same_output(server, "get", "componentstatuses")
    assert done.stderr == "Warning: v1 ComponentStatus is deprecated in v1.19+\n"
    assert done.stdout.splitlines()[0].split() == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    twice = same_output(server, "get", "cs", "scheduler", "etcd-0")
    assert twice.stderr == "Warning: v1 ComponentStatus is deprecated in v1.19+\n"
