"""``pykube kubectl`` create/apply/delete/scale/label/annotate/patch: the same steps run through it on one
set of objects (``…-x1``) and through the real kubectl on a twin set (``…-x2``); messages, errors and
exit codes must be the same, and so must the objects the steps leave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubectl_helpers import Kubectl, configmap, deployment, to_yaml, wait_for
from pykube_kubectl_helpers import Twins, pykube_kubectl, real_kubectl

pytestmark = pytest.mark.kubectl


def manifests(suffix: str, env_b: str = "2", labels: dict[str, str] | None = None) -> str:
    dep = deployment(f"web-{suffix}", replicas=0, image="pykube.local/pause:1")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": env_b}]
    return to_yaml(configmap(f"cfg-{suffix}", labels or {"a": "b"}, k="v"), dep)


@pytest.fixture
def twins(k: Kubectl, tmp_path: Path) -> Twins:
    return Twins(k, tmp_path)


def test_create_apply_and_delete_from_files(twins: Twins) -> None:
    created = twins.step("create -f {file}", manifests, rc=0)
    assert created.stdout == "configmap/cfg-x1 created\ndeployment.apps/web-x1 created\n"
    failed = twins.step("create -f {file}", manifests, rc=1)
    assert "Error from server (AlreadyExists): error when creating" in failed.stderr
    # objects made by create have no last-applied annotation: apply warns, then adopts them
    assert (
        "missing the kubectl.kubernetes.io/last-applied-configuration"
        in twins.step("apply -f {file}", manifests, rc=0).stderr
    )
    assert twins.step("apply -f {file}", manifests).stdout == (
        "configmap/cfg-x1 unchanged\ndeployment.apps/web-x1 unchanged\n"
    )
    changed = twins.step("apply -f {file}", lambda s: manifests(s, env_b="3", labels={"c": "d"}), rc=0)
    assert changed.stdout == "configmap/cfg-x1 configured\ndeployment.apps/web-x1 configured\n"
    ours, theirs = twins.obj("cm", "cfg-x1"), twins.obj("cm", "cfg-x2")
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    assert ours["metadata"]["labels"] == theirs["metadata"]["labels"] == {"c": "d"}
    assert ours["metadata"]["annotations"][annotation] == theirs["metadata"]["annotations"][annotation].replace(
        "-x2", "-x1"
    )
    env = [twins.obj("deploy", f"web-{s}")["spec"]["template"]["spec"]["containers"][0]["env"] for s in ("x1", "x2")]
    assert env[0] == env[1] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    twins.step("apply -f {file} --dry-run=client", lambda s: manifests(s, env_b="4"), rc=0)
    twins.step("apply -f {file} --dry-run=server", lambda s: manifests(s, env_b="4"), rc=0)
    twins.step("apply -f {file} --server-side --force-conflicts", lambda s: manifests(s, env_b="5"), rc=0)
    twins.step("delete -f {file}", manifests, rc=0)
    twins.step("delete -f {file}", manifests, rc=1)
    twins.step("delete -f {file} --ignore-not-found", manifests, rc=0)


def test_apply_removes_what_the_file_dropped_and_keeps_what_others_set(k: Kubectl, tmp_path: Path) -> None:
    """The three-way merge: fields dropped from the file go, fields set by someone else stay."""
    server = k.server
    first = deployment("three", replicas=0, image="pykube.local/pause:1")
    container = first["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]
    first["metadata"]["labels"] = {"keep": "1", "drop": "2"}
    assert pykube_kubectl(server, "-n", k.namespace, "apply", "-f", "-", input=to_yaml(first)).rc == 0
    k.run("annotate", "deployment", "three", "someone=else")
    k.run("label", "deployment", "three", "other=label")
    second = json.loads(json.dumps(first))
    second["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "KEEP", "value": "1"}]
    second["metadata"]["labels"] = {"keep": "1"}
    done = pykube_kubectl(server, "-n", k.namespace, "apply", "-f", "-", input=to_yaml(second))
    assert (done.stdout, done.rc) == ("deployment.apps/three configured\n", 0)
    live = k.obj("deployment", "three")
    assert live["metadata"]["labels"] == {"keep": "1", "other": "label"}
    assert live["metadata"]["annotations"]["someone"] == "else"
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "KEEP", "value": "1"}]


def test_create_reads_directories_lists_and_stdin(k: Kubectl, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.yaml").write_text(to_yaml(configmap("dir-one")))
    (tmp_path / "sub" / "two.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [configmap("dir-two"), configmap("dir-three")]})
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    done = pykube_kubectl(k.server, "-n", k.namespace, "create", "-f", str(tmp_path), "-R")
    assert (done.stdout, done.rc) == (
        "configmap/dir-one created\nconfigmap/dir-two created\nconfigmap/dir-three created\n",
        0,
    ), done.stderr
    flat = pykube_kubectl(k.server, "-n", k.namespace, "delete", "-f", str(tmp_path))
    assert flat.stdout == 'configmap "dir-one" deleted\n'
    piped = pykube_kubectl(k.server, "-n", k.namespace, "create", "-f", "-", input=to_yaml(configmap("dir-four")))
    assert piped.stdout == "configmap/dir-four created\n"
    missing = pykube_kubectl(k.server, "create", "-f", str(tmp_path / "nope.yaml"))
    assert (missing.stderr, missing.rc) == (f'error: the path "{tmp_path / "nope.yaml"}" does not exist\n', 1)


def test_modify_verbs_print_as_kubectl(twins: Twins) -> None:
    twins.step("create -f {file}", manifests, rc=0)
    for command, rc in [
        ("scale deploy web-{s} --replicas=2", 0),
        ("scale deployment/web-{s} --replicas=0", 0),
        ("scale deploy web-{s} --replicas=3 --current-replicas=1", 1),
        ("scale deploy nope-{s} --replicas=1", 1),
        ("label deploy web-{s} tier=fe", 0),
        ("label deploy web-{s} tier=be", 1),
        ("label deploy web-{s} tier=be --overwrite", 0),
        ("label deploy web-{s} tier=be", 0),
        ("label deploy web-{s} tier-", 0),
        ("label deploy web-{s} tier-", 0),
        ("label cm cfg-{s} x={s}", 0),
        ("annotate deploy web-{s} note=1", 0),
        ("annotate deploy web-{s} note=2", 1),
        ("annotate deploy web-{s} note=2 --overwrite", 0),
        ("annotate deploy web-{s} note-", 0),
        ('patch deploy web-{s} -p {"spec":{"replicas":1}}', 0),
        ('patch deploy web-{s} -p {"spec":{"replicas":1}}', 0),
        ('patch deploy web-{s} --type=merge -p {"metadata":{"labels":{"z":"1"}}}', 0),
        ('patch deploy web-{s} --type=json -p [{"op":"replace","path":"/spec/replicas","value":0}]', 0),
        ('patch deploy web-{s} --type=json -p [{"op":"test","path":"/spec/replicas","value":5}]', 1),
        ("resize deploy web-{s} --replicas=1", None),
        ("delete cm cfg-{s} --grace-period=0 --force", 0),
        ("create -f {file} --dry-run=client", 0),
        # (the deployment exists: Kubernetes refuses even a dry run with 409, pykube's server does not yet)
        ("create -f {file} --dry-run=server", None),
        ("delete deploy web-{s} nope-{s}", 1),
        ("delete cm -l x={s}", 0),
        ("delete cm -l x={s}", 0),
        ("delete cm", 1),
    ]:
        if command.startswith("resize"):
            # the 2014 name of scale: kubectl v1.32 dropped it, pykube's still has it
            done = pykube_kubectl(twins.k.server, "-n", twins.k.namespace, *command.replace("{s}", "x1").split(" "))
            assert (done.stdout, done.rc) == ("deployment.apps/web-x1 scaled\n", 0)
            continue
        twins.step(command, manifests, rc=rc)


def test_replace_and_run_print_as_kubectl(twins: Twins) -> None:
    twins.step("replace -f {file}", manifests, rc=1)  # nothing to replace yet
    twins.step("create -f {file}", manifests, rc=0)
    replaced = twins.step("replace -f {file}", lambda s: manifests(s, env_b="7"), rc=0)
    assert replaced.stdout == "configmap/cfg-x1 replaced\ndeployment.apps/web-x1 replaced\n"
    env = twins.obj("deploy", "web-x1")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "B", "value": "7"}]
    for command, rc in [
        ("run pod-{s} --image=pykube.local/pause:1 --dry-run=client -o yaml", 0),
        ("run pod-{s} --image=pykube.local/pause:1 --env=A=1 --port=80 --dry-run=client -o json -- sleep 1", 0),
        ("run pod-{s} --image=pykube.local/pause:1 --labels=app=x,tier=y --restart=Never", 0),
        ("run pod-{s} --image=pykube.local/pause:1", 1),
        ("run pod2-{s} --image=pykube.local/pause:1 --dry-run=server", 0),
        ("run pod3-{s} --image=pykube.local/pause:1 -o name", 0),
    ]:
        twins.step(command, rc=rc)
    assert twins.obj("pod", "pod-x1")["metadata"]["labels"] == {"app": "x", "tier": "y"}


def test_create_generators_print_as_kubectl(twins: Twins, tmp_path: Path) -> None:
    (tmp_path / "settings.conf").write_text("a=1\n")
    for command, rc in [
        (
            "create configmap cm-{s} --from-literal=b=2 --from-literal=a=1 --from-file="
            + str(tmp_path / "settings.conf"),
            0,
        ),
        ("create configmap cm-{s} --from-literal=b=2", 1),
        ("create cm cm2-{s} --from-literal=x=1 --dry-run=client -o yaml", 0),
        ("create secret generic sec-{s} --from-literal=password=s3cret --type=Opaque", 0),
        ("create secret generic sec-{s}", 1),
        ("create sa default", 1),
        ("create secret generic sec2-{s} --from-literal=b=1 --from-literal=a=2 --dry-run=client -o json", 0),
        ("create deployment dep-{s} --image=pykube.local/pause:1 --image=pykube.local/busybox:1.35 --replicas=0", 0),
        ("create deploy dep-{s} --image=pykube.local/pause:1", 1),
        ("create deploy dep2-{s} --image=pykube.local/pause:1 --port=80 --dry-run=client -o yaml", 0),
        ("create deploy dep3-{s} --image=pykube.local/pause:1 --dry-run=server -o name", 0),
        ("create serviceaccount sa-{s}", 0),
        ("create sa sa2-{s} --dry-run=client -o json", 0),
        ("create priorityclass pc-{s} --value=1000 --description=batch --preemption-policy=Never", 0),
        ("create pc pc-{s} --value=5", 1),
        ("create pc big-{s} --value=2000000000", 1),
        ("create pc pc2-{s} --value=7 --global-default --dry-run=client -o json", 0),
        ("create pc pc3-{s} -n default --dry-run=client -o yaml", 0),
    ]:
        twins.step(command, rc=rc)
    ours, theirs = twins.obj("secret", "sec-x1"), twins.obj("secret", "sec-x2")
    assert ours["data"] == theirs["data"] == {"password": "czNjcmV0"} and ours["type"] == "Opaque"
    assert [c["name"] for c in twins.obj("deploy", "dep-x1")["spec"]["template"]["spec"]["containers"]] == [
        "pause",
        "busybox",
    ]


def test_more_create_generators_print_as_kubectl(twins: Twins, tmp_path: Path) -> None:
    from minikube_py.pki import self_signed_serving_cert

    cert, key = self_signed_serving_cert("pykube-test", ["localhost"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    tls = f"--cert={tmp_path / 'tls.crt'} --key={tmp_path / 'tls.key'}"
    twins.step("create serviceaccount robot-{s}", rc=0)
    for command, rc in [
        ("create service clusterip cs-{s} --tcp=80:8080 --tcp=443 --dry-run=client -o json", 0),
        ("create svc clusterip cs-{s} --tcp=80:http", 0),
        ("create svc clusterip cs-{s} --tcp=81", 1),
        ("create svc clusterip hl-{s} --clusterip=None --dry-run=client -o yaml", 0),
        ("create svc clusterip bad-{s}", 1),
        ("create svc clusterip bad-{s} --tcp=x", 1),
        ("create svc nodeport np-{s} --tcp=80:8080 --dry-run=client -o json", 0),
        ("create svc nodeport np-{s} --tcp=81 -o name", 0),
        (
            "create secret docker-registry reg-{s} --docker-server=r.example.com --docker-username=u "
            "--docker-password=p --docker-email=e@x.com --dry-run=client -o json",
            0,
        ),
        ("create secret docker-registry reg-{s} --docker-username=u --docker-password=p", 0),
        ("create secret docker-registry reg-{s} --docker-username=u --docker-password=p", 1),
        ("create secret docker-registry reg2-{s}", 1),
        (f"create secret tls tls-{{s}} {tls} --dry-run=client -o yaml", 0),
        (f"create secret tls tls-{{s}} {tls}", 0),
        (f"create secret tls tls2-{{s}} --cert={tmp_path / 'tls.crt'}", 1),
        (f"create secret tls tls2-{{s}} --cert={tmp_path / 'tls.crt'} --key={tmp_path / 'tls.crt'}", 1),
        ("create job job-{s} --image=pykube.local/pause:1 --dry-run=client -o json -- echo hi", 0),
        ("create job job-{s} --image=pykube.local/pause:1", 0),
        ("create job job-{s} --image=pykube.local/pause:1", 1),
        ("create job job2-{s}", 1),
        ("create job job2-{s} --from=cronjob/nope-{s}", 1),
        ("create token nope-{s}", 1),
        ("create pdb pdb-{s} --selector=app=web --min-available=1 --dry-run=client -o json", 0),
        ("create pdb pdb-{s} --selector=app=web,tier=db --max-unavailable=50%", 0),
        ("create pdb pdb-{s} --selector=app=web --max-unavailable=1", 1),
        ("create pdb pdb2-{s} --selector=app=web", 1),
    ]:
        twins.step(command, rc=rc)
    ours, theirs = twins.obj("secret", "reg-x1"), twins.obj("secret", "reg-x2")
    assert ours["data"] == theirs["data"] and ours["type"] == "kubernetes.io/dockerconfigjson"
    token = pykube_kubectl(twins.k.server, "-n", twins.k.namespace, "create", "token", "robot-x1", "--duration=10m")
    assert token.rc == 0 and token.stdout.count(".") == 2, token
    # the token is one the server takes: it can ask who it is
    whoami = real_kubectl(
        twins.k.server,
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
        f"--token={token.stdout.strip()}",
    )
    assert whoami.stdout == f"system:serviceaccount:{twins.k.namespace}:robot-x1", whoami


def test_expose_prints_as_kubectl(twins: Twins) -> None:
    for command, rc in [
        ("create deployment ex-{s} --image=pykube.local/pause:1 --port=8080 --replicas=0", 0),
        ("expose deployment ex-{s} --dry-run=client -o yaml", 0),
        ("expose deployment ex-{s} --port=80 --target-port=8080 --type=NodePort --dry-run=client -o json", 0),
        ("expose deployment ex-{s} --port=80 --target-port=8080", 0),
        ("expose deployment ex-{s} --port=80", 1),
        ("expose service ex-{s} --name=ex2-{s} --port=81", 0),
        ("expose deployment nope-{s} --port=80", 1),
    ]:
        twins.step(command, rc=rc)
    ours, theirs = twins.obj("svc", "ex-x1"), twins.obj("svc", "ex-x2")
    assert ours["spec"]["selector"] == {"app": "ex-x1"} and theirs["spec"]["selector"] == {"app": "ex-x2"}
    assert ours["spec"]["ports"][0]["targetPort"] == theirs["spec"]["ports"][0]["targetPort"] == 8080


def test_create_namespace_prints_as_kubectl(k: Kubectl) -> None:
    name = f"{k.namespace}-made"
    ours = pykube_kubectl(k.server, "create", "namespace", name)
    assert (ours.stdout, ours.rc) == (f"namespace/{name} created\n", 0)
    again, theirs = pykube_kubectl(k.server, "create", "ns", name), real_kubectl(k.server, "create", "ns", name)
    assert again == theirs and again.rc == 1
    k.server.kubectl("delete", "namespace", name, "--wait=false")


def test_edit_sends_what_the_editor_changed(twins: Twins) -> None:
    twins.step("create -f {file}", manifests, rc=0)
    scale_up = {"EDITOR": "sed -i s/replicas:\\ 0/replicas:\\ 2/"}
    assert twins.step("edit deploy web-{s}", env=scale_up, rc=0).stdout == "deployment.apps/web-x1 edited\n"
    assert twins.obj("deploy", "web-x1")["spec"]["replicas"] == 2
    assert (
        twins.step("edit deploy/web-{s}", env={"EDITOR": "true"}, rc=0).stderr == "Edit cancelled, no changes made.\n"
    )
    # a refused edit: kubectl reopens the editor once with the error; both end the same way
    refused = pykube_kubectl(
        twins.k.server,
        "-n",
        twins.k.namespace,
        "edit",
        "deploy",
        "web-x1",
        env={"EDITOR": "sed -i s/pykube.local.pause:1/''/"},
    )
    lines = refused.stderr.splitlines()
    assert (lines[0], lines[-1], refused.rc) == (
        'error: deployments.apps "web-x1" is invalid',
        "error: Edit cancelled, no valid changes were saved.",
        1,
    )
    assert lines[1].startswith("A copy of your changes has been stored to ")


def test_cordon_and_uncordon_print_as_kubectl(twins: Twins) -> None:
    from kubectl_helpers import node

    names = [f"pkctl-{twins.k.namespace[-4:]}-x1", f"pkctl-{twins.k.namespace[-4:]}-x2"]
    twins.k.apply(*(node(n) for n in names))
    try:
        prefix = names[0].removesuffix("-x1")
        for command, rc in [
            (f"cordon {prefix}-{{s}}", 0),
            (f"cordon {prefix}-{{s}}", 0),
            (f"cordon {prefix}-{{s}} --dry-run=client", 0),
            (f"uncordon {prefix}-{{s}}", 0),
            (f"uncordon {prefix}-{{s}}", 0),
            ("cordon nope-{s}", 1),
        ]:
            twins.step(command, rc=rc)
        assert not twins.k.obj("node", names[0])["spec"].get("unschedulable")
    finally:
        twins.k.run("delete", "node", *names)


def test_taint_prints_as_kubectl(twins: Twins) -> None:
    from kubectl_helpers import node

    names = [f"pktaint-{twins.k.namespace[-4:]}-x1", f"pktaint-{twins.k.namespace[-4:]}-x2"]
    twins.k.apply(*(node(n) for n in names))
    prefix = names[0].removesuffix("-x1")
    try:
        for command, rc in [
            ("taint nodes {n} k1=v1:NoSchedule", 0),
            ("taint nodes {n} k1=v2:NoSchedule", 1),
            ("taint nodes {n} k1=v2:NoSchedule --overwrite", 0),
            ("taint node {n} k2:NoExecute k3=x:PreferNoSchedule", 0),
            ("taint nodes {n} k1:NoSchedule-", 0),
            ("taint nodes {n} k1:NoSchedule-", 1),
            ("taint nodes {n} k2-", 0),
            ("taint nodes {n} k9- k8:NoSchedule-", 1),
            ("taint nodes {n} a=b:Bogus", 1),
            ("taint nodes {n} a=b", 1),
            ("taint nodes {n}", 1),
            ("taint nodes {n} k3=x:PreferNoSchedule k3-", 1),
            ("taint nodes {n} z=1:NoSchedule --dry-run=client", 0),
            ("taint no/{n} q=1:NoExecute", 1),
            ("taint cm {n} a=b:NoSchedule", 1),
            ("taint nodes nope-{s} a=b:NoSchedule", 1),
        ]:
            twins.step(command.replace("{n}", f"{prefix}-{{s}}"), rc=rc)
        taints = [twins.k.obj("node", n)["spec"]["taints"] for n in names]
        assert taints[0] == taints[1]
        assert [(t["key"], t["effect"]) for t in taints[0]] == [
            ("k3", "PreferNoSchedule"),
            ("pykube.test/no-kubelet", "NoSchedule"),
        ]
    finally:
        twins.k.run("delete", "node", *names)


def test_stop_scales_down_waits_and_deletes(k: Kubectl) -> None:
    k.apply(deployment("stopping", replicas=0, image="pykube.local/pause:1"))
    done = pykube_kubectl(k.server, "-n", k.namespace, "stop", "deployment/stopping")
    assert (done.stdout, done.rc) == ('deployment.apps "stopping" deleted\n', 0), done.stderr
    wait_for(lambda: k.exists("deployment", "stopping"), lambda exists: not exists, "the deployment to be gone")


def test_autoscale_creates_the_autoscaler_kubectl_creates(twins: Twins) -> None:
    twins.step(
        "create -f {file}",
        lambda s: to_yaml(deployment(f"web-{s}", replicas=1, image="pykube.local/pause:1"), configmap(f"cfg-{s}", {})),
    )
    made = twins.step("autoscale deployment web-{s} --min=2 --max=5 --cpu-percent=80", rc=0)
    assert made.stdout == "horizontalpodautoscaler.autoscaling/web-x1 autoscaled\n"
    ours, theirs = twins.obj("hpa", "web-x1"), twins.obj("hpa", "web-x2")
    assert ours["spec"] == {**theirs["spec"], "scaleTargetRef": {**theirs["spec"]["scaleTargetRef"], "name": "web-x1"}}
    assert ours["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert (ours["spec"]["minReplicas"], ours["spec"]["maxReplicas"]) == (2, 5)
    twins.step("autoscale deploy/web-{s} --max=3 --name=other-{s} --dry-run=client -o yaml", rc=0)
    twins.step("autoscale deploy/web-{s} --max=3 --name=named-{s} -o name", rc=0)
    twins.step("autoscale deployment web-{s} --max=0", rc=1)
    twins.step("autoscale deployment web-{s} --min=4 --max=3", rc=1)
    twins.step("autoscale deployment web-{s} --max=3", rc=1)  # AlreadyExists
    twins.step("autoscale deployment missing-{s} --max=3", rc=1)
    twins.step("autoscale configmap cfg-{s} --max=3", rc=1)
