"""``pykube kubectl``'s command line: global flags anywhere, and the kubeconfig search."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube_py.client.kubeconfig import KubeconfigError, write_kubeconfig
from minikube_py.kubectl import session
from minikube_py.kubectl.cli import hoist_globals
from minikube_py.kubectl.session import Globals, load_config


def test_global_flags_move_before_the_verb_but_not_past_a_double_dash() -> None:
    assert hoist_globals(["get", "pods", "-n", "x", "-A", "-owide", "--context=c", "-v=8"]) == [
        "-n",
        "x",
        "-A",
        "--context=c",
        "-v",
        "8",
        "get",
        "pods",
        "-owide",
    ]
    assert hoist_globals(["exec", "p", "-nfoo", "--", "sh", "-n", "1"]) == [
        "-n",
        "foo",
        "exec",
        "p",
        "--",
        "sh",
        "-n",
        "1",
    ]


def kubeconfig(path: Path, server: str) -> Path:
    write_kubeconfig(path, server=server, ca_pem=b"-----BEGIN CERTIFICATE-----\n", token="t")
    return path


def test_kubeconfig_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    local = kubeconfig(tmp_path / "local.yaml", "https://local:6443")
    monkeypatch.setattr(session, "local_kubeconfig", lambda: local)
    # nothing else: the local server's kubeconfig, as k3s falls back to its own
    assert load_config(Globals(), env={}).server == "https://local:6443"
    home = tmp_path / "home" / ".kube"
    home.mkdir(parents=True)
    kubeconfig(home / "config", "https://home:6443")
    assert load_config(Globals(), env={}).server == "https://home:6443"
    env_file = kubeconfig(tmp_path / "env.yaml", "https://env:6443")
    assert load_config(Globals(), env={"KUBECONFIG": str(env_file)}).server == "https://env:6443"
    flag_file = kubeconfig(tmp_path / "flag.yaml", "https://flag:6443")
    flags = Globals(kubeconfig=str(flag_file), token="override")
    config = load_config(flags, env={"KUBECONFIG": str(env_file)})
    assert (config.server, config.token) == ("https://flag:6443", "override")
    assert load_config(Globals(server="https://other:1/"), env={}).server == "https://other:1"


def test_no_kubeconfig_and_no_server_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(session, "local_kubeconfig", lambda: tmp_path / "missing.yaml")
    with pytest.raises(KubeconfigError):
        load_config(Globals(), env={})
    assert load_config(Globals(server="http://127.0.0.1:8080"), env={}).server == "http://127.0.0.1:8080"


def test_config_verbs_read_and_switch_the_kubeconfig(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from minikube_py.cli.main import main

    path = kubeconfig(tmp_path / "config", "https://one:6443")
    run = CliRunner().invoke
    assert run(main, ["kubectl", "--kubeconfig", str(path), "config", "current-context"]).output == "pykube\n"
    view = run(main, ["kubectl", "config", "view", "--kubeconfig", str(path)]).output
    assert "token: REDACTED" in view and "certificate-authority-data: DATA+OMITTED" in view
    missing = run(main, ["kubectl", "--kubeconfig", str(path), "config", "use-context", "other"])
    assert (missing.exit_code, missing.output) == (1, 'error: no context exists with the name: "other"\n')
    done = run(main, ["kubectl", "--kubeconfig", str(path), "config", "use-context", "pykube"])
    assert (done.exit_code, done.output) == (0, 'Switched to context "pykube".\n')
