"""Verbs that make an object from flags rather than a file: ``run`` (a pod) and ``create <kind>``
(namespace, configmap, secret generic, deployment, serviceaccount), each object as kubectl's
generators make it; ``create -f`` reads files (:mod:`.write`)."""

from __future__ import annotations

import base64
import functools
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from minikube_py.client.errors import ApiError
from minikube_py.client.rest import resource_path
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.printing import go_json, go_yaml
from minikube_py.kubectl.session import Session, error_text, run
from minikube_py.kubectl.write import DRY_RUN, DRY_RUN_SUFFIX, create_from_files, filename_options, write_params


async def submit(
    session: Session,
    obj: dict[str, Any],
    path: str,
    ref: str,
    *,
    dry_run: str,
    output: str,
    manager: str,
    failure: str | None = None,
    verb: str = "created",
) -> int:
    """Create ``obj`` at ``path`` (unless a client dry run) and print what kubectl prints: the
    object for ``-o json|yaml`` (kubectl's own struct, in its field order, when it was not sent), else
    ``ref created`` (``exposed``, ``autoscaled``: the command's ``verb``). Most generators word a
    refusal themselves (``failure``, then the server's message)."""
    if dry_run != "client":
        try:
            obj = await session.api.request("POST", path, body=obj, params=write_params(manager, dry_run))
        except ApiError as exc:
            click.echo(f"error: {failure}{exc.message}" if failure else error_text(exc), err=True)
            return 1
    if output in ("json", "yaml"):
        sys.stdout.write(go_json(obj, sort_keys=dry_run != "client") + "\n" if output == "json" else go_yaml(obj))
    else:
        click.echo(ref + ("" if output == "name" else f" {verb}{DRY_RUN_SUFFIX[dry_run]}"))
    return 0


def _pairs(text: str, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise CommandError(f"invalid {flag} {part!r}: expected key=value")
        out[key] = value
    return dict(sorted(out.items()))


def pod_for_run(
    name: str,
    image: str,
    *,
    labels: dict[str, str],
    env: list[str],
    port: int | None,
    restart: str,
    pull_policy: str | None,
    command: bool,
    args: tuple[str, ...],
    namespace: str | None,
    stdin: bool = False,
    tty: bool = False,
) -> dict[str, Any]:
    """The Pod kubectl's run generator makes, its fields in the Go structs' order (which ``-o json``
    of a client-side dry run shows); ``stdin`` keeps the container's standard input open for one
    attach (``stdinOnce``), as ``run -i`` asks."""
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["creationTimestamp"] = None
    meta["labels"] = labels or {"run": name}
    container: dict[str, Any] = {"name": name, "image": image}
    if args:
        container["command" if command else "args"] = list(args)
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    if env:
        container["env"] = [dict(zip(("name", "value"), e.split("=", 1), strict=True)) for e in env]
    container["resources"] = {}
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    if stdin:
        container["stdin"] = container["stdinOnce"] = True
    if tty:
        container["tty"] = True
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": {"containers": [container], "restartPolicy": restart, "dnsPolicy": "ClusterFirst"},
        "status": {},
    }


