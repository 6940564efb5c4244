"""Verbs that make an object from flags rather than a file: ``run`` (a pod)."""

from __future__ import annotations

import sys
from typing import Any

import click

from minikube_py.client.errors import ApiError
from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.printing import go_json, go_yaml
from minikube_py.kubectl.session import Session, error_text, run
from minikube_py.kubectl.write import DRY_RUN, write_params

_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def _pairs(text: str, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, text.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise CommandError(f"invalid {flag} {part!r}: expected key=value")
        out[key] = value
    return out


def pod_for_run(name: str, image: str, *, labels: dict[str, str], env: list[str], port: int | None,
                restart: str, pull_policy: str | None, command: bool, args: tuple[str, ...],
                namespace: str | None) -> dict[str, Any]:
    """The Pod kubectl's run generator makes, its fields in the Go structs' order (which ``-o json``
    of a client-side dry run shows)."""
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
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
            "spec": {"containers": [container], "restartPolicy": restart, "dnsPolicy": "ClusterFirst"},
            "status": {}}


@click.command(name="run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--image", required=True, help="The image of the container.")
@click.option("-l", "--labels", default="", help="Labels, a=b,c=d (default: run=NAME).")
@click.option("--env", multiple=True, help="An environment variable NAME=VALUE; repeatable.")
@click.option("--port", type=int, default=None, help="The port the container exposes.")
@click.option("--restart", type=click.Choice(["Always", "OnFailure", "Never"]), default="Always")
@click.option("--image-pull-policy", type=click.Choice(["", "Always", "IfNotPresent", "Never"]), default="")
@click.option("--command", is_flag=True, help="The arguments are the command, not its arguments.")
@click.option("--dry-run", type=DRY_RUN, default="none", help="none, client or server.")
@click.option("-o", "--output", type=click.Choice(["", "json", "yaml", "name"]), default="")
@click.option("-i", "--stdin", "interactive", is_flag=True, hidden=True)
@click.option("-t", "--tty", is_flag=True, hidden=True)
@click.option("--rm", is_flag=True, hidden=True)
def run_(name: str, args: tuple[str, ...], image: str, labels: str, env: tuple[str, ...], port: int | None,
         restart: str, image_pull_policy: str, command: bool, dry_run: str, output: str, interactive: bool,
         tty: bool, rm: bool) -> None:
    """Create and run a particular image in a pod."""
    if interactive or tty or rm:
        raise click.UsageError("pykube kubectl run does not attach yet: run the pod, then exec into it")
    for e in env:
        if "=" not in e:
            raise click.BadParameter(f"invalid env {e!r}: expected NAME=VALUE", param_hint="--env")

    async def work(session: Session) -> int:
        pod = pod_for_run(name, image, labels=_pairs(labels, "label"), env=list(env), port=port, restart=restart,
                          pull_policy=image_pull_policy or None, command=command, args=args,
                          namespace=session.namespace if session.explicit_namespace else None)
        if dry_run != "client":
            path = f"/api/v1/namespaces/{session.namespace}/pods"
            try:
                pod = await session.api.request("POST", path, body=pod, params=write_params("kubectl-run", dry_run))
            except ApiError as exc:
                click.echo(error_text(exc), err=True)
                return 1
        if output in ("json", "yaml"):
            typed = dry_run == "client"  # kubectl's own struct; the server's answer prints sorted
            sys.stdout.write(go_json(pod, sort_keys=not typed) + "\n" if output == "json" else go_yaml(pod))
        else:
            click.echo(f"pod/{name}" + ("" if output == "name" else f" created{_SUFFIX[dry_run]}"))
        return 0

    run(work)
