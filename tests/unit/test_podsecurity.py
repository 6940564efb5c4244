"""The Pod Security Standards' checks, one test each, with Kubernetes' wording; the namespace labels'
policy; and the admission's decision for pods and workload templates."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.model import podsecurity as ps

Obj = dict[str, Any]


def containers(*specs: Obj) -> list[Obj]:
    """Containers named a, b, c... with the given securityContexts."""
    return [
        {"name": chr(ord("a") + i), "image": "i", **({"securityContext": s} if s else {})} for i, s in enumerate(specs)
    ]


def violation(check: ps.Check, spec: Obj, meta: Obj | None = None) -> str | None:
    found = check(meta or {}, spec)
    return None if found is None else str(found)


def test_host_process() -> None:
    spec = {
        "securityContext": {"windowsOptions": {"hostProcess": True}},
        "containers": containers(
            {}, {"windowsOptions": {"hostProcess": False}}, {"windowsOptions": {"hostProcess": True}}
        ),
    }
    assert violation(ps.check_host_process, spec) == (
        'hostProcess (pod and container "c" must not set securityContext.windowsOptions.hostProcess=true)'
    )
    assert violation(ps.check_host_process, {"containers": containers({})}) is None


def test_host_namespaces() -> None:
    spec = {"hostNetwork": True, "hostIPC": True, "hostPID": True}
    assert violation(ps.check_host_namespaces, spec) == "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"
    assert violation(ps.check_host_namespaces, {"hostNetwork": False}) is None


def test_privileged() -> None:
    spec = {"initContainers": containers({"privileged": True}), "containers": [{"name": "z", "securityContext": {}}]}
    assert violation(ps.check_privileged, spec) == (
        'privileged (container "a" must not set securityContext.privileged=true)'
    )


def test_capabilities_baseline() -> None:
    spec = {
        "containers": containers(
            {"capabilities": {"add": ["FOO", "BAR"]}}, {"capabilities": {"add": ["BAR", "BAZ", "CHOWN"]}}
        )
    }
    assert violation(ps.check_capabilities_baseline, spec) == (
        'non-default capabilities (containers "a", "b" must not include "BAR", "BAZ", "FOO" in '
        "securityContext.capabilities.add)"
    )
    assert (
        violation(ps.check_capabilities_baseline, {"containers": containers({"capabilities": {"add": ["KILL"]}})})
        is None
    )


def test_host_path_volumes() -> None:
    spec = {
        "volumes": [
            {"name": "a", "hostPath": {"path": "/"}},
            {"name": "b", "hostPath": {}},
            {"name": "c", "emptyDir": {}},
        ]
    }
    assert violation(ps.check_host_path_volumes, spec) == 'hostPath volumes (volumes "a", "b")'
    assert violation(ps.check_host_path_volumes, {"volumes": [spec["volumes"][0]]}) == 'hostPath volumes (volume "a")'


def test_host_ports() -> None:
    spec = {
        "containers": [
            {"name": "a", "ports": [{"containerPort": 1}]},
            {"name": "b", "ports": [{"containerPort": 1, "hostPort": 10}, {"containerPort": 2, "hostPort": 20}]},
            {"name": "c", "ports": [{"containerPort": 1, "hostPort": 10}, {"containerPort": 3, "hostPort": 30}]},
        ]
    }
    assert violation(ps.check_host_ports, spec) == 'hostPort (containers "b", "c" use hostPorts 10, 20, 30)'
    one = {"containers": [spec["containers"][1] | {"ports": [{"containerPort": 2, "hostPort": 20}]}]}
    assert violation(ps.check_host_ports, one) == 'hostPort (container "b" uses hostPort 20)'


def test_apparmor() -> None:
    pod = {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}
    assert (
        violation(ps.check_apparmor, pod)
        == 'forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")'
    )
    container = {"containers": containers({"appArmorProfile": {"type": "Unconfined"}})}
    assert violation(ps.check_apparmor, container) == (
        'forbidden AppArmor profile (container "a" must not set AppArmor profile type to "Unconfined")'
    )
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    meta = {
        "annotations": {
            prefix + "a": "runtime/default",
            prefix + "b": "localhost/foo",
            prefix + "e": "unconfined",
            prefix + "f": "unknown",
            "other": "x",
        }
    }
    assert violation(ps.check_apparmor, {}, meta) == (
        "forbidden AppArmor profiles (annotations must not set AppArmor profile type to "
        f'"{prefix}e="unconfined"", "{prefix}f="unknown"")'
    )
    assert violation(ps.check_apparmor, {"securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}}}) is None


def test_selinux() -> None:
    spec = {
        "securityContext": {"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}},
        "containers": containers(
            {"seLinuxOptions": {"type": "container_t"}},
            {"seLinuxOptions": {"type": "container_engine_t"}},
            {"seLinuxOptions": {"type": "bar"}},
            {"seLinuxOptions": {"user": "bar"}},
        ),
    }
    assert violation(ps.check_selinux, spec) == (
        'seLinuxOptions (pod and containers "c", "d" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; '
        "user may not be set; role may not be set)"
    )
    assert violation(ps.check_selinux, {"securityContext": {"seLinuxOptions": {"type": "bad"}}}) == (
        'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "bad")'
    )


def test_proc_mount() -> None:
    spec = {"containers": containers({}, {"procMount": "Default"}, {"procMount": "Unmasked"}, {"procMount": "other"})}
    assert violation(ps.check_proc_mount, spec) == (
        'procMount (containers "c", "d" must not set securityContext.procMount to "Unmasked", "other")'
    )


def test_seccomp_baseline() -> None:
    spec = {
        "securityContext": {"seccompProfile": {"type": "Unconfined"}},
        "containers": containers(
            {}, {"seccompProfile": {"type": "Unconfined"}}, {"seccompProfile": {"type": "RuntimeDefault"}}
        ),
    }
    assert violation(ps.check_seccomp_baseline, spec) == (
        'seccompProfile (pod and container "b" must not set securityContext.seccompProfile.type to "Unconfined")'
    )
    assert violation(ps.check_seccomp_baseline, {"containers": containers({})}) is None  # unset is fine for baseline


def test_sysctls() -> None:
    spec = {"securityContext": {"sysctls": [{"name": "a"}, {"name": "net.ipv4.tcp_syncookies"}, {"name": "b"}]}}
    assert violation(ps.check_sysctls, spec) == "forbidden sysctls (a, b)"
    assert violation(ps.check_sysctls, {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem"}]}}) is None


def test_allow_privilege_escalation() -> None:
    spec = {"containers": containers({}, {"allowPrivilegeEscalation": True}, {"allowPrivilegeEscalation": False})}
    assert violation(ps.check_privilege_escalation, spec) == (
        'allowPrivilegeEscalation != false (containers "a", "b" must set securityContext.allowPrivilegeEscalation=false)'
    )
    assert violation(ps.check_privilege_escalation, {**spec, "os": {"name": "windows"}}) is None


def test_capabilities_restricted() -> None:
    spec = {
        "containers": containers(
            {"capabilities": {"add": ["FOO", "BAR"]}},
            {"capabilities": {"add": ["BAR", "BAZ"]}},
            {"capabilities": {"add": ["NET_BIND_SERVICE", "CHOWN"], "drop": ["ALL", "FOO"]}},
        )
    }
    assert violation(ps.check_capabilities_restricted, spec) == (
        'unrestricted capabilities (containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; '
        'containers "a", "b", "c" must not include "BAR", "BAZ", "CHOWN", "FOO" in securityContext.capabilities.add)'
    )
    good = {"containers": containers({"capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}})}
    assert violation(ps.check_capabilities_restricted, good) is None


def test_restricted_volumes() -> None:
    spec = {
        "volumes": [
            {"name": "a1", "emptyDir": {}},
            {"name": "a2", "projected": {"sources": []}},
            {"name": "b1", "hostPath": {"path": "/"}},
            {"name": "b2", "nfs": {}},
            {"name": "c1"},
        ]
    }
    assert violation(ps.check_restricted_volumes, spec) == (
        'restricted volume types (volumes "b1", "b2", "c1" use restricted volume types "hostPath", "nfs", "unknown")'
    )
    one = {"volumes": [{"name": "b1", "hostPath": {"path": "/"}}]}
    assert violation(ps.check_restricted_volumes, one) == (
        'restricted volume types (volume "b1" uses restricted volume type "hostPath")'
    )


@pytest.mark.parametrize(
    ("pod", "specs", "detail"),
    [
        (None, [{}], 'pod or container "a" must set securityContext.runAsNonRoot=true'),
        ({"runAsNonRoot": False}, [{}], "pod must not set securityContext.runAsNonRoot=false"),
        (
            {"runAsNonRoot": True},
            [{}, {"runAsNonRoot": False}, {"runAsNonRoot": False}, {"runAsNonRoot": True}],
            'containers "b", "c" must not set securityContext.runAsNonRoot=false',
        ),
        (
            None,
            [{}, {}, {"runAsNonRoot": True}],
            'pod or containers "a", "b" must set securityContext.runAsNonRoot=true',
        ),
    ],
)
def test_run_as_non_root(pod: Obj | None, specs: list[Obj], detail: str) -> None:
    spec = {"containers": containers(*specs), **({"securityContext": pod} if pod else {})}
    assert violation(ps.check_run_as_non_root, spec) == f"runAsNonRoot != true ({detail})"
    assert (
        violation(ps.check_run_as_non_root, {"securityContext": {"runAsNonRoot": True}, "containers": containers({})})
        is None
    )


def test_run_as_user() -> None:
    spec = {"securityContext": {"runAsUser": 0}, "containers": containers({}, {"runAsUser": 0}, {"runAsUser": 1})}
    assert violation(ps.check_run_as_user, spec) == 'runAsUser=0 (pod and container "b" must not set runAsUser=0)'
    assert (
        violation(ps.check_run_as_user, {"securityContext": {"runAsUser": 1000}, "containers": containers({})}) is None
    )


@pytest.mark.parametrize(
    ("pod", "specs", "detail"),
    [
        (
            None,
            [{}],
            'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
        ({"type": "Unconfined"}, [{}], 'pod must not set securityContext.seccompProfile.type to "Unconfined"'),
        (
            {"type": "RuntimeDefault"},
            [{}, {"seccompProfile": {"type": "Unconfined"}}],
            'container "b" must not set securityContext.seccompProfile.type to "Unconfined"',
        ),
        (
            None,
            [{}, {"seccompProfile": {"type": "Localhost"}}, {"seccompProfile": {"type": "Unconfined"}}],
            'container "c" must not set securityContext.seccompProfile.type to "Unconfined"; '
            'pod or container "a" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
    ],
)
def test_seccomp_restricted(pod: Obj | None, specs: list[Obj], detail: str) -> None:
    spec = {"containers": containers(*specs), **({"securityContext": {"seccompProfile": pod}} if pod else {})}
    assert violation(ps.check_seccomp_restricted, spec) == f"seccompProfile ({detail})"


RESTRICTED_OK: Obj = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": containers({"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}),
}


def test_levels_in_kubernetes_order() -> None:
    """Baseline checks first, then restricted ones, each group by name (as kube-apiserver lists them)."""
    spec = {"hostNetwork": True, "containers": [{"name": "c", "securityContext": {"privileged": True, "runAsUser": 0}}]}
    assert ps.describe(ps.check_pod(ps.RESTRICTED, {}, spec)) == (
        "host namespaces (hostNetwork=true), "
        'privileged (container "c" must not set securityContext.privileged=true), '
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'runAsUser=0 (container "c" must not set runAsUser=0), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
    )
    assert [str(v) for v in ps.check_pod(ps.BASELINE, {}, spec)] == [
        "host namespaces (hostNetwork=true)",
        'privileged (container "c" must not set securityContext.privileged=true)',
    ]
    assert ps.check_pod(ps.PRIVILEGED, {}, spec) == []
    assert ps.check_pod(ps.RESTRICTED, {}, RESTRICTED_OK) == []


def test_namespace_labels_give_the_policy() -> None:
    policy = ps.namespace_policy(
        {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "v1.29",
            "pod-security.kubernetes.io/warn": "restricted",
        }
    )
    assert (str(policy.enforce), str(policy.audit), str(policy.warn)) == (
        "baseline:v1.29",
        "privileged:latest",
        "restricted:latest",
    )
    # an enforced level is warned about too, unless the warn level is set
    enforced = ps.namespace_policy(
        {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v1.30"}
    )
    assert str(enforced.warn) == "baseline:v1.30"
    told = ps.namespace_policy(
        {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "privileged"}
    )
    assert str(told.warn) == "privileged:latest"
    # an unknown level is the strictest, an unknown version the latest
    typo = ps.namespace_policy(
        {"pod-security.kubernetes.io/enforce": "basline", "pod-security.kubernetes.io/enforce-version": "1.29"}
    )
    assert str(typo.enforce) == "restricted:latest"


ENFORCED = ("pod-security.kubernetes.io/enforce-policy", "restricted:latest")


def test_a_pod_is_refused_by_enforce_and_warned_by_warn() -> None:
    root = {"containers": [{"name": "c", "image": "i"}]}
    policy = ps.namespace_policy({"pod-security.kubernetes.io/enforce": "restricted"})
    decision = ps.admit_pod(policy, {}, root)
    assert decision.refusal is not None and decision.refusal.startswith(
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), "
    )
    assert decision.warnings == () and decision.audit == (ENFORCED,)
    assert ps.admit_pod(policy, {}, RESTRICTED_OK) == ps.Decision(audit=(ENFORCED,))
    privileged = {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}
    warned = ps.admit_pod(ps.namespace_policy({"pod-security.kubernetes.io/warn": "baseline"}), {}, privileged)
    assert warned.refusal is None
    assert warned.warnings == (
        'would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)',
    )
    # the same policy enforced and warned about says it once, as a refusal
    both = ps.namespace_policy(
        {"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "baseline"}
    )
    assert ps.admit_pod(both, {}, privileged).warnings == ()


def test_workload_templates_are_only_warned_about() -> None:
    template = {
        "metadata": {"labels": {"a": "b"}},
        "spec": {"hostPID": True, "containers": [{"name": "c", "image": "i"}]},
    }
    cronjob = {"spec": {"jobTemplate": {"spec": {"template": template}}}}
    assert ps.pod_template("batch", "CronJob", cronjob) is template
    assert ps.pod_template("apps", "Deployment", {"spec": {"template": template}}) is template
    assert ps.pod_template("", "PodTemplate", {"template": template}) is template
    assert ps.pod_template("", "ConfigMap", {"data": {}}) is None
    audited = ps.namespace_policy({"pod-security.kubernetes.io/audit": "baseline"})
    assert ps.admit_template(audited, template) == ps.Decision(
        audit=(
            (
                "pod-security.kubernetes.io/audit-violations",
                'would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)',
            ),
        )
    )
    for labels in ({"pod-security.kubernetes.io/warn": "baseline"}, {"pod-security.kubernetes.io/enforce": "baseline"}):
        assert ps.admit_template(ps.namespace_policy(labels), template).warnings == (
            'would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)',
        )


def test_only_significant_pod_updates_are_evaluated() -> None:
    pod = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}
    relabelled = {"metadata": {"labels": {"a": "2"}}, "spec": {"containers": [{"name": "c", "image": "i:2"}]}}
    assert not ps.significant_update(relabelled, pod)
    debugged = {**pod, "spec": {**pod["spec"], "ephemeralContainers": [{"name": "d", "image": "busybox"}]}}
    assert ps.significant_update(debugged, pod)


def test_labels_must_name_a_level_and_a_version() -> None:
    assert ps.label_errors({"pod-security.kubernetes.io/enforce": "baseline", "other": "x"}) == []
    problems = ps.label_errors(
        {"pod-security.kubernetes.io/warn": "basline", "pod-security.kubernetes.io/enforce-version": "1.29"}
    )
    assert [p.render() for p in problems] == [
        'metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.29": must be "latest" or "v1.x"',
        'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "basline": must be one of privileged, '
        "baseline, restricted",
    ]


def test_a_stricter_enforced_level_is_tried_on_the_namespaces_pods() -> None:
    base, restricted = ps.LevelVersion(ps.BASELINE), ps.LevelVersion(ps.RESTRICTED)
    assert ps.stricter(restricted, base) and ps.stricter(ps.LevelVersion(ps.BASELINE, "v1.29"), base)
    assert not ps.stricter(base, restricted) and not ps.stricter(base, base)
    assert not ps.stricter(ps.LevelVersion(ps.PRIVILEGED), ps.LevelVersion(ps.PRIVILEGED, "v1.30"))

    def pod(name: str, **spec: Any) -> Obj:
        return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}

    pods = [
        pod("web-2", hostNetwork=True),
        pod("web-1", hostNetwork=True),
        pod("db", hostPID=True, hostIPC=True),
        pod("ok"),
    ]
    pods.append(pod("web-3", hostNetwork=True))
    # grouped by the checks failed, whatever their details
    assert ps.existing_pod_warnings("shop", base, pods) == [
        'existing pods in namespace "shop" violate the new PodSecurity enforce level "baseline:latest"',
        "db (and 3 other pods): host namespaces",
    ]
    privileged = pod("z", containers=[{"name": "c", "image": "i", "securityContext": {"privileged": True}}])
    assert ps.existing_pod_warnings("shop", base, [privileged, pod("a", hostPID=True)])[1:] == [
        "a: host namespaces",
        "z: privileged",
    ]
    assert ps.existing_pod_warnings("shop", base, [pod("ok")]) == []
