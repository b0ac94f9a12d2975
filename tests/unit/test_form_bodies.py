"""Form-encoded and multipart bodies wherever a JSON object is taken, read as Abaco reads them;
unknown fields ignored and named (or refused with [web] strict_fields = true)."""

import pytest

from actors import auth
from actors import config as config_mod
from actors.api import create_app
from actors.store.memory import memory_stores
from actors.stub_broker import StubBroker


class Api:
    def __init__(self, tmp_path, **settings):
        env = {"ABACO_GENERAL_DATA_DIR": str(tmp_path), **settings}
        self.cfg = config_mod.load(environ=env)
        self.http = create_app(self.cfg, memory_stores(), StubBroker()).test_client()

    def call(self, method, path, user="vera", **kw):
        headers = {"Authorization": f"Bearer {auth.issue_token(self.cfg, user)}", **kw.pop("headers", {})}
        resp = self.http.open(path, method=method, headers=headers, **kw)
        return resp.status_code, resp.get_json()

    def ok(self, method, path, **kw):
        code, body = self.call(method, path, **kw)
        assert code == 200, body
        return body


@pytest.fixture(params=["snake", "camel"])
def api(request, tmp_path):
    return Api(tmp_path, ABACO_WEB_CASE=request.param)


def key(api: Api, name: str) -> str:
    """A field name as the configured case shows it."""
    if api.cfg.web.case == "snake":
        return name
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def test_an_actor_from_form_fields(api):
    form = {"image": "abaco/echo:local", key(api, "stateless"): "False", "hints": ["a", "b"],
            key(api, "default_environment"): '{"K": "v"}', key(api, "max_workers"): "1", "token": "True",
            key(api, "cpu_seconds"): "2.5", key(api, "link_events"): "EXECUTION_STARTED"}
    actor = api.ok("POST", "/actors", data=form)["result"]
    assert actor[key(api, "stateless")] is False and actor["token"] is True
    assert actor["hints"] == ["a", "b"] and actor[key(api, "default_environment")] == {"K": "v"}
    assert actor[key(api, "max_workers")] == 1 and actor[key(api, "cpu_seconds")] == 2.5
    assert actor[key(api, "link_events")] == ["EXECUTION_STARTED"]
    # Repeating the same stateless value is no change; making a stateful actor stateless is refused.
    again = api.ok("PUT", f"/actors/{actor['id']}", data={"image": "abaco/echo:local", "stateless": "false"})
    assert again["result"][key(api, "stateless")] is False
    code, body = api.call("PUT", f"/actors/{actor['id']}", data={"image": "abaco/echo:local", "stateless": "True"})
    assert code == 400 and body["message"].startswith("an actor that was not stateless cannot be updated")


def test_lists_as_json_text_and_multipart(api):
    actor = api.ok("POST", "/actors", data={"image": "abaco/echo:local", "hints": '["x", "y"]'})["result"]
    assert actor["hints"] == ["x", "y"]
    actor = api.ok("POST", "/actors", content_type="multipart/form-data",
                   data={"image": "abaco/echo:local", "stateless": "true", "hints": ["m"]})["result"]
    assert actor[key(api, "stateless")] is True and actor["hints"] == ["m"]


def test_bad_form_values_are_clear_400s(api):
    for form, word in (({"image": "abaco/echo:local", "default_environment": "K=v"}, "JSON text of an object"),
                       ({"image": "abaco/echo:local", "hints": "[oops"}, "JSON text of a list"),
                       ({"image": "abaco/echo:local", "stateless": "maybe"}, "boolean"),
                       ({"image": "abaco/echo:local", "max_workers": "lots"}, "max_workers"),
                       ({"image": "abaco/echo:local", "max_workers": "9" * 5000}, "max_workers"),
                       ({"image": "abaco/echo:local", "hints": "[" * 5000}, "nested"),
                       ({"image": "abaco/echo:local", "default_environment": "[" * 5000}, "nested")):
        code, body = api.call("POST", "/actors", data=form)
        assert code == 400 and word in body["message"], body


def test_long_or_odd_numbers_are_400s_in_json_and_forms(api):
    actor = api.ok("POST", "/actors", json={"image": "abaco/echo:local"})["result"]["id"]
    for send in ({"json": {}}, {"data": {}}):
        for path, name in (("/actors", "max_workers"), ("/actors", "mem_limit"), ("/actors", "cpu_weight"),
                           (f"/actors/{actor}/workers", "num"), (f"/actors/{actor}/nonces", "max_uses")):
            for value in ("9" * 5000, "\u00b2", "1" * 18 + "m"):
                body = {"image": "abaco/echo:local", name: value}
                code, answer = api.call("POST", path, **{k: body for k in send})
                assert code == 400 and name in answer["message"], (path, name, value[:20], answer)


