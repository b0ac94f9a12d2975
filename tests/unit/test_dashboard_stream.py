"""The execution page's live-log relay, before and after the API streams logs.

A small HTTP server from the standard library stands in for the API's
``GET .../logs?follow=true`` here, so the relay is checked on its own (the browser tests
follow the real abaco-logstream): it redirects to a stream URL, then answers
``text/event-stream``; the dashboard must
follow the redirect with the user's token, pass ``Last-Event-ID`` on, and relay the
events unchanged. When the API answers the plain JSON log instead, the dashboard tells
the page to poll."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client, override_settings

EVENTS = (b"id: 1\ndata: line one\n\n: heartbeat\n\nid: 2\ndata: line two\n\n"
          b"event: end\ndata: {\"status\": \"COMPLETE\", \"exitCode\": 0}\n\n")


class FakeApi(BaseHTTPRequestHandler):
    streams = True
    seen: list[dict] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        FakeApi.seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "last": self.headers.get("Last-Event-ID")})
        if self.path.startswith("/actors/A/executions/E/logs"):
            if FakeApi.streams:
                self.send_response(307)
                self.send_header("Location", "/streams/E")
                self.end_headers()
                return
            body = json.dumps({"status": "success", "message": "", "result": {"logs": "plain"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/streams/E":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for part in EVENTS.split(b"\n\n"):
                if part:
                    self.wfile.write(part + b"\n\n")
                    self.wfile.flush()
            return
        self.send_response(404)
        self.end_headers()


@pytest.fixture
def fake_api(config):
    from dashboard import settings
    settings.setup(config)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeApi.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def signed_in_client() -> Client:
    client = Client()
    session = client.session
    session.update({"token": "TOKEN", "user": "alice", "role": "user", "tenant": "default"})
    session.save()
    client.cookies["abaco_dashboard"] = session.session_key
    return client


def test_the_stream_is_relayed_after_a_redirect_with_the_token_and_last_event_id(fake_api):
    FakeApi.streams = True
    with override_settings(ABACO_API_URL=fake_api):
        resp = signed_in_client().get("/actors/A/executions/E/stream", HTTP_LAST_EVENT_ID="1")
        assert resp["Content-Type"].startswith("text/event-stream"), (resp.content, FakeApi.seen)
        assert b"".join(resp.streaming_content) == EVENTS
    assert [s["path"] for s in FakeApi.seen] == ["/actors/A/executions/E/logs?follow=true", "/streams/E"]
    assert all(s["auth"] == "Bearer TOKEN" and s["last"] == "1" for s in FakeApi.seen)


def test_a_plain_log_answer_tells_the_page_to_poll(fake_api):
    FakeApi.streams = False
    with override_settings(ABACO_API_URL=fake_api):
        resp = signed_in_client().get("/actors/A/executions/E/stream")
    assert resp.status_code == 200 and resp.json() == {"stream": False, "status": 200}


def test_no_session_no_stream(fake_api):
    with override_settings(ABACO_API_URL=fake_api):
        resp = Client().get("/actors/A/executions/E/stream")
    assert resp.status_code == 302 and resp["Location"].startswith("/signin") and FakeApi.seen == []
