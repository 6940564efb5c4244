"""The controller manager: which reconcilers a server runs, built from one options object.

Each reconciler is constructed here and nowhere else, so adding one is a single line and core.py
runs whatever this returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.client.rest import ApiClient
from minikube_py.reconcilers.base import Controller
from minikube_py.reconcilers.gc import GarbageCollector
from minikube_py.reconcilers.namespace import NamespaceController


@dataclass(frozen=True)
class ControllerOptions:
    """Tuning knobs the reconcilers take from the server configuration."""


def build_controllers(client: ApiClient, options: ControllerOptions) -> list[Controller]:
    del options  # no reconciler takes options yet
    return [
        NamespaceController(client),
        GarbageCollector(client),
    ]
