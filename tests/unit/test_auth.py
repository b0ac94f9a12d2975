import os
import stat

import jwt
import pytest

from actors import auth, codes
from actors import config as config_mod
from actors.errors import ForbiddenError, UnauthorizedError


@pytest.fixture
def cfg(tmp_path):
    return config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)})


def headers(token):
    return {"Authorization": f"Bearer {token}"}


def test_key_is_created_once_and_private(cfg):
    path = auth.ensure_signing_key(cfg)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = path.read_bytes()
    assert auth.ensure_signing_key(cfg).read_bytes() == first


def test_token_round_trip(cfg):
    token = auth.issue_token(cfg, "alice", "privileged", tenant="t2")
    who = auth.Authenticator(cfg).identify(headers(token))
    assert who == auth.Identity("alice", "privileged", "t2")
    assert who.is_privileged and not who.is_admin


def test_forged_unsigned_and_expired_tokens_are_refused(cfg, tmp_path):
    authn = auth.Authenticator(cfg)
    other = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path / "other")})
    forged = auth.issue_token(other, "alice", "admin")
    with pytest.raises(UnauthorizedError, match="invalid"):
        authn.identify(headers(forged))
    unsigned = jwt.encode({"sub": "alice", "role": "admin", "iss": auth.ISSUER, "iat": 0, "exp": 2**40},
                          key=None, algorithm="none")
    with pytest.raises(UnauthorizedError):
        authn.identify(headers(unsigned))
    with pytest.raises(UnauthorizedError, match="expired"):
        authn.identify(headers(auth.issue_token(cfg, "alice", ttl=-5)))
    with pytest.raises(UnauthorizedError, match="no credentials"):
        authn.identify({})


def test_bad_names_and_roles(cfg):
    with pytest.raises(ValueError):
        auth.issue_token(cfg, "alice", "superuser")
    with pytest.raises(ValueError):
        auth.issue_token(cfg, "al ice")


def test_levels():
    actor = {"id": "a1", "owner": "alice", "tenant": "default"}
    assert auth.actor_level(auth.Identity("alice", "user"), actor) == codes.UPDATE
    assert auth.actor_level(auth.Identity("root", "admin"), actor) == codes.UPDATE
    assert auth.actor_level(auth.Identity("bob", "user"), actor) == codes.NONE
    assert auth.actor_level(auth.Identity("root", "admin", "other"), actor) == codes.NONE
    with pytest.raises(ForbiddenError, match="bob"):
        auth.require(auth.Identity("bob", "user"), actor, codes.READ)
