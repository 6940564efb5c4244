"""The ``pykube`` command. Flags are declared here, apart from the code that runs them (core); the
options of settings are generated from the configuration's dataclasses, so that each has one name,
one default and one help text in the file, the environment and on the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from minikube_py.client.kubeconfig import ClientConfig
from minikube_py.config import (
    AGENT_ENV_PREFIX,
    AGENT_SETTINGS,
    ENV_PREFIX,
    SERVER_SETTINGS,
    ConfigError,
    Setting,
    load_agent_config,
    load_server_config,
)
from minikube_py.guard import PartFailed

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: the format of every log line the commands write
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LazyGroup(click.Group):
    """A group whose heavy subcommands are imported only when run: ``pykube kubectl get pods`` must
    start in a blink, so it may not pay for importing the server (the store, the API, the agent)."""

    #: command name -> "module:attribute" of its click command
    lazy: dict[str, str] = {"kubectl": "minikube_py.kubectl.cli:kubectl"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            import importlib

            module, attribute = self.lazy[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """pykube: a Kubernetes-compatible cluster in one process."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format=LOG_FORMAT)


def setting_options(settings: Sequence[Setting], names: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """One option per setting, in the dataclass's order, with the field's help text and default: the
    flag of ``watch.history`` is ``--watch-history`` unless ``names`` renames it (``server`` is
    ``--join``). Options default to None, "not given", so that the environment and the file keep
    their say (see :func:`~minikube_py.config.load_server_config`)."""

    def decorate(command: F) -> F:
        for setting in reversed(settings):
            command = _option(setting, (names or {}).get(setting.flag, setting.flag))(command)
        return command

    return decorate


def _option(setting: Setting, name: str) -> Callable[[F], F]:
    flag = "--" + name.replace("_", "-")
    shown = setting.default_text
    text = f"{setting.help} [default: {shown}]" if shown else setting.help
    if setting.type is bool:
        # a switch that is on unless turned off gets both forms; one that is off gets just its name
        decl = f"{flag}/--no-{flag[2:]}" if setting.default else flag
        return click.option(decl, setting.flag, is_flag=True, default=None, help=text)
    kind: click.ParamType = click.Choice(setting.choices) if setting.choices else _CLICK_TYPES[setting.type]
    return click.option(
        flag,
        setting.flag,
        type=kind,
        default=None,
        help=text,
        metavar="LOW-HIGH" if setting.type == tuple[int, int] else None,
    )


#: the flag type of each setting type; a port range is parsed with the file's and the environment's
_CLICK_TYPES: dict[Any, click.ParamType] = {
    int: click.INT,
    float: click.FLOAT,
    str: click.STRING,
    Path: click.Path(file_okay=False),
    tuple[int, int]: click.STRING,
}

_CLEANUP_HELP = "Remove the service proxy's iptables rules and pod routes from this host, then exit."
#: agent flags named otherwise than their setting: ``--join`` as k3s' agent has it
_AGENT_FLAG_NAMES = {"server": "join"}


def _epilog(prefix: str, names: Mapping[str, str] | None = None) -> str:
    renamed = "".join(f"; --{flag} is {key}" for key, flag in (names or {}).items())
    return (
        f"Every option is also a key of the --config file (with underscores{renamed}) and a {prefix}<KEY> "
        "environment variable; options win over the environment, which wins over the file."
    )


def _node_options(
    config_help: str, settings: Sequence[Setting], names: Mapping[str, str] | None = None
) -> Callable[[F], F]:
    """The options of a command that runs a node (``server``, ``agent``): ``--config``, one per
    setting, and ``--cleanup``."""

    def decorate(command: F) -> F:
        command = click.option("--cleanup", is_flag=True, default=False, help=_CLEANUP_HELP)(command)
        command = setting_options(settings, names)(command)
        config = click.option(
            "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help=config_help
        )
        return config(command)

    return decorate


def _load(load: Callable[..., T], config_file: Path | None, flags: dict[str, Any]) -> T:
    """The settings from the file, the environment and the flags; a bad one is a usage error."""
    try:
        return load(file=config_file, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@main.command(epilog=_epilog(ENV_PREFIX))
@_node_options("YAML file with server settings (see config.example.yaml).", SERVER_SETTINGS)
def server(config_file: Path | None, cleanup: bool, **flags: Any) -> None:
    """Run the API server, the store and the control plane."""
    if cleanup:
        _cleanup_network()
        return
    config = _load(load_server_config, config_file, flags)
    import uvloop

    from minikube_py.core import ClusterIdentityError, serve_forever

    try:
        # uvloop: the server runs everything on this one loop, and uvloop's transports, TLS and
        # callbacks are compiled, which took ~6% of the server's CPU off a create and ~15% off a
        # patch under bench/api.py's load
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve_forever(config))
    except (OSError, PartFailed, ClusterIdentityError) as exc:
        click.echo(f"pykube server: {exc}", err=True)
        sys.exit(1)


@main.command(epilog=_epilog(AGENT_ENV_PREFIX, _AGENT_FLAG_NAMES))
@_node_options(
    "YAML file with agent settings (keys as the flags, with underscores).", AGENT_SETTINGS, _AGENT_FLAG_NAMES
)
def agent(config_file: Path | None, cleanup: bool, **flags: Any) -> None:
    """Join a cluster as a node and run the pods scheduled to it."""
    from minikube_py.agent.agent import Agent, JoinError

    if cleanup:
        _cleanup_network()
        return

    config = _load(load_agent_config, config_file, flags)
    if config.count > 1 and not config.kubeconfig:
        raise click.UsageError(
            "--count needs --kubeconfig: a fleet of fake nodes acts for all of them (as a user "
            "who may impersonate system:node:*, such as the admin), which the join token cannot"
        )
    if config.count == 1 and (not config.server or not config.token):
        raise click.UsageError("--join URL and --token T are required")
    if config.count > 1:
        from minikube_py.agent.fleet import Fleet

        work = Fleet(config).run()
    else:
        work = Agent(config).run()
    try:
        asyncio.run(_until_signalled(work))
    except JoinError as exc:
        click.echo(f"pykube agent: {exc}", err=True)
        sys.exit(1)


def _cleanup_network() -> None:
    """As ``kube-proxy --cleanup``: what the node's service proxy left in this network namespace
    (rules stay when an agent stops, so traffic keeps flowing while it restarts)."""
    from minikube_py.netproxy.proxy import cleanup

    cleanup()
    click.echo("removed pykube's iptables rules, forwarding rules and pod routes")


def _data_dir_option(text: str, *, repeatable: bool = False) -> Callable[[F], F]:
    """``--data-dir``, whose help ``text`` says which directory and what of it the command uses: one
    (``data_dir``, None by default) or, ``repeatable``, any number (``data_dirs``)."""
    kind = click.Path(file_okay=False, path_type=Path)
    if repeatable:
        return click.option("--data-dir", "data_dirs", multiple=True, type=kind, help=text)
    return click.option("--data-dir", type=kind, default=None, help=text)


def _client_options(command: F) -> F:
    """--kubeconfig, --context and --data-dir: how a command that talks to the server finds it."""
    for option in reversed(
        (
            click.option(
                "--kubeconfig",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="The kubeconfig whose user calls the server. [default: as kubectl finds it: KUBECONFIG, "
                "then ~/.kube/config, then the one the local server wrote into its data directory]",
            ),
            click.option(
                "--context", default=None, help="The kubeconfig context to use. [default: its current-context]"
            ),
            _data_dir_option(
                "The local server's data directory, whose kubeconfig is the last resort. "
                "[default: the server's default data directory]"
            ),
        )
    ):
        command = option(command)
    return command


@main.command()
@_client_options
@click.option("--open", "open_browser", is_flag=True, default=False, help="Also open the URL in a browser.")
def dashboard(kubeconfig: Path | None, context: str | None, data_dir: Path | None, open_browser: bool) -> None:
    """Print the URL of the cluster's web dashboard with a login code, as `minikube dashboard` does.

    The code is valid once, for two minutes: opening the URL trades it for a browser session (12 hours)
    that acts as the kubeconfig's user. The browser does not know the cluster's CA, so it asks to
    trust the server's certificate on the first visit."""
    import webbrowser

    from minikube_py.api.dashboard import LOGIN_CODES_PATH

    client_config = _local_kubeconfig(kubeconfig, context, data_dir)
    answer = _ask_server(
        client_config, "dashboard", "POST", LOGIN_CODES_PATH, refused="the server refused a login code: "
    )
    url = client_config.server.rstrip("/") + answer["path"]
    click.echo(url)
    if open_browser and not webbrowser.open(url):
        click.echo("pykube dashboard: no browser could be opened; open the URL above", err=True)


def _local_kubeconfig(path: Path | None, context: str | None, data_dir: Path | None) -> ClientConfig:
    """kubectl's search order, and then the kubeconfig of a server running on this host (a usage
    error when there is none)."""
    from minikube_py.client.kubeconfig import DEFAULT_PATH, KubeconfigError, load_kubeconfig
    from minikube_py.config import default_data_dir

    if path is None and not os.environ.get("KUBECONFIG") and not DEFAULT_PATH.expanduser().exists():
        path = (data_dir or default_data_dir()) / "kubeconfig.yaml"
    try:
        return load_kubeconfig(path, context)
    except KubeconfigError as exc:
        raise click.UsageError(str(exc)) from exc


def _ask_server(client_config: ClientConfig, command: str, method: str, path: str, *, refused: str = "") -> Any:
    """One call of ``pykube <command>`` to the API server; a refusal or an unreachable server is one
    line on stderr (``refused`` before the server's message) and exit status 1."""
    from minikube_py.client.errors import ApiError

    try:
        return asyncio.run(_call_server(client_config, command, method, path))
    except ApiError as exc:
        click.echo(f"pykube {command}: {refused}{exc.message}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"pykube {command}: cannot reach the server: {exc}", err=True)
        sys.exit(1)


#: ``status`` and the actions of the API server's endpoint (minikube_py.api.encryption.ACTIONS)
SECRETS_ENCRYPT_ACTIONS = ("status", "prepare", "rotate", "reencrypt", "rotate-keys")


@main.command("secrets-encrypt")
@click.argument("action", type=click.Choice(SECRETS_ENCRYPT_ACTIONS))
@_client_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def secrets_encrypt(
    action: str, kubeconfig: Path | None, context: str | None, data_dir: Path | None, output: str
) -> None:
    """Manage the keys that encrypt Secrets at rest (servers started with --secrets-encryption), as
    `k3s secrets-encrypt`: `prepare` adds a key every server can read, `rotate` makes it the key new
    writes use, `reencrypt` reseals every stored Secret with it and drops the keys no longer used;
    `rotate-keys` does the three at once and `status` shows the keys and how many Secrets each sealed.
    Every step is done by the servers and kept in the datastore, so servers may restart between them."""
    import json

    from minikube_py.api.encryption import PATH

    answer = _ask_server(
        _local_kubeconfig(kubeconfig, context, data_dir),
        "secrets-encrypt",
        "GET" if action == "status" else "POST",
        PATH + ("" if action == "status" else f"/{action}"),
    )
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    usage = ", ".join(f"{name}={count}" for name, count in answer["secretsByKey"].items()) or "none stored"
    click.echo(
        f"Encryption Status: {'Enabled' if answer['enabled'] else 'Disabled'}\n"
        f"Current Rotation Stage: {answer['stage']}\n"
        f"Write Key: {answer['writeKey']}\n"
        f"Keys: {', '.join(answer['keys']) or 'none'}\n"
        f"Stored Secret values by key: {usage}"
    )


async def _call_server(client_config: ClientConfig, user_agent: str, method: str, path: str) -> Any:
    import aiohttp

    from minikube_py.client.rest import ApiClient

    try:
        async with ApiClient(client_config, user_agent=f"pykube-{user_agent}") as api:
            return await api.request(method, path)
    except aiohttp.ClientError as exc:
        raise OSError(str(exc)) from exc


@main.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed and remove nothing.")
@click.option(
    "--all",
    "remove_data",
    is_flag=True,
    help="Also remove the data directories (the cluster's state, certificates and tokens).",
)
@click.option(
    "--node",
    default=None,
    metavar="NAME",
    help="Only this node's containers and pod network: no host-wide rules or routes, and mounts "
    "only under a --data-dir given.",
)
@_data_dir_option(
    "A data directory whose pod mounts (and with --all, itself) go too; repeatable. "
    "[default: the server's and the agent's default data directories]",
    repeatable=True,
)
@click.option("--docker-host", default=None, help="The Docker engine to clean. [default: the local engine]")
def cleanup(
    dry_run: bool, remove_data: bool, node: str | None, data_dirs: tuple[Path, ...], docker_host: str | None
) -> None:
    """Stop and remove everything pykube left on this host: the containers of every node and cluster
    (label io.pykube.managed=true), pykube's Docker networks, the service proxy's iptables chains,
    rules and routes, and pod volume mounts; with --all the data directories too."""
    from minikube_py.config import default_agent_data_dir, default_data_dir

    if node:
        dirs: list[Path] = list(data_dirs)
    else:
        dirs = list(data_dirs) or [default_data_dir(), default_agent_data_dir()]
    _clean("cleanup", dry_run, docker_host, node=node, network_rules=not node, data_dirs=dirs, remove_data=remove_data)


#: what the install scripts put on a host that other software may use too: uninstall names them
INSTALLED_PACKAGES = ("docker.io", "busybox-static")


@main.command()
@click.option("--dry-run", is_flag=True, help="List what would be stopped and removed, and change nothing.")
@_data_dir_option(
    "A data directory to remove; repeatable. [default: the server's and the agent's default data directories]",
    repeatable=True,
)
@click.option("--docker-host", default=None, help="The Docker engine to clean. [default: the local engine]")
def uninstall(dry_run: bool, data_dirs: tuple[Path, ...], docker_host: str | None) -> None:
    """Remove pykube from this host, as k3s-uninstall.sh: stop every pykube server and agent running
    here, then remove what `pykube cleanup --all` removes (containers, networks, rules, routes, mounts,
    data directories) and pykube's images (pykube.local/*). The Debian packages the install scripts
    added stay (other software may use them); the command prints how to remove them and pykube."""
    from minikube_py.config import default_agent_data_dir, default_data_dir

    dirs = list(data_dirs) or [default_data_dir(), default_agent_data_dir()]
    _clean("uninstall", dry_run, docker_host, data_dirs=dirs, remove_data=True, uninstall=True)
    if not dry_run:
        click.echo(
            f"left in place, as other software may use them: the Debian packages "
            f"{', '.join(INSTALLED_PACKAGES)} (`apt-get purge {' '.join(INSTALLED_PACKAGES)}` removes them); "
            "pykube itself: `pip uninstall minikube-py`, or delete the checkout with its .venv"
        )


def _clean(command: str, dry_run: bool, docker_host: str | None, **what: Any) -> None:
    """List what ``pykube cleanup``/``uninstall`` finds, then (unless ``dry_run``) remove it, a line
    per object; exits non-zero when anything could not be listed or removed."""
    from minikube_py.agent.cleanup import find, remove

    try:
        found = asyncio.run(find(docker_host=docker_host, **what))
    except Exception as exc:  # the engine unreachable: nothing can be listed, say why
        click.echo(f"pykube {command}: cannot list Docker's containers and networks: {exc}", err=True)
        sys.exit(1)
    lines = found.lines()
    if not lines:
        click.echo("nothing of pykube's is left on this host")
        return
    if dry_run:
        for line in lines:
            click.echo(f"would remove {line}")
        return
    failures = asyncio.run(remove(found, docker_host=docker_host))
    failed = {f.split(": ", 1)[0] for f in failures}
    if any(f.startswith("iptables rules and routes") for f in failures):
        failed.update(found.rules)
    for line in lines:
        if line not in failed:
            click.echo(f"removed {line}")
    for failure in failures:
        click.echo(f"pykube {command}: cannot remove {failure}", err=True)
    if failures:
        sys.exit(1)


@main.command()
@click.option("--user", "user", required=True, help="The user name (the certificate's CN), e.g. alice.")
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="GROUP",
    help="A group of the user (an O of the certificate); repeatable. system:masters makes a "
    "cluster-admin, as the admin kubeconfig is.",
)
@click.option(
    "--expiration",
    default="8760h",
    show_default=True,
    metavar="DURATION",
    help="How long the credential is valid: a number with h, m or s (e.g. 24h, 90m).",
)
@_data_dir_option("The server's data directory (its CA signs the certificate). [default: the server's default]")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the kubeconfig (mode 0600). [default: standard output]",
)
def kubeconfig(user: str, groups: tuple[str, ...], expiration: str, data_dir: Path | None, out: Path | None) -> None:
    """Mint a kubeconfig for a named user: a client certificate signed by the cluster CA, so a team need
    not share the admin kubeconfig. What the user may do is up to RBAC (RoleBindings naming the user or
    a group); run it on the server's host, as the server's user."""
    import datetime as dt
    import tempfile

    from minikube_py import pki
    from minikube_py.client.kubeconfig import KubeconfigError, load_kubeconfig, write_kubeconfig
    from minikube_py.config import default_data_dir

    directory = data_dir or default_data_dir()
    try:
        validity = dt.timedelta(seconds=_duration_seconds(expiration))
        server = load_kubeconfig(directory / "kubeconfig.yaml").server
        tls = pki.load_pki(directory / "pki")
        cert = pki.issue_client_cert(tls, user, groups, validity=validity)
    except (ValueError, OSError, KubeconfigError) as exc:
        click.echo(f"pykube kubeconfig: {exc}", err=True)
        sys.exit(1)
    if out is not None:
        write_kubeconfig(out, server=server, ca_pem=tls.ca_pem, user=user, client_cert=cert)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kubeconfig"
        write_kubeconfig(path, server=server, ca_pem=tls.ca_pem, user=user, client_cert=cert)
        click.echo(path.read_text(), nl=False)


