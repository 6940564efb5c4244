"""The ClusterRoles and ClusterRoleBindings every Kubernetes cluster starts with.

As kube-apiserver's bootstrap policy: ``cluster-admin`` for ``system:masters``; the user-facing
``admin``, ``edit`` and ``view`` roles built by aggregation from the ``system:aggregate-to-*`` roles
(so a CRD's installer can extend them with a labelled ClusterRole); and what every authenticated
user may do: discovery, the health and version paths, and asking what they may do
(``kubectl auth can-i``, ``kubectl auth whoami``).
"""

from __future__ import annotations

from typing import Any

from minikube_py.model.apiservices import AUTHENTICATION_CONFIGMAP
from minikube_py.model.rbac import AUTHENTICATED, GROUP, MASTERS, SERVICE_ACCOUNTS_GROUP, UNAUTHENTICATED

Obj = dict[str, Any]

#: kube-apiserver overwrites the default roles on start unless this annotation says "false"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}

_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(verbs: list[str], groups: list[str], resources: list[str]) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(verbs: list[str], urls: list[str]) -> Obj:
    return {"nonResourceURLs": urls, "verbs": verbs}


_CORE_VIEW = [
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "persistentvolumeclaims/status",
    "pods",
    "replicationcontrollers",
    "replicationcontrollers/scale",
    "serviceaccounts",
    "services",
    "services/status",
    "bindings",
    "events",
    "limitranges",
    "namespaces/status",
    "pods/log",
    "pods/status",
    "replicationcontrollers/status",
    "resourcequotas",
    "resourcequotas/status",
    "namespaces",
]
_APPS = [
    "controllerrevisions",
    "daemonsets",
    "daemonsets/status",
    "deployments",
    "deployments/scale",
    "deployments/status",
    "replicasets",
    "replicasets/scale",
    "replicasets/status",
    "statefulsets",
    "statefulsets/scale",
    "statefulsets/status",
]
_BATCH = ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]

_AGGREGATE_TO_VIEW = [
    _rule(_READ, [""], _CORE_VIEW),
    _rule(_READ, ["apps"], _APPS),
    _rule(_READ, ["batch"], _BATCH),
    _rule(_READ, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(_READ, ["networking.k8s.io"], ["ingresses", "ingresses/status"]),
    _rule(_READ, ["coordination.k8s.io"], ["leases"]),
]
_AGGREGATE_TO_EDIT = [
    _rule(
        ["create", "delete", "deletecollection", "patch", "update"],
        [""],
        ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
    ),
    _rule(
        ["get", "list", "watch"],
        [""],
        ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
    ),
    _rule(["impersonate"], [""], ["serviceaccounts"]),
    _rule(["create"], [""], ["serviceaccounts/token"]),
    _rule(
        _WRITE,
        [""],
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
    ),
    _rule(
        _WRITE,
        ["apps"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
    ),
    _rule(_WRITE, ["batch"], ["cronjobs", "jobs"]),
    _rule(_WRITE, ["discovery.k8s.io"], ["endpointslices"]),
    _rule(_WRITE, ["networking.k8s.io"], ["ingresses"]),
    _rule(_WRITE, ["coordination.k8s.io"], ["leases"]),
]
_AGGREGATE_TO_ADMIN = [
    _rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    _rule(_ALL, [GROUP], ["rolebindings", "roles"]),
]


def _cluster_role(
    name: str, rules: list[Obj], *, labels: dict[str, str] | None = None, aggregate_from: str = ""
) -> Obj:
    role: Obj = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**_LABELS, **(labels or {})}, "annotations": {AUTOUPDATE: "true"}},
        "rules": rules,
    }
    if aggregate_from:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{aggregate_from}": "true"}}
            ]
        }
        role["rules"] = []  # the aggregation controller fills them in
    return role


def _cluster_binding(name: str, role: str, groups: list[str]) -> Obj:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(_LABELS), "annotations": {AUTOUPDATE: "true"}},
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": GROUP, "kind": "Group", "name": g} for g in groups],
    }