def test_an_empty_body_still_asks_for_the_image(api):
    for kw in ({}, {"data": b"", "content_type": "application/json"}, {"data": {}}):
        code, body = api.call("POST", "/actors", **kw)
        assert code == 400 and "'image' is required" in body["message"]


def test_unknown_fields_are_ignored_and_named(api):
    body = api.ok("POST", "/actors", json={"image": "abaco/echo:local", "colour": "blue", "type": "none"})
    assert body["message"].endswith("(ignored unknown field(s): colour, type)")
    assert "colour" not in body["result"]
    actor = body["result"]["id"]
    assert "ignored" not in api.ok("GET", f"/actors/{actor}")["message"]
    body = api.ok("PUT", f"/actors/{actor}", data={"image": "abaco/echo:local", "colour": "red"})
    assert "ignored unknown field(s): colour" in body["message"]
    # Mounts are never ignored: only the platform decides what is mounted.
    code, body = api.call("POST", "/actors", json={"image": "abaco/echo:local", "mounts": []})
    assert code == 400 and "mounts" in body["message"]


def test_unknown_fields_are_refused_when_strict(tmp_path):
    api = Api(tmp_path, ABACO_WEB_STRICT_FIELDS="true")
    code, body = api.call("POST", "/actors", data={"image": "abaco/echo:local", "colour": "blue"})
    assert code == 400 and "colour" in body["message"] and "strict_fields" in body["message"]
    actor = api.ok("POST", "/actors", data={"image": "abaco/echo:local"})["result"]["id"]
    code, body = api.call("POST", "/actors/aliases", data={"alias": "al", "actor_id": actor, "x": "1"})
    assert code == 400 and "x" in body["message"]
    code, body = api.call("POST", "/actors/configs", data={"name": "K", "value": "v", "actors": actor,
                                                           "image": "i"})
    assert code == 400 and "image" in body["message"]


def test_the_other_bodies_take_forms_and_ignore_unknown_fields(api):
    actor = api.ok("POST", "/actors", data={"image": "abaco/echo:local", "max_workers": "3"})["result"]["id"]
    alias = api.ok("POST", "/actors/aliases", data={"alias": "al", key(api, "actor_id"): actor, "junk": "1"})
    assert alias["result"][key(api, "actor_id")] == actor and "junk" in alias["message"]
    config = api.ok("POST", "/actors/configs", data={"name": "K", "value": "v", "actors": [actor],
                                                     key(api, "is_secret"): "true", "image": "x"})
    assert config["result"][key(api, "is_secret")] is True and "ignored unknown field(s): image" in config["message"]
    nonce = api.ok("POST", f"/actors/{actor}/nonces", data={"level": "READ", key(api, "max_uses"): "-1",
                                                            "colour": "1"})
    assert nonce["result"][key(api, "max_uses")] == -1 and "colour" in nonce["message"]
    grant = api.ok("POST", f"/actors/{actor}/permissions", data={"user": "bob", "level": "READ", "why": "x"})
    assert grant["result"]["bob"] == "READ" and "why" in grant["message"]
    workers = api.ok("POST", f"/actors/{actor}/workers", data={"num": "2", "extra": "1"})
    assert "extra" in workers["message"]


def test_adding_workers_with_no_body_asks_for_one(api):
    actor = api.ok("POST", "/actors", json={"image": "abaco/echo:local"})["result"]["id"]
    assert api.ok("POST", f"/actors/{actor}/workers")["status"] == "success"
    code, body = api.call("POST", f"/actors/{actor}/workers", data={"num": "zero"})
    assert code == 400 and "num" in body["message"]


def test_browser_proof_still_needed_for_forms_in_none_mode(tmp_path):
    api = Api(tmp_path, ABACO_WEB_ACCESS_CONTROL="none")
    code, _ = api.call("POST", "/actors", data={"image": "abaco/echo:local"})
    assert code == 400          # Abaco's code for "not authorized" (403 in compat = http)
    body = api.ok("POST", "/actors", data={"image": "abaco/echo:local"}, headers={"X-Requested-With": "curl"})
    assert body["result"]["image"] == "abaco/echo:local"
