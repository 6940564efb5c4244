"""APIServices: the API server's side of ``apiregistration.k8s.io`` (kube-aggregator's
``pkg/registry/apiservice``). Whether a Service-backed APIService is available is the aggregator's
to say (:mod:`minikube_py.api.aggregator`), through the ``status`` subresource."""

from __future__ import annotations

from minikube_py.api import shape
from minikube_py.api.patch import mergekeys
from minikube_py.api.strategies.base import Strategy
from minikube_py.api.tables import apiservices as printers

API_SERVICE = Strategy(
    "APIService", printer=printers.API_SERVICE, merge_rules=mergekeys.API_SERVICE, shape=shape.API_SERVICE
)
