"""What every verb needs: the resolved global flags, a client on the right cluster, discovery, and
kubectl's way of reporting failures (``Error from server (NotFound): ...``, exit code 1)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from minikube_py.client.errors import ApiError, NotFoundError
from minikube_py.client.kubeconfig import DEFAULT_PATH, ClientConfig, KubeconfigError, load_kubeconfig
from minikube_py.client.rest import ApiClient
from minikube_py.kubectl.discovery import Discovery
from minikube_py.kubectl.errors import CommandError

#: sent as kubectl sends its own, so server logs and audit tell pykube's kubectl apart
USER_AGENT = "kubectl/v1.32.4 (pykube)"
#: what a request waits with ``--request-timeout=0`` (kubectl: no limit); watches and follows are endless anyway
NO_TIMEOUT = 24 * 3600.0


@dataclass(frozen=True)
class Globals:
    """kubectl's global flags, as given."""

    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    token: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    request_timeout: float = NO_TIMEOUT
    verbosity: int = 0
    cluster: str | None = None
    user: str | None = None

    @classmethod
    def from_flags(cls, flags: dict[str, Any]) -> Globals:
        return cls(
            kubeconfig=flags["kubeconfig"],
            context=flags["context"],
            server=flags["server"],
            token=flags["token"],
            namespace=flags["namespace"],
            all_namespaces=flags["all_namespaces"],
            request_timeout=_timeout(flags["request_timeout"]),
            verbosity=int(flags["verbosity"] or 0),
            cluster=flags.get("cluster"),
            user=flags.get("user"),
        )


def _timeout(text: str) -> float:
    """kubectl's ``--request-timeout``: a bare number of seconds or a duration (``1s``, ``2m``, ``1h``)."""
    try:
        seconds = float(text.strip()) if re.fullmatch(r"\d+(?:\.\d+)?", text.strip()) else go_seconds(text)
    except ValueError:
        raise click.BadParameter("invalid duration: use e.g. 10s, 1m or 0", param_hint="--request-timeout") from None
    return seconds or NO_TIMEOUT


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(text: str) -> float:
    """The seconds in a Go duration as kubectl's flags take them (``10s``, ``1m0s``, ``500ms``, ``0``);
    ValueError with Go's words otherwise."""
    rest, total = text.strip(), 0.0
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    while rest:
        match = _DURATION_PART.match(rest)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match[1]) * _DURATION_UNITS[match[2]]
        rest = rest[match.end() :]
    return total


def local_kubeconfig() -> Path:
    """The kubeconfig the local pykube server writes into its data dir, as k3s falls back to its own."""
    from minikube_py.config import default_data_dir

    return default_data_dir() / "kubeconfig.yaml"


