"""kubectl's first contact: version, discovery, cluster-info, raw GETs and the bootstrap objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubectl_helpers import header, row, table

from minikube_py.testing import RunningServer

pytestmark = pytest.mark.kubectl

#: every kind of the issue with its plural, short name, API version and scope as kubectl lists them
KINDS = [
    ("namespaces", "ns", "v1", "false", "Namespace"),
    ("pods", "po", "v1", "true", "Pod"),
    ("services", "svc", "v1", "true", "Service"),
    ("endpoints", "ep", "v1", "true", "Endpoints"),
    ("replicationcontrollers", "rc", "v1", "true", "ReplicationController"),
    ("nodes", "no", "v1", "false", "Node"),
    ("secrets", "", "v1", "true", "Secret"),
    ("configmaps", "cm", "v1", "true", "ConfigMap"),
    ("events", "ev", "v1", "true", "Event"),
    ("serviceaccounts", "sa", "v1", "true", "ServiceAccount"),
    ("persistentvolumes", "pv", "v1", "false", "PersistentVolume"),
    ("persistentvolumeclaims", "pvc", "v1", "true", "PersistentVolumeClaim"),
    ("deployments", "deploy", "apps/v1", "true", "Deployment"),
    ("replicasets", "rs", "apps/v1", "true", "ReplicaSet"),
    ("daemonsets", "ds", "apps/v1", "true", "DaemonSet"),
    ("statefulsets", "sts", "apps/v1", "true", "StatefulSet"),
    ("controllerrevisions", "", "apps/v1", "true", "ControllerRevision"),
    ("jobs", "", "batch/v1", "true", "Job"),
    ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
    ("leases", "", "coordination.k8s.io/v1", "true", "Lease"),
    ("endpointslices", "", "discovery.k8s.io/v1", "true", "EndpointSlice"),
    ("ingresses", "ing", "networking.k8s.io/v1", "true", "Ingress"),
    ("ingressclasses", "", "networking.k8s.io/v1", "false", "IngressClass"),
    ("certificatesigningrequests", "csr", "certificates.k8s.io/v1", "false", "CertificateSigningRequest"),
    ("priorityclasses", "pc", "scheduling.k8s.io/v1", "false", "PriorityClass"),
    ("storageclasses", "sc", "storage.k8s.io/v1", "false", "StorageClass"),
]


def test_version_reports_server_1_32(server: RunningServer) -> None:
    out = server.kubectl("version").stdout
    assert "Client Version: v1.32" in out
    server_line = next(line for line in out.splitlines() if line.startswith("Server Version:"))
    assert server_line.startswith("Server Version: v1.32.")
    assert "WARNING" not in out + server.kubectl("version").stderr


def test_api_resources_lists_every_kind(server: RunningServer) -> None:
    out = server.kubectl("api-resources").stdout
    assert header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    for plural, short, api_version, namespaced, kind in KINDS:
        assert row(out, plural) == [plural, short, api_version, namespaced, kind]
    # subresources are hidden
    assert not [cells for cells in table(out) if "/" in cells[0]]


def test_api_resources_wide_shows_verbs_and_categories(server: RunningServer) -> None:
    out = server.kubectl("api-resources", "-o", "wide").stdout
    assert header(out)[-2:] == ["VERBS", "CATEGORIES"]
    pods = row(out, "pods")
    assert pods[-2] == "create,delete,deletecollection,get,list,patch,update,watch"
    assert "all" in pods[-1]


def test_api_resources_filters_by_group(server: RunningServer) -> None:
    out = server.kubectl("api-resources", "--api-group=apps", "-o", "name").stdout.split()
    assert sorted(out) == [
        "controllerrevisions.apps",
        "daemonsets.apps",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
    ]


def test_api_versions(server: RunningServer) -> None:
    out = server.kubectl("api-versions").stdout.split()
    for gv in ("v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "events.k8s.io/v1"):
        assert gv in out


def test_events_are_listed_in_both_groups_with_the_core_one_first(server: RunningServer) -> None:
    """As kube-apiserver lists them: ``ev`` resolves to the core group's, which comes first."""
    rows = [cells for cells in table(server.kubectl("api-resources").stdout)[1:] if cells[0] == "events"]
    assert rows == [["events", "ev", "v1", "true", "Event"], ["events", "ev", "events.k8s.io/v1", "true", "Event"]]


