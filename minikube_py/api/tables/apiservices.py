"""The printer for APIServices: kube-aggregator's table (``kubectl get apiservices``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube_py.api.tables.base import AGE, NAME, Column, Printer, age, obj_name
from minikube_py.model.apiservices import available_column, service_column


def _apiservice(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [obj_name(obj), service_column(obj), available_column(obj), age(obj, now)]


API_SERVICE = Printer(
    (
        NAME,
        Column("Service", "The reference to the service that hosts this API endpoint."),
        Column("Available", "Whether this service is available."),
        AGE,
    ),
    _apiservice,
)
