"""What kubectl tells about the cluster and the client: ``version``, ``api-resources``, ``api-versions``,
``cluster-info`` (and ``dump``), ``config view|current-context|use-context|get-contexts|set-context``
and ``completion``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from minikube_py.kubectl.printing import tabulate
from minikube_py.kubectl.session import Globals, Session, config_file, fail, run

#: the kubectl release whose behaviour this one follows
CLIENT_VERSION = "v1.32.4"


@click.command()
@click.option("--client", is_flag=True, help="Only the client version.")
def version(client: bool) -> None:
    """Print the client and server version information."""
    from importlib.metadata import version as package_version

    click.echo(f"Client Version: {CLIENT_VERSION}-pykube.{package_version('minikube-py')}")
    if client:
        return

    async def work(session: Session) -> None:
        server = await session.api.get("/version")
        click.echo(f"Server Version: {server.get('gitVersion', '')}")

    run(work)


@click.command(name="api-resources")
@click.option("-o", "--output", type=click.Choice(["", "name", "wide"]), default="")
@click.option("--no-headers", is_flag=True)
@click.option("--namespaced", type=click.BOOL, default=None, help="Only namespaced (true) or cluster (false) types.")
@click.option("--api-group", default=None, help="Only the types of this group ('' for the core group).")
def api_resources(output: str, no_headers: bool, namespaced: bool | None, api_group: str | None) -> None:
    """Print the supported API resources on the server."""

    async def work(session: Session) -> None:
        discovery = await session.discovery()
        shown = sorted(
            (
                r
                for r in discovery.resources
                if r.verbs
                and (namespaced is None or r.namespaced == namespaced)
                and (api_group is None or r.group == api_group)
            ),
            key=lambda r: (r.group, r.name),
        )
        if output == "name":
            click.echo("".join(f"{r.qualified}\n" for r in shown), nl=False)
            return
        header = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
        if output == "wide":
            header += ["VERBS", "CATEGORIES"]
        rows = [] if no_headers else [header]
        for r in shown:
            row = [r.name, ",".join(r.short_names), r.api_version, "true" if r.namespaced else "false", r.kind]
            if output == "wide":
                row += [",".join(r.verbs), ",".join(r.categories)]
            rows.append(row)
        click.echo(tabulate(rows), nl=False)

    run(work)


@click.group(name="cluster-info", invoke_without_command=True)
@click.pass_context
def cluster_info(ctx: click.Context) -> None:
    """Display the addresses of the control plane and of the services labelled
    kubernetes.io/cluster-service=true."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(session: Session) -> None:
        server = session.config.server
        click.echo(f"Kubernetes control plane is running at {server}")
        services = await session.api.list(
            "/api/v1/namespaces/kube-system/services", label_selector="kubernetes.io/cluster-service=true"
        )
        for svc in services.get("items", []):
            meta = svc["metadata"]
            ports = svc.get("spec", {}).get("ports") or [{}]
            name = meta["name"] + (f":{ports[0]['name']}" if ports[0].get("name") else "")
            shown = (meta.get("labels") or {}).get("kubernetes.io/name", meta["name"])
            click.echo(f"{shown} is running at {server}/api/v1/namespaces/kube-system/services/{name}/proxy")
        click.echo("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")

    run(work)


#: what ``cluster-info dump`` lists in each namespace, in its order: (file name, path, item kind, apiVersion)
DUMPED = (
    ("events", "/api/v1/namespaces/{ns}/events", "Event", "v1"),
    ("replication-controllers", "/api/v1/namespaces/{ns}/replicationcontrollers", "ReplicationController", "v1"),
    ("services", "/api/v1/namespaces/{ns}/services", "Service", "v1"),
    ("daemonsets", "/apis/apps/v1/namespaces/{ns}/daemonsets", "DaemonSet", "apps/v1"),
    ("deployments", "/apis/apps/v1/namespaces/{ns}/deployments", "Deployment", "apps/v1"),
    ("replicasets", "/apis/apps/v1/namespaces/{ns}/replicasets", "ReplicaSet", "apps/v1"),
    ("pods", "/api/v1/namespaces/{ns}/pods", "Pod", "v1"),
)


