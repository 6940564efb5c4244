from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from minikube_py.config import (
    AGENT_SETTINGS,
    SERVER_SETTINGS,
    SETTING_NAMES,
    AgentConfig,
    ConfigError,
    ServerConfig,
    WatchConfig,
    carried,
    load_agent_config,
    load_server_config,
)
from minikube_py.reconcilers.manager import ControllerOptions

EXAMPLE = Path(__file__).parents[2] / "config.example.yaml"
#: Values that would otherwise be detected from the machine, so that tests do not depend on it.
FIXED = {"data_dir": "/srv/pk", "node_name": "n1", "advertise_address": "10.0.0.5"}


def _load(tmp_path: Path, text: str | None = None, env: dict[str, str] | None = None, **flags: object) -> ServerConfig:
    file = None
    if text is not None:
        file = tmp_path / "config.yaml"
        file.write_text(text)
    return load_server_config(file=file, env=env or {}, flags={**FIXED, **flags})


def test_defaults(tmp_path: Path) -> None:
    cfg = _load(tmp_path)
    assert cfg.port == 6443
    assert cfg.bind_address == "0.0.0.0"
    assert cfg.datastore == "sqlite:////srv/pk/state.db"
    assert cfg.service_node_port_range == (30000, 32767)
    assert cfg.cluster_cidr == "10.244.0.0/16" and cfg.service_cidr == "10.96.0.0/12"
    assert cfg.node_cidr_mask_size == 24
    assert cfg.kubernetes_service_ip == "10.96.0.1"
    assert cfg.tls is True and cfg.no_agent is False
    assert cfg.watch == WatchConfig(history=10_000, bookmark_interval=60.0)


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    text = "port: 7000\nno_agent: true\ndatastore: sqlite:////x.db\nwatch:\n  history: 50\n"
    env = {"PYKUBE_PORT": "7001", "PYKUBE_WATCH_HISTORY": "60", "PYKUBE_DATASTORE": "", "UNRELATED": "x"}
    cfg = _load(tmp_path, text, env, port=7002, watch_history=None, no_agent=None)
    assert cfg.port == 7002  # flag beats environment and file
    assert cfg.watch.history == 60  # environment beats file; a None flag means "not given"
    assert cfg.no_agent is True  # only the file sets it
    assert cfg.datastore == "sqlite:////x.db"  # an empty variable counts as unset


def test_environment_strings_are_converted(tmp_path: Path) -> None:
    env = {
        "PYKUBE_TLS": "false",
        "PYKUBE_NO_AGENT": "yes",
        "PYKUBE_SERVICE_NODE_PORT_RANGE": "20000-20100",
        "PYKUBE_WATCH_BOOKMARK_INTERVAL": "2.5",
        "PYKUBE_DATA_DIR": "~/pk",
    }
    cfg = load_server_config(file=None, env=env, flags={"node_name": "n1", "advertise_address": "10.0.0.5"})
    assert cfg.tls is False and cfg.no_agent is True
    assert cfg.bind_address == "127.0.0.1"  # the safe default without TLS
    assert cfg.service_node_port_range == (20000, 20100)
    assert cfg.watch.bookmark_interval == 2.5
    assert cfg.data_dir == Path("~/pk").expanduser()


