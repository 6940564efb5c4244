"""What kubectl tells about the cluster and the client: ``version``, ``api-resources``, ``cluster-info``
and ``config view|current-context|use-context``."""

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
        shown = sorted((r for r in discovery.resources if r.verbs
                        and (namespaced is None or r.namespaced == namespaced)
                        and (api_group is None or r.group == api_group)),
                       key=lambda r: (r.group, r.name))
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


@click.command(name="cluster-info")
def cluster_info() -> None:
    """Display the addresses of the control plane and of the services labelled
    kubernetes.io/cluster-service=true."""

    async def work(session: Session) -> None:
        server = session.config.server
        click.echo(f"Kubernetes control plane is running at {server}")
        services = await session.api.list("/api/v1/namespaces/kube-system/services",
                                          label_selector="kubernetes.io/cluster-service=true")
        for svc in services.get("items", []):
            meta = svc["metadata"]
            ports = svc.get("spec", {}).get("ports") or [{}]
            name = meta["name"] + (f":{ports[0]['name']}" if ports[0].get("name") else "")
            shown = (meta.get("labels") or {}).get("kubernetes.io/name", meta["name"])
            click.echo(f"{shown} is running at {server}/api/v1/namespaces/kube-system/services/{name}/proxy")
        click.echo("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")

    run(work)


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


_SECRETS = {"certificate-authority-data": "DATA+OMITTED", "client-certificate-data": "DATA+OMITTED",
            "client-key-data": "DATA+OMITTED", "token": "REDACTED", "password": "REDACTED"}


@config.command()
@click.option("--raw", is_flag=True, help="Show credentials too.")
@click.option("--minify", is_flag=True, help="Only what the current context uses.")
def view(raw: bool, minify: bool) -> None:
    """Display the kubeconfig, credentials redacted."""
    from minikube_py.kubectl.printing import go_yaml

    _, data = _load()
    doc: dict[str, Any] = {"apiVersion": "v1", "clusters": data.get("clusters") or None,
                           "contexts": data.get("contexts") or None,
                           "current-context": data.get("current-context", ""), "kind": "Config",
                           "preferences": data.get("preferences") or {}, "users": data.get("users") or None}
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