def _aggregates_to(*roles: str) -> dict[str, str]:
    return {f"rbac.authorization.k8s.io/aggregate-to-{r}": "true" for r in roles}


#: everything, on every resource and path
CLUSTER_ADMIN = _cluster_role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])])

#: Kubernetes' approver role of each signer: ``approve`` on the ``signers`` resource of that name, what
#: the CertificateApproval admission asks of whoever decides a request (bound beside update on
#: ``certificatesigningrequests/approval``)
_SIGNER_APPROVERS = tuple(
    _cluster_role(
        f"system:certificates.k8s.io:{signer.removeprefix('kubernetes.io/')}-approver",
        [{**_rule(["approve"], ["certificates.k8s.io"], ["signers"]), "resourceNames": [signer]}],
    )
    for signer in (
        "kubernetes.io/kube-apiserver-client",
        "kubernetes.io/kube-apiserver-client-kubelet",
        "kubernetes.io/kubelet-serving",
        "kubernetes.io/legacy-unknown",
    )
)

CLUSTER_ROLES: tuple[Obj, ...] = (
    CLUSTER_ADMIN,
    _cluster_role("admin", [], aggregate_from="admin"),
    _cluster_role("edit", [], labels=_aggregates_to("admin"), aggregate_from="edit"),
    _cluster_role("view", [], labels=_aggregates_to("edit"), aggregate_from="view"),
    _cluster_role("system:aggregate-to-admin", _AGGREGATE_TO_ADMIN, labels=_aggregates_to("admin")),
    _cluster_role("system:aggregate-to-edit", _AGGREGATE_TO_EDIT, labels=_aggregates_to("edit")),
    _cluster_role("system:aggregate-to-view", _AGGREGATE_TO_VIEW, labels=_aggregates_to("view")),
    _cluster_role(
        "system:basic-user",
        [
            _rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ],
    ),
    _cluster_role(
        "system:discovery",
        [
            _urls(
                ["get"],
                [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )
        ],
    ),
    _cluster_role(
        "system:public-info-viewer", [_urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])]
    ),
    _cluster_role(
        "system:service-account-issuer-discovery",
        [
            _urls(
                ["get"],
                [
                    "/.well-known/openid-configuration",
                    "/.well-known/openid-configuration/",
                    "/openid/v1/jwks",
                    "/openid/v1/jwks/",
                ],
            )
        ],
    ),
    # what an extension API server asks of the API server to authenticate and authorize its own
    # callers (delegated authentication and authorization); its manifest binds it
    _cluster_role(
        "system:auth-delegator",
        [
            _rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            _rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        ],
    ),
    *_SIGNER_APPROVERS,
)

#: (namespace, Role) of the namespaced defaults: an extension API server reads how to authenticate
#: the API server's proxied requests from kube-system's ``extension-apiserver-authentication``
#: ConfigMap, through this Role (its manifest binds it)
ROLES: tuple[tuple[str, Obj], ...] = (
    (
        "kube-system",
        {
            **_cluster_role(
                "extension-apiserver-authentication-reader",
                [
                    {
                        **_rule(["get", "list", "watch"], [""], ["configmaps"]),
                        "resourceNames": [AUTHENTICATION_CONFIGMAP],
                    }
                ],
            ),
            "kind": "Role",
        },
    ),
)

CLUSTER_ROLE_BINDINGS: tuple[Obj, ...] = (
    _cluster_binding("cluster-admin", "cluster-admin", [MASTERS]),
    _cluster_binding("system:basic-user", "system:basic-user", [AUTHENTICATED]),
    _cluster_binding("system:discovery", "system:discovery", [AUTHENTICATED]),
    _cluster_binding("system:public-info-viewer", "system:public-info-viewer", [AUTHENTICATED, UNAUTHENTICATED]),
    _cluster_binding(
        "system:service-account-issuer-discovery", "system:service-account-issuer-discovery", [SERVICE_ACCOUNTS_GROUP]
    ),
)