def test_get_componentstatuses_shows_the_control_plane_healthy(server: RunningServer) -> None:
    """``kubectl get cs``, deprecated but still everyone's first look at a cluster: the scheduler, the
    controller manager and the datastore (in etcd's place), with kube-apiserver's warning."""
    done = server.kubectl("get", "cs")
    assert header(done.stdout) == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    assert sorted(table(done.stdout)[1:]) == [
        ["controller-manager", "Healthy", "ok", ""],
        ["etcd-0", "Healthy", "ok", ""],
        ["scheduler", "Healthy", "ok", ""],
    ]
    assert done.stderr == "Warning: v1 ComponentStatus is deprecated in v1.19+\n"
    assert row(server.kubectl("api-resources").stdout, "componentstatuses") == [
        "componentstatuses",
        "cs",
        "v1",
        "false",
        "ComponentStatus",
    ]
    one = json.loads(server.kubectl("get", "componentstatus", "etcd-0", "-o", "json").stdout)
    assert one["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
    picked = server.kubectl("get", "cs", "--field-selector", "metadata.name=scheduler", "-o", "name").stdout
    assert picked.split() == ["componentstatus/scheduler"]
    missing = server.kubectl("get", "cs", "apiserver", check=False)
    assert missing.returncode == 1 and "Error from server: Component not found: apiserver" in missing.stderr
    refused = server.kubectl("delete", "cs", "scheduler", check=False)
    assert refused.returncode == 1 and "MethodNotAllowed" in refused.stderr


def test_cluster_info(server: RunningServer) -> None:
    out = server.kubectl("cluster-info").stdout
    assert f"Kubernetes control plane is running at {server.url}" in out


def test_get_raw_version(server: RunningServer) -> None:
    info = json.loads(server.kubectl("get", "--raw", "/version").stdout)
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["gitVersion"].startswith("v1.32.")


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_get_raw_health(server: RunningServer, path: str) -> None:
    assert server.kubectl("get", "--raw", path).stdout.strip() == "ok"


def test_get_raw_readyz_verbose_lists_the_checks(server: RunningServer) -> None:
    """kube-apiserver's format, which scripts and load balancers read; one check can be asked alone."""
    assert server.kubectl("get", "--raw", "/readyz?verbose").stdout == (
        "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap-controller ok\nreadyz check passed\n"
    )
    assert server.kubectl("get", "--raw", "/readyz/etcd").stdout == "ok"
    assert server.kubectl("get", "--raw", "/livez?verbose").stdout == "[+]ping ok\nlivez check passed\n"
    excluded = server.kubectl("get", "--raw", "/readyz?verbose&exclude=etcd").stdout
    assert "[+]etcd excluded: ok" in excluded


def test_get_raw_namespace_list(server: RunningServer) -> None:
    listing = json.loads(server.kubectl("get", "--raw", "/api/v1/namespaces").stdout)
    assert listing["kind"] == "NamespaceList"
    assert listing["metadata"]["resourceVersion"].isdigit()
    names = {item["metadata"]["name"] for item in listing["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_get_raw_unknown_path_is_not_found(server: RunningServer) -> None:
    done = server.kubectl("get", "--raw", "/api/v1/widgets", check=False)
    assert done.returncode == 1
    assert "NotFound" in done.stderr


def test_bootstrap_namespaces_are_active(server: RunningServer) -> None:
    out = server.kubectl("get", "namespaces").stdout
    assert header(out) == ["NAME", "STATUS", "AGE"]
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert row(out, name)[1] == "Active"


def test_kubernetes_service_and_endpoints(server: RunningServer) -> None:
    svc = row(server.kubectl("get", "svc", "kubernetes", "-n", "default").stdout, "kubernetes")
    assert svc[1:5] == ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    ep = json.loads(server.kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert ep["subsets"][0]["addresses"][0]["ip"]
    assert ep["subsets"][0]["ports"][0]["port"] == int(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(("plural", "_short", "api_version", "_namespaced", "kind"), KINDS)
def test_explain_describes_every_kind(
    server: RunningServer, plural: str, _short: str, api_version: str, _namespaced: str, kind: str
) -> None:
    out = server.kubectl("explain", plural, f"--api-version={api_version}").stdout
    assert f"KIND:       {kind}" in out and f"VERSION:    {api_version.rpartition('/')[2]}" in out
    assert "metadata\t<ObjectMeta>" in out and "apiVersion\t<string>" in out


@pytest.mark.parametrize(
    ("resource", "kind", "field"),
    [
        ("tokenreviews", "TokenReview", "spec\t<TokenReviewSpec> -required-"),
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", "spec\t<SelfSubjectAccessReviewSpec> -required-"),
        ("subjectaccessreviews", "SubjectAccessReview", "status\t<SubjectAccessReviewStatus>"),
        ("bindings", "Binding", "target\t<ObjectReference> -required-"),
        ("componentstatuses", "ComponentStatus", "conditions\t<[]ComponentCondition>"),
    ],
)
def test_explain_describes_the_kinds_that_are_never_stored(
    server: RunningServer, resource: str, kind: str, field: str
) -> None:
    """Reviews, Bindings and ComponentStatus have no objects in the store, but kubectl explains them."""
    out = server.kubectl("explain", resource).stdout
    assert f"KIND:       {kind}" in out and field in out


def test_explain_walks_into_fields_with_their_types_and_required_marks(server: RunningServer) -> None:
    ports = server.kubectl("explain", "pods.spec.containers.ports").stdout
    assert "FIELD: ports <[]ContainerPort>" in ports
    assert "containerPort\t<integer> -required-" in ports and "protocol\t<string>" in ports
    assert "Number of port to expose on the pod's IP address." in ports
    surge = server.kubectl("explain", "deployments.spec.strategy.rollingUpdate.maxSurge").stdout
    assert "FIELD: maxSurge <IntOrString>" in surge
    assert "error: field" in server.kubectl("explain", "pods.spec.bogus", check=False).stderr


def test_explain_offers_only_the_fields_of_the_served_release(server: RunningServer) -> None:
    """The schemas are 1.32's: a pod-spec field of a later release is not offered."""
    spec = server.kubectl("explain", "pods.spec").stdout
    assert "containers\t<[]Container> -required-" in spec and "hostUsers\t<boolean>" in spec
    assert "hostnameOverride" not in spec


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_kubectl_learns_every_resource_from_two_aggregated_documents(server: RunningServer, tmp_path: Path) -> None:
    """kubectl asks ``/api`` and ``/apis`` for aggregated discovery first; answered so, it makes no
    request per group version (a fresh cache shows it: a cached one makes none at all)."""
    env = {"KUBECACHEDIR": str(tmp_path / "cache")}
    done = server.kubectl("api-resources", "-v=6", env=env)
    requests = [line.split(" GET ")[1].split("?")[0] for line in done.stderr.splitlines() if " GET " in line]
    assert [r.removeprefix(server.url) for r in requests] == ["/api", "/apis"]
    assert row(done.stdout, "certificatesigningrequests")[2] == "certificates.k8s.io/v1"
    assert "deployments/scale" not in done.stdout


def test_the_aggregated_documents_hold_what_the_group_lists_hold(server: RunningServer) -> None:
    """Every group version's resources and subresources, with the same kinds, scopes, names and verbs."""
    for root in ("/api", "/apis"):
        _, headers, doc = server.exchange("GET", root, headers={"Accept": f"{AGGREGATED},application/json"})
        assert headers["Content-Type"] == AGGREGATED
        _, plain_headers, _ = server.exchange("GET", root, headers={"Accept": "application/json"})
        assert (
            plain_headers["Content-Type"].startswith("application/json")
            and "apidiscovery" not in plain_headers["Content-Type"]
        )
        for group in doc["items"]:
            for version in group["versions"]:
                name = group["metadata"]["name"]
                path = f"/apis/{name}/{version['version']}" if name else f"/api/{version['version']}"
                _, listing = server.request("GET", path)
                expected = {
                    (r["name"], r["kind"], r["namespaced"], tuple(r["verbs"]), r.get("group"), r.get("version"))
                    for r in listing["resources"]
                }
                found = set()
                for r in version["resources"]:
                    kind = r["responseKind"]
                    found.add((r["resource"], kind["kind"], r["scope"] == "Namespaced", tuple(r["verbs"]), None, None))
                    for sub in r.get("subresources", []):
                        sub_kind = sub["responseKind"]
                        moved = (sub_kind["group"], sub_kind["version"]) != (name, version["version"])
                        found.add(
                            (
                                f"{r['resource']}/{sub['subresource']}",
                                sub_kind["kind"],
                                r["scope"] == "Namespaced",
                                tuple(sub["verbs"]),
                                sub_kind["group"] if moved else None,
                                sub_kind["version"] if moved else None,
                            )
                        )
                assert found == expected, path
