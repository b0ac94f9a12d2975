"""The TLS proxy's nginx configuration in each access mode (rendered, not run)."""

import pytest

from actors import config as config_mod
from actors import tls_proxy


def cfg(tmp_path, mode, listen="127.0.0.1:18443"):
    return config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path), "ABACO_WEB_ACCESS_CONTROL": mode,
                                    "ABACO_AUTH_TLS_LISTEN": listen})


@pytest.mark.parametrize("mode", ["jwt", "jwt_header", "none"])
def test_other_modes_ask_no_certificate_and_clear_the_mtls_headers(tmp_path, mode):
    text = tls_proxy.render(cfg(tmp_path, mode))
    assert "listen 127.0.0.1:18443 ssl;" in text and "server.pem" in text
    assert "ssl_client_certificate" not in text and "ssl_verify_client" not in text
    for name in ("X-Ssl-Client-Verify", "X-Ssl-Client-S-Dn", "X-Abaco-Proxy-Secret"):
        assert f'proxy_set_header {name} "";' in text
    assert not (tmp_path / "tls" / "proxy.secret").exists()
    assert "proxy_set_header Host $http_host;" in text


def test_mtls_mode_asks_a_certificate_and_sends_the_secret(tmp_path):
    text = tls_proxy.render(cfg(tmp_path, "mtls"))
    secret = (tmp_path / "tls" / "proxy.secret").read_text().strip()
    assert "ssl_verify_client optional_no_ca;" in text
    assert f'proxy_set_header X-Abaco-Proxy-Secret "{secret}";' in text
    assert "proxy_set_header X-Ssl-Client-Verify $ssl_client_verify;" in text


def test_none_mode_listens_only_on_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        tls_proxy.render(cfg(tmp_path, "none", listen="0.0.0.0:8443"))
    assert tls_proxy.render(cfg(tmp_path, "jwt", listen="0.0.0.0:8443"))
