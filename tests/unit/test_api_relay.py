"""The pieces of the execution's HTTPS relay that need no Docker (actors/api_relay.py)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from actors import api_relay
from actors import config as config_mod


@pytest.fixture
def config(tmp_path):
    return config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)})


def test_certificates_are_made_once_for_loopback_without_client_certificates(config):
    ca, cert, key = api_relay.certificates(config)
    assert ca.exists() and cert.exists() and key.exists()
    assert sorted(p.name for p in config.tls_cert_dir.glob("*.pem")) == ["ca.pem", "server.pem"]
    before = cert.read_bytes()
    assert api_relay.certificates(config)[1].read_bytes() == before


def test_pump_relays_tls_to_a_unix_socket_and_back(config):
    ca, cert, key = api_relay.certificates(config)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    api_side, relay_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def relay():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            api_relay.pump(tls, relay_side)
        relay_side.close()

    thread = threading.Thread(target=relay)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca))         # verifies 127.0.0.1 against the CA
    with client_ctx.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /actors/v2/a/state HTTP/1.1\r\n\r\n")
        assert api_side.recv(1024) == b"POST /actors/v2/a/state HTTP/1.1\r\n\r\n"
        api_side.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        assert tls.recv(1024) == b"HTTP/1.1 200 OK\r\n\r\n"
        api_side.close()                                                # the API closes: so does the relay
        assert tls.recv(1024) == b""
    thread.join()
    listener.close()


def test_listening_in_a_namespace_that_is_not_there_is_a_relay_error():
    with pytest.raises(api_relay.RelayError):
        api_relay.listen_in("/proc/self/ns/no-such-namespace", ("127.0.0.1", 0))
