"""The ``pykube`` command. Flags are declared here, apart from the code that runs them (core)."""

from __future__ import annotations

import asyncio
import logging
import os
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
@click.option("--cluster-cidr", help="Pod address range, a /24 per node [10.244.0.0/16].")
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
def server(config_file: Path | None, **flags: Any) -> None:
    """Run the API server, the store and the control plane."""
    try:
        config = load_server_config(file=config_file, env=os.environ, flags=flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        asyncio.run(serve_forever(config))
    except OSError as exc:
        click.echo(f"pykube server: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
