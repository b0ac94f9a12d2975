"""The message as the container gets it (actors/execution.py) and as the SDK reads it back."""

from __future__ import annotations

import ast
import json

import pytest

from actors import config as config_mod
from actors.execution import ExecutionRun, message_variables
from actors.message import BINARY, JSON, TEXT, Message
from actors.sdk import actor as sdk
from actors.store.memory import memory_stores

DOC = {"name": "x", "n": [1, 2.5, None, True], "nested": {"k": "v"}}


def message(body: bytes, content_type: str, **env) -> Message:
    return Message(execution_id="e1", body=body, content_type=content_type, executor="alice", env=env)


def test_json_message_is_python_str_in_msg_and_its_text_beside_it():
    text = json.dumps(DOC, separators=(",", ":"))
    out = message_variables(message(text.encode(), JSON))
    assert out["MSG"] == str(DOC)                        # as Abaco sets it
    assert ast.literal_eval(out["MSG"]) == DOC           # how agavepy reads it
    assert out["_abaco_message_json"] == text            # the text exactly as sent


def test_string_and_binary_messages_have_no_json_text():
    assert message_variables(message(b"{'a': 1} as text", TEXT)) == {"MSG": "{'a': 1} as text"}
    assert message_variables(message(b"\x00\xff", BINARY)) == {"MSG": ""}


@pytest.fixture
def run(tmp_path):
    config = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)})
    actor = {"id": "a1", "owner": "alice", "image": "abaco/echo:local", "tenant": "default",
             "default_environment": {"_abaco_message_json": "{\"forged\": 1}", "KEEP": "yes"}}

    def make(msg: Message) -> dict[str, str]:
        return ExecutionRun(config, memory_stores(), None, actor, "w1", msg).environment({"attempts": 1})
    return make


def test_both_content_type_names_are_set(run):
    env = run(message(b'{"a": 1}', JSON))
    assert env["_abaco_Content_Type"] == env["_abaco_Content-Type"] == JSON
    assert env["_abaco_message_json"] == '{"a": 1}' and env["MSG"] == "{'a': 1}" and env["KEEP"] == "yes"


def test_only_the_platform_sets_the_json_text(run):
    env = run(message(b"plain", TEXT))
    assert "_abaco_message_json" not in env and env["_abaco_Content-Type"] == TEXT


@pytest.mark.parametrize("env", [
    {"_abaco_message_json": json.dumps(DOC), "MSG": "ignored"},     # this platform
    {"MSG": json.dumps(DOC)},                                       # MSG as JSON text
    {"MSG": str(DOC)},                                              # Abaco's MSG
])
def test_the_sdk_reads_a_json_message_from_any_of_them(monkeypatch, env):
    monkeypatch.delenv("_abaco_message_json", raising=False)
    monkeypatch.delenv("_abaco_Content_Type", raising=False)
    monkeypatch.setenv("_abaco_Content-Type", JSON)                 # Abaco's name only
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ctx = sdk.get_context()
    assert ctx.content_type == JSON and ctx.message_dict == DOC


def test_the_sdk_gives_an_empty_dict_for_what_does_not_parse(monkeypatch):
    monkeypatch.delenv("_abaco_message_json", raising=False)
    monkeypatch.setenv("_abaco_Content_Type", JSON)
    monkeypatch.setenv("MSG", "__import__('os')")
    assert sdk.get_context().message_dict == {}
