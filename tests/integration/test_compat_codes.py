"""Abaco's codes and phrases on a real API in [web] compat = abaco (the default), bodies sent as
curl -d sends them, and unknown fields in both [web] strict_fields settings.

The session's API runs compat = http; these tests start APIs of their own on the same stores.
"""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def abaco(platform):
    url = platform.start_api("api-compat-codes", {"ABACO_WEB_COMPAT": "abaco"})
    yield url
    platform.stop("api-compat-codes")


@pytest.fixture(scope="module")
def strict(platform):
    url = platform.start_api("api-compat-strict", {"ABACO_WEB_COMPAT": "abaco", "ABACO_WEB_STRICT_FIELDS": "true"})
    yield url
    platform.stop("api-compat-strict")


def call(platform, url, method, path, user="cc-owner", **kw):
    headers = kw.pop("headers", {})
    if user:
        headers["Authorization"] = f"Bearer {platform.token(user)}"
    resp = requests.request(method, url + path, headers=headers, timeout=60, **kw)
    return resp.status_code, resp.json()


def test_codes_and_phrases(platform, abaco):
    code, body = call(platform, abaco, "POST", "/actors", data={"image": "abaco/echo:local", "stateless": "False"})
    assert code == 200, body
    actor = body["result"]["id"]
    assert call(platform, abaco, "POST", f"/actors/{actor}/permissions",
                data={"user": "cc-reader", "level": "READ"})[0] == 200
    code, body = call(platform, abaco, "GET", "/actors", user=None)
    assert code == 400 and body["message"].startswith("No JWT or nonce provided.")
    code, body = call(platform, abaco, "PUT", f"/actors/{actor}", user="cc-reader",
                      data={"image": "abaco/echo:local"})
    assert code == 400 and body["message"].startswith("Not authorized -- you do not have access to this actor.")
    # A stranger gets what an unknown actor gets.
    code, body = call(platform, abaco, "GET", f"/actors/{actor}", user="cc-stranger")
    assert (code, body["message"]) == (404, f"No actor found with id: {actor}.")
    code, body = call(platform, abaco, "GET", "/actors/cc-no-such-actor")
    assert (code, body["message"]) == (404, "No actor found with id: cc-no-such-actor.")
    code, body = call(platform, abaco, "GET", f"/actors/{actor}/executions/nope")
    assert (code, body["message"]) == (400, f"No executions found with actor id of {actor} and execution id of nope.")
    code, body = call(platform, abaco, "PUT", f"/actors/{actor}", data={"image": "abaco/echo:local",
                                                                          "max_workers": "2"})
    assert code == 400 and body["message"].startswith("stateful actors can only have 1 worker")
    code, body = call(platform, abaco, "POST", "/actors/aliases", data={"alias": f"cc-{actor.lower()}",
                                                                          "actor_id": actor})
    assert code == 200, body
    code, body = call(platform, abaco, "POST", "/actors/aliases", data={"alias": f"cc-{actor.lower()}",
                                                                          "actor_id": actor})
    assert code == 400 and "already exists" in body["message"]
    big = "x" * (platform.config.web.max_message_bytes + 1)
    code, body = call(platform, abaco, "POST", f"/actors/{actor}/messages", data=big,
                      headers={"Content-Type": "application/octet-stream"})
    assert code == 400 and body["message"].startswith("Message exceeds max content length of: ")
    code, body = call(platform, abaco, "GET", "/actors/no/such/path")
    assert code == 405 and body["message"].startswith("Invalid request: the API endpoint does not exist")
    code, body = call(platform, abaco, "DELETE", "/actors")
    assert code == 405 and body["message"].startswith("Invalid request: the API endpoint does not exist")
    assert call(platform, abaco, "DELETE", f"/actors/{actor}")[0] == 200


def test_curl_style_form_bodies(platform, abaco):
    form = {"image": "abaco/echo:local", "stateless": "False", "hints": ["a", "b"],
            "default_environment": '{"K": "v"}', "colour": "blue"}
    code, body = call(platform, abaco, "POST", "/actors", data=form)
    assert code == 200, body
    actor = body["result"]
    assert actor["stateless"] is False and actor["hints"] == ["a", "b"]
    assert actor["default_environment"] == {"K": "v"}
    assert "ignored unknown field(s): colour" in body["message"]
    # A PUT repeating the same stateless value changes nothing and is accepted.
    code, body = call(platform, abaco, "PUT", f"/actors/{actor['id']}",
                      data={"image": "abaco/echo:local", "stateless": "False", "description": "d"})
    assert code == 200 and body["result"]["description"] == "d"
    code, body = call(platform, abaco, "POST", f"/actors/{actor['id']}/workers")
    assert code == 200, body
    code, body = call(platform, abaco, "POST", "/actors/configs",
                      data={"name": "CC_K", "value": "v", "actors": actor["id"], "image": "ignored"})
    assert code == 200 and "ignored unknown field(s): image" in body["message"]
    assert call(platform, abaco, "DELETE", "/actors/configs/CC_K")[0] == 200
    assert call(platform, abaco, "DELETE", f"/actors/{actor['id']}")[0] == 200


def test_unknown_fields_refused_when_strict(platform, strict):
    code, body = call(platform, strict, "POST", "/actors", data={"image": "abaco/echo:local", "colour": "blue"})
    assert code == 400 and "colour" in body["message"] and "strict_fields" in body["message"]
    code, body = call(platform, strict, "POST", "/actors", json={"image": "abaco/echo:local"})
    assert code == 200, body
    actor = body["result"]["id"]
    code, body = call(platform, strict, "POST", f"/actors/{actor}/nonces", json={"level": "READ", "colour": "x"})
    assert code == 400 and "colour" in body["message"]
    assert call(platform, strict, "DELETE", f"/actors/{actor}")[0] == 200
