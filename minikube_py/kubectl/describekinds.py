"""``describe`` for services, endpoints, secrets, service accounts, replication controllers, replica
sets, daemon sets, jobs, nodes, network policies and priority classes: each a pure function of the
object and what it needs from the cluster (its pods, endpoint slices, events), laid out as kubectl
lays it out."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from minikube_py.kubectl.describe import (
    Text,
    conditions_section,
    controlled_by,
    events_section,
    go_time,
    parts,
    pod_template,
)
from minikube_py.model.selectors import labels_to_string, selector_to_string
from minikube_py.model.times import parse_time

Obj = dict[str, Any]


def pods_status(pods: list[Obj]) -> str:
    """``N Running / N Waiting / N Succeeded / N Failed`` of a controller's pods."""
    phases = [(p.get("status") or {}).get("phase") for p in pods]
    return (
        f"{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
        f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed"
    )


def describe_secret(secret: Obj, events: list[Obj], now: datetime) -> str:
    w = Text.headed(secret["metadata"])
    w.line(0, f"\nType:\t{secret.get('type', '')}")
    w.line(0, "\nData\n====")
    for key, value in sorted((secret.get("data") or {}).items()):
        w.line(0, f"{key}:\t{len(base64.b64decode(value or ''))} bytes")
    return w.render()


def describe_priority_class(pc: Obj, events: list[Obj], now: datetime) -> str:
    """kubectl's PriorityClass description: its value, default flag, policy and description; the
    annotations on one line, as label pairs."""
    w = Text.named(pc["metadata"], namespace=False)
    w.line(0, f"Value:\t{pc.get('value', 0)}")
    w.line(0, f"GlobalDefault:\t{'true' if pc.get('globalDefault') else 'false'}")
    w.line(0, f"PreemptionPolicy:\t{pc.get('preemptionPolicy', '')}")
    w.line(0, f"Description:\t{pc.get('description', '')}")
    w.line(0, f"Annotations:\t{labels_to_string(pc['metadata'].get('annotations'))}")
    events_section(w, events, now)
    return w.render()


def _names(w: Text, title: str, names: list[str]) -> None:
    if not names:
        w.line(0, f"{title}:\t<none>")
    for i, name in enumerate(names):
        w.line(0, (f"{title}:\t" if i == 0 else "\t") + name)


def describe_serviceaccount(sa: Obj, secrets: list[Obj], events: list[Obj], now: datetime) -> str:
    """``secrets``: the namespace's, to tell which the account names exist and which are its tokens."""
    name = sa["metadata"]["name"]
    existing = {s["metadata"]["name"] for s in secrets}
    tokens = [
        s["metadata"]["name"]
        for s in secrets
        if s.get("type") == "kubernetes.io/service-account-token"
        and (s["metadata"].get("annotations") or {}).get("kubernetes.io/service-account.name") == name
    ]

    def named(refs: list[Obj]) -> list[str]:
        return [r["name"] + ("" if r["name"] in existing else " (not found)") for r in refs]

    w = Text.headed(sa["metadata"])
    _names(w, "Image pull secrets", named(sa.get("imagePullSecrets") or []))
    _names(w, "Mountable secrets", named(sa.get("secrets") or []))
    _names(w, "Tokens", tokens)
    events_section(w, events, now)
    return w.render()


def _slice_endpoints(slices: list[Obj], port_name: str) -> str:
    """``ip:port,...`` of the service port named ``port_name`` (at most three, then ``+ N more...``)."""
    found = [
        f"[{a}]:{p['port']}" if ":" in a else f"{a}:{p['port']}"
        for s in slices
        for p in s.get("ports") or []
        if (p.get("name") or "") == port_name
        for e in s.get("endpoints") or []
        for a in e.get("addresses") or []
    ]
    if len(found) > 3:
        return ",".join(found[:3]) + f" + {len(found) - 3} more..."
    return ",".join(found)