@click.command(name="run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--image", required=True, help="The image of the container.")
@click.option("-l", "--labels", default="", help="Labels, a=b,c=d (default: run=NAME).")
@click.option("--env", multiple=True, help="An environment variable NAME=VALUE; repeatable.")
@click.option("--port", type=int, default=None, help="The port the container exposes.")
@click.option("--restart", type=click.Choice(["Always", "OnFailure", "Never"]), default=None)
@click.option("--image-pull-policy", type=click.Choice(["", "Always", "IfNotPresent", "Never"]), default="")
@click.option("--command", is_flag=True, help="The arguments are the command, not its arguments.")
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name"]), default="")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Keep stdin open on the container and attach.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a terminal for the container.")
@click.option("--attach", "attach_flag", type=bool, default=None, help="Attach to the pod (default: with -i).")
@click.option("--rm", is_flag=True, help="Delete the pod after it ends (attached pods only).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the container's output when attached.")
@click.option("--pod-running-timeout", default="1m0s", help="How long to wait for the pod to run.")
def run_(
    name: str,
    args: tuple[str, ...],
    image: str,
    labels: str,
    env: tuple[str, ...],
    port: int | None,
    restart: str | None,
    image_pull_policy: str,
    command: bool,
    dry_run: str,
    output: str,
    interactive: bool,
    tty: bool,
    attach_flag: bool | None,
    rm: bool,
    quiet: bool,
    pod_running_timeout: str,
) -> None:
    """Create and run a particular image in a pod."""
    from minikube_py.model.times import parse_go_duration

    attached = interactive if attach_flag is None else attach_flag
    if tty and not interactive:
        raise click.UsageError("-i/--stdin is required for containers with -t/--tty=true")
    if rm and not attached:
        raise click.UsageError("--rm should only be used for attached containers")
    if attached and dry_run != "none":
        raise click.UsageError(
            "--dry-run=[server|client] can't be used with attached containers options (--attach, --stdin, or --tty)"
        )
    policy = restart or ("OnFailure" if interactive else "Always")
    within = parse_go_duration(pod_running_timeout)
    for e in env:
        if "=" not in e:
            raise click.BadParameter(f"invalid env {e!r}: expected NAME=VALUE", param_hint="--env")

    async def work(session: Session) -> int:
        pod = pod_for_run(
            name,
            image,
            labels=_pairs(labels, "label"),
            env=list(env),
            port=port,
            restart=policy,
            pull_policy=image_pull_policy or None,
            command=command,
            args=args,
            namespace=session.namespace if session.explicit_namespace else None,
            stdin=interactive,
            tty=tty,
        )
        if attached:
            from minikube_py.kubectl.attach import run_attached, usable_tty

            local_tty = usable_tty(tty, interactive, quiet)
            return await run_attached(
                session, pod, stdin=interactive, tty=local_tty, quiet=quiet, remove=rm, restart=policy, within=within
            )
        return await submit(
            session,
            pod,
            f"/api/v1/namespaces/{session.namespace}/pods",
            f"pod/{name}",
            dry_run=dry_run,
            output=output,
            manager="kubectl-run",
        )

    run(work)


@click.group(invoke_without_command=True)
@filename_options
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("-o", "--output", default="", help="name: print only resource/name.")
@click.pass_context
def create(ctx: click.Context, filenames: tuple[str, ...], recursive: bool, dry_run: str, output: str) -> None:
    """Create a resource from a file or from stdin, or one of the kinds below from flags."""
    if ctx.invoked_subcommand is None:
        create_from_files(filenames, recursive, dry_run, output)


