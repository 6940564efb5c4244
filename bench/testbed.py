"""The test suite's repository helpers (tests/support.py: Docker and its test image, network-namespace
nodes; tests/fuzzing.py: the API fuzz campaign) for benches run as ``.venv/bin/python bench/x.py``
from the repository root: such a run puts only ``bench/`` on the import path, so this module adds ``tests/`` and re-exports what benches use. The
installable half, ``minikube_py.testing``, needs none of this."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzzing import run_campaign
from support import BUSYBOX_IMAGE, NetnsCluster, ensure_docker, netns_cluster

__all__ = ["BUSYBOX_IMAGE", "NetnsCluster", "ensure_docker", "netns_cluster", "run_campaign"]
