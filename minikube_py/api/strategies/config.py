"""What pods read and run as: ConfigMaps, Secrets and ServiceAccounts."""

from __future__ import annotations

import base64

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import core as printers
from minikube_py.store.base import Obj


class SecretStrategy(Strategy):
    def prepare_for_create(self, obj: Obj) -> None:
        fold_string_data(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        fold_string_data(new)


def fold_string_data(secret: Obj) -> None:
    """Secrets accept ``stringData`` as a write-only convenience merged into base64 ``data``."""
    if not secret.get("stringData"):
        return
    data = secret.setdefault("data", {})
    for key, value in secret.pop("stringData").items():
        data[key] = base64.b64encode(str(value).encode()).decode()


SECRET = SecretStrategy("Secret", printer=printers.SECRET, merge_rules=mergekeys.METADATA_ONLY, shape=shape.SECRET)
CONFIG_MAP = Strategy(
    "ConfigMap", printer=printers.CONFIG_MAP, merge_rules=mergekeys.METADATA_ONLY, shape=shape.CONFIG_MAP
)
SERVICE_ACCOUNT = Strategy("ServiceAccount", printer=printers.SERVICE_ACCOUNT, merge_rules=mergekeys.SERVICE_ACCOUNT)
