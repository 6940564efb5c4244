"""Cluster DNS: queries/s and latency of the DnsServer on one core, and the cost of an informer event.

    .venv/bin/python bench/dns.py [--services 1000] [--seconds 10] [--inflight 64] [--rate 5000] [--uvloop]
    .venv/bin/python bench/dns.py --smoke          (50 services, 1 s phases: for CI)

The server runs in a subprocess pinned to one CPU, on 127.0.0.1 (all traffic stays on loopback), with
that many Services (one in five headless, with three named endpoints and their pods). The client, in
this process pinned to another CPU, keeps a bounded number of UDP queries outstanding over a mix of A,
AAAA (NODATA), SRV, PTR, headless and pod names and search-path misses (NXDOMAIN):

1. saturation: ``--inflight`` queries always outstanding: the most the server does on its core;
2. fixed rate: ``--rate`` queries/s sent on a schedule, latency measured from when each query was due
   (so a stall counts against every query it delays): the latency at the load the issue asks for;
3. cache misses: both again with every question new (half of them new names, NXDOMAIN; half existing
   names in a new mix of cases, answered through dnslib): the worst case, as real clients repeat
   questions and the cache answers repeats.

Then, in this process, the table alone: how long 10,000 Services with their slices take to load, and
what one Service update and one slice update cost with 1,000 versus 10,000 Services (flat: events are
O(1) in the cluster's size). Every phase ends after ``--seconds``; the server exits when this process
closes its stdin, or after a deadline of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import DNSRecord

from minikube_py.netproxy.dns import ClusterDns, DnsServer

Obj = dict[str, Any]
DOMAIN = "cluster.local"
NAMESPACES = 10
RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN"}


# ------------------------------------------------------------------------------ the cluster


def cluster_ip(i: int) -> str:
    return f"10.96.{i // 250}.{i % 250 + 1}"


def pod_ip(i: int, k: int) -> str:
    n = i * 3 + k
    return f"10.244.{n // 250}.{n % 250 + 1}"


def objects(services: int) -> Iterator[tuple[str, Obj]]:
    """("service" | "slice" | "pod", object) for ``services`` Services: every fifth headless, with a
    three-endpoint slice whose endpoints are pods with hostnames (a StatefulSet's shape)."""
    for i in range(services):
        ns, name = f"ns{i % NAMESPACES}", f"svc{i}"
        ports = [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}]
        headless = i % 5 == 0
        spec = {"clusterIP": "None" if headless else cluster_ip(i), "ports": ports, "selector": {"app": name}}
        yield "service", {"metadata": {"name": name, "namespace": ns}, "spec": spec}
        if headless:
            endpoints = [
                {
                    "addresses": [pod_ip(i, k)],
                    "hostname": f"{name}-{k}",
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": f"{name}-{k}", "namespace": ns},
                }
                for k in range(3)
            ]
            yield (
                "slice",
                {
                    "metadata": {
                        "name": f"{name}-abcde",
                        "namespace": ns,
                        "labels": {"kubernetes.io/service-name": name},
                    },
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                },
            )
            for k in range(3):
                yield (
                    "pod",
                    {
                        "metadata": {"name": f"{name}-{k}", "namespace": ns},
                        "spec": {"hostname": f"{name}-{k}", "subdomain": name},
                        "status": {"phase": "Running", "podIP": pod_ip(i, k)},
                    },
                )


def load(table: ClusterDns, services: int) -> None:
    handlers = {"service": table.on_service, "slice": table.on_slice, "pod": table.on_pod}
    for kind, obj in objects(services):
        handlers[kind](None, obj)


