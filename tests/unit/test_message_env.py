"""Which query parameters of a message become environment variables (actors/message_env.py)."""

import pytest

from actors import message_env
from actors.errors import BadRequestError

PLAIN = {"id": "a", "owner": "alice", "default_environment": {"COLOR": "red"}}


def accept(params, actor=PLAIN, secrets=False):
    return message_env.accept(list(params.items()), actor, lambda: secrets)


def test_ordinary_names_become_variables():
    assert accept({"COLOR": "blue", "count": "3", "x-nonce": "n", "_abaco_synchronous": "true"}) == \
        {"COLOR": "blue", "count": "3"}


@pytest.mark.parametrize("name", ["PYTHONWARNINGS", "BROWSER", "BASH_ENV", "ENV", "LD_PRELOAD", "ld_library_path",
                                  "PERL5OPT", "PERLLIB", "NODE_OPTIONS", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS",
                                  "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "PATH", "HOME", "SHELL", "IFS", "PS4",
                                  "SHELLOPTS", "GCONV_PATH", "MALLOC_CHECK_", "GLIBC_TUNABLES", "MSG",
                                  "_abaco_access_token", "1abc", "a-b", "a b"])
def test_names_that_steer_start_up_are_refused_by_name(name):
    with pytest.raises(BadRequestError) as err:
        accept({name: "x"})
    assert repr(name) in err.value.message


@pytest.mark.parametrize("actor,secrets", [({**PLAIN, "token": True}, False), ({**PLAIN, "privileged": True}, False),
                                           (PLAIN, True)])
def test_an_actor_holding_something_takes_only_declared_names(actor, secrets):
    assert accept({"COLOR": "blue"}, actor, secrets) == {"COLOR": "blue"}
    with pytest.raises(BadRequestError, match="default_environment"):
        accept({"COLOR": "blue", "OTHER": "x"}, actor, secrets)


def test_the_worker_drops_what_the_api_would_refuse():
    queued = {"COLOR": "blue", "LD_PRELOAD": "/tmp/x.so", "OTHER": "1"}
    assert message_env.keep(queued, PLAIN, False) == {"COLOR": "blue", "OTHER": "1"}
    assert message_env.keep(queued, PLAIN, True) == {"COLOR": "blue"}


def test_secrets_are_looked_up_only_when_a_variable_is_given():
    asked = []
    message_env.accept([("x-nonce", "n")], PLAIN, lambda: asked.append(1) or False)
    assert asked == []