def describe_service(svc: Obj, slices: list[Obj], events: list[Obj], now: datetime) -> str:
    spec, status = svc.get("spec") or {}, svc.get("status") or {}
    w = Text.headed(svc["metadata"])
    w.line(0, f"Selector:\t{labels_to_string(spec.get('selector'))}")
    w.line(0, f"Type:\t{spec.get('type', '')}")
    w.optional(0, "IP Family Policy", spec.get("ipFamilyPolicy"))
    if spec.get("ipFamilies"):
        w.line(0, f"IP Families:\t{','.join(spec['ipFamilies'])}")
    w.line(0, f"IP:\t{spec.get('clusterIP', '')}")
    if spec.get("clusterIPs"):
        w.line(0, f"IPs:\t{','.join(spec['clusterIPs'])}")
    if spec.get("externalIPs"):
        w.line(0, f"External IPs:\t{','.join(spec['externalIPs'])}")
    ingress = [i.get("ip") or i.get("hostname") or "" for i in (status.get("loadBalancer") or {}).get("ingress") or []]
    if ingress:
        w.line(0, f"LoadBalancer Ingress:\t{', '.join(ingress)}")
    if spec.get("type") == "ExternalName":
        w.line(0, f"External Name:\t{spec.get('externalName', '')}")
    for port in spec.get("ports") or []:
        name = port.get("name") or "<unset>"
        w.line(0, f"Port:\t{name}\t{port.get('port')}/{port.get('protocol', 'TCP')}")
        target = port.get("targetPort")
        if target is not None:
            w.line(0, f"TargetPort:\t{target}/{port.get('protocol', 'TCP')}")
        if port.get("nodePort"):
            w.line(0, f"NodePort:\t{name}\t{port['nodePort']}/{port.get('protocol', 'TCP')}")
        w.line(0, f"Endpoints:\t{_slice_endpoints(slices, port.get('name') or '')}")
    w.line(0, f"Session Affinity:\t{spec.get('sessionAffinity', '')}")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        w.line(0, f"External Traffic Policy:\t{spec.get('externalTrafficPolicy', '')}")
    w.optional(0, "HealthCheck NodePort", spec.get("healthCheckNodePort"))
    if spec.get("loadBalancerSourceRanges"):
        w.line(0, f"LoadBalancer Source Ranges:\t{','.join(spec['loadBalancerSourceRanges'])}")
    w.optional(0, "Internal Traffic Policy", spec.get("internalTrafficPolicy"))
    events_section(w, events, now)
    return w.render()


def describe_endpoints(ep: Obj, events: list[Obj], now: datetime) -> str:
    w = Text.headed(ep["metadata"])
    w.line(0, "Subsets:")
    for subset in ep.get("subsets") or []:
        ready = [a["ip"] for a in subset.get("addresses") or []]
        unready = [a["ip"] for a in subset.get("notReadyAddresses") or []]
        w.line(1, f"Addresses:\t{','.join(ready) or '<none>'}")
        w.line(1, f"NotReadyAddresses:\t{','.join(unready) or '<none>'}")
        if subset.get("ports"):
            w.line(1, "Ports:")
            w.header(2, "Name", "Port", "Protocol")
            for port in subset["ports"]:
                w.line(2, f"{port.get('name') or '<unset>'}\t{port.get('port')}\t{port.get('protocol', 'TCP')}")
        w.line(0, "")
    events_section(w, events, now)
    return w.render()


