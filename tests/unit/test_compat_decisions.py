"""[web] compat: Abaco's status codes (the default) or plain HTTP ones, with Abaco's phrases in both.

The API runs on in-memory stores and a stub broker; the same requests are made in both modes.
"""

import pytest

from actors import auth
from actors import config as config_mod
from actors.api import NO_ENDPOINT, create_app
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


class Api:
    def __init__(self, tmp_path, compat: str, **settings):
        env = {"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_COMPAT": compat, **settings}
        self.cfg = config_mod.load(environ=env)
        self.http = create_app(self.cfg, memory_stores(), StubBroker()).test_client()

    def call(self, method, path, user="vera", role="user", **kw):
        headers = kw.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {auth.issue_token(self.cfg, user, role)}"
        resp = self.http.open(path, method=method, headers=headers, **kw)
        return resp.status_code, resp.get_json()["message"]


def made(api: Api, user="vera", **fields) -> str:
    headers = {"Authorization": f"Bearer {auth.issue_token(api.cfg, user)}"}
    resp = api.http.post("/actors", json={"image": "abaco/echo:local", **fields}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["result"]["id"]


@pytest.fixture(params=["abaco", "http"])
def api(request, tmp_path):
    return Api(tmp_path, request.param)


def pick(api: Api, abaco: int, http: int) -> int:
    return abaco if api.cfg.web.compat == "abaco" else http


def test_abaco_is_the_default(tmp_path):
    assert config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)}).web.compat == "abaco"
    with pytest.raises(config_mod.ConfigError, match="compat"):
        config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_COMPAT": "both"})


def test_unknown_actor_and_a_stranger_get_the_same_answer(api):
    actor = made(api)
    assert api.call("GET", "/actors/nope") == (404, "No actor found with id: nope.")
    # A caller with no access learns nothing more than about an actor that does not exist.
    assert api.call("GET", f"/actors/{actor}", user="stranger") == (404, f"No actor found with id: {actor}.")
    assert api.call("PUT", f"/actors/{actor}", user="stranger", json={"image": "abaco/echo:local"}) == \
        (404, f"No actor found with id: {actor}.")


def test_a_level_too_low_is_not_authorized(api):
    actor = made(api)
    assert api.call("POST", f"/actors/{actor}/permissions", json={"user": "reader", "level": "READ"})[0] == 200
    code, message = api.call("PUT", f"/actors/{actor}", user="reader", json={"image": "abaco/echo:local"})
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- you do not have access to this actor.")
    assert "READ" in message and "UPDATE" in message


def test_alias_and_config_phrases(api):
    actor = made(api)
    assert api.call("GET", "/actors/aliases/nope") == (404, "No alias found: nope.")
    assert api.call("GET", "/actors/configs/NOPE") == (404, "No config found: NOPE.")
    assert api.call("POST", "/actors/aliases", json={"alias": "al", "actor_id": actor})[0] == 200
    code, message = api.call("POST", "/actors/aliases", json={"alias": "al", "actor_id": actor})
    assert code == pick(api, 400, 409) and "already exists" in message
    code, message = api.call("POST", "/actors/aliases", json={"alias": actor, "actor_id": actor})
    assert code == pick(api, 400, 409) and message.startswith("Invalid alias description.")
    code, message = api.call("POST", "/actors/aliases", json={"actor_id": actor})
    assert code == 400 and message.startswith("Invalid alias description.")
    assert api.call("POST", "/actors/aliases/al/permissions", json={"user": "reader", "level": "READ"})[0] == 200
    code, message = api.call("DELETE", "/actors/aliases/al", user="reader")
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- you do not have access to this alias.")
    code, message = api.call("POST", "/actors/configs", json={"name": "K", "value": "v", "actors": "nope"})
    assert (code, message) == (404, "No actor or alias found with id: nope.")
    assert api.call("POST", "/actors/configs", json={"name": "K", "value": "v", "actors": actor})[0] == 200
    assert api.call("POST", "/actors/configs/K/permissions", json={"user": "reader", "level": "READ"})[0] == 200
    code, message = api.call("PUT", "/actors/configs/K", user="reader", json={"value": "w"})
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- you do not have UPDATE access to this actor config.")
    code, _ = api.call("POST", "/actors/configs", json={"name": "K", "value": "v", "actors": actor})
    assert code == pick(api, 400, 409)


