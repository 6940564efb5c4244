"""The ``pykube`` command. Flags are declared here, apart from the code that runs them (core)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from minikube_py.config import ConfigError, load_server_config
from minikube_py.core import serve_forever


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """pykube: a Kubernetes-compatible cluster in one process."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with server settings (see config.example.yaml).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Database, certificates, kubeconfig and tokens [/var/lib/pykube as root].")
@click.option("--bind-address", help="Address the API listens on [0.0.0.0].")
@click.option("--port", type=int, help="API port [6443].")
@click.option("--datastore", help="sqlite:///PATH (default, in the data dir) or postgresql://USER@HOST:PORT/DB.")
@click.option("--no-agent", is_flag=True, default=None, help="Do not run a node agent in the server process.")
@click.option("--node-name", help="Name of the server's own node [hostname].")
@click.option("--node-ip", help="Address of the server's own node (its pods' hostIP) [the advertise address].")
@click.option("--docker-host", help="Docker engine of the server's own node [the local one].")
@click.option("--kubelet-port", type=int, help="Port of the own node's endpoint for logs/exec/port-forward [10250].")
@click.option("--agent-runtime", type=click.Choice(["docker", "fake"]), help="Container runtime of the own node.")
@click.option("--proxy-mode", type=click.Choice(["kernel", "userspace", "none"]),
              help="How the own node proxies Services [kernel with docker, none with fake].")
@click.option("--cluster-domain", help="DNS domain of the cluster [cluster.local].")
@click.option("--cleanup", is_flag=True, default=False,
              help="Remove the service proxy's iptables rules and pod routes from this host, then exit.")
@click.option("--max-pods", type=int, help="Pods the server's own node accepts [110].")
@click.option("--cluster-cidr", help="Pod address range, one subnet of it per node [10.244.0.0/16].")
@click.option("--node-cidr-mask-size", type=int,
              help="Prefix length of each node's pod subnet; a /16 holds 256 nodes at 24, 1,024 at 26 [24].")
@click.option("--service-cidr", help="ClusterIP range [10.96.0.0/12].")
@click.option("--service-node-port-range", help="NodePort range [30000-32767].")
@click.option("--advertise-address", help="Address other nodes and pods use to reach the API.")
@click.option("--node-monitor-grace-period", type=float,
              help="Seconds without a node lease renewal before the node is unreachable [40].")
@click.option("--pod-eviction-timeout", type=float,
              help="Seconds before pods of an unreachable node are evicted, unless they tolerate otherwise [300].")
@click.option("--leader-elect-lease-duration", type=float,
              help="Seconds a controller-manager lease lasts without renewal; the handover time [15].")
@click.option("--leader-elect-renew-deadline", type=float,
              help="Seconds the leader keeps trying to renew before it stops its controllers [10].")
@click.option("--leader-elect-retry-period", type=float,
              help="Seconds between attempts to acquire or renew the leadership [2].")
def server(config_file: Path | None, cleanup: bool, **flags: Any) -> None:
    """Run the API server, the store and the control plane."""
    if cleanup:
        _cleanup_network()
        return
    try:
        config = load_server_config(file=config_file, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        asyncio.run(serve_forever(config))
    except OSError as exc:
        click.echo(f"pykube server: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with agent settings (keys as the flags, with underscores).")
@click.option("--join", "server", help="URL of the API server, e.g. https://10.0.0.1:6443.")
@click.option("--token", help="The server's node token (cat /var/lib/pykube/node-token on the server).")
@click.option("--node-name", help="Name of this node [hostname].")
@click.option("--node-ip", help="Address the cluster reaches this node at [the default route's source].")
@click.option("--docker-host", help="Docker engine to run pods in [the local one].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Pod volumes and node keys [/var/lib/pykube-agent].")
@click.option("--runtime", type=click.Choice(["docker", "fake"]), help="docker, or fake for simulated pods [docker].")
@click.option("--max-pods", type=int, help="Pods this node accepts [110].")
@click.option("--kubelet-port", type=int, help="Port of the endpoint for logs/exec/port-forward [10250].")
@click.option("--pause-image", help="Image of pod sandboxes [built locally].")
@click.option("--allow-privileged", is_flag=True, default=None, help="Let pods run privileged containers.")
@click.option("--cluster-dns", help="Comma-separated nameservers for pods with dnsPolicy ClusterFirst.")
@click.option("--node-labels", help="Extra node labels, key=value,...")
@click.option("--proxy-mode", type=click.Choice(["kernel", "userspace", "none"]),
              help="How this node proxies Services [kernel with docker, none with fake].")
@click.option("--cleanup", is_flag=True, default=False,
              help="Remove the service proxy's iptables rules and pod routes from this host, then exit.")
def agent(config_file: Path | None, cleanup: bool, **flags: Any) -> None:
    """Join a cluster as a node and run the pods scheduled to it."""
    from minikube_py.agent.agent import Agent, JoinError
    from minikube_py.config import load_agent_config

    if cleanup:
        _cleanup_network()
        return

    try:
        config = load_agent_config(file=config_file, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if not config.server or not config.token:
        raise click.UsageError("--join URL and --token T are required")
    try:
        asyncio.run(_until_signalled(Agent(config).run()))
    except JoinError as exc:
        click.echo(f"pykube agent: {exc}", err=True)
        sys.exit(1)


def _cleanup_network() -> None:
    """As ``kube-proxy --cleanup``: what the node's service proxy left in this network namespace
    (rules stay when an agent stops, so traffic keeps flowing while it restarts)."""
    from minikube_py.netproxy.proxy import cleanup

    cleanup()
    click.echo("removed pykube's iptables rules, forwarding rules and pod routes")


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