def config_file(flags: Globals, env: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """The one kubeconfig file ``config`` reads and changes: ``--kubeconfig``, else the first of
    ``KUBECONFIG``, else ~/.kube/config unless only the local server's exists."""
    if flags.kubeconfig:
        return Path(flags.kubeconfig).expanduser()
    if env.get("KUBECONFIG"):
        return Path(env["KUBECONFIG"].split(os.pathsep)[0]).expanduser()
    default = DEFAULT_PATH.expanduser()
    local = local_kubeconfig()
    return local if not default.exists() and local.exists() else default


def load_config(flags: Globals, env: dict[str, str] | os._Environ[str] = os.environ) -> ClientConfig:
    """kubectl's search (``--kubeconfig``, then ``KUBECONFIG``, then ~/.kube/config), then the local
    server's kubeconfig; ``--server`` and ``--token`` override what the file says."""
    path = Path(flags.kubeconfig).expanduser() if flags.kubeconfig else None
    if path is None and not env.get("KUBECONFIG") and not DEFAULT_PATH.expanduser().exists():
        local = local_kubeconfig()
        path = local if local.exists() else None
    try:
        config = load_kubeconfig(path, flags.context, env=env)
    except KubeconfigError:
        if flags.server is None:
            raise
        config = ClientConfig(server=flags.server.rstrip("/"))
    if flags.server:
        config = dataclasses.replace(config, server=flags.server.rstrip("/"))
    if flags.token:
        config = dataclasses.replace(config, token=flags.token)
    return config


class Session:
    """One command's connection to the cluster."""

    def __init__(self, flags: Globals, config: ClientConfig, api: ApiClient) -> None:
        self.flags = flags
        self.config = config
        self.api = api
        self._discovery: Discovery | None = None

    @property
    def namespace(self) -> str:
        return self.flags.namespace or self.config.namespace

    @property
    def explicit_namespace(self) -> bool:
        return self.flags.namespace is not None

    async def discovery(self) -> Discovery:
        if self._discovery is None:
            self._discovery = await Discovery.fetch(self.api)
        return self._discovery

    async def poll(self, path: str, settled: Callable[[dict[str, Any]], bool], *, delay: float) -> None:
        """Until the object at ``path`` is gone or ``settled``: what kubectl waits for after a write
        (a deletion's finalizers, a controller's next status), asked again after ``delay``, doubled
        each time up to a second, so a quick change is seen at once and a slow one costs few requests."""
        while True:
            try:
                obj = await self.api.get(path)
            except NotFoundError:
                return
            if settled(obj):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def run(work: Callable[[Session], Awaitable[int | None]]) -> None:
    """Run one command against the cluster the global flags name and exit as kubectl does."""
    flags = click.get_current_context().find_object(Globals) or Globals()
    try:
        config = load_config(flags)
    except KubeconfigError as exc:
        fail(str(exc))

    import aiohttp

    async def main() -> int | None:
        traces = [warning_printer(), *([request_log()] if flags.verbosity >= 6 else [])]
        async with ApiClient(config, timeout=flags.request_timeout, user_agent=USER_AGENT, trace_configs=traces) as api:
            return await work(Session(flags, config, api))

    try:
        code = asyncio.run(main())
    except ApiError as exc:
        click.echo(error_text(exc), err=True)
        sys.exit(1)
    except CommandError as exc:
        fail(str(exc))
    except aiohttp.ClientConnectorError as exc:
        click.echo(
            f"The connection to the server {exc.host}:{exc.port} was refused - did you specify the right host or port?",
            err=True,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)


def warning_printer() -> Any:
    """The server's warnings on stderr, each text once per run, as kubectl's default warning handler
    writes them (deduplicated): ``Warning: v1 ComponentStatus is deprecated in v1.19+``."""
    import aiohttp

    from minikube_py.client.warning_headers import parse_warning

    trace = aiohttp.TraceConfig()
    shown: set[str] = set()

    async def end(session: Any, ctx: Any, params: Any) -> None:
        for value in params.response.headers.getall("Warning", ()):
            text = parse_warning(value)
            if text is not None and text not in shown:
                shown.add(text)
                click.echo(f"Warning: {text}", err=True)

    trace.on_request_end.append(end)
    return trace


def request_log() -> Any:
    """``-v=6``: a klog-style line on stderr per request, with its answer and how long it took."""
    import time

    import aiohttp

    trace = aiohttp.TraceConfig()
    started: dict[int, float] = {}

    async def start(session: Any, ctx: Any, params: Any) -> None:
        started[id(ctx)] = time.monotonic()

    async def end(session: Any, ctx: Any, params: Any) -> None:
        took = round((time.monotonic() - started.pop(id(ctx), time.monotonic())) * 1000)
        status = params.response.status
        klog(
            "I",
            "round_trippers.go:553",
            f"{params.method} {params.url} {status} {params.response.reason} in {took} milliseconds",
        )

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    return trace


def klog(severity: str, source: str, text: str) -> None:
    """A line on stderr in klog's format, as kubectl logs: ``E1206 13:12:23.134332   29880 file.go:424] text``."""
    import time

    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    click.echo(f"{severity}{stamp} {os.getpid():>7} {source}] {text}", err=True)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def error_text(exc: ApiError) -> str:
    """What kubectl prints for a failed request (its ``checkErr``)."""
    status = exc.status
    details = status.get("details") or {}
    if exc.reason == "Invalid" and details:
        head = "The request is invalid"
        if details.get("kind") or details.get("name"):
            head = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
        causes = [f"{c.get('field', '')}: {c.get('message', '')}" for c in details.get("causes") or []]
        if not causes:
            return head
        if len(causes) == 1:
            return f"{head}: {causes[0]}"
        return f"{head}: \n" + "\n".join(f"* {c}" for c in causes)
    if exc.reason == "Unauthorized":
        return f"error: You must be logged in to the server ({exc.message})"
    if exc.reason:
        return f"Error from server ({exc.reason}): {exc.message}"
    return f"Error from server: {exc.message}"