def _typed_list(listed: dict[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    """A list as kubectl's typed client prints it: the list's kind, and each item's kind and apiVersion."""
    from minikube_py.kubectl.get import without_managed_fields

    return {
        "kind": f"{kind}List",
        "apiVersion": api_version,
        "metadata": listed.get("metadata") or {},
        "items": [
            {"kind": kind, "apiVersion": api_version, **without_managed_fields(item)}
            for item in listed.get("items") or []
        ],
    }


@cluster_info.command()
@click.option("--namespaces", default="", help="Comma-separated namespaces to dump (kube-system and the current one).")
@click.option("--output-directory", default="", help="Write files here instead of to standard output.")
def dump(namespaces: str, output_directory: str) -> None:
    """Dump the cluster's state for debugging: nodes, then each namespace's events, controllers,
    services, pods and the pods' logs."""
    from minikube_py.kubectl.printing import go_json

    async def work(session: Session) -> None:
        out_dir = Path(output_directory) if output_directory else None

        def emit(relative: str, text: str) -> None:
            if out_dir is None:
                click.echo(text, nl=False)
                return
            target = out_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

        nodes = _typed_list(await session.api.list("/api/v1/nodes"), "Node", "v1")
        emit("nodes.json", go_json(nodes, sort_keys=False) + "\n")
        if session.flags.all_namespaces:
            listed = await session.api.list("/api/v1/namespaces")
            chosen = [n["metadata"]["name"] for n in listed.get("items", [])]
        else:
            chosen = [n for n in namespaces.split(",") if n] or ["kube-system", session.namespace]
        for namespace in chosen:
            pods: list[dict[str, Any]] = []
            for file, path, kind, api_version in DUMPED:
                listed = _typed_list(await session.api.list(path.format(ns=namespace)), kind, api_version)
                emit(f"{namespace}/{file}.json", go_json(listed, sort_keys=False) + "\n")
                pods = listed["items"] if kind == "Pod" else pods
            for pod in pods:
                name = pod["metadata"]["name"]
                texts = []
                for container in (pod.get("spec") or {}).get("containers") or []:
                    texts.append(f"==== START logs for container {container['name']} of pod {namespace}/{name} ====\n")
                    texts.append(await _log_text(session, namespace, name, container["name"]))
                    texts.append(f"==== END logs for container {container['name']} of pod {namespace}/{name} ====\n")
                emit(f"{namespace}/{name}/logs.txt", "".join(texts))
        if out_dir is not None:
            click.echo(f"Cluster info dumped to {output_directory}")

    run(work)


async def _log_text(session: Session, namespace: str, pod: str, container: str) -> str:
    from minikube_py.client.errors import ApiError

    try:
        async with session.api.stream(
            "GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", params={"container": container}
        ) as resp:
            return (await resp.read()).decode(errors="replace")
    except ApiError as exc:
        reason = "the server rejected our request for an unknown reason" if exc.code == 400 else exc.message
        return f"Request log error: {reason} (get pods {pod})\n"


@click.group()
def config() -> None:
    """Modify kubeconfig files."""


def _load() -> tuple[Path, dict[str, Any]]:
    import yaml

    path = config_file(click.get_current_context().find_object(Globals) or Globals())
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError:
        data = {}
    return path, data


_SECRETS = {
    "certificate-authority-data": "DATA+OMITTED",
    "client-certificate-data": "DATA+OMITTED",
    "client-key-data": "DATA+OMITTED",
    "token": "REDACTED",
    "password": "REDACTED",
}


@config.command()
@click.option("--raw", is_flag=True, help="Show credentials too.")
@click.option("--minify", is_flag=True, help="Only what the current context uses.")
def view(raw: bool, minify: bool) -> None:
    """Display the kubeconfig, credentials redacted."""
    from minikube_py.kubectl.printing import go_yaml

    _, data = _load()

    def by_name(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return sorted(entries, key=lambda e: e.get("name", "")) if entries else None  # kubectl keeps maps

    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "clusters": by_name(data.get("clusters")),
        "contexts": by_name(data.get("contexts")),
        "current-context": data.get("current-context", ""),
        "kind": "Config",
        "preferences": data.get("preferences") or {},
        "users": by_name(data.get("users")),
    }
    if minify:
        current = next((c for c in doc["contexts"] or [] if c["name"] == doc["current-context"]), None)
        if current is None:
            fail("current-context must exist in order to minify")
            return
        ctx = current.get("context") or {}
        doc["contexts"] = [current]
        doc["clusters"] = [c for c in doc["clusters"] or [] if c["name"] == ctx.get("cluster")]
        doc["users"] = [u for u in doc["users"] or [] if u["name"] == ctx.get("user")]
    if not raw:
        for section, field in (("clusters", "cluster"), ("users", "user")):
            for entry in doc[section] or []:
                body = entry.get(field) or {}
                for key, mask in _SECRETS.items():
                    if body.get(key):
                        body[key] = mask
    click.echo(go_yaml(doc), nl=False)


@config.command(name="current-context")
def current_context() -> None:
    """Display the current context."""
    _, data = _load()
    if not data.get("current-context"):
        fail("current-context is not set")
    click.echo(data["current-context"])


@config.command(name="use-context")
@click.argument("name")
def use_context(name: str) -> None:
    """Set the current context in the kubeconfig file."""
    import yaml

    path, data = _load()
    if name not in [c.get("name") for c in data.get("contexts") or []]:
        fail(f'no context exists with the name: "{name}"')
    data["current-context"] = name
    from minikube_py.pki import write_file

    write_file(path, yaml.safe_dump(data, sort_keys=False).encode())
    click.echo(f'Switched to context "{name}".')


def _save(path: Path, data: dict[str, Any]) -> None:
    import yaml

    from minikube_py.pki import write_file

    write_file(path, yaml.safe_dump(data, sort_keys=False).encode())


@config.command(name="get-contexts")
@click.argument("names", nargs=-1)
@click.option("-o", "--output", type=click.Choice(["", "name"]), default="")
@click.option("--no-headers", is_flag=True, help="Print no header row.")
def get_contexts(names: tuple[str, ...], output: str, no_headers: bool) -> None:
    """Describe one or many contexts."""
    from minikube_py.kubectl.printing import MIN_WIDTH, PADDING, go_tabwriter

    _, data = _load()
    contexts = sorted(data.get("contexts") or [], key=lambda c: c.get("name", ""))
    missing = [n for n in names if n not in [c.get("name") for c in contexts]]
    shown = [c for c in contexts if not names or c.get("name") in names]
    if output == "name":
        click.echo("".join(f"{c['name']}\n" for c in shown), nl=False)
    else:
        rows = [] if no_headers else [["CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"]]
        for c in shown:
            ctx = c.get("context") or {}
            rows.append(
                [
                    "*" if c.get("name") == data.get("current-context") else "",
                    c["name"],
                    ctx.get("cluster", ""),
                    ctx.get("user", ""),
                    ctx.get("namespace", ""),
                ]
            )
        click.echo(go_tabwriter("".join("\t".join(row) + "\n" for row in rows), PADDING, MIN_WIDTH), nl=False)
    if missing:
        fail(f"context {missing[0]} not found")


@config.command(name="set-context")
@click.argument("name", required=False)
@click.option("--current", is_flag=True, help="Change the current context.")
@click.option("--namespace", "namespace_", default=None, help="The context's namespace.")
@click.option("--cluster", default=None, help="The context's cluster.")
@click.option("--user", default=None, help="The context's user.")
def set_context(name: str | None, current: bool, namespace_: str | None, cluster: str | None, user: str | None) -> None:
    """Set a context entry in kubeconfig (created if it does not exist)."""
    flags = click.get_current_context().find_object(Globals) or Globals()
    # --namespace, --cluster and --user are global flags too: the command line hoists them there
    namespace_, cluster, user = namespace_ or flags.namespace, cluster or flags.cluster, user or flags.user
    path, data = _load()
    if current:
        if name:
            fail("you cannot specify both a context name and --current")
        name = data.get("current-context") or ""
        if not name:
            fail("no current context is set")
    if not name:
        fail("you must specify a non-empty context name or --current")
    contexts = data.setdefault("contexts", []) or []
    data["contexts"] = contexts
    entry = next((c for c in contexts if c.get("name") == name), None)
    created = entry is None
    if entry is None:
        entry = {"context": {}, "name": name}
        contexts.append(entry)
    ctx = entry.setdefault("context", {}) or {}
    entry["context"] = ctx
    for key, value in (("cluster", cluster), ("namespace", namespace_), ("user", user)):
        if value is not None:
            ctx[key] = value
    _save(path, data)
    click.echo(f'Context "{name}" {"created" if created else "modified"}.')


@click.command(name="api-versions")
def api_versions() -> None:
    """Print the supported API versions on the server, in the form of "group/version"."""

    async def work(session: Session) -> None:
        import asyncio

        core, groups = await asyncio.gather(session.api.get("/api"), session.api.get("/apis"))
        versions = list(core.get("versions") or [])
        versions += [v["groupVersion"] for g in groups.get("groups") or [] for v in g.get("versions") or []]
        click.echo("".join(f"{v}\n" for v in sorted(versions)), nl=False)

    run(work)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Output shell completion code for the pykube command: source <(pykube kubectl completion bash).

    It is click's completion of the whole ``pykube`` command, ``pykube kubectl`` and its verbs included."""
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    cls = get_completion_class(shell)
    assert cls is not None
    # for the installed command, whatever ran this one: the shell completes what users type
    click.echo(cls(root.command, {}, "pykube", "_PYKUBE_COMPLETE").source())
