import os
import stat

import jwt
import pytest

from actors import auth
from actors import config as config_mod
from actors.errors import UnauthorizedError


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


def test_modes_refuse_unsafe_or_incomplete_settings(tmp_path):
    base = {"ABACO_GENERAL_DATA_DIR": str(tmp_path)}
    with pytest.raises(config_mod.ConfigError, match="loopback|local development"):
        auth.Authenticator(config_mod.load(environ={**base, "ABACO_WEB_ACCESS_CONTROL": "none",
                                                    "ABACO_WEB_HOST": "0.0.0.0"}))
    with pytest.raises(config_mod.ConfigError, match="jwt_header_public_key"):
        auth.Authenticator(config_mod.load(environ={**base, "ABACO_WEB_ACCESS_CONTROL": "jwt_header"}))
    with pytest.raises(config_mod.ConfigError, match="access_control"):
        auth.Authenticator(config_mod.load(environ={**base, "ABACO_WEB_ACCESS_CONTROL": "basic"}))
    dev = auth.Authenticator(config_mod.load(environ={**base, "ABACO_WEB_ACCESS_CONTROL": "none"}))
    assert dev.identify({}) == auth.Identity("dev", "admin")


def test_mtls_believes_only_the_proxy_with_its_secret(tmp_path):
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_ACCESS_CONTROL": "mtls",
                                   "ABACO_AUTH_MTLS_ADMINS": "bob"})
    authn = auth.Authenticator(cfg)
    secret = (cfg.tls_cert_dir / "proxy.secret").read_text().strip()
    assert stat.S_IMODE(os.stat(cfg.tls_cert_dir / "proxy.secret").st_mode) == 0o600
    good = {"X-Ssl-Client-Verify": "SUCCESS", "X-Ssl-Client-S-Dn": "CN=bob,O=Lab", "X-Abaco-Proxy-Secret": secret}
    assert authn.identify(good, "127.0.0.1") == auth.Identity("bob", "admin")
    for headers_, addr in ((good, "10.0.0.5"), ({**good, "X-Abaco-Proxy-Secret": "x"}, "127.0.0.1"),
                           ({**good, "X-Ssl-Client-Verify": "FAILED:unknown ca"}, "127.0.0.1"),
                           ({**good, "X-Ssl-Client-S-Dn": "O=Lab"}, "127.0.0.1")):
        with pytest.raises(UnauthorizedError):
            authn.identify(headers_, addr)


def test_common_name_of_rfc2253_subjects():
    assert auth.common_name("CN=alice,O=Lab") == "alice"
    assert auth.common_name(r"O=A\,B,CN=carol smith") == "carol smith"
    assert auth.common_name("emailAddress=x@y+CN=dan,O=Lab") == "dan"
    assert auth.common_name("O=Lab") == ""


def test_an_execution_token_names_its_execution_and_dies_with_it(cfg):
    from actors.store.memory import memory_stores
    stores = memory_stores()
    stores.executions.put("e1", {"id": "e1", "actor_id": "a1", "status": "RUNNING"})
    token = auth.issue_token(cfg, "alice", execution=("a1", "e1"))
    authn = auth.Authenticator(cfg, stores)
    who = authn.identify(headers(token))
    assert who.user == "alice" and who.execution == ("a1", "e1")
    assert authn.execution_identity(headers(token)).execution == ("a1", "e1")
    stores.executions.update("e1", {"status": "COMPLETE"})
    with pytest.raises(UnauthorizedError, match="ended"):
        authn.identify(headers(token))


def test_the_api_socket_takes_only_an_execution_token(cfg):
    from actors.store.memory import memory_stores
    authn = auth.Authenticator(cfg, memory_stores())
    with pytest.raises(UnauthorizedError, match="execution's own token"):
        authn.execution_identity(headers(auth.issue_token(cfg, "alice", "admin")))
    with pytest.raises(UnauthorizedError):
        authn.execution_identity({})