def _meta(name: str, session: Session, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if session.explicit_namespace:
        meta["namespace"] = session.namespace
    return {**meta, "creationTimestamp": None, **extra}


#: how a generator makes its object from the session, the name and its own flags (a coroutine
#: function where it must ask the API, as ``create job --from`` does)
Build = Callable[..., dict[str, Any] | Awaitable[dict[str, Any]]]


def _generator(
    name: str,
    *,
    plural: str,
    failure: str | None,
    aliases: tuple[str, ...] = (),
    parent: click.Group = create,
    namespaced: bool = True,
    help: str | None = None,
    context_settings: dict[str, Any] | None = None,
) -> Callable[[Build], click.Command]:
    """A ``create <kind> NAME`` subcommand of ``parent``: the decorated ``build(session, name,
    **flags)`` checks its flags and makes the object, which is created in ``plural`` (or only
    printed, for a client dry run) and told as every generator tells it (:func:`submit`, with the
    refusal's wording ``failure``); with the flags all generators share (``--dry-run``, ``-o``). The
    command's other flags are declared above the decorator."""

    def decorate(build: Build) -> click.Command:
        def callback(name: str, dry_run: str, output: str, **flags: Any) -> None:
            async def work(session: Session) -> int:
                made = build(session, name, **flags)
                obj = await made if inspect.isawaitable(made) else made
                api_version = obj["apiVersion"]
                group = api_version.rpartition("/")[0]
                return await submit(
                    session,
                    obj,
                    resource_path(api_version, plural, session.namespace if namespaced else None),
                    f"{obj['kind'].lower()}{'.' + group if group else ''}/{name}",
                    dry_run=dry_run,
                    output=output,
                    manager="kubectl-create",
                    failure=failure,
                )

            run(work)

        shared = click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name"]), default="")(callback)
        shared = click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")(shared)
        made = parent.command(name=name, help=help or build.__doc__, context_settings=context_settings)(
            click.argument("name")(shared)
        )
        for alias in aliases:
            parent.add_command(made, alias)
        return made

    return decorate


@_generator("namespace", aliases=("ns",), plural="namespaces", failure=None, namespaced=False)
def create_namespace(session: Session, name: str) -> dict[str, Any]:
    """Create a namespace with the specified name."""
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": _meta(name, session), "spec": {}, "status": {}}


@_generator("serviceaccount", aliases=("sa",), plural="serviceaccounts", failure="failed to create serviceaccount: ")
def create_serviceaccount(session: Session, name: str) -> dict[str, Any]:
    """Create a service account with the specified name."""
    return {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": _meta(name, session)}


@click.option("--value", type=int, default=0, help="The value of this priority class.")
@click.option("--global-default", is_flag=True, help="Whether this class is the default for pods naming none.")
@click.option("--description", default="", help="What this priority class is for.")
@click.option(
    "--preemption-policy",
    default="PreemptLowerPriority",
    help="PreemptLowerPriority or Never: whether its pods may evict pods of lower priority.",
)
@_generator(
    "priorityclass",
    aliases=("pc",),
    plural="priorityclasses",
    failure="failed to create priorityclass: ",
    namespaced=False,
)
def create_priorityclass(
    session: Session, name: str, value: int, global_default: bool, description: str, preemption_policy: str
) -> dict[str, Any]:
    """Create a priority class with the specified name, value, globalDefault and description."""
    obj: dict[str, Any] = {
        "kind": "PriorityClass",
        "apiVersion": "scheduling.k8s.io/v1",
        "metadata": {"name": name, "creationTimestamp": None},  # cluster-scoped: no namespace, even with -n
        "value": value,
    }
    if global_default:
        obj["globalDefault"] = True
    if description:
        obj["description"] = description
    obj["preemptionPolicy"] = preemption_policy
    return obj


def _sources(literals: tuple[str, ...], files: tuple[str, ...]) -> dict[str, bytes]:
    """``--from-literal=k=v`` and ``--from-file=[key=]path`` (a directory adds each of its files), by
    key as Go's maps come out."""
    data: dict[str, bytes] = {}
    for literal in literals:
        key, eq, value = literal.partition("=")
        if not eq or not key:
            raise CommandError(f"invalid literal source {literal}, expected key=value")
        data[key] = value.encode()
    for spec in files:
        key, eq, path_text = spec.partition("=")
        path = Path(path_text if eq else spec)
        if path.is_dir():
            data.update({f.name: f.read_bytes() for f in sorted(path.iterdir()) if f.is_file()})
        elif path.exists():
            data[key if eq else path.name] = path.read_bytes()
        else:
            raise CommandError(f"error reading {path}: no such file or directory")
    return dict(sorted(data.items()))


_FROM = (
    click.option("--from-literal", multiple=True, help="key=value; repeatable."),
    click.option("--from-file", multiple=True, help="[key=]path of a file or directory; repeatable."),
)


@_FROM[0]
@_FROM[1]
@_generator("configmap", aliases=("cm",), plural="configmaps", failure="failed to create configmap: ")
def create_configmap(
    session: Session, name: str, from_literal: tuple[str, ...], from_file: tuple[str, ...]
) -> dict[str, Any]:
    """Create a config map from files, directories or literal values."""
    sources = _sources(from_literal, from_file)
    text = {k: v.decode() for k, v in sources.items() if _is_text(v)}
    binary = {k: base64.b64encode(v).decode() for k, v in sources.items() if not _is_text(v)}
    obj: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": _meta(name, session)}
    if text:
        obj["data"] = text
    if binary:
        obj["binaryData"] = binary
    return obj


def _is_text(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


@create.group()
def secret() -> None:
    """Create a secret."""


def _secret(session: Session, name: str, **body: Any) -> dict[str, Any]:
    """The Secret ``name`` holding ``body`` (its data and type), as every ``create secret`` makes it."""
    return {"kind": "Secret", "apiVersion": "v1", "metadata": _meta(name, session), **body}


#: a ``create secret <type>`` subcommand: each words a refusal so (sic: kubectl has no colon here)
_secret_generator = functools.partial(_generator, parent=secret, plural="secrets", failure="failed to create secret ")


@_FROM[0]
@_FROM[1]
@click.option("--type", "secret_type", default="", help="The type of the secret.")
@_secret_generator("generic")
def create_secret_generic(
    session: Session, name: str, from_literal: tuple[str, ...], from_file: tuple[str, ...], secret_type: str
) -> dict[str, Any]:
    """Create a secret from files, directories or literal values."""
    sources = _sources(from_literal, from_file)
    body: dict[str, Any] = {}
    if sources:
        body["data"] = {k: base64.b64encode(v).decode() for k, v in sources.items()}
    if secret_type:
        body["type"] = secret_type
    return _secret(session, name, **body)


def container_name(image: str) -> str:
    """kubectl names a generated container after its image: the last path segment, without tag or digest."""
    base = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    return "".join(c if c.isalnum() or c == "-" else "-" for c in base.lower()).strip("-") or "container"


@click.option("--image", "images", multiple=True, required=True, help="An image; repeatable (one container each).")
@click.option("--replicas", type=int, default=1)
@click.option("--port", type=int, default=None, help="The port the (first) container exposes.")
@_generator("deployment", aliases=("deploy",), plural="deployments", failure="failed to create deployment: ")
def create_deployment(
    session: Session, name: str, images: tuple[str, ...], replicas: int, port: int | None
) -> dict[str, Any]:
    """Create a deployment with the specified name."""
    labels = {"app": name}
    containers: list[dict[str, Any]] = []
    for i, image in enumerate(images):
        container: dict[str, Any] = {"name": container_name(image), "image": image}
        if port is not None and i == 0:
            container["ports"] = [{"containerPort": port}]
        container["resources"] = {}
        containers.append(container)
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": _meta(name, session, labels=labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"creationTimestamp": None, "labels": labels}, "spec": {"containers": containers}},
            "strategy": {},
        },
        "status": {},
    }


def _exposed_selector(obj: dict[str, Any]) -> dict[str, str]:
    """The pods a new service should select: those of the workload, the pod's labels, or the
    service's own selector."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return dict(obj["metadata"].get("labels") or {})
    if kind in ("Service", "ReplicationController"):
        return dict(spec.get("selector") or {})
    selector = spec.get("selector") or {}
    if selector.get("matchExpressions"):
        raise CommandError('couldn\'t convert expressions - "..." to map-based selector format')
    return dict(selector.get("matchLabels") or {})


def _exposed_ports(obj: dict[str, Any]) -> list[tuple[int, str]]:
    """The ports kubectl finds on the object when ``--port`` is not given."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        return [(p["port"], p.get("protocol", "TCP")) for p in spec.get("ports") or []]
    pod_spec = spec if obj.get("kind") == "Pod" else (spec.get("template") or {}).get("spec") or {}
    return [
        (p["containerPort"], p.get("protocol", "TCP"))
        for c in pod_spec.get("containers") or []
        for p in c.get("ports") or []
    ]


@click.command()
@click.argument("args", nargs=-1)
@click.option("--port", type=int, default=None, help="The port the service serves on.")
@click.option("--target-port", default=None, help="The port (number or name) of the pods to send traffic to.")
@click.option("--protocol", default=None, help="TCP, UDP or SCTP. [default: TCP]")
@click.option("--type", "service_type", type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"]), default=None)
@click.option("--name", default=None, help="The name of the service. [default: the object's]")
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name"]), default="")
def expose(
    args: tuple[str, ...],
    port: int | None,
    target_port: str | None,
    protocol: str | None,
    service_type: str | None,
    name: str | None,
    dry_run: str,
    output: str,
) -> None:
    """Expose a deployment, replica set, replication controller, pod or service as a new service."""
    from minikube_py.kubectl.get import named_objects

    async def work(session: Session) -> int:
        found = await named_objects(session, args)
        code = 0
        for res, namespace, obj_name in found:
            obj = {"kind": res.kind, **await session.api.get(res.path(namespace, obj_name))}
            selector = _exposed_selector(obj)
            if port is not None:
                ports = [(port, protocol or "TCP")]
            else:
                ports = [(p, protocol or proto) for p, proto in _exposed_ports(obj)]
            if not ports:
                raise CommandError("couldn't find port via --port flag or introspection")
            target: int | str | None = None
            if target_port is not None:
                target = int(target_port) if target_port.isdigit() else target_port
            service_ports = []
            for i, (number, proto) in enumerate(ports):
                entry: dict[str, Any] = {"name": f"port-{i + 1}"} if len(ports) > 1 else {}
                entry.update(
                    {"protocol": proto, "port": number, "targetPort": target if target is not None else number}
                )
                service_ports.append(entry)
            meta: dict[str, Any] = {"name": name or obj_name}
            if session.explicit_namespace:
                meta["namespace"] = session.namespace
            meta["creationTimestamp"] = None
            if obj["metadata"].get("labels"):
                meta["labels"] = dict(sorted(obj["metadata"]["labels"].items()))
            spec: dict[str, Any] = {"ports": service_ports, "selector": dict(sorted(selector.items()))}
            if service_type:
                spec["type"] = service_type
            service = {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": spec,
                "status": {"loadBalancer": {}},
            }
            path = f"/api/v1/namespaces/{session.namespace}/services"
            ref = f"service/{meta['name']}"
            failed = await submit(
                session, service, path, ref, dry_run=dry_run, output=output, manager="kubectl-expose", verb="exposed"
            )
            code = max(code, failed)
        return code

    run(work)


@create.group(name="service")
def create_service() -> None:
    """Create a service."""


create.add_command(create_service, "svc")


def _service_ports(specs: tuple[str, ...], node_port: int | None) -> list[dict[str, Any]]:
    """``--tcp=PORT[:TARGET]`` each, named as kubectl names them (``80-8080``, ``443``)."""
    ports = []
    for spec in specs:
        port_text, colon, target_text = spec.partition(":")
        if not port_text.isdigit():
            raise CommandError(f'strconv.ParseUint: parsing "{port_text}": invalid syntax')
        port = int(port_text)
        target: int | str = (int(target_text) if target_text.isdigit() else target_text) if colon else port
        entry: dict[str, Any] = {
            "name": f"{port}-{target}" if colon else str(port),
            "protocol": "TCP",
            "port": port,
            "targetPort": target,
        }
        if node_port:
            entry["nodePort"] = node_port
        ports.append(entry)
    return ports


def _service_command(kind: str, service_type: str) -> None:
    @click.option("--tcp", multiple=True, help="PORT[:TARGET_PORT]; repeatable.")
    @click.option(
        "--node-port",
        type=int,
        default=None,
        help="The node port (NodePort services).",
        hidden=service_type != "NodePort",
    )
    @click.option(
        "--clusterip",
        default=None,
        help="The cluster IP, or None for a headless service.",
        hidden=service_type != "ClusterIP",
    )
    @_generator(
        kind,
        parent=create_service,
        plural="services",
        failure=f"failed to create {service_type} service: ",
        help=f"Create a {service_type} service.",
    )
    def build(
        session: Session, name: str, tcp: tuple[str, ...], node_port: int | None, clusterip: str | None
    ) -> dict[str, Any]:
        if not tcp and clusterip != "None":
            raise CommandError("at least one tcp port specifier must be provided")
        ports = _service_ports(tcp, node_port)
        labels = {"app": name}
        spec: dict[str, Any] = {}
        if ports:
            spec["ports"] = ports
        spec["selector"] = labels
        if clusterip:
            spec["clusterIP"] = clusterip
        spec["type"] = service_type
        return {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": _meta(name, session, labels=labels),
            "spec": spec,
            "status": {"loadBalancer": {}},
        }


_service_command("clusterip", "ClusterIP")
_service_command("nodeport", "NodePort")
_service_command("loadbalancer", "LoadBalancer")

#: the registry kubectl puts in a docker-registry secret when none is given
DOCKER_HUB = "https://index.docker.io/v1/"


def docker_config(server: str, username: str, password: str, email: str) -> str:
    """The ``.dockerconfigjson`` kubectl writes: compact JSON, the fields in its struct's order."""
    import json

    entry: dict[str, str] = {"username": username, "password": password}
    if email:
        entry["email"] = email
    entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: entry}}, separators=(",", ":"))