def questions(services: int) -> list[tuple[str, str]]:
    """The query mix, shuffled: what pods' resolvers ask (A and AAAA together, as glibc does)."""
    asked: list[tuple[str, str]] = []
    for i in range(services):
        ns = f"ns{i % NAMESPACES}"
        base = f"svc{i}.{ns}.svc.{DOMAIN}"
        asked += [
            (base, "A"),
            (base, "AAAA"),
            (f"_http._tcp.{base}", "SRV"),
            (f"svc{i}.{ns}.{ns}.svc.{DOMAIN}", "A"),
        ]  # the first search-path try: NXDOMAIN
        if i % 5 == 0:
            asked += [
                (f"svc{i}-1.{base}", "A"),
                (".".join(reversed(pod_ip(i, 1).split("."))) + ".in-addr.arpa", "PTR"),
                (f"{pod_ip(i, 2).replace('.', '-')}.{ns}.pod.{DOMAIN}", "A"),
            ]
        else:
            asked.append((".".join(reversed(cluster_ip(i).split("."))) + ".in-addr.arpa", "PTR"))
    random.Random(1).shuffle(asked)
    return asked


def packet(name: str, qtype: str) -> bytes:
    return bytes(DNSRecord.question(name, qtype).pack())


# ------------------------------------------------------------------------------ the server (child process)


async def serve(args: argparse.Namespace) -> None:
    table = ClusterDns(DOMAIN)
    load(table, args.services)
    server = DnsServer(table, [])
    port = await server.start("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin, 4096):
            done.set()

    loop.add_reader(stdin, on_stdin)
    print(port, flush=True)
    try:
        await asyncio.wait_for(done.wait(), args.lifetime)
    except TimeoutError:
        print("dns bench server: deadline reached, stopping", file=sys.stderr)
    finally:
        loop.remove_reader(stdin)
        await server.stop()


def child_main(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.cpu})
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


# ------------------------------------------------------------------------------ the client


