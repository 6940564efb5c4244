"""Resource names and what Kubernetes allows of each (``pkg/apis/core/helper``'s rules).

A container may ask for the standard compute resources (``cpu``, ``memory``, ``ephemeral-storage``),
hugepages of a size (``hugepages-2Mi``) and extended resources: a name with a domain outside
``kubernetes.io`` that a node advertises in its capacity (``example.com/dongle``, ``nvidia.com/gpu``).
Extended resources and hugepages cannot be overcommitted, so a container's request must equal its
limit; extended resources come in whole units. The validation of pod specs, the scheduler's fit and
the node's allocatable all go by these rules.
"""

from __future__ import annotations

from minikube_py.model.selectors import label_key_errors

#: what a container may request without a domain
STANDARD_CONTAINER = frozenset({"cpu", "memory", "ephemeral-storage"})
HUGEPAGES_PREFIX = "hugepages-"
#: the standard names of any resource list (a quota's too): containers' and quota's counts
STANDARD = (
    STANDARD_CONTAINER
    | {f"{bag}.{name}" for bag in ("requests", "limits") for name in ("cpu", "memory", "ephemeral-storage")}
    | {
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
        "storage",
        "requests.storage",
    }
)
#: what a quota may limit without a domain (``storage`` is a volume's, not a quota's)
_STANDARD_QUOTA = STANDARD - {"storage"}
#: the standard names counted in whole units
_INTEGER = frozenset(
    {
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    }
)
#: the prefix a quota gives a requested resource; an extended resource's name must stay valid with it
_REQUESTS_PREFIX = "requests."


def is_hugepages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX)


def _is_quota_hugepages(name: str) -> bool:
    """Hugepages as a quota names them: by size, or by request of a size."""
    return is_hugepages(name) or name.startswith(_REQUESTS_PREFIX + HUGEPAGES_PREFIX)


def is_native(name: str) -> bool:
    """A resource Kubernetes itself defines: no domain, or a ``kubernetes.io`` one."""
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    """A resource a node advertises for a device or anything else Kubernetes does not know."""
    return (
        not is_native(name) and not name.startswith(_REQUESTS_PREFIX) and not label_key_errors(_REQUESTS_PREFIX + name)
    )


def overcommit_allowed(name: str) -> bool:
    """Whether a container may request less than its limit of ``name``."""
    return is_native(name) and not is_hugepages(name)


def is_integer(name: str) -> bool:
    """Whether quantities of ``name`` must be whole numbers."""
    return name in _INTEGER or is_extended(name)


def _name_problems(name: str) -> list[str]:
    """Why ``name`` is no resource name at all: not a qualified name, or without a domain and not
    one Kubernetes defines."""
    problems = list(label_key_errors(name))
    if "/" not in name and name not in STANDARD and not _is_quota_hugepages(name):
        problems.append("must be a standard resource type or fully qualified")
    return problems


def container_name_problems(name: str) -> list[str]:
    """Why ``name`` is not a resource a container may request or be limited in (kube-apiserver's
    messages, in its order); empty when it is one."""
    problems = _name_problems(name)
    if "/" not in name:
        if name not in STANDARD_CONTAINER and not is_hugepages(name):
            problems.append("must be a standard resource for containers")
    elif not is_native(name) and not is_extended(name):
        problems.append("doesn't follow extended resource name standard")
    return problems


def quota_name_problems(name: str) -> list[str]:
    """Why ``name`` is not a resource a ResourceQuota may limit (kube-apiserver's messages); a name
    with a domain (``count/deployments.apps``, ``requests.nvidia.com/gpu``) only has to be qualified."""
    problems = _name_problems(name)
    if "/" not in name and name not in _STANDARD_QUOTA and not _is_quota_hugepages(name):
        problems.append("must be a standard resource for quota")
    return problems