@click.option("--docker-server", default=DOCKER_HUB, help="The registry's address.")
@click.option("--docker-username", default="", help="The user name for the registry.")
@click.option("--docker-password", default="", help="The password for the registry.")
@click.option("--docker-email", default="", help="The email for the registry.")
@_secret_generator("docker-registry")
def create_secret_docker_registry(
    session: Session, name: str, docker_server: str, docker_username: str, docker_password: str, docker_email: str
) -> dict[str, Any]:
    """Create a secret for use with a Docker registry."""
    if not docker_username or not docker_password or not docker_server:
        raise CommandError(
            "either --from-file or the combination of --docker-username, --docker-password and "
            "--docker-server is required"
        )
    config = docker_config(docker_server, docker_username, docker_password, docker_email)
    data = {".dockerconfigjson": base64.b64encode(config.encode()).decode()}
    return _secret(session, name, data=data, type="kubernetes.io/dockerconfigjson")


def check_key_pair(cert: bytes, key: bytes) -> None:
    """kubectl refuses a TLS secret whose key and certificate do not make a pair (Go's X509KeyPair)."""
    if b"PRIVATE KEY-----" not in key:
        raise CommandError(
            "tls: found a certificate rather than a key in the PEM for the private key"
            if b"CERTIFICATE-----" in key
            else "tls: failed to find any PEM data in key input"
        )
    if b"CERTIFICATE-----" not in cert:
        raise CommandError("tls: failed to find any PEM data in certificate input")
    import ssl
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "c").write_bytes(cert)
        (Path(scratch) / "k").write_bytes(key)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(Path(scratch) / "c", Path(scratch) / "k")
        except ssl.SSLError:
            raise CommandError("tls: private key does not match public key") from None