@main.group()
def token() -> None:
    """Manage the cluster token (the secret of join tokens, which also seals the bootstrap data)."""


@token.command()
@click.option(
    "--token",
    "current",
    required=True,
    metavar="TOKEN",
    help="The current cluster token (a full K10... token or its secret).",
)
@click.option(
    "--new-token",
    "new",
    required=True,
    metavar="TOKEN",
    help="The new cluster token: a secret of your choice (or a full K10... token of this cluster).",
)
@_data_dir_option(
    "The data directory of a server of the cluster (its admin kubeconfig is used). [default: the server's default]"
)
@click.option(
    "--server",
    "server_url",
    default=None,
    metavar="URL",
    help="Ask this server instead of the one in the kubeconfig (any server of the cluster).",
)
def rotate(current: str, new: str, data_dir: Path | None, server_url: str | None) -> None:
    """Replace the cluster token, as `k3s token rotate`: the bootstrap data in the datastore is sealed
    with the new token, so servers started from now on need it and the old one joins no new node.
    Running servers and joined agents carry on (agents hold certificates); every server's node-token
    file names the new token within seconds."""
    import dataclasses

    import aiohttp

    from minikube_py import pki
    from minikube_py.client.errors import ApiError
    from minikube_py.client.kubeconfig import KubeconfigError, load_kubeconfig
    from minikube_py.client.rest import ApiClient
    from minikube_py.config import default_data_dir

    async def ask() -> str:
        config = load_kubeconfig((data_dir or default_data_dir()) / "kubeconfig.yaml")
        if server_url:
            config = dataclasses.replace(config, server=server_url)
        async with ApiClient(config, user_agent="pykube-token-rotate") as api:
            answer = await api.request("POST", pki.CLUSTER_TOKEN_PATH, body={"token": current, "newToken": new})
        return str(answer["token"])

    try:
        rotated = asyncio.run(ask())
    except (ApiError, KubeconfigError, OSError, aiohttp.ClientError) as exc:
        click.echo(f"pykube token rotate: {exc}", err=True)
        sys.exit(1)
    click.echo("token rotated; start further servers with --token NEW and join agents with:")
    click.echo(rotated)


def _duration_seconds(text: str) -> int:
    """Seconds in a Go-style duration such as ``24h``, ``1h30m`` or ``600s``."""
    import re

    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or parts is None:
        raise ValueError(f"invalid duration {text!r}: use e.g. 24h, 90m or 600s")
    hours, minutes, seconds = (int(g or 0) for g in parts.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"invalid duration {text!r}: must be positive")
    return total


async def _until_signalled(work: Any) -> None:
    """Run ``work`` until SIGTERM/SIGINT; containers keep running (a restarted agent adopts them)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


if __name__ == "__main__":
    main()
