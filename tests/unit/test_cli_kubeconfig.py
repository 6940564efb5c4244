"""``pykube kubeconfig``: a user's kubeconfig with a client certificate of the cluster CA."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID

from minikube_py.cli.main import main
from minikube_py.client.kubeconfig import write_kubeconfig
from minikube_py.pki import ensure_pki


def data_dir(tmp_path: Path) -> Path:
    tls = ensure_pki(tmp_path / "pki", hosts=[])
    write_kubeconfig(tmp_path / "kubeconfig.yaml", server="https://127.0.0.1:6443", ca_pem=tls.ca_pem, token="t")
    return tmp_path


def test_a_minted_kubeconfig_names_the_user_and_groups(tmp_path: Path) -> None:
    directory = data_dir(tmp_path)
    out = tmp_path / "alice.yaml"
    done = CliRunner().invoke(
        main,
        [
            "kubeconfig",
            "--user",
            "alice",
            "--group",
            "team-a",
            "--group",
            "dev",
            "--expiration",
            "1h30m",
            "--data-dir",
            str(directory),
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    assert out.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(out.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    [user] = config["users"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["team-a", "dev"]
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=29) < lifetime <= dt.timedelta(hours=1, minutes=30)
    ca = x509.load_pem_x509_certificate((directory / "pki" / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject and "token" not in user["user"]


def test_without_out_it_prints_the_kubeconfig_and_bad_input_says_why(tmp_path: Path) -> None:
    directory = data_dir(tmp_path)
    printed = CliRunner().invoke(main, ["kubeconfig", "--user", "bob", "--data-dir", str(directory)])
    assert printed.exit_code == 0 and yaml.safe_load(printed.output)["users"][0]["name"] == "bob"
    bad = CliRunner().invoke(
        main, ["kubeconfig", "--user", "bob", "--expiration", "1 day", "--data-dir", str(directory)]
    )
    assert bad.exit_code == 1 and "invalid duration '1 day'" in bad.output
    missing = CliRunner().invoke(main, ["kubeconfig", "--user", "bob", "--data-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "does not exist" in missing.output