@click.option("--cert", default="", help="The PEM certificate file.")
@click.option("--key", default="", help="The PEM private key file.")
@_secret_generator("tls")
def create_secret_tls(session: Session, name: str, cert: str, key: str) -> dict[str, Any]:
    """Create a TLS secret from a certificate and its key."""
    if not cert or not key:
        raise CommandError("key and cert must be specified")
    cert_bytes, key_bytes = Path(cert).read_bytes(), Path(key).read_bytes()
    check_key_pair(cert_bytes, key_bytes)
    data = {"tls.crt": base64.b64encode(cert_bytes).decode(), "tls.key": base64.b64encode(key_bytes).decode()}
    return _secret(session, name, data=data, type="kubernetes.io/tls")


@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--image", default=None, help="The image of the container.")
@click.option("--from", "from_", default=None, help="cronjob/NAME: a job from a cron job's template.")
@_generator("job", plural="jobs", failure="failed to create job: ", context_settings={"ignore_unknown_options": True})
async def create_job(
    session: Session, name: str, command: tuple[str, ...], image: str | None, from_: str | None
) -> dict[str, Any]:
    """Create a job with the specified name."""
    if not image and not from_:
        raise CommandError("either --image or --from must be specified")
    if image and from_:
        raise CommandError("--image and --from are mutually exclusive")
    if from_:
        kind, _, source = from_.partition("/")
        if kind not in ("cronjob", "cronjobs", "cj", "cronjob.batch", "cronjobs.batch"):
            raise CommandError(f"unknown object type {kind}")
        cron = await session.api.get(f"/apis/batch/v1/namespaces/{session.namespace}/cronjobs/{source}")
        template = (cron.get("spec") or {}).get("jobTemplate") or {}
        meta = _meta(
            name,
            session,
            annotations={
                "cronjob.kubernetes.io/instantiate": "manual",
                **((template.get("metadata") or {}).get("annotations") or {}),
            },
        )
        if (template.get("metadata") or {}).get("labels"):
            meta["labels"] = template["metadata"]["labels"]
        meta["ownerReferences"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": source,
                "uid": cron["metadata"]["uid"],
                "controller": True,
            }
        ]
        obj = {
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": meta,
            "spec": template.get("spec") or {},
            "status": {},
        }
    else:
        container: dict[str, Any] = {"name": name, "image": image}
        if command:
            container["command"] = list(command)
        container["resources"] = {}
        obj = {
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": _meta(name, session),
            "spec": {
                "template": {
                    "metadata": {"creationTimestamp": None},
                    "spec": {"containers": [container], "restartPolicy": "Never"},
                }
            },
            "status": {},
        }
    return obj


