"""Bulk TCP throughput through the userspace proxier against a direct connection, on 127.0.0.1.

    .venv/bin/python bench/splice.py [--bytes 8G] [--connections 4] [--seconds 5] [--rounds 3] [--uvloop] [--copy]
                                     [--pipe-size N] [--smoke]

Three processes, so each side can have a core: a sink/source server (a thread per connection,
blocking sockets, 1 MiB buffers), the clients (this process, the same way), and for the proxied runs
a UserspaceProxier in its own process with one listener pointing at the server. Each figure moves up
to ``--bytes`` over ``--connections`` connections, stopping early after ``--seconds``, in each
direction: upload (clients send, the server sinks and reports what it received) and download (the
server sends, the clients count). Direct and proxied runs alternate ``--rounds`` times and the best
of each counts, since the machine may be shared. Printed: MB/s direct and proxied, their ratio, and
CPU seconds per GB of each process, which shows where the time goes. ``--copy`` measures the
recv/send fallback instead of splice; ``--pipe-size`` overrides the proxier's pipe size; ``--smoke``
is a tiny run for CI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

BUFFER = 1 << 20
HOST = "127.0.0.1"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat: the bench may share it."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


# --- the sink/source server (its own process) ----------------------------------------------------------


def serve_connection(conn: socket.socket) -> None:
    """First byte ``U``: read to EOF, answer the byte count. ``D`` + 8-byte length + 8-byte deadline
    (seconds): send that many bytes, or until the deadline or the client goes."""
    with conn:
        command = conn.recv(1)
        buffer = memoryview(bytearray(BUFFER))
        if command == b"U":
            total = 0
            while n := conn.recv_into(buffer):
                total += n
            conn.sendall(struct.pack("!Q", total))
        elif command == b"D":
            header = b""
            while len(header) < 16:
                header += conn.recv(16 - len(header))
            left, seconds = struct.unpack("!Qd", header)
            deadline = time.monotonic() + seconds
            with contextlib.suppress(OSError):
                while left > 0 and time.monotonic() < deadline:
                    left -= conn.send(buffer[: min(left, BUFFER)])
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)


def server_main(report: Connection) -> None:
    listener = socket.create_server((HOST, 0), backlog=128)
    report.send(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()


# --- the proxier (its own process) ---------------------------------------------------------------------


def proxy_main(report: Connection, backend_port: int, use_uvloop: bool, use_splice: bool, pipe_size: int) -> None:
    from minikube_py.netproxy import userspace
    from minikube_py.netproxy.balancer import BackendSet, ServicePortName
    from minikube_py.netproxy.userspace import UserspaceProxier

    if pipe_size:
        userspace.PIPE_SIZE = pipe_size

    async def run() -> None:
        proxier = UserspaceProxier(bind_host=HOST)
        proxier.use_splice = use_splice
        service = ServicePortName("bench", "sink", "", "TCP")
        ports = await proxier.sync({service: BackendSet(((HOST, backend_port),))})
        report.send(ports[service])
        await asyncio.Event().wait()  # until terminated

    if use_uvloop:
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())


# --- the clients ---------------------------------------------------------------------------------------


def upload(port: int, size: int, deadline: float, results: list[int]) -> None:
    with socket.create_connection((HOST, port)) as conn:
        conn.sendall(b"U")
        buffer = memoryview(os.urandom(BUFFER))
        left = size
        while left > 0 and time.monotonic() < deadline:
            left -= conn.send(buffer[: min(left, BUFFER)])
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while len(reply) < 8 and (chunk := conn.recv(8 - len(reply))):
            reply += chunk
        results.append(struct.unpack("!Q", reply)[0])


def download(port: int, size: int, deadline: float, results: list[int]) -> None:
    with socket.create_connection((HOST, port)) as conn:
        conn.sendall(b"D" + struct.pack("!Qd", size, deadline - time.monotonic()))
        buffer = memoryview(bytearray(BUFFER))
        total = 0
        while n := conn.recv_into(buffer):
            total += n
        results.append(total)


@dataclass
class Figure:
    mb_per_s: float
    seconds: float
    bytes: int
    cpu: dict[str, float]  # process → CPU seconds used during the run
    busy_cores: float  # the whole machine's, this bench's processes and anything else


def measure(
    direction: str, port: int, total: int, connections: int, seconds: float, processes: dict[str, int]
) -> Figure:
    worker = upload if direction == "upload" else download
    results: list[int] = []
    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    busy_before, _ = machine_busy()
    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, args=(port, total // connections, started + seconds, results))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    busy = (machine_busy()[0] - busy_before) / elapsed
    moved = sum(results)
    return Figure(moved / elapsed / 1e6, elapsed, moved, cpu, busy)


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def describe(best: Figure, rounds: list[Figure]) -> str:
    gb = best.bytes / 1e9 or 1.0
    cpu = ", ".join(f"{name} {seconds / gb:.2f}" for name, seconds in best.cpu.items())
    others = " ".join(f"{f.mb_per_s:.0f}" for f in rounds)
    ours = sum(best.cpu.values()) / best.seconds
    return (
        f"{best.mb_per_s:6.0f} MB/s  ({best.bytes / 1e6:.0f} MB in {best.seconds:.2f} s; CPU s/GB: {cpu};"
        f" busy cores: these {ours:.2f}, machine {best.busy_cores:.2f}; rounds: {others})"
    )


def start(
    ctx: multiprocessing.context.SpawnContext, target: object, *args: object
) -> tuple[multiprocessing.Process, int]:
    receiving, sending = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(sending, *args), daemon=True)
    process.start()
    if not receiving.poll(30):
        raise RuntimeError(f"{target} did not start")
    return process, receiving.recv()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bytes", default="8G", help="bytes per figure (K/M/G suffixes)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit per figure")
    parser.add_argument("--rounds", type=int, default=3, help="direct/proxied pairs per direction; the best counts")
    parser.add_argument("--uvloop", action="store_true", help="run the proxier on uvloop")
    parser.add_argument("--copy", action="store_true", help="the recv/send fallback instead of splice")
    parser.add_argument("--pipe-size", default="0", help="pipe size the proxier asks for (default: its own)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (16 MB, 2 connections)")
    args = parser.parse_args()
    total = parse_size(args.bytes)
    if args.smoke:
        total, args.connections, args.seconds, args.rounds = 16 << 20, 2, 5.0, 1

    ctx = multiprocessing.get_context("spawn")
    server, server_port = start(ctx, server_main)
    proxy, proxy_port = start(ctx, proxy_main, server_port, args.uvloop, not args.copy, parse_size(args.pipe_size))
    loop = "uvloop" if args.uvloop else "asyncio"
    mode = "recv/send copy" if args.copy else "splice"
    print(
        f"{total / 1e6:.0f} MB over {args.connections} connections per figure (at most {args.seconds:g} s);"
        f" proxier on {loop}, {mode}; best of {args.rounds}; {os.cpu_count()} CPUs, load average"
        f" {os.getloadavg()[0]:.1f}"
    )
    try:
        for direction in ("upload", "download"):
            processes = {"clients": os.getpid(), "server": server.pid or 0}
            directs, proxieds = [], []
            for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits both alike
                directs.append(measure(direction, server_port, total, args.connections, args.seconds, processes))
                proxieds.append(
                    measure(
                        direction,
                        proxy_port,
                        total,
                        args.connections,
                        args.seconds,
                        {**processes, "proxier": proxy.pid or 0},
                    )
                )
            direct = max(directs, key=lambda f: f.mb_per_s)
            proxied = max(proxieds, key=lambda f: f.mb_per_s)
            print(f"{direction:>8} direct   {describe(direct, directs)}")
            print(f"{direction:>8} proxied  {describe(proxied, proxieds)}")
            print(f"{direction:>8} ratio    {proxied.mb_per_s / direct.mb_per_s:8.0%}")
            if direct.bytes == 0 or proxied.bytes == 0:
                sys.exit(f"{direction}: nothing arrived")
    finally:
        for process in (proxy, server):
            process.terminate()
            process.join()


if __name__ == "__main__":
    main()
