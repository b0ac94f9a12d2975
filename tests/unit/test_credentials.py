"""The service credentials: made once, private, and resolved with settings first (actors/credentials.py)."""

from __future__ import annotations

import stat

import pytest

from actors import config as config_mod
from actors import credentials


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_made_once_private_and_never_replaced(tmp_path):
    keys = tmp_path / "keys"
    credentials.ensure(keys)
    assert mode(keys) == 0o700
    files = [keys / credentials.REDIS_PASSWORD, keys / credentials.RABBIT_CREDENTIALS, keys / credentials.SCRAPE_TOKEN]
    assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
    first = [f.read_text() for f in files]
    password = credentials.redis_password(keys)
    user, rabbit_password = credentials.rabbit_credentials(keys)
    assert len(password) == 64 and len(rabbit_password) == 64 and password != rabbit_password
    assert user == "abaco"
    credentials.ensure(keys)
    assert [f.read_text() for f in files] == first
    assert sorted(p.name for p in keys.iterdir()) == sorted(f.name for f in files)   # no temporary left


def test_an_older_keys_directory_is_closed_and_completed(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    (keys / "signing.pem").write_text("kept")
    credentials.ensure(keys)
    assert mode(keys) == 0o700
    assert (keys / "signing.pem").read_text() == "kept"
    assert credentials.redis_password(keys)


def test_missing_files_give_no_credentials(tmp_path):
    assert credentials.redis_password(tmp_path) == ""
    assert credentials.rabbit_credentials(tmp_path) is None
    (tmp_path / credentials.RABBIT_CREDENTIALS).write_text("abaco\n")
    assert credentials.rabbit_credentials(tmp_path) is None


def load(tmp_path, **env):
    return config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), **env})


def test_config_reads_the_files_of_its_data_directory(tmp_path):
    credentials.ensure(tmp_path / "keys")
    cfg = load(tmp_path)
    assert cfg.store.redis_password == credentials.redis_password(tmp_path / "keys")
    assert (cfg.rabbit.user, cfg.rabbit.password) == credentials.rabbit_credentials(tmp_path / "keys")
    assert cfg.store.redis_password not in repr(cfg) and cfg.rabbit.password not in repr(cfg)


def test_settings_win_over_the_files(tmp_path):
    credentials.ensure(tmp_path / "keys")
    cfg = load(tmp_path, ABACO_STORE_REDIS_PASSWORD="r-set", ABACO_RABBIT_USER="u-set",
               ABACO_RABBIT_PASSWORD="p-set")
    assert (cfg.store.redis_password, cfg.rabbit.user, cfg.rabbit.password) == ("r-set", "u-set", "p-set")


def test_without_files_or_settings_no_redis_password_and_rabbitmq_defaults(tmp_path):
    cfg = load(tmp_path)
    assert (cfg.store.redis_password, cfg.rabbit.user, cfg.rabbit.password) == ("", "guest", "guest")


def test_a_rabbitmq_user_without_a_password_is_refused(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="together"):
        load(tmp_path, ABACO_RABBIT_USER="someone")
    with pytest.raises(config_mod.ConfigError, match="together"):
        load(tmp_path, ABACO_RABBIT_PASSWORD="secret")