@create.command(name="token")
@click.argument("serviceaccount")
@click.option("--duration", default="", help="How long the token lives (e.g. 10m, 1h).")
@click.option("--audience", "audiences", multiple=True, help="An audience of the token; repeatable.")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml"]), default="")
def create_token(serviceaccount: str, duration: str, audiences: tuple[str, ...], output: str) -> None:
    """Request a service account token."""
    from minikube_py.kubectl.session import go_seconds

    spec: dict[str, Any] = {}
    if audiences:
        spec["audiences"] = list(audiences)
    if duration:
        try:
            spec["expirationSeconds"] = int(go_seconds(duration))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--duration") from None

    async def work(session: Session) -> int:
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": serviceaccount, "namespace": session.namespace},
            "spec": spec,
        }
        try:
            answer = await session.api.request(
                "POST", f"/api/v1/namespaces/{session.namespace}/serviceaccounts/{serviceaccount}/token", body=request
            )
        except ApiError as exc:
            raise CommandError(f"failed to create token: {exc.message}") from None
        if output:
            sys.stdout.write(go_json(answer) + "\n" if output == "json" else go_yaml(answer))
        else:
            click.echo((answer.get("status") or {}).get("token", ""))
        return 0

    run(work)


@click.option("--selector", default="", help="The label selector of the pods the budget covers (a=b,c=d).")
@click.option("--min-available", default="", help="Pods that must stay available: a number or a percentage.")
@click.option("--max-unavailable", default="", help="Pods that may be unavailable: a number or a percentage.")
@_generator(
    "poddisruptionbudget",
    aliases=("pdb",),
    plural="poddisruptionbudgets",
    failure="failed to create poddisruptionbudgets: ",
)
def create_pdb(session: Session, name: str, selector: str, min_available: str, max_unavailable: str) -> dict[str, Any]:
    """Create a pod disruption budget with the specified name."""
    if not min_available and not max_unavailable:
        raise CommandError("one of min-available or max-unavailable must be specified")
    if min_available and max_unavailable:
        raise CommandError("min-available and max-unavailable cannot be both specified")
    if not selector:
        raise CommandError("a selector must be specified")
    budget = min_available or max_unavailable
    spec: dict[str, Any] = {
        "minAvailable" if min_available else "maxUnavailable": int(budget) if budget.isdigit() else budget,
        "selector": {"matchLabels": _pairs(selector, "selector")},
    }
    return {
        "kind": "PodDisruptionBudget",
        "apiVersion": "policy/v1",
        "metadata": _meta(name, session),
        "spec": spec,
        "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
    }
