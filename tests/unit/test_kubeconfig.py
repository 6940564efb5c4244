from __future__ import annotations

import base64
import ssl
import stat
from pathlib import Path

import pytest
import yaml

from minikube_py.client.kubeconfig import ClientConfig, KubeconfigError, load_kubeconfig, write_kubeconfig
from minikube_py.pki import ensure_pki, issue_client_cert


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return ensure_pki(tmp_path_factory.mktemp("pki"), hosts=[]).ca_pem


def _write_yaml(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_write_then_load_round_trip(tmp_path: Path, ca_pem: bytes) -> None:
    path = tmp_path / "kube" / "config"
    write_kubeconfig(path, server="https://127.0.0.1:6443", ca_pem=ca_pem, token="sekret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    doc = yaml.safe_load(path.read_text())
    # The shape kubectl expects, with the CA embedded so the file works when copied elsewhere.
    assert doc["current-context"] == "pykube"
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"] == base64.b64encode(ca_pem).decode()
    assert doc["users"] == [{"name": "admin", "user": {"token": "sekret"}}]

    cfg = load_kubeconfig(path, env={})
    assert cfg == ClientConfig(server="https://127.0.0.1:6443", ca_pem=ca_pem, token="sekret")
    assert cfg.ssl_context().verify_mode == ssl.CERT_REQUIRED


def test_relative_files_resolve_against_the_kubeconfig_directory(tmp_path: Path, ca_pem: bytes) -> None:
    pki = ensure_pki(tmp_path / "pki", hosts=[])
    cert, key = issue_client_cert(pki, "admin", "system:masters")
    home = tmp_path / "conf"
    (home / "certs").mkdir(parents=True)
    (home / "certs" / "ca.crt").write_bytes(pki.ca_pem)
    (home / "certs" / "me.crt").write_bytes(cert)
    (home / "certs" / "me.key").write_bytes(key)
    (home / "token").write_text("from-file\n")
    path = _write_yaml(
        home / "config",
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://h:1/", "certificate-authority": "certs/ca.crt"}}],
            "users": [
                {
                    "name": "u",
                    "user": {"client-certificate": "certs/me.crt", "client-key": "certs/me.key", "token-file": "token"},
                }
            ],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
            "current-context": "x",
        },
    )
    cfg = load_kubeconfig(path, env={})
    assert cfg.server == "https://h:1"
    assert cfg.ca_pem == pki.ca_pem
    assert (cfg.client_cert_pem, cfg.client_key_pem) == (cert, key)
    assert cfg.token == "from-file"
    assert cfg.namespace == "team"
    # The client certificate loads into a TLS context although Python only reads it from files.
    cfg.ssl_context()


def test_kubeconfig_env_merges_first_definition_wins(tmp_path: Path, ca_pem: bytes) -> None:
    ca64 = base64.b64encode(ca_pem).decode()
    first = _write_yaml(
        tmp_path / "a.yaml",
        {
            "clusters": [
                {"name": "c", "cluster": {"server": "https://first:6443", "certificate-authority-data": ca64}}
            ],
            "users": [{"name": "u", "user": {"token": "t1"}}],
            "contexts": [{"name": "one", "context": {"cluster": "c", "user": "u"}}],
        },
    )
    second = _write_yaml(
        tmp_path / "b.yaml",
        {
            "current-context": "two",
            "clusters": [
                {"name": "c", "cluster": {"server": "https://second:6443"}},
                {"name": "d", "cluster": {"server": "http://127.0.0.1:8080", "insecure-skip-tls-verify": True}},
            ],
            "users": [{"name": "u", "user": {"token": "t2"}}],
            "contexts": [{"name": "two", "context": {"cluster": "d", "user": "u", "namespace": "ns2"}}],
        },
    )
    env = {"KUBECONFIG": f"{first}:{tmp_path / 'missing.yaml'}::{second}"}

    current = load_kubeconfig(env=env)  # current-context only in the second file
    assert (current.server, current.token, current.namespace, current.insecure) == (
        "http://127.0.0.1:8080",
        "t1",
        "ns2",
        True,
    )

    one = load_kubeconfig(context="one", env=env)
    assert (one.server, one.ca_pem, one.token, one.namespace) == ("https://first:6443", ca_pem, "t1", "default")


def test_default_path_is_home_kube_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca_pem: bytes) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_kubeconfig(
        tmp_path / ".kube" / "config",
        server="https://127.0.0.1:7443",
        ca_pem=ca_pem,
        token="t",
        cluster_name="lab",
        user="me",
    )
    cfg = load_kubeconfig(env={})
    assert (cfg.server, cfg.token) == ("https://127.0.0.1:7443", "t")


@pytest.mark.parametrize(
    ("doc", "context", "message"),
    [
        ({"contexts": []}, None, "no current-context"),
        ({"current-context": "x"}, None, "context 'x' not found"),
        (
            {"current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "c"}}]},
            None,
            "cluster 'c' not found",
        ),
        (
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
                "clusters": [{"name": "c", "cluster": {}}],
            },
            None,
            "cluster 'c' has no server",
        ),
        (
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://h"}}],
                "users": [{"name": "u", "user": {"exec": {"command": "gcloud"}}}],
            },
            None,
            "plugins are not supported",
        ),
        (
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://h", "certificate-authority": "nope.crt"}}],
            },
            None,
            r"certificate-authority .*nope\.crt: No such file",
        ),
        (
            {
                "current-context": "x",
                "contexts": [{"name": "x", "context": {"cluster": "c"}}],
                "clusters": [{"name": "c", "cluster": {"server": "https://h", "certificate-authority-data": "%%%"}}],
            },
            None,
            "not valid base64",
        ),
        ({"clusters": {"c": {}}}, None, "clusters must be a list"),
    ],
)
def test_broken_kubeconfigs_are_reported(tmp_path: Path, doc: dict, context: str | None, message: str) -> None:
    path = _write_yaml(tmp_path / "config", doc)
    with pytest.raises(KubeconfigError, match=message):
        load_kubeconfig(path, context, env={})


def test_missing_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="does not exist"):
        load_kubeconfig(tmp_path / "nope", env={})
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load_kubeconfig(env={"KUBECONFIG": str(tmp_path / "nope")})


@pytest.mark.parametrize(
    ("text", "message"),
    [("clusters: [\n", r"kubeconfig .*/config: not valid YAML: "), ("- a\n", r"expected a mapping at the top level")],
)
def test_unreadable_kubeconfigs_are_reported(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(KubeconfigError, match=message):
        load_kubeconfig(path, env={})


def test_insecure_context_skips_verification() -> None:
    ctx = ClientConfig(server="https://h", insecure=True).ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and ctx.check_hostname is False
