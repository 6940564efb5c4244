"""The ``kubectl`` command group: global flags accepted anywhere on the line, verbs loaded lazily."""

from __future__ import annotations

import importlib
from typing import Any

import click

from minikube_py.kubectl.errors import CommandError
from minikube_py.kubectl.session import Globals, fail

#: verb -> "module:command" under minikube_py.kubectl; legacy verbs (resize, stop) live with their kin
VERBS: dict[str, str] = {
    "annotate": "modify:annotate",
    "api-resources": "info:api_resources",
    "api-versions": "info:api_versions",
    "apply": "write:apply",
    "attach": "attach:attach",
    "autoscale": "autoscale:autoscale",
    "certificate": "certificate:certificate",
    "cluster-info": "info:cluster_info",
    "completion": "info:completion",
    "config": "info:config",
    "cordon": "modify:cordon",
    "cp": "copy:cp",
    "debug": "attach:debug",
    "create": "generate:create",
    "delete": "write:delete",
    "describe": "describe:describe",
    "drain": "drain:drain",
    "edit": "edit:edit",
    "exec": "pods:exec_",
    "explain": "explain:explain_",
    "expose": "generate:expose",
    "get": "get:get",
    "label": "modify:label",
    "logs": "pods:logs",
    "patch": "modify:patch",
    "port-forward": "forward:port_forward",
    "replace": "write:replace",
    "resize": "modify:resize",
    "rolling-update": "rollingupdate:rolling_update",
    "rollout": "rollout:rollout",
    "run": "generate:run_",
    "scale": "modify:scale",
    "set": "setters:set_",
    "stop": "modify:stop",
    "taint": "modify:taint",
    "top": "top:top",
    "uncordon": "modify:uncordon",
    "version": "info:version",
    "wait": "wait:wait",
}

#: kubectl's global flags that take a value, and those that do not
_VALUED = {
    "--kubeconfig",
    "--context",
    "--server",
    "-s",
    "--token",
    "-n",
    "--namespace",
    "--request-timeout",
    "-v",
    "--v",
    "--cluster",
    "--user",
}
_SWITCHES = {"-A", "--all-namespaces"}


def hoist_globals(args: list[str]) -> list[str]:
    """Move the global flags to the front, as kubectl (cobra) takes them before or after the verb:
    ``kubectl get pods -n x`` and ``kubectl -n x get pods`` are the same command. Nothing after ``--``
    moves: that is the command ``exec`` runs."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, eq, value = arg.partition("=")
        if arg in _SWITCHES or (name in _VALUED and eq and name.startswith("--")):
            front.append(arg)
        elif name in _VALUED and eq:  # -v=6, -n=x: pflag's value after "=", which click would keep
            front += [name, value]
        elif arg in _VALUED and i + 1 < len(args):
            front += [arg, args[i + 1]]
            i += 1
        elif arg[:2] in ("-n", "-v", "-s") and len(arg) > 2 and not arg.startswith("--"):
            front += [arg[:2], arg[2:]]
        else:
            rest.append(arg)
        i += 1
    return front + rest


class KubectlGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(args))

    def invoke(self, ctx: click.Context) -> Any:
        """A verb's refusal before it reaches the cluster ends as kubectl's ``error: ...`` too."""
        try:
            return super().invoke(ctx)
        except CommandError as exc:
            fail(str(exc))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = VERBS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"minikube_py.kubectl.{module}"), attribute)
        return command


@click.group(cls=KubectlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kubeconfig", default=None, help="Path to the kubeconfig file to use.")
@click.option("--context", default=None, help="The name of the kubeconfig context to use.")
@click.option("--cluster", default=None, hidden=True)
@click.option("--user", default=None, hidden=True)
@click.option("-s", "--server", default=None, help="The address and port of the Kubernetes API server.")
@click.option("--token", default=None, help="Bearer token for authentication to the API server.")
@click.option("-n", "--namespace", default=None, help="If present, the namespace scope for this CLI request.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List the requested object(s) across all namespaces.")
@click.option("--request-timeout", default="0", help="How long to wait for a server answer (e.g. 1s, 2m); 0: none.")
@click.option("-v", "--v", "verbosity", default="0", help="Log level for requests (6: each request).")
@click.pass_context
def kubectl(ctx: click.Context, **flags: Any) -> None:
    """kubectl controls the Kubernetes cluster manager (pykube's built-in kubectl)."""
    ctx.obj = Globals.from_flags(flags)
