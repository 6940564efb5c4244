"""Fuzz campaign: mutated creates, updates, patches and subresource writes against the real server in
this process (tests/fuzzing.py, the driver the bounded CI test ``tests/integration/test_api_fuzz.py``
runs), for as many cases and seeds as asked; prints per seed what was sent (counts by kind, verb and
status code) and every violation of the API's promise about bad input, with the request that caused
it. Exits 1 if any was found. Usage::

    .venv/bin/python bench/fuzz.py [--cases 20000] [--seed 1 --seed 2 ...] [--counts]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from testbed import run_campaign


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000, help="cases per seed")
    parser.add_argument("--seed", type=int, action="append", help="a seed to run (repeatable; default 1)")
    parser.add_argument("--counts", action="store_true", help="print the counts by kind, verb and status code")
    args = parser.parse_args()
    found = 0
    for seed in args.seed or [1]:
        with tempfile.TemporaryDirectory(prefix="pykube-fuzz-") as tmp:
            started = time.monotonic()
            report = run_campaign(Path(tmp) / "data", seed, args.cases)
            took = time.monotonic() - started
        summary = report.summary().splitlines()
        print(f"{summary[0]} in {took:.0f} s\n{summary[1]}")
        if args.counts:
            print("\n".join(summary[2:]))
        for violation in report.violations:
            print(f"\n--- {violation}")
        found += len(report.violations)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
