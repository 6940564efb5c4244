"""Server-side Table rendering (``meta.k8s.io/v1 Table``) with kube-apiserver's columns."""

from minikube_py.api.tables.table import column_definitions, render_table, table_row

__all__ = ["column_definitions", "render_table", "table_row"]
