"""kubeconfig files: the one way users and agents tell a client where the API is and who they are.

Loading follows client-go's rules so that a file that works with kubectl works here: ``KUBECONFIG``
lists files separated by ``:``, missing ones are skipped, and when several define the same cluster,
user or context, or a current-context, the first file wins. Relative paths (``certificate-authority``,
``client-certificate``, ``token-file``) are relative to the file that names them. Everything is read
at load time into a :class:`ClientConfig`, so a client never touches the files again.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minikube_py.model.yamlmap import load_mapping

DEFAULT_PATH = Path("~/.kube/config")


class KubeconfigError(ValueError):
    """The kubeconfig is missing, malformed, or lacks what the chosen context needs."""


@dataclass(frozen=True)
class ClientConfig:
    """Where the API server is and how to authenticate to it."""

    server: str
    ca_pem: bytes | None = None
    token: str | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    namespace: str = "default"
    insecure: bool = False
    #: reach ``server`` through this Unix socket instead: the server's own parts use one (private to
    #: its user), a channel no one can listen in on, so the token goes over it as over TLS, without
    #: paying for encryption between two ends of one process
    unix_socket: str | None = None

    @property
    def is_tls(self) -> bool:
        return self.server.startswith("https://")

    @property
    def is_private(self) -> bool:
        """Whether credentials may travel over this channel: TLS, or a local socket."""
        return self.is_tls or self.unix_socket is not None

    def ssl_context(self) -> ssl.SSLContext:
        """Trust the configured CA only (the system store when none is given), present the client
        certificate if there is one. Python's ssl loads certificates only from files, so the PEMs go
        through a private temporary directory that is removed at once."""
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cadata=self.ca_pem.decode() if self.ca_pem else None)
        if self.client_cert_pem and self.client_key_pem:
            from minikube_py.pki import write_file  # cryptography is slow to import; only needed here

            with tempfile.TemporaryDirectory() as tmp:
                chain = Path(tmp) / "client.pem"
                write_file(chain, self.client_cert_pem + b"\n" + self.client_key_pem)
                ctx.load_cert_chain(chain)
        return ctx


def load_kubeconfig(
    path: Path | None = None, context: str | None = None, *, env: Mapping[str, str] | None = None
) -> ClientConfig:
    """Load ``path`` if given (it must exist), else the files in ``KUBECONFIG``, else ~/.kube/config,
    and resolve ``context`` (default: the current-context). ``env`` defaults to ``os.environ``."""
    env = os.environ if env is None else env
    if path is not None:
        paths = [path]
        if not path.exists():
            raise KubeconfigError(f"kubeconfig {path} does not exist")
    elif env.get("KUBECONFIG"):
        paths = [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    else:
        paths = [DEFAULT_PATH.expanduser()]
    merged = _merge([(p, _read(p)) for p in paths if p.exists()])
    if merged is None:
        raise KubeconfigError(f"no kubeconfig found (looked at {', '.join(map(str, paths))})")
    return _resolve(merged, context)


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_pem: bytes,
    token: str = "",
    cluster_name: str = "pykube",
    user: str = "admin",
    client_cert: tuple[bytes, bytes] | None = None,
) -> None:
    """Write a self-contained kubeconfig (CA embedded; a bearer token, or a client certificate and
    its key) that kubectl uses as is. It holds a credential, hence mode 0600."""
    credential: dict[str, str] = {"token": token}
    if client_cert is not None:
        credential = {
            "client-certificate-data": base64.b64encode(client_cert[0]).decode(),
            "client-key-data": base64.b64encode(client_cert[1]).decode(),
        }
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": user, "user": credential}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    from minikube_py.pki import write_file

    write_file(path, yaml.safe_dump(doc, sort_keys=False).encode())


@dataclass
class _Merged:
    current_context: str | None
    # name -> (entry, directory of the file that defined it)
    clusters: dict[str, tuple[dict[str, Any], Path]]
    users: dict[str, tuple[dict[str, Any], Path]]
    contexts: dict[str, dict[str, Any]]


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text()
    try:
        return load_mapping(text, "a mapping")
    except ValueError as e:
        raise KubeconfigError(f"kubeconfig {path}: {e}") from None


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> _Merged | None:
    if not docs:
        return None
    merged = _Merged(None, {}, {}, {})
    for path, doc in docs:
        merged.current_context = merged.current_context or doc.get("current-context") or None
        base = path.parent
        for entry in _named(doc, "clusters", "cluster", path):
            merged.clusters.setdefault(entry[0], (entry[1], base))
        for entry in _named(doc, "users", "user", path):
            merged.users.setdefault(entry[0], (entry[1], base))
        for name, body in _named(doc, "contexts", "context", path):
            merged.contexts.setdefault(name, body)
    return merged


def _named(doc: dict[str, Any], section: str, field: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"kubeconfig {path}: {section} must be a list")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise KubeconfigError(f"kubeconfig {path}: every entry of {section} needs a name")
        out.append((entry["name"], entry.get(field) or {}))
    return out


def _resolve(merged: _Merged, context_name: str | None) -> ClientConfig:
    name = context_name or merged.current_context
    if not name:
        raise KubeconfigError("no context chosen and the kubeconfig has no current-context")
    if name not in merged.contexts:
        raise KubeconfigError(f"context {name!r} not found in kubeconfig")
    ctx = merged.contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged.clusters:
        raise KubeconfigError(f"context {name!r}: cluster {cluster_name!r} not found in kubeconfig")
    cluster, cluster_dir = merged.clusters[cluster_name]
    server = cluster.get("server")
    if not server:
        raise KubeconfigError(f"cluster {cluster_name!r} has no server")
    user, user_dir = merged.users.get(user_name, ({}, cluster_dir)) if user_name else ({}, cluster_dir)
    if user.get("exec") or user.get("auth-provider"):
        raise KubeconfigError(f"user {user_name!r}: exec and auth-provider credential plugins are not supported")
    token = user.get("token")
    token_file = _file(user, "token-file", user_dir)
    if not token and token_file is not None:
        token = token_file.decode().strip()
    return ClientConfig(
        server=server.rstrip("/"),
        ca_pem=_data(cluster, "certificate-authority", cluster_dir),
        token=token or None,
        client_cert_pem=_data(user, "client-certificate", user_dir),
        client_key_pem=_data(user, "client-key", user_dir),
        namespace=ctx.get("namespace") or "default",
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def _data(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    """``<key>-data`` (base64, preferred as in client-go) or the file ``<key>``."""
    inline = section.get(f"{key}-data")
    if inline:
        try:
            return base64.b64decode(inline, validate=True)
        except ValueError:
            raise KubeconfigError(f"{key}-data is not valid base64") from None
    return _file(section, key, base)


def _file(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    name = section.get(key)
    if not name:
        return None
    path = (base / Path(name).expanduser()).absolute()
    try:
        return path.read_bytes()
    except OSError as e:
        raise KubeconfigError(f"{key} {path}: {e.strerror}") from None
