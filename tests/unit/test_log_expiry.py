"""How long an execution's logs are kept."""

from __future__ import annotations

from actors import config as config_mod
from actors.execution import log_expiry


def test_log_expiry_is_the_actors_within_the_cap():
    cfg = config_mod.load(environ={"ABACO_STORE_LOGS_TTL": "0", "ABACO_STORE_MAX_LOG_EX": "3600"})
    assert log_expiry(cfg, {"log_ex": 60}) == 60
    assert log_expiry(cfg, {"log_ex": 99999}) == 3600
    assert log_expiry(cfg, {}) == 3600
    free = config_mod.load(environ={"ABACO_STORE_LOGS_TTL": "0", "ABACO_STORE_MAX_LOG_EX": "0"})
    assert log_expiry(free, {}) == 0 and log_expiry(free, {"log_ex": 10}) == 10
