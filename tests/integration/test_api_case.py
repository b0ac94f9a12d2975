"""`[web] case = camel` renames every field of every result (in-process app, real Redis and RabbitMQ)."""

from __future__ import annotations

import secrets

import pytest

from actors import auth
from actors import config as config_mod
from actors.api import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def camel(tmp_path):
    cfg = config_mod.load().replace(general={"instance": "tk" + secrets.token_hex(4), "data_dir": str(tmp_path)},
                                    web={"case": "camel"})
    app = create_app(cfg)
    yield app.test_client(), {"Authorization": f"Bearer {auth.issue_token(cfg, 'carol')}"}
    services = app.extensions["abaco"]
    services.stores.backend.flush_instance()
    services.broker.close()


def test_camel_case_results(camel):
    client, headers = camel
    resp = client.post("/actors", json={"image": "abaco/echo:local", "default_environment": {"MY_VAR": "x"}},
                       headers=headers)
    assert resp.status_code == 200, resp.json
    actor = resp.json["result"]
    for key in ("defaultEnvironment", "maxWorkers", "createTime", "lastUpdateTime", "statusMessage"):
        assert key in actor
    assert actor["defaultEnvironment"] == {"MY_VAR": "x"}      # values keep their own names
    assert not any("_" in k for k in actor if k != "_links")
    listing = client.get(f"/actors/{actor['id']}/executions", headers=headers).json["result"]
    assert {"actorId", "totalExecutions", "totalCpu", "executions"} <= set(listing)
    assert client.delete(f"/actors/{actor['id']}", headers=headers).status_code == 200
