"""The ``pykube`` command: options generated from the configuration, reaching it unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from minikube_py import core as core_module
from minikube_py.agent import agent as agent_module
from minikube_py.agent import fleet as fleet_module
from minikube_py.cli import main as cli
from minikube_py.config import AGENT_SETTINGS, SERVER_SETTINGS, AgentConfig, ServerConfig
from minikube_py.guard import PartFailed


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[ServerConfig]:
    """The configurations ``pykube server`` would run, instead of running them."""
    configs: list[ServerConfig] = []

    async def serve(config: ServerConfig) -> None:
        configs.append(config)

    monkeypatch.setattr(core_module, "serve_forever", serve)
    return configs


@pytest.fixture
def joined(monkeypatch: pytest.MonkeyPatch) -> list[AgentConfig]:
    """The configurations ``pykube agent`` would run, instead of running them."""
    configs: list[AgentConfig] = []

    class FakeAgent:
        def __init__(self, config: AgentConfig) -> None:
            configs.append(config)

        async def run(self) -> None:
            pass

    monkeypatch.setattr(agent_module, "Agent", FakeAgent)
    return configs


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.main, list(args), env=env, catch_exceptions=False)


def test_server_flags_reach_the_config(tmp_path: Path, served: list[ServerConfig]) -> None:
    done = invoke(
        "server",
        "--data-dir",
        str(tmp_path),
        "--no-tls",
        "--port",
        "7000",
        "--no-agent",
        "--node-name",
        "n1",
        "--advertise-address",
        "10.0.0.5",
        "--service-node-port-range",
        "20000-20100",
        "--proxy-mode",
        "userspace",
        "--node-cidr-mask-size",
        "26",
        "--watch-history",
        "50",
        "--leader-elect-retry-period",
        "1.5",
    )
    assert done.exit_code == 0, done.output
    [cfg] = served
    assert (cfg.data_dir, cfg.tls, cfg.port, cfg.no_agent, cfg.node_name) == (tmp_path, False, 7000, True, "n1")
    assert cfg.bind_address == "127.0.0.1"  # the default without TLS
    assert cfg.service_node_port_range == (20000, 20100) and cfg.proxy_mode == "userspace"
    assert cfg.node_cidr_mask_size == 26 and cfg.watch.history == 50 and cfg.leader_elect_retry_period == 1.5


def test_a_flag_not_given_leaves_the_environment_its_say(tmp_path: Path, served: list[ServerConfig]) -> None:
    env = {"PYKUBE_PORT": "7001", "PYKUBE_NO_AGENT": "true", "PYKUBE_TLS": "false"}
    assert invoke("server", "--data-dir", str(tmp_path), "--node-name", "n1", env=env).exit_code == 0
    assert (served[0].port, served[0].no_agent, served[0].tls) == (7001, True, False)
    assert (
        invoke("server", "--data-dir", str(tmp_path), "--node-name", "n1", "--port", "7002", "--tls", env=env).exit_code
        == 0
    )
    assert (served[1].port, served[1].tls) == (7002, True)


def test_a_server_part_that_failed_for_good_exits_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def serve(config: ServerConfig) -> None:
        raise PartFailed("controller manager")

    monkeypatch.setattr(core_module, "serve_forever", serve)
    done = invoke("server", "--data-dir", str(tmp_path), "--node-name", "n1")
    assert done.exit_code == 1
    assert "pykube server: controller manager failed and cannot be restarted" in done.output


def test_agent_flags_reach_the_config(tmp_path: Path, joined: list[AgentConfig]) -> None:
    done = invoke(
        "agent",
        "--join",
        "https://10.0.0.1:6443",
        "--token",
        "K10x::server:y",
        "--data-dir",
        str(tmp_path),
        "--node-name",
        "n2",
        "--runtime",
        "fake",
        "--allow-privileged",
        "--node-labels",
        "a=b",
        "--cluster-domain",
        "example.org",
    )
    assert done.exit_code == 0, done.output
    [cfg] = joined
    assert (cfg.server, cfg.token, cfg.data_dir, cfg.node_name) == (
        "https://10.0.0.1:6443",
        "K10x::server:y",
        tmp_path,
        "n2",
    )
    assert cfg.runtime == "fake" and cfg.allow_privileged and cfg.labels == {"a": "b"}
    assert cfg.cluster_domain == "example.org"


def test_agent_count_runs_that_many_fake_nodes_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joined: list[AgentConfig]
) -> None:
    fleets: list[AgentConfig] = []

    class FakeFleet:
        def __init__(self, config: AgentConfig) -> None:
            fleets.append(config)

        async def run(self) -> None:
            pass

    monkeypatch.setattr(fleet_module, "Fleet", FakeFleet)
    done = invoke(
        "agent",
        "--kubeconfig",
        str(tmp_path / "admin.yaml"),
        "--data-dir",
        str(tmp_path),
        "--runtime",
        "fake",
        "--count",
        "3",
        "--node-name",
        "hollow-%d",
        "--fake-cpus",
        "32",
        "--fake-memory",
        "128Gi",
        "--node-lease-duration-seconds",
        "8",
    )
    assert done.exit_code == 0, done.output
    [cfg] = fleets
    assert cfg.kubeconfig == str(tmp_path / "admin.yaml")
    assert cfg.node_names == ["hollow-1", "hollow-2", "hollow-3"] and joined == []
    assert (cfg.fake_cpus, cfg.fake_memory, cfg.node_lease_duration_seconds) == (32, "128Gi", 8)
    refused = invoke("agent", "--kubeconfig", str(tmp_path / "admin.yaml"), "--count", "3", "--node-name", "hollow-%d")
    assert refused.exit_code == 2 and "need --runtime fake" in refused.output
    # the join token gives one node its credentials, never a fleet's
    refused = invoke(
        "agent",
        "--join",
        "https://10.0.0.1:6443",
        "--token",
        "K10x::server:y",
        "--runtime",
        "fake",
        "--count",
        "3",
        "--node-name",
        "hollow-%d",
    )
    assert refused.exit_code == 2 and "--count needs --kubeconfig" in refused.output


def test_agent_needs_join_and_token(joined: list[AgentConfig]) -> None:
    done = invoke("agent", "--node-name", "n2", env={"PYKUBE_AGENT_SERVER": "", "PYKUBE_AGENT_TOKEN": ""})
    assert done.exit_code == 2 and "--join URL and --token T are required" in done.output
    assert joined == []


def help_text(command: str) -> str:
    return " ".join(invoke(command, "--help").output.split())  # unwrapped


@pytest.mark.parametrize(("command", "settings"), [("server", SERVER_SETTINGS), ("agent", AGENT_SETTINGS)])
def test_help_shows_every_setting_with_its_help(command: str, settings: Any) -> None:
    text = help_text(command)
    for setting in settings:
        flag = "--join" if (command, setting.flag) == ("agent", "server") else "--" + setting.flag.replace("_", "-")
        assert re.search(rf"{flag}\b", text), flag
        assert " ".join(setting.help.split()[:4]) in text
    assert "--config" in text and "--cleanup" in text


def test_help_shows_the_defaults_the_config_applies() -> None:
    text = help_text("server")
    assert "--bind-address TEXT Address the API listens on." in text
    assert "[default: 0.0.0.0 with TLS, 127.0.0.1 without]" in text
    assert "[default: 30000-32767]" in text and "[default: 6443]" in text and "[default: 40]" in text
    assert "--tls / --no-tls" in text
