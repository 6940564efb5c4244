"""RBAC with the real kubectl: a user minted with ``pykube kubeconfig --user`` is refused until a
RoleBinding grants them, ``kubectl auth can-i`` and ``whoami`` answer, and nobody grants more than
they hold."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from kubectl_helpers import as_user, mint
from support import postgres_url

from minikube_py.testing import RunningServer, fresh_postgres_database, start_server
from minikube_py.testing import eventually as wait_for


@pytest.fixture
def alice(server: RunningServer, tmp_path: Path) -> Path:
    return mint(server, tmp_path, f"alice-{os.urandom(3).hex()}", "team-a")


def test_whoami_names_the_admin_and_a_minted_user(server: RunningServer, alice: Path) -> None:
    admin = server.kubectl("auth", "whoami", "-o", "json").stdout
    assert '"system:masters"' in admin
    done = as_user(server, alice, "auth", "whoami")
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines()[1:])
    assert lines["Username"].startswith("alice-")
    assert lines["Groups"].strip() == "[team-a system:authenticated]"


def test_a_role_binding_lets_a_minted_user_list_pods(server: RunningServer, namespace: str, alice: Path) -> None:
    name = as_user(server, alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    refused = as_user(server, alice, "get", "pods", "-n", namespace)
    assert refused.returncode == 1
    assert (
        f'Error from server (Forbidden): pods is forbidden: User "{name}" cannot list resource "pods" in API '
        f'group "" in the namespace "{namespace}"'
    ) in refused.stderr
    no = as_user(server, alice, "auth", "can-i", "list", "pods", "-n", namespace)
    assert (no.returncode, no.stdout.strip()) == (1, "no")

    server.kubectl("-n", namespace, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
    server.kubectl("-n", namespace, "create", "rolebinding", "alice-reads", "--role=pod-reader", f"--user={name}")
    listed = as_user(server, alice, "get", "pods", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    assert "No resources found" in listed.stderr
    yes = as_user(server, alice, "auth", "can-i", "list", "pods", "-n", namespace)
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes")
    # the Role allows pods in this namespace only, and reading only
    assert as_user(server, alice, "auth", "can-i", "delete", "pods", "-n", namespace).returncode == 1
    assert as_user(server, alice, "auth", "can-i", "list", "pods", "-n", "default").returncode == 1
    assert as_user(server, alice, "get", "pods", "-n", "kube-system").returncode == 1
    rules = as_user(server, alice, "auth", "can-i", "--list", "-n", namespace).stdout
    assert any(line.split()[:1] == ["pods"] and "[get list watch]" in line for line in rules.splitlines())

    server.kubectl("-n", namespace, "delete", "rolebinding", "alice-reads")
    assert as_user(server, alice, "get", "pods", "-n", namespace).returncode == 1


def test_a_group_binding_of_the_aggregated_view_role(server: RunningServer, namespace: str, alice: Path) -> None:
    server.kubectl("-n", namespace, "create", "rolebinding", "team-view", "--clusterrole=view", "--group=team-a")
    assert as_user(server, alice, "get", "deployments,services,configmaps", "-n", namespace).returncode == 0
    assert as_user(server, alice, "auth", "can-i", "get", "secrets", "-n", namespace).returncode == 1
    assert as_user(server, alice, "create", "configmap", "c", "-n", namespace).returncode == 1


def test_can_i_answers_yes_to_the_admin_and_for_others_with_as(server: RunningServer, namespace: str) -> None:
    yes = server.kubectl("auth", "can-i", "delete", "nodes")
    assert yes.stdout.strip() == "yes"
    assert server.kubectl("auth", "can-i", "get", "/healthz").stdout.strip() == "yes"


def test_nobody_grants_more_than_they_hold(server: RunningServer, namespace: str, alice: Path) -> None:
    name = as_user(server, alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    server.kubectl("-n", namespace, "create", "rolebinding", "alice-admin", "--clusterrole=admin", f"--user={name}")
    # admin in the namespace may hand out what it holds there...
    granted = as_user(
        server, alice, "-n", namespace, "create", "rolebinding", "bob-edit", "--clusterrole=edit", "--user=bob"
    )
    assert granted.returncode == 0, granted.stderr
    made = as_user(server, alice, "-n", namespace, "create", "role", "reader", "--verb=get", "--resource=pods")
    assert made.returncode == 0, made.stderr
    # ...but not cluster-admin, nor a role over nodes
    refused = as_user(
        server, alice, "-n", namespace, "create", "rolebinding", "bob-root", "--clusterrole=cluster-admin", "--user=bob"
    )
    assert refused.returncode == 1
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    assert '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}' in refused.stderr
    escalated = as_user(server, alice, "-n", namespace, "create", "role", "nodes", "--verb=*", "--resource=nodes")
    assert escalated.returncode == 1 and "not currently held" in escalated.stderr
    # a patch is judged by what it makes
    patch = json.dumps(
        [{"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}}]
    )
    patched = as_user(server, alice, "-n", namespace, "patch", "role", "reader", "--type=json", "-p", patch)
    assert patched.returncode == 1 and "not currently held" in patched.stderr
    rules = server.kubectl("-n", namespace, "get", "role", "reader", "-o", "jsonpath={.rules[*].resources}").stdout
    assert "nodes" not in rules
    # and nothing cluster-wide at all
    assert (
        as_user(server, alice, "create", "clusterrolebinding", "x", "--clusterrole=view", "--user=bob").returncode == 1
    )
    assert server.kubectl("-n", namespace, "get", "rolebinding", "bob-root", check=False).returncode == 1


def test_default_roles_are_bootstrapped_and_aggregated(server: RunningServer) -> None:
    names = server.kubectl("get", "clusterroles", "-o", "name").stdout.split()
    for role in (
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
    ):
        assert f"clusterrole.rbac.authorization.k8s.io/{role}" in names
    view = server.kubectl("get", "clusterrole", "view", "-o", "jsonpath={.rules[*].resources}").stdout
    assert "pods" in view and "secrets" not in view
    edit = server.kubectl("get", "clusterrole", "edit", "-o", "jsonpath={.rules[*].resources}").stdout
    assert "secrets" in edit and "pods/log" in edit  # edit aggregates view's rules
    bindings = server.kubectl("get", "clusterrolebinding", "cluster-admin", "-o", "wide").stdout
    assert "ClusterRole/cluster-admin" in bindings and "system:masters" in bindings


def token_kubeconfig(server: RunningServer, tmp_path: Path, token: str) -> Path:
    """A kubeconfig with nothing but the server, its CA and ``token``."""
    path = tmp_path / f"token-{os.urandom(3).hex()}.kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "t",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": server.url,
                            "certificate-authority": str(server.data_dir / "pki" / "ca.crt"),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def test_every_namespace_gets_its_default_service_account_and_the_ca(server: RunningServer, namespace: str) -> None:
    assert (
        server.kubectl("-n", namespace, "get", "serviceaccount", "default", "-o", "name").stdout.strip()
        == "serviceaccount/default"
    )
    ca = server.kubectl("-n", namespace, "get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}")
    assert ca.stdout.strip() == (server.data_dir / "pki" / "ca.crt").read_text().strip()
    for existing in ("default", "kube-system"):
        server.kubectl("-n", existing, "get", "serviceaccount", "default")
    # deleted, it comes back, as kube-controller-manager's serviceaccounts controller restores it
    server.kubectl("-n", namespace, "delete", "serviceaccount", "default")
    wait_for(
        lambda: server.kubectl("-n", namespace, "get", "serviceaccount", "default", check=False).returncode == 0,
        "the default ServiceAccount to be recreated",
    )


def test_kubectl_create_token_authenticates_as_the_service_account(
    server: RunningServer, namespace: str, tmp_path: Path
) -> None:
    server.kubectl("-n", namespace, "create", "serviceaccount", "robot")
    token = server.kubectl("-n", namespace, "create", "token", "robot", "--duration=15m").stdout.strip()
    claims = claims_of(token)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:robot"
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"]
    assert claims["aud"] == [claims["iss"]] == ["https://kubernetes.default.svc.cluster.local"]
    uid = server.kubectl("-n", namespace, "get", "sa", "robot", "-o", "jsonpath={.metadata.uid}").stdout
    assert claims["kubernetes.io"] == {"namespace": namespace, "serviceaccount": {"name": "robot", "uid": uid}}

    config = token_kubeconfig(server, tmp_path, token)
    whoami = as_user(server, config, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert (info["username"], info["uid"]) == (f"system:serviceaccount:{namespace}:robot", uid)
    assert info["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
    refused = as_user(server, config, "-n", namespace, "get", "secrets")
    assert f'User "system:serviceaccount:{namespace}:robot" cannot list resource "secrets"' in refused.stderr

    too_short = server.kubectl("-n", namespace, "create", "token", "robot", "--duration=5m", check=False)
    assert "may not specify a duration less than 10 minutes" in too_short.stderr
    missing = server.kubectl("-n", namespace, "create", "token", "nobody", check=False)
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    # the account deleted (or recreated under the same name), its tokens are worthless once the
    # server's check of the token (kept 10 s, as kube-apiserver's) is renewed
    server.kubectl("-n", namespace, "delete", "serviceaccount", "robot")
    wait_for(lambda: "Unauthorized" in as_user(server, config, "auth", "whoami").stderr, "the token to be refused")


def test_a_token_bound_to_a_pod_dies_with_it(server: RunningServer, namespace: str, tmp_path: Path) -> None:
    server.kubectl("-n", namespace, "run", "holder", "--image=pykube.local/busybox:1.35", "--", "sleep", "1")
    token = server.kubectl(
        "-n", namespace, "create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=holder"
    ).stdout.strip()
    pod_uid = server.kubectl("-n", namespace, "get", "pod", "holder", "-o", "jsonpath={.metadata.uid}").stdout
    assert claims_of(token)["kubernetes.io"]["pod"] == {"name": "holder", "uid": pod_uid}
    config = token_kubeconfig(server, tmp_path, token)
    whoami = json.loads(as_user(server, config, "auth", "whoami", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-uid"] == [pod_uid]
    server.kubectl("-n", namespace, "delete", "pod", "holder", "--grace-period=0", "--force")
    wait_for(lambda: "Unauthorized" in as_user(server, config, "auth", "whoami").stderr, "the token to be refused")


def test_token_reviews_say_who_a_token_is_for_the_audiences_asked(server: RunningServer, namespace: str) -> None:
    """What an extension API server or a proxy that delegates authentication does: it posts its
    caller's token as a TokenReview (allowed by ``system:auth-delegator``) and gets the user back,
    only for an audience the token names."""
    path = "/apis/authentication.k8s.io/v1/tokenreviews"
    server.kubectl("-n", namespace, "create", "serviceaccount", "gate")
    server.kubectl("-n", namespace, "create", "serviceaccount", "caller")
    gate = server.kubectl("-n", namespace, "create", "token", "gate").stdout.strip()
    caller = server.kubectl("-n", namespace, "create", "token", "caller").stdout.strip()
    for_vault = server.kubectl("-n", namespace, "create", "token", "caller", "--audience=vault").stdout.strip()

    def review(token: str, *audiences: str, as_token: str = gate) -> tuple[int, Any]:
        spec: dict[str, Any] = {"token": token, **({"audiences": list(audiences)} if audiences else {})}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        return server.request("POST", path, body, token=as_token)

    status, answer = review(caller)
    assert status == 403 and 'cannot create resource "tokenreviews"' in answer["message"], answer
    binding = f"{namespace}-gate-delegator"
    server.kubectl(
        "create",
        "clusterrolebinding",
        binding,
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:gate",
    )
    try:
        status, answer = review(caller)
        assert status == 201 and answer["kind"] == "TokenReview", answer
        uid = server.kubectl("-n", namespace, "get", "sa", "caller", "-o", "jsonpath={.metadata.uid}").stdout
        found = answer["status"]
        assert found["authenticated"] is True and found["audiences"] == [claims_of(caller)["iss"]]
        assert (found["user"]["username"], found["user"]["uid"]) == (f"system:serviceaccount:{namespace}:caller", uid)
        assert found["user"]["groups"] == [
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ]
        # a token is good only for the audiences it names
        assert review(caller, "vault")[1]["status"] == {"user": {}}
        assert review(for_vault)[1]["status"] == {"user": {}}
        status, answer = review(for_vault, "vault", "other")
        assert answer["status"]["authenticated"] is True and answer["status"]["audiences"] == ["vault"]
        # the admin's token knows no audience: it is the API's alone
        admin = (server.data_dir / "admin-token").read_text().strip()
        assert review(admin)[1]["status"]["user"]["groups"] == ["system:masters", "system:authenticated"]
        assert review(admin, "vault")[1]["status"] == {"user": {}}
        assert review("not-a-token")[1]["status"] == {"user": {}}
        status, answer = review("")
        assert (status, answer["message"]) == (400, "token is required for TokenReview in authentication")
        # the account gone, its tokens are no one's once the server's 10 s memory of the check lapses
        server.kubectl("-n", namespace, "delete", "serviceaccount", "caller")
        wait_for(lambda: review(caller)[1]["status"] == {"user": {}}, "the deleted account's token to be refused")
    finally:
        server.kubectl("delete", "clusterrolebinding", binding)


def test_pods_get_the_token_volume_unless_they_opt_out(server: RunningServer, namespace: str) -> None:
    server.kubectl("-n", namespace, "run", "with", "--image=pykube.local/busybox:1.35", "--", "sleep", "1")
    pod = json.loads(server.kubectl("-n", namespace, "get", "pod", "with", "-o", "json").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    [volume] = pod["spec"]["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    ]
    server.kubectl("-n", namespace, "create", "serviceaccount", "quiet")
    server.kubectl("-n", namespace, "patch", "serviceaccount", "quiet", "-p", '{"automountServiceAccountToken":false}')
    server.kubectl(
        "-n",
        namespace,
        "run",
        "without",
        "--image=pykube.local/busybox:1.35",
        '--overrides={"spec":{"serviceAccountName":"quiet"}}',
        "--",
        "sleep",
        "1",
    )
    assert (
        "volumes"
        not in json.loads(server.kubectl("-n", namespace, "get", "pod", "without", "-o", "json").stdout)["spec"]
    )


def test_the_issuer_publishes_its_key(server: RunningServer, namespace: str) -> None:
    status, discovery = server.request("GET", "/.well-known/openid-configuration")
    assert status == 200 and discovery["issuer"] == "https://kubernetes.default.svc.cluster.local"
    assert discovery["jwks_uri"].endswith("/openid/v1/jwks")
    status, jwks = server.request("GET", "/openid/v1/jwks")
    [key] = jwks["keys"]
    token = server.kubectl("-n", namespace, "create", "token", "default").stdout.strip()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert status == 200 and key["kid"] == header["kid"] and key["alg"] == header["alg"] == "ES256"


def test_admins_ask_about_others_with_as_and_subject_access_reviews(
    server: RunningServer, namespace: str, alice: Path
) -> None:
    server.kubectl("-n", namespace, "create", "rolebinding", "carol-view", "--clusterrole=view", "--user=carol")
    assert server.kubectl("-n", namespace, "auth", "can-i", "list", "pods", "--as=carol").stdout.strip() == "yes"
    assert (
        server.kubectl("-n", namespace, "auth", "can-i", "list", "secrets", "--as=carol", check=False).returncode == 1
    )
    assert server.kubectl("-n", namespace, "get", "secrets", "--as=carol", check=False).returncode == 1
    whoami = json.loads(server.kubectl("auth", "whoami", "--as=carol", "--as-group=ops", "-o", "json").stdout)
    assert whoami["status"]["userInfo"]["groups"] == ["ops", "system:authenticated"]
    # a user without the impersonate verb cannot act as another
    refused = as_user(server, alice, "-n", namespace, "get", "pods", "--as=carol")
    assert refused.returncode == 1 and "Error from server (Forbidden)" in refused.stderr
    refused = as_user(server, alice, "-n", namespace, "auth", "can-i", "get", "pods", "--as=carol")
    assert 'users "carol" is forbidden: User "' in refused.stderr
    assert 'cannot impersonate resource "users" in API group "" at the cluster scope' in refused.stderr
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "carol",
            "resourceAttributes": {"namespace": namespace, "verb": "get", "resource": "configmaps"},
        },
    }
    status, answer = server.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert status == 201 and answer["status"]["allowed"] is True
    review["spec"]["resourceAttributes"]["resource"] = "secrets"
    status, answer = server.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    assert status == 201 and answer["status"]["allowed"] is False


def test_who_may_grant_bind_or_escalate(server: RunningServer, namespace: str, alice: Path) -> None:
    """``bind`` on a role lets a user bind it without holding its permissions; ``escalate`` lets
    them write roles beyond their own, as in Kubernetes."""
    name = as_user(server, alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    server.kubectl(
        "-n", namespace, "create", "role", "manage-bindings", "--verb=create,get,list", "--resource=rolebindings,roles"
    )
    server.kubectl(
        "-n", namespace, "create", "rolebinding", "alice-manages", "--role=manage-bindings", f"--user={name}"
    )
    server.kubectl("-n", namespace, "create", "role", "deleter", "--verb=delete", "--resource=pods")
    refused = as_user(server, alice, "-n", namespace, "create", "rolebinding", "b1", "--role=deleter", "--user=bob")
    assert "not currently held" in refused.stderr
    server.kubectl(
        "-n", namespace, "create", "role", "may-bind", "--verb=bind", "--resource=roles", "--resource-name=deleter"
    )
    server.kubectl("-n", namespace, "create", "rolebinding", "alice-binds", "--role=may-bind", f"--user={name}")
    allowed = as_user(server, alice, "-n", namespace, "create", "rolebinding", "b1", "--role=deleter", "--user=bob")
    assert allowed.returncode == 0, allowed.stderr
    assert (
        "not currently held"
        in as_user(server, alice, "-n", namespace, "create", "role", "big", "--verb=*", "--resource=secrets").stderr
    )
    server.kubectl("-n", namespace, "create", "role", "may-escalate", "--verb=escalate", "--resource=roles")
    server.kubectl("-n", namespace, "create", "rolebinding", "alice-escalates", "--role=may-escalate", f"--user={name}")
    escalated = as_user(server, alice, "-n", namespace, "create", "role", "big", "--verb=*", "--resource=secrets")
    assert escalated.returncode == 0, escalated.stderr


def test_a_labelled_cluster_role_extends_the_aggregated_ones(server: RunningServer, namespace: str) -> None:
    """A CRD's installer adds its resources to ``view`` with a labelled ClusterRole; the aggregation
    controller folds them in, and takes them out when that role goes."""
    role = f"widgets-view-{namespace}"
    server.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
                "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}],
            }
        ),
    )
    try:
        server.kubectl("-n", namespace, "create", "rolebinding", "team-view", "--clusterrole=view", "--group=team-a")

        def can_list_widgets() -> bool:
            # kubectl can-i cannot name a group its discovery does not know, so ask as an admin would
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": "someone",
                    "groups": ["team-a"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": "list",
                        "group": "example.com",
                        "resource": "widgets",
                    },
                },
            }
            status, answer = server.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
            assert status == 201, answer
            return bool(answer["status"]["allowed"])

        wait_for(can_list_widgets, "view (and so edit and admin) to aggregate the widgets role")
        edit = server.kubectl("get", "clusterrole", "edit", "-o", "json").stdout
        assert "widgets" in edit  # edit aggregates view
    finally:
        server.kubectl("delete", "clusterrole", role)
    wait_for(lambda: not can_list_widgets(), "the widgets rules to leave view")


def test_discovery_lists_the_rbac_kinds_and_the_reviews(server: RunningServer) -> None:
    listed = {
        line.split()[0]: line.split()[-2:]
        for line in server.kubectl("api-resources", "--no-headers", "-o", "wide").stdout.splitlines()
    }
    for resource in ("roles", "rolebindings", "clusterroles", "clusterrolebindings"):
        assert resource in listed
    for review in (
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "subjectaccessreviews",
        "localsubjectaccessreviews",
        "selfsubjectreviews",
        "tokenreviews",
    ):
        assert listed[review][-1] == "create", listed[review]


def test_a_node_gets_tokens_only_for_its_own_pods(server: RunningServer, namespace: str, tmp_path: Path) -> None:
    node = f"rbac-node-{os.urandom(2).hex()}"
    kubelet = mint(server, tmp_path, f"system:node:{node}", "system:nodes")
    for name, on in (("mine", node), ("theirs", "elsewhere")):
        server.kubectl(
            "-n",
            namespace,
            "create",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name},
                    "spec": {"nodeName": on, "containers": [{"name": "c", "image": "pykube.local/busybox:1.35"}]},
                }
            ),
        )
    mine = as_user(
        server,
        kubelet,
        "-n",
        namespace,
        "create",
        "token",
        "default",
        "--bound-object-kind=Pod",
        "--bound-object-name=mine",
    )
    assert mine.returncode == 0, mine.stderr
    assert claims_of(mine.stdout.strip())["kubernetes.io"]["pod"]["name"] == "mine"
    for args in (("--bound-object-kind=Pod", "--bound-object-name=theirs"), ()):
        refused = as_user(server, kubelet, "-n", namespace, "create", "token", "default", *args)
        assert refused.returncode == 1
        assert (
            f'serviceaccounts "default" is forbidden: User "system:node:{node}" cannot create resource '
            f'"serviceaccounts/token" in API group "" in the namespace "{namespace}": a node may only request '
            "tokens for the service accounts of pods bound to it"
        ) in refused.stderr


def test_a_binding_written_through_one_server_governs_another(tmp_path: Path) -> None:
    """Servers sharing a PostgreSQL store each keep their RBAC policy from the store's events, so a
    RoleBinding created through one is enforced by the other (asked as an impersonating admin)."""

    async def scenario() -> None:
        async with fresh_postgres_database(postgres_url()) as url:
            await asyncio.to_thread(two_servers, tmp_path, url)

    def two_servers(tmp_path: Path, url: str) -> None:
        a = start_server(tmp_path / "a", "--datastore", url)
        b = start_server(tmp_path / "b", "--datastore", url, "--token", a.node_token)
        try:
            a.kubectl("create", "namespace", "shared")
            refused = b.kubectl("-n", "shared", "get", "pods", "--as=dana", check=False)
            assert 'User "dana" cannot list resource "pods"' in refused.stderr
            a.kubectl("-n", "shared", "create", "rolebinding", "dana-view", "--clusterrole=view", "--user=dana")
            wait_for(
                lambda: b.kubectl("-n", "shared", "get", "pods", "--as=dana", check=False).returncode == 0,
                "the other server to enforce the new binding",
            )
            a.kubectl("-n", "shared", "delete", "rolebinding", "dana-view")
            wait_for(
                lambda: b.kubectl("-n", "shared", "get", "pods", "--as=dana", check=False).returncode == 1,
                "the other server to drop the binding",
            )
        finally:
            a.stop()
            b.stop()

    asyncio.run(scenario())