def describe_replicas(obj: Obj, pods: list[Obj], events: list[Obj], now: datetime) -> str:
    """A ReplicationController or ReplicaSet."""
    meta, spec, status = parts(obj)
    w = Text.named(meta)
    selector = spec.get("selector")
    w.line(
        0,
        f"Selector:\t{labels_to_string(selector) if obj['kind'] == 'ReplicationController' else selector_to_string(selector)}",
    )
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    controlled_by(w, meta)
    w.line(0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
    w.line(0, f"Pods Status:\t{pods_status(pods)}")
    pod_template(w, spec.get("template") or {})
    conditions_section(w, status)
    events_section(w, events, now)
    return w.render()


def describe_daemonset(ds: Obj, pods: list[Obj], events: list[Obj], now: datetime) -> str:
    meta, spec, status = parts(ds)
    w = Text.named(meta, namespace=False)
    w.line(0, f"Selector:\t{selector_to_string(spec.get('selector'))}")
    w.line(
        0, f"Node-Selector:\t{labels_to_string(((spec.get('template') or {}).get('spec') or {}).get('nodeSelector'))}"
    )
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    w.line(0, f"Desired Number of Nodes Scheduled: {status.get('desiredNumberScheduled', 0)}")
    w.line(0, f"Current Number of Nodes Scheduled: {status.get('currentNumberScheduled', 0)}")
    w.line(0, f"Number of Nodes Scheduled with Up-to-date Pods: {status.get('updatedNumberScheduled', 0)}")
    w.line(0, f"Number of Nodes Scheduled with Available Pods: {status.get('numberAvailable', 0)}")
    w.line(0, f"Number of Nodes Misscheduled: {status.get('numberMisscheduled', 0)}")
    w.line(0, f"Pods Status:\t{pods_status(pods)}")
    pod_template(w, spec.get("template") or {})
    events_section(w, events, now)
    return w.render()


def describe_job(job: Obj, events: list[Obj], now: datetime) -> str:
    meta, spec, status = parts(job)
    w = Text.named(meta)
    w.line(0, f"Selector:\t{selector_to_string(spec.get('selector'))}")
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    controlled_by(w, meta)
    w.line(0, f"Parallelism:\t{spec.get('parallelism', 1)}")
    w.line(0, f"Completions:\t{spec['completions'] if spec.get('completions') is not None else '<unset>'}")
    w.line(0, f"Completion Mode:\t{spec.get('completionMode', 'NonIndexed')}")
    w.line(0, f"Suspend:\t{'true' if spec.get('suspend') else 'false'}")
    w.line(0, f"Backoff Limit:\t{spec.get('backoffLimit', 6)}")
    if spec.get("ttlSecondsAfterFinished") is not None:
        w.line(0, f"TTL Seconds After Finished:\t{spec['ttlSecondsAfterFinished']}")
    if status.get("startTime"):
        w.line(0, f"Start Time:\t{go_time(status['startTime'])}")
    if status.get("completionTime"):
        from minikube_py.model.times import human_duration, parse_time

        w.line(0, f"Completed At:\t{go_time(status['completionTime'])}")
        start, end = parse_time(status.get("startTime")), parse_time(status["completionTime"])
        if start and end:
            w.line(0, f"Duration:\t{human_duration(end - start)}")
    if spec.get("activeDeadlineSeconds") is not None:
        w.line(0, f"Active Deadline Seconds:\t{spec['activeDeadlineSeconds']}s")
    w.line(
        0,
        f"Pods Statuses:\t{status.get('active', 0)} Active ({status.get('ready', 0)} Ready) / "
        f"{status.get('succeeded', 0)} Succeeded / {status.get('failed', 0)} Failed",
    )
    pod_template(w, spec.get("template") or {})
    events_section(w, events, now)
    return w.render()


def pod_totals(pod: Obj, field: str) -> dict[str, tuple[Fraction, Any]]:
    """A pod's requests or limits per resource, as the scheduler counts them: its containers' sum, at
    least each init container's, plus its overhead; each with the notation of its first value."""
    from minikube_py.model.quantity import parse_quantity_format

    def of(containers: list[Obj]) -> dict[str, tuple[Fraction, Any]]:
        out: dict[str, tuple[Fraction, Any]] = {}
        for c in containers:
            for name, text in ((c.get("resources") or {}).get(field) or {}).items():
                amount, fmt = parse_quantity_format(text)
                have = out.get(name)
                out[name] = (have[0] + amount, have[1]) if have else (amount, fmt)
        return out

    spec = pod.get("spec") or {}
    total = of(spec.get("containers") or [])
    for init in spec.get("initContainers") or []:
        for name, (amount, fmt) in of([init]).items():
            if name not in total or amount > total[name][0]:
                total[name] = (amount, fmt)
    for name, (amount, fmt) in of([{"resources": {field: spec.get("overhead") or {}}}]).items():
        have = total.get(name)
        total[name] = (have[0] + amount, have[1]) if have else (amount, fmt)
    return total


def _share(amount: tuple[Fraction, Any] | None, whole: str | None) -> str:
    """``100m (5%)``: a quantity and its whole percent of ``whole`` (0 when there is none)."""
    from minikube_py.model.quantity import format_quantity, milli_value

    if amount is None:
        return "0 (0%)"
    whole_milli = milli_value(whole) if whole else 0
    percent = int(milli_value(amount[0]) * 100 / whole_milli) if whole_milli else 0
    return f"{format_quantity(amount[0], amount[1])} ({percent}%)"


def describe_node(node: Obj, lease: Obj | str, pods: list[Obj], events: list[Obj], now: datetime) -> str:
    """``lease``: the node's Lease, or the message of the failure to get it."""
    from minikube_py.model.times import since

    meta, spec, status = parts(node)
    labels = meta.get("labels") or {}
    roles = sorted(
        {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
        | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set())
    )
    w = Text.named(meta, namespace=False)
    w.line(0, f"Roles:\t{','.join(roles) or '<none>'}")
    w.map(0, "Labels", labels)
    w.annotations(0, meta.get("annotations"))
    w.line(0, f"CreationTimestamp:\t{go_time(meta.get('creationTimestamp'))}")
    taints = [
        f"{t['key']}={t['value']}:{t['effect']}" if t.get("value") else f"{t['key']}:{t['effect']}"
        for t in sorted(spec.get("taints") or [], key=lambda t: f"{t.get('effect', '')},{t['key']}")
    ]
    _names(w, "Taints", taints)
    w.line(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}")
    if isinstance(lease, str):
        w.line(0, f"Lease:\tFailed to get lease: {lease}")
    else:
        lspec = lease.get("spec") or {}
        w.line(0, "Lease:")
        w.line(1, f"HolderIdentity:\t{lspec.get('holderIdentity') or '<unset>'}")
        w.line(1, f"AcquireTime:\t{go_time(lspec.get('acquireTime')) or '<unset>'}")
        w.line(1, f"RenewTime:\t{go_time(lspec.get('renewTime')) or '<unset>'}")
    if status.get("conditions"):
        w.line(0, "Conditions:")
        w.header(1, "Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message")
        for c in status["conditions"]:
            w.line(
                1,
                f"{c['type']} \t{c['status']} \t{go_time(c.get('lastHeartbeatTime'))} \t"
                f"{go_time(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}",
            )
    w.line(0, "Addresses:")
    for address in status.get("addresses") or []:
        w.line(1, f"{address['type']}:\t{address['address']}")
    allocatable = status.get("allocatable") or {}
    for title, values in (("Capacity", status.get("capacity")), ("Allocatable", allocatable)):
        if values:
            w.line(0, f"{title}:")
            for name, amount in sorted(values.items()):
                w.line(1, f"{name}:\t{amount}")
    info = status.get("nodeInfo") or {}
    w.line(0, "System Info:")
    for title, key in (
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ):
        w.line(1, f"{title}:\t{info.get(key, '')}")
    if spec.get("podCIDR"):
        w.line(0, f"PodCIDR:\t{spec['podCIDR']}")
        w.line(0, f"PodCIDRs:\t{','.join(spec.get('podCIDRs') or [spec['podCIDR']])}")
    w.optional(0, "ProviderID", spec.get("providerID"))
    w.line(0, f"Non-terminated Pods:\t({len(pods)} in total)")
    w.header(1, "Namespace", "Name", "", "CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits", "Age")
    requests: dict[str, tuple[Fraction, Any]] = {}
    limits: dict[str, tuple[Fraction, Any]] = {}
    for pod in pods:
        asked, capped = pod_totals(pod, "requests"), pod_totals(pod, "limits")
        for into, part in ((requests, asked), (limits, capped)):
            for name, (amount, fmt) in part.items():
                have = into.get(name)
                into[name] = (have[0] + amount, have[1]) if have else (amount, fmt)
        pmeta = pod["metadata"]
        w.line(
            1,
            f"{pmeta.get('namespace', '')}\t{pmeta['name']}\t\t"
            f"{_share(asked.get('cpu'), allocatable.get('cpu'))}\t{_share(capped.get('cpu'), allocatable.get('cpu'))}\t"
            f"{_share(asked.get('memory'), allocatable.get('memory'))}\t"
            f"{_share(capped.get('memory'), allocatable.get('memory'))}\t{since(pmeta.get('creationTimestamp'), now)}",
        )
    w.line(0, "Allocated resources:")
    w.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
    w.header(1, "Resource", "Requests", "Limits")
    for name in ("cpu", "memory", "ephemeral-storage"):
        w.line(
            1,
            f"{name}\t{_share(requests.get(name), allocatable.get(name))}\t"
            f"{_share(limits.get(name), allocatable.get(name))}",
        )
    for name in sorted(n for n in allocatable if n.startswith("hugepages-") or "/" in n):
        w.line(
            1,
            f"{name}\t{_share(requests.get(name), allocatable.get(name))}\t"
            f"{_share(limits.get(name), allocatable.get(name))}",
        )
    events_section(w, events, now)
    return w.render()


def _peer(w: Text, peer: Obj) -> None:
    """One peer of a NetworkPolicy rule: its selectors (namespaces first) or its IP block."""
    if peer.get("namespaceSelector") is not None:
        w.line(3, f"NamespaceSelector: {selector_to_string(peer['namespaceSelector'])}")
    if peer.get("podSelector") is not None:
        w.line(3, f"PodSelector: {selector_to_string(peer['podSelector'])}")
    block = peer.get("ipBlock")
    if block is not None:
        w.line(3, "IPBlock:")
        w.line(4, f"CIDR: {block.get('cidr', '')}")
        w.line(4, f"Except: {', '.join(block.get('except') or [])}")


def _policy_rules(w: Text, rules: list[Obj], peers_field: str, title: str, unrestricted: str) -> None:
    """The rules of one direction, each its ports and then its peers, ruled off from the next."""
    for i, rule in enumerate(rules):
        if i:
            w.line(2, "-" * 10)
        ports = rule.get("ports") or []
        if not ports:
            w.line(2, "To Port: <any> (traffic allowed to all ports)")
        for port in ports:
            protocol, number = port.get("protocol", "TCP"), port.get("port")
            if port.get("endPort") is not None:
                w.line(2, f"To Port Range: {number}-{port['endPort']}/{protocol}")
            else:
                w.line(2, f"To Port: {'<nil>' if number is None else number}/{protocol}")
        peers = rule.get(peers_field) or []
        if not peers:
            w.line(2, f"{title}: <any> ({unrestricted})")
        for peer in peers:
            w.line(2, f"{title}:")
            _peer(w, peer)


def describe_network_policy(policy: Obj, events: list[Obj], now: datetime) -> str:
    """kubectl's NetworkPolicy description: the pods it selects, then what it allows each way, or that
    it leaves a direction alone; no events section, as kubectl prints none."""
    meta, spec, _ = parts(policy)
    w = Text.named(meta)
    created = parse_time(meta.get("creationTimestamp"))
    w.line(0, f"Created on:\t{created.strftime('%Y-%m-%d %H:%M:%S +0000 UTC') if created else ''}")
    w.map(0, "Labels", meta.get("labels"))
    w.annotations(0, meta.get("annotations"))
    w.line(0, "Spec:")
    selector = selector_to_string(spec.get("podSelector"))
    if selector == "<none>":
        selector = "<none> (Allowing the specific traffic to all pods in this namespace)"
    # kubectl writes this title with a trailing space and the value at the next level's indent
    w.parts.append(f"  PodSelector:     {selector}\n")
    types = spec.get("policyTypes") or []
    for direction, field, peers_field, title, unrestricted in (
        ("Ingress", "ingress", "from", "From", "traffic not restricted by source"),
        ("Egress", "egress", "to", "To", "traffic not restricted by destination"),
    ):
        rules = spec.get(field) or []
        if not rules and direction not in types:
            w.line(1, f"Not affecting {field} traffic")
            continue
        w.line(1, f"Allowing {field} traffic:")
        if not rules:
            w.line(2, f"<none> (Selected pods are isolated for {field} connectivity)")
        _policy_rules(w, rules, peers_field, title, unrestricted)
    w.line(1, f"Policy Types: {', '.join(types)}")
    return w.render()


def _subject_list(w: Text, title: str, values: list[str]) -> None:
    """A subject field's values, one per line under its title (kubectl leaves an empty field out)."""
    if values:
        w.line(0, f"\t{title}:\t" + "\n\t\t".join(values))


def describe_certificate_signing_request(csr: Obj, events: list[Obj], now: datetime) -> str:
    """kubectl's CertificateSigningRequest description: who asked which signer for how long, where the
    request stands, and the subject and alternative names read from the request itself."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from minikube_py.model.certificates import condition_column, decode_request
    from minikube_py.model.times import human_duration

    meta, spec = csr["metadata"], csr.get("spec") or {}
    request = decode_request(csr)
    w = Text.named(meta, namespace=False)
    w.line(0, f"Labels:\t{labels_to_string(meta.get('labels'))}")
    w.line(0, f"Annotations:\t{labels_to_string(meta.get('annotations'))}")
    w.line(0, f"CreationTimestamp:\t{go_time(meta.get('creationTimestamp'))}")
    w.line(0, f"Requesting User:\t{spec.get('username', '')}")
    w.optional(0, "Signer", spec.get("signerName"))
    if isinstance(spec.get("expirationSeconds"), int):
        w.line(0, f"Requested Duration:\t{human_duration(timedelta(seconds=spec['expirationSeconds']))}")
    w.line(0, f"Status:\t{condition_column(csr)}")

    def subject(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in request.subject.get_attributes_for_oid(oid)]

    w.line(0, "Subject:")
    w.line(0, f"\tCommon Name:\t{''.join(subject(NameOID.COMMON_NAME)[:1])}")
    w.line(0, f"\tSerial Number:\t{''.join(subject(NameOID.SERIAL_NUMBER)[:1])}")
    for title, oid in (
        ("Organization", NameOID.ORGANIZATION_NAME),
        ("Organizational Unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
        ("Country", NameOID.COUNTRY_NAME),
        ("Locality", NameOID.LOCALITY_NAME),
        ("Province", NameOID.STATE_OR_PROVINCE_NAME),
        ("StreetAddress", NameOID.STREET_ADDRESS),
        ("PostalCode", NameOID.POSTAL_CODE),
    ):
        _subject_list(w, title, subject(oid))
    try:
        names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = x509.SubjectAlternativeName([])
    alternatives = [
        ("DNS Names", [str(v) for v in names.get_values_for_type(x509.DNSName)]),
        ("Email Addresses", [str(v) for v in names.get_values_for_type(x509.RFC822Name)]),
        ("URIs", [str(v) for v in names.get_values_for_type(x509.UniformResourceIdentifier)]),
        ("IP Addresses", [str(v) for v in names.get_values_for_type(x509.IPAddress)]),
    ]
    if any(values for _, values in alternatives):
        w.line(0, "Subject Alternative Names:")
        for title, values in alternatives:
            _subject_list(w, title, values)
    events_section(w, events, now)
    return w.render()
