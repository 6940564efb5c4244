"""Secret encryption at rest: what sealing costs per Secret, alone and through the store.

Prints the time to seal and open one Secret's stored JSON (``--size`` bytes of data) with AES-GCM,
then creates, updates and reloads ``--secrets`` Secrets through the real store on SQLite with
encryption off and on (``--rounds`` alternating runs each), reporting commits/s and the start-up
load (every Secret opened into the in-memory mirror). Reads (GET, LIST, WATCH) are served from that
mirror of plain objects and cost the same either way. Usage::

    .venv/bin/python bench/secrets_encryption.py [--secrets 5000] [--size 1024] [--concurrency 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from minikube_py.store import open_store
from minikube_py.store.base import Create, Update
from minikube_py.store.encryption import Encryption, Keyring, seal_keyring

TOKEN = "bench-cluster-token"


def secret(i: int, size: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": f"s-{i:05d}", "namespace": "bench", "uid": f"uid-{i}"},
        "data": {"password": base64.b64encode(os.urandom(size)).decode()},
    }


def micro(size: int, n: int = 20_000) -> dict[str, str]:
    enc = Encryption(TOKEN)
    enc.adopt(Keyring.new(), 1)
    key = "/core/secrets/bench/s-00001"
    text = orjson.dumps(secret(1, size)).decode()
    started = time.perf_counter()
    for _ in range(n):
        sealed = enc.seal(key, text)
    seal = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        enc.open(key, sealed)
    opened = (time.perf_counter() - started) / n
    return {
        f"seal one Secret ({len(text)} B JSON)": f"{seal * 1e6:.1f} µs",
        f"open one Secret ({len(sealed)} B stored)": f"{opened * 1e6:.1f} µs",
    }


async def store_run(directory: Path, encrypted: bool, count: int, size: int, concurrency: int) -> dict[str, float]:
    url = f"sqlite:///{directory}/state.db"
    store = open_store(url, encryption=Encryption(TOKEN), compact_interval=None)
    await store.start()
    if encrypted:
        ring = Keyring.new()
        [record] = await store.commit([Create("/-/bootstrap/encryption", seal_keyring(TOKEN, ring))])
        store.encryption.adopt(ring, int(record["metadata"]["resourceVersion"]))
    keys = [f"/core/secrets/bench/s-{i:05d}" for i in range(count)]

    async def pool(op: str) -> float:
        queue = iter(range(count))

        async def worker() -> None:
            for i in queue:
                value = secret(i, size)
                await store.commit([Create(keys[i], value) if op == "create" else Update(keys[i], value)])

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)

    figures = {"creates/s": await pool("create"), "updates/s": await pool("update")}
    await store.close()
    reopened = open_store(url, encryption=Encryption(TOKEN), compact_interval=None)
    started = time.perf_counter()
    await reopened.start()  # loads every object (and opens every Secret) into the mirror
    figures["load s"] = time.perf_counter() - started
    await reopened.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secrets", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024, help="bytes of random data per Secret")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name, value in micro(args.size).items():
        print(f"  {name:45s} {value}")
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for encrypted in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                runs[encrypted].append(
                    asyncio.run(store_run(Path(tmp), encrypted, args.secrets, args.size, args.concurrency))
                )
    for encrypted, results in runs.items():
        print(
            f"== store on SQLite, {args.secrets} Secrets, encryption {'on' if encrypted else 'off'} "
            f"(median of {args.rounds})"
        )
        for figure in results[0]:
            print(f"  {figure:45s} {statistics.median(r[figure] for r in results):,.2f}")


if __name__ == "__main__":
    main()
