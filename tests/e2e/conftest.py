"""Fixtures of the kubectl end-to-end suite (the server and namespace fixtures live in tests/conftest.py)."""

from __future__ import annotations

import pytest
from kubectl_helpers import Kubectl

from minikube_py.testing import RunningServer


@pytest.fixture
def k(server: RunningServer, namespace: str) -> Kubectl:
    """kubectl bound to the shared server and this test's own namespace."""
    return Kubectl(server, namespace)
