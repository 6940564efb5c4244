"""The API server's input handling under a seeded fuzz campaign (tests/fuzzing.py) against the real
server in this process, and the exact answers to the inputs earlier campaigns found mishandled.

The campaign here is bounded (a fixed seed and case count, well under a minute); ``bench/fuzz.py``
runs long ones. ``PYKUBE_FUZZ_SEED`` and ``PYKUBE_FUZZ_CASES`` replay another seed or size here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fuzzing import run_campaign

Obj = dict[str, Any]
SEED = int(os.environ.get("PYKUBE_FUZZ_SEED", "20261206"))
CASES = int(os.environ.get("PYKUBE_FUZZ_CASES", "1000"))


def test_a_seeded_fuzz_campaign_gets_only_status_errors_and_readable_objects(tmp_path: Path) -> None:
    report = run_campaign(tmp_path / "data", SEED, CASES)
    assert report.cases == CASES
    assert not report.violations, "\n\n".join(report.violations[:10]) + "\n\n" + report.summary()
