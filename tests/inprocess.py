"""The real pykube server inside the test process: :class:`minikube_py.core.Server` (the real aiohttp
app on a loopback port, a SQLite store in a temporary data directory, the controllers and, with
``agent``, the embedded agent) built from the same flags ``pykube server`` takes, with none of a
subprocess' start-up (a fresh interpreter importing the server) and with a check that it leaves no
asyncio task behind when it stops.

Async tests run it on their own event loop (:func:`serving`); synchronous tests that drive the real
kubectl, which needs a listening port and a kubeconfig as it always does, run it on a thread with a
loop of its own (:func:`start_in_process`), so that blocking kubectl calls never stall it. The
server's warnings and errors go to its log file as the command's would (``log_path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from leaks import fail_on_leaks, leaked_tasks

from minikube_py.cli.main import LOG_FORMAT
from minikube_py.cli.main import server as server_command
from minikube_py.config import ServerConfig, load_server_config
from minikube_py.core import Server
from minikube_py.testing import ServerEndpoint, free_port, server_files, server_flags

T = TypeVar("T")

#: how long a server gets to start or to stop before the test fails
_DEADLINE = 60.0


def server_config(data_dir: Path, port: int, *flags: str, agent: bool = False) -> ServerConfig:
    """The configuration ``pykube server`` builds from the test flags (:func:`server_flags`) and the
    environment, parsed by the command's own options."""
    args = server_flags(data_dir, port, *flags, agent=agent)
    with server_command.make_context("server", args) as ctx:
        given = {k: v for k, v in ctx.params.items() if k not in ("config_file", "cleanup")}
    return load_server_config(env=os.environ, flags=given)


@contextlib.asynccontextmanager
async def serving(config: ServerConfig) -> AsyncIterator[Server]:
    """A started server on the running loop; after it stopped, no task it started may be left."""
    before = asyncio.all_tasks()
    server = Server(config)
    async with server:
        yield server
    fail_on_leaks(await leaked_tasks(before), f"the server in {config.data_dir}")
    if server.failure is not None:
        raise server.failure


@contextlib.contextmanager
def _logged_to(path: Path) -> Iterator[None]:
    """Records of this thread (where the server's loop runs) at warning and above, to ``path``, as
    ``pykube server`` without -v writes them."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    ident = threading.get_ident()
    handler.addFilter(lambda record: record.thread == ident)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


@dataclass
class InProcessServer(ServerEndpoint):
    """A server on a thread of its own (see :func:`start_in_process`); :meth:`stop` ends it and
    raises what went wrong on its thread (a failed part, a leaked task)."""

    config: ServerConfig = field(repr=False, kw_only=True)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _stopping: asyncio.Event | None = field(default=None, init=False, repr=False)
    _started: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _error: BaseException | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=f"pykube server {self.data_dir}", daemon=True)
        self._thread.start()
        if not self._started.wait(_DEADLINE):
            raise RuntimeError(f"the in-process server did not start within {_DEADLINE:.0f} s")
        if self._error is not None:
            raise RuntimeError("the in-process server failed to start") from self._error

    def _main(self) -> None:
        try:
            with _logged_to(self.log_path):
                asyncio.run(self._serve())
        except BaseException as exc:  # reported to the thread that starts or stops it
            self._error = exc
        finally:
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        async with serving(self.config) as server:
            self._started.set()
            until_stopped = asyncio.create_task(stopping.wait())
            until_ended = asyncio.create_task(server.wait())
            await asyncio.wait({until_stopped, until_ended}, return_when=asyncio.FIRST_COMPLETED)
            for task in (until_stopped, until_ended):
                task.cancel()
            await asyncio.gather(until_stopped, until_ended, return_exceptions=True)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop ended meanwhile
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_DEADLINE)
        self._thread = None
        if self._error is not None:
            raise self._error


def start_in_process(data_dir: Path, *flags: str, port: int | None = None, agent: bool = False) -> InProcessServer:
    """As :func:`minikube_py.testing.start_server`, with the server on a thread of this process."""
    port = port or free_port()
    log_path, cache = server_files(data_dir)
    running = InProcessServer(
        f"https://127.0.0.1:{port}",
        data_dir,
        cache,
        log_path,
        config=server_config(data_dir, port, *flags, agent=agent),
    )
    running.start()
    return running


async def until(check: Callable[[], Awaitable[T | None]], what: str = "condition", *, seconds: float = 40.0) -> T:
    """:func:`minikube_py.testing.eventually` for a test on the server's own loop: await ``check``
    until it gives something truthy, and return that."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                if result := await check():
                    return result
                await asyncio.sleep(0.1)  # polled, as eventually() does: the effect has no event to wait on
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}") from None
