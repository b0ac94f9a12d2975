"""In-memory doubles shared by the unit tests: a config of its own, stores, a broker."""

from __future__ import annotations

import secrets

import pytest

from actors import config as config_mod
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


@pytest.fixture
def config(tmp_path):
    return config_mod.load(environ={"ABACO_GENERAL_INSTANCE": "u" + secrets.token_hex(4),
                                    "ABACO_GENERAL_DATA_DIR": str(tmp_path)})


@pytest.fixture
def stores():
    return memory_stores()


@pytest.fixture
def broker():
    return StubBroker()