@dataclass
class Phase:
    label: str
    latencies: list[float] = field(default_factory=list)
    rcodes: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    truncated: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0

    def record(self, reply: bytes, latency: float) -> None:
        self.latencies.append(latency)
        self.rcodes[RCODES.get(reply[3] & 0x0F, str(reply[3] & 0x0F))] += 1
        if reply[2] & 0x02:
            self.truncated += 1

    def report(self) -> str:
        done = sorted(self.latencies)
        if not done:
            return f"  {self.label:<46} no replies"

        def pct(p: float) -> float:
            return done[min(len(done) - 1, int(len(done) * p))] * 1000

        rate = len(done) / self.elapsed
        mix = ", ".join(f"{name} {count}" for name, count in sorted(self.rcodes.items()))
        cpu = f"server CPU {self.cpu / self.elapsed:4.0%} = {self.cpu / len(done) * 1e6:5.1f} µs/query"
        return (
            f"  {self.label:<46} {rate:>8,.0f} q/s   p50 {pct(0.5):5.2f} ms   p99 {pct(0.99):5.2f} ms   "
            f"max {done[-1] * 1000:6.2f} ms   {cpu}\n"
            f"  {'':<46} replies: {mix}; truncated {self.truncated}; lost {self.lost}"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """A UDP client with many queries in flight on one socket, told apart by ID."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.pending: dict[int, float] = {}
        self._next_id = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, query: bytes, due: float) -> None:
        while True:
            self._next_id = (self._next_id + 1) & 0xFFFF
            if self._next_id not in self.pending:
                break
        self.pending[self._next_id] = due
        self.sock.send(self._next_id.to_bytes(2, "big") + query[2:])

    def receive(self, phase: Phase, timeout: float) -> int:
        """Take every reply that arrives within ``timeout``; returns how many."""
        got = 0
        # select, not epoll: epoll rounds its timeout up to whole milliseconds, which would make the
        # client late for queries due sooner and count its lateness as the server's latency
        if not select.select([self.sock], [], [], max(timeout, 0.0))[0]:
            return 0
        while True:
            try:
                reply = self.sock.recv(4096)
            except BlockingIOError:
                return got
            due = self.pending.pop(int.from_bytes(reply[:2], "big"), None)
            if due is not None:
                phase.record(reply, time.perf_counter() - due)
                got += 1

    def expire(self, phase: Phase, older_than: float) -> None:
        """Give up on queries outstanding for more than a second (a lost datagram)."""
        for qid, due in list(self.pending.items()):
            if due < older_than:
                del self.pending[qid]
                phase.lost += 1

    def settle(self) -> None:
        """Let stragglers from the previous phase arrive and forget them."""
        end = time.perf_counter() + 0.5
        while self.pending and time.perf_counter() < end:
            self.receive(Phase("settle"), end - time.perf_counter())
        self.pending.clear()


def saturate(client: Client, queries: Iterator[bytes], inflight: int, seconds: float, phase: Phase) -> Phase:
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        now = time.perf_counter()
        while len(client.pending) < inflight:
            client.send(next(queries), now)
        if not client.receive(phase, 0.1):
            client.expire(phase, time.perf_counter() - 1.0)
    phase.elapsed = time.perf_counter() - start
    return phase


def fixed_rate(client: Client, queries: Iterator[bytes], rate: float, seconds: float, phase: Phase) -> Phase:
    """Queries due every 1/rate s; latency counts from when each was due, not when it went out."""
    start = time.perf_counter()
    end, due, interval = start + seconds, start, 1.0 / rate
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        while due <= now and len(client.pending) < 4096:
            client.send(next(queries), due)
            due += interval
        client.receive(phase, min(due, end) - time.perf_counter())
        if len(phase.latencies) % 4096 == 0:
            client.expire(phase, now - 1.0)
    client.settle()
    phase.elapsed = time.perf_counter() - start
    return phase


def cycle(packets: list[bytes]) -> Iterator[bytes]:
    while True:
        yield from packets


def fresh_questions(asked: list[tuple[str, str]]) -> Iterator[bytes]:
    """Questions nobody asked before, so the cache never helps: in turn a new search-path miss
    (NXDOMAIN, written by hand) and an existing name in a new mix of upper and lower case (the full
    dnslib path, as a resolver randomising case would cause)."""
    rng = random.Random(3)
    n = 0
    while True:
        n += 1
        yield packet(f"host{n}.example.com.ns{n % NAMESPACES}.svc.{DOMAIN}", "A")
        name, qtype = asked[n % len(asked)]
        yield packet("".join(c.upper() if rng.random() < 0.5 else c for c in name), qtype)


def measure(server: subprocess.Popen[bytes], run: Any, *run_args: Any) -> Phase:
    before = cpu_seconds(server.pid)
    phase: Phase = run(*run_args)
    phase.cpu = cpu_seconds(server.pid) - before
    return phase


def client_main(args: argparse.Namespace) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = cpus[0], cpus[-1]
    command = [
        sys.executable,
        __file__,
        "--serve",
        "--services",
        str(args.services),
        "--cpu",
        str(server_cpu),
        "--lifetime",
        str(args.seconds * 3 + 120),
    ] + (["--uvloop"] if args.uvloop else [])
    os.sched_setaffinity(0, {client_cpu})
    built = time.perf_counter()
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        startup = time.perf_counter() - built
        asked = questions(args.services)
        packets = [packet(name, qtype) for name, qtype in asked]
        headless = (args.services + 4) // 5
        print(
            f"cluster DNS on 127.0.0.1:{port}: {args.services:,} services ({headless:,} headless, "
            f"{headless * 3:,} endpoints and pods), {len(packets):,} distinct questions; "
            f"server ({'uvloop' if args.uvloop else 'asyncio'}) on CPU {server_cpu}, client on CPU {client_cpu}; "
            f"server up in {startup:.2f} s"
        )
        client = Client(port)
        try:
            warm_phase = Phase("warm-up")
            for query in packets:  # one pass so that the measured phases see a warm cache
                client.send(query, time.perf_counter())
                if len(client.pending) >= args.inflight:
                    client.receive(warm_phase, 1.0)
            client.settle()
            misses = fresh_questions(asked)  # one stream for both miss phases: no question comes back
            phases = [
                measure(
                    server,
                    saturate,
                    client,
                    cycle(packets),
                    args.inflight,
                    args.seconds,
                    Phase(f"saturation, {args.inflight} in flight"),
                ),
                measure(
                    server,
                    fixed_rate,
                    client,
                    cycle(packets),
                    args.rate,
                    args.seconds,
                    Phase(f"fixed rate {args.rate:,.0f} q/s"),
                ),
                measure(
                    server,
                    saturate,
                    client,
                    misses,
                    args.inflight,
                    args.seconds,
                    Phase(f"cache misses, {args.inflight} in flight"),
                ),
                measure(
                    server,
                    fixed_rate,
                    client,
                    misses,
                    args.rate,
                    args.seconds,
                    Phase(f"cache misses, fixed rate {args.rate:,.0f} q/s"),
                ),
            ]
            for phase in phases:
                print(phase.report())
            # other work on these CPUs shows in every figure above: say how much there was
            print(f"  load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        finally:
            client.close()
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    table_events(10 if args.smoke else 1)


# ------------------------------------------------------------------------------ the table alone


def event_cost(services: int, rounds: int) -> tuple[float, float, float]:
    """(seconds to load, µs per Service update, µs per slice update) with ``services`` Services."""
    table = ClusterDns(DOMAIN)
    started = time.perf_counter()
    load(table, services)
    loaded = time.perf_counter() - started
    rng = random.Random(2)
    svc_updates = []
    slice_updates = []
    for _ in range(rounds):
        i = rng.randrange(services) // 5 * 5 + 1  # a ClusterIP Service
        old = {
            "metadata": {"name": f"svc{i}", "namespace": f"ns{i % NAMESPACES}"},
            "spec": {"clusterIP": cluster_ip(i), "ports": []},
        }
        new = {**old, "spec": {"clusterIP": cluster_ip(services + i), "ports": [{"name": "x", "port": 1}]}}
        svc_updates.append((old, new))
        j = rng.randrange(services) // 5 * 5  # a headless one's slice
        endpoints = [
            {"addresses": [pod_ip(j, k)], "hostname": f"svc{j}-{k}", "conditions": {"ready": k != 0}} for k in range(3)
        ]
        slice_updates.append(
            {
                "metadata": {
                    "name": f"svc{j}-abcde",
                    "namespace": f"ns{j % NAMESPACES}",
                    "labels": {"kubernetes.io/service-name": f"svc{j}"},
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [],
            }
        )
    started = time.perf_counter()
    for old, new in svc_updates:
        table.on_service(old, new)
        table.on_service(new, old)
    per_service = (time.perf_counter() - started) / (2 * rounds) * 1e6
    started = time.perf_counter()
    for obj in slice_updates:
        table.on_slice(None, obj)
    per_slice = (time.perf_counter() - started) / rounds * 1e6
    return loaded, per_service, per_slice


def table_events(scale: int) -> None:
    small, large = 1_000 // scale, 10_000 // scale
    rounds = 2_000 // scale
    small_cost = event_cost(small, rounds)
    large_cost = event_cost(large, rounds)
    print(
        f"table: {large:,} services with their slices and pods loaded in {large_cost[0]:.2f} s "
        f"({small:,} in {small_cost[0]:.2f} s)"
    )
    print(
        f"  one Service update: {small_cost[1]:.1f} µs with {small:,} services, {large_cost[1]:.1f} µs with {large:,}"
    )
    print(
        f"  one EndpointSlice update: {small_cost[2]:.1f} µs with {small:,} services, {large_cost[2]:.1f} µs "
        f"with {large:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--uvloop", action="store_true", help="run the server on uvloop")
    parser.add_argument("--smoke", action="store_true", help="50 services, 1 s phases")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.services, args.seconds = 50, 1.0
    if args.serve:
        child_main(args)
    else:
        client_main(args)


if __name__ == "__main__":
    main()