def test_example_file_documents_every_key_with_its_default(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    nested = {f"{part}_{k}" for part in ("watch", "image_gc") for k in data[part]}
    flat = {k for k, v in data.items() if not isinstance(v, dict)} | nested
    assert flat == SETTING_NAMES
    assert load_server_config(file=EXAMPLE, env={}, flags=FIXED) == _load(tmp_path)


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ("prot: 1\n", {}, r"prot: unknown setting"),
        ("watch:\n  histroy: 1\n", {}, r"watch\.histroy: unknown setting"),
        ("watch: 5\n", {}, r"watch: expected a mapping"),
        ("port: http\n", {}, r"port: expected an integer, got 'http' \(from file"),
        ("", {"port": 70000}, r"port: must be between 0 and 65535"),
        ("tls: maybe\n", {}, r"tls: expected true or false"),
        ("cluster_cidr: 10.244.0.0/33\n", {}, r"cluster_cidr: '10\.244\.0\.0/33' is not a CIDR"),
        ("service_cidr: 10.244.0.0/20\n", {}, r"service_cidr: 10\.244\.0\.0/20 overlaps cluster_cidr"),
        ("node_cidr_mask_size: 16\n", {}, r"node_cidr_mask_size: must be larger than the cluster CIDR's prefix"),
        ("", {"node_cidr_mask_size": 31}, r"node_cidr_mask_size: must be at most 30 for IPv4"),
        ("cluster_cidr: 10.0.0.0/24\n", {}, r"node_cidr_mask_size: must be larger .* /24, got 24"),
        ("service_node_port_range: 32767-30000\n", {}, r"service_node_port_range: need 1 <= low < high"),
        ("service_node_port_range: 0-10\n", {}, r"service_node_port_range: need 1 <= low"),
        ("service_node_port_range: 30000\n", {}, r"service_node_port_range: expected a range"),
        ("bind_address: localhost\n", {}, r"bind_address: 'localhost' is not an IP address"),
        ("tls: false\nbind_address: 0.0.0.0\n", {}, r"bind_address: 0\.0\.0\.0 is reachable from the network"),
        ("", {"node_name": "Node_1"}, r"node_name: 'Node_1' is not a lower-case DNS subdomain"),
        ("datastore: state.db\n", {}, r"datastore: 'state\.db' is not a URL"),
        ("watch:\n  history: 0\n", {}, r"watch\.history: must be at least 1"),
        ("[1, 2]\n", {}, r"expected a mapping of settings"),
        ("port: [\n", {}, r"not valid YAML"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text, **flags)


def test_environment_error_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"watch\.history: expected an integer, got 'lots' \(from environment "
        r"PYKUBE_WATCH_HISTORY\)",
    ):
        _load(tmp_path, env={"PYKUBE_WATCH_HISTORY": "lots"})


def test_unknown_flag_and_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*verbose"):
        load_server_config(file=None, env={}, flags={"verbose": True})
    with pytest.raises(ConfigError, match="No such file"):
        load_server_config(file=tmp_path / "absent.yaml", env={}, flags=FIXED)


def test_config_is_immutable(tmp_path: Path) -> None:
    cfg = _load(tmp_path)
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]


def test_every_setting_has_a_help_text() -> None:
    assert [s.key for s in (*SERVER_SETTINGS, *AGENT_SETTINGS) if not s.help] == []


def test_the_defaults_shown_are_the_defaults_applied(tmp_path: Path) -> None:
    """Each literal default, as help shows it, read back as a string gives the default config."""
    literal = [s for s in SERVER_SETTINGS if s.shown is None and s.default_text]
    assert {s.flag for s in literal} >= {"port", "service_node_port_range", "tls", "watch_history", "max_pods"}
    env = {s.env: s.default_text for s in literal}
    assert load_server_config(file=None, env=env, flags=FIXED) == _load(tmp_path)
    agent_env = {s.env: s.default_text for s in AGENT_SETTINGS if s.shown is None and s.default_text}
    assert load_agent_config(
        file=None, env=agent_env, flags={"node_name": "n1", "data_dir": "/srv/a"}
    ) == load_agent_config(file=None, env={}, flags={"node_name": "n1", "data_dir": "/srv/a"})


def test_derived_defaults_say_how_they_are_worked_out() -> None:
    shown = {s.flag: s.default_text for s in SERVER_SETTINGS}
    assert shown["bind_address"] == "0.0.0.0 with TLS, 127.0.0.1 without"
    assert shown["datastore"] == "sqlite:///<data_dir>/state.db"
    assert shown["node_monitor_grace_period"] == "40" and shown["no_agent"] is None


def test_embedded_parts_get_the_settings_they_share_by_name(tmp_path: Path) -> None:
    """The server's agent and controllers take every setting they also declare from the server's
    configuration, so a setting added to both reaches them without a hand-kept list."""
    cfg = _load(tmp_path, max_pods=7, pod_eviction_timeout=12.5)
    agent = carried(AgentConfig, cfg, node_ip="10.0.0.9", token="")
    assert (agent.max_pods, agent.node_ip, agent.token, agent.node_name) == (7, "10.0.0.9", "", cfg.node_name)
    options = carried(ControllerOptions, cfg, root_ca_pem=b"ca")
    assert (options.pod_eviction_timeout, options.cluster_cidr, options.root_ca_pem) == (12.5, cfg.cluster_cidr, b"ca")