def test_no_credentials(api):
    code, message = api.call("GET", "/actors", user=None)
    assert code == pick(api, 400, 401) and message.startswith("No JWT or nonce provided.")
    # A token that is there but wrong stays a 401 in both modes.
    code, _ = api.call("GET", "/actors", user=None, headers={"Authorization": "Bearer nonsense"})
    assert code == 401


def test_unknown_execution_and_finished_execution(api):
    actor = made(api)
    code, message = api.call("GET", f"/actors/{actor}/executions/nope")
    assert code == pick(api, 400, 404)
    assert message == f"No executions found with actor id of {actor} and execution id of nope."


def test_role_too_low_for_a_field(api):
    code, message = api.call("POST", "/actors", json={"image": "abaco/echo:local", "privileged": True})
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- only admins and privileged users can make privileged actors.")
    code, message = api.call("POST", "/actors", role="limited", json={"image": "abaco/echo:local", "max_workers": 2})
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- only admins and privileged users can set max workers.")
    assert api.call("POST", "/actors", role="privileged",
                    json={"image": "abaco/echo:local", "privileged": True})[0] == 200


def test_stateful_rules_and_state_of_a_stateless_actor(api):
    code, message = api.call("POST", "/actors", json={"image": "abaco/echo:local", "stateless": False,
                                                      "max_workers": 2})
    assert code == 400 and message.startswith("stateful actors can only have 1 worker")
    stateful = made(api, stateless=False)
    code, message = api.call("PUT", f"/actors/{stateful}", json={"image": "abaco/echo:local", "stateless": True})
    assert code == 400
    assert message.startswith("an actor that was not stateless cannot be updated to be stateless")
    code, message = api.call("PUT", f"/actors/{stateful}", json={"image": "abaco/echo:local", "max_workers": 3})
    assert code == 400 and message.startswith("stateful actors can only have 1 worker")
    stateless = made(api)
    code, message = api.call("GET", f"/actors/{stateless}/state")
    assert code == pick(api, 404, 400) and message.startswith("actor is stateless.")


def test_links_to_itself_and_cycles(api):
    a = made(api)
    b = made(api, link=a)
    code, message = api.call("PUT", f"/actors/{a}", json={"image": "abaco/echo:local", "link": a})
    assert code == 400 and message.startswith("An actor cannot link to itself.")
    code, message = api.call("PUT", f"/actors/{a}", json={"image": "abaco/echo:local", "link": b})
    assert code == 400 and message.startswith("this update would result in a cycle of linked actors")


def test_message_too_large(tmp_path):
    for compat, expected in (("abaco", 400), ("http", 413)):
        api = Api(tmp_path / compat, compat, ABACO_WEB_MAX_MESSAGE_BYTES="10")
        actor = made(api)
        code, message = api.call("POST", f"/actors/{actor}/messages", data={"message": "x" * 11})
        assert code == expected and message.startswith("Message exceeds max content length of: 10")


def test_unknown_path_and_wrong_method(api):
    code, message = api.call("GET", "/no/such/path")
    assert code == pick(api, 405, 404) and message.startswith(NO_ENDPOINT)
    code, message = api.call("PATCH", "/actors")
    assert code == 405 and message.startswith(NO_ENDPOINT)


def test_a_nonce_below_the_level_is_not_authorized(api):
    actor = made(api)
    headers = {"Authorization": f"Bearer {auth.issue_token(api.cfg, 'vera')}"}
    nonce = api.http.post(f"/actors/{actor}/nonces", json={"level": "READ"}, headers=headers).get_json()["result"]
    assert api.call("GET", f"/actors/{actor}?x-nonce={nonce['id']}", user=None)[0] == 200
    code, message = api.call("PUT", f"/actors/{actor}?x-nonce={nonce['id']}", user=None,
                             json={"image": "abaco/echo:local"})
    assert code == pick(api, 400, 403)
    assert message.startswith("Not authorized -- you do not have access to this actor.") and "READ" in message
