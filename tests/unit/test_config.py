from pathlib import Path

import pytest

from actors import config as config_mod
from actors.config import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "abaco.conf"
    path.write_text(text)
    return path


def test_file_values_are_typed_and_paths_relative_to_the_file(tmp_path):
    path = write(tmp_path, "[general]\ndata_dir = d\n[web]\nport = 9001\ncase = camel\n"
                           "[spawner]\nqueues = a, b\n[workers]\nmount_api_socket = no\n")
    cfg = config_mod.load(path, environ={})
    assert cfg.web.port == 9001 and cfg.web.case == "camel"
    assert cfg.general.data_dir == (tmp_path / "d").resolve()
    assert cfg.spawner.queues == ("a", "b")
    assert cfg.workers.mount_api_socket is False
    assert cfg.api_socket == cfg.general.data_dir / "run" / "api.sock"


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "[web]\nport = 9001\n")
    cfg = config_mod.load(path, environ={"ABACO_WEB_PORT": "9100", "ABACO_GENERAL_INSTANCE": "x1"})
    assert cfg.web.port == 9100 and cfg.general.instance == "x1"


def test_the_repository_config_loads():
    cfg = config_mod.load(config_mod.REPO_ROOT / "abaco.conf", environ={})
    assert cfg.web.host == "127.0.0.1" and cfg.workers.container_network == "none"


@pytest.mark.parametrize("text, words", [
    ("[web]\nport = eighty\n", "port"),
    ("[web]\ncase = kebab\n", "case"),
    ("[workers]\ncontainer_network = bridge\n", "container_network"),
    ("[web]\nnonsense = 1\n", "nonsense"),
    ("[nosuch]\na = 1\n", "nosuch"),
    ("[workers]\nmount_api_socket = perhaps\n", "mount_api_socket"),
])
def test_bad_settings_are_named(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words):
        config_mod.load(write(tmp_path, text), environ={})


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config_mod.load(tmp_path / "nope.conf", environ={})


def test_replace_converts_values():
    cfg = config_mod.load(environ={}).replace(web={"port": "8123"}, general={"instance": "t"})
    assert cfg.web.port == 8123 and cfg.general.instance == "t"


def test_command_line_prints_values(capsys):
    assert config_mod.main(["web.port", "api_socket"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].isdigit() and out[1].endswith("api.sock")
    assert config_mod.main(["web.nope"]) == 2


def test_settings_that_were_never_read_are_refused_naming_their_replacement(tmp_path):
    """[workers] default_mem_limit and default_max_cpus were documented and silently ignored."""
    path = write(tmp_path, "[workers]\ndefault_mem_limit = 512m\n")
    with pytest.raises(ConfigError, match=r"\[limits\] memory_max"):
        config_mod.load(path, environ={})
    with pytest.raises(ConfigError, match=r"\[limits\] cpu_quota"):
        config_mod.load(write(tmp_path, ""), environ={"ABACO_WORKERS_DEFAULT_MAX_CPUS": "1000000000"})
