"""Live logs on the real stack: a worker streaming into Redis, abaco-logstream serving followers.

An actor prints ``line-1`` .. ``line-N``, one every 100 ms, then exits with a chosen code
(``COUNT``, ``EXIT`` as message variables). Followers go through the API (a 307 to the
logstream process with a ticket), as curl -L, requests and the CLI do.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
import pytest
import requests

from actors import auth, livelog, logtickets
from actors.readiness import wait_until

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent      # the virtualenv's console scripts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TICKER = "abaco-test/ticker:local"
TICKER_CMD = ('["sh", "-c", "i=1; while [ $i -le ${COUNT:-30} ]; do echo line-$i; i=$((i+1)); '
              'usleep ${PAUSE_US:-100000}; done; exit ${EXIT:-0}"]')


@pytest.fixture(scope="module")
def ticker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ticker")
    (folder / "Dockerfile").write_text(f"FROM abaco/busybox:local\nCMD {TICKER_CMD}\n")
    docker.from_env().images.build(path=str(folder), tag=TICKER, rm=True)
    return TICKER


@pytest.fixture(scope="module")
def logstream_up(platform):
    """The platform's logstream process answers (the fixture waits only for the API)."""
    url = f"http://127.0.0.1:{platform.config.logstream.port}/healthz"
    platform.wait_ready("logstream", lambda: requests.get(url, timeout=2).status_code == 200)
    return url


@pytest.fixture(scope="module")
def shared(platform, ticker):
    """One actor for the tests whose executions are short (each waits for its own to end)."""
    return platform.register(ticker)


def send(platform, actor_id: str, count: int, code: int = 0, user: str = "alice") -> str:
    return platform.ok("POST", f"/actors/{actor_id}/messages?COUNT={count}&EXIT={code}",
                       data={"message": "tick"}, user=user)["execution_id"]


def logs_path(actor_id: str, eid: str) -> str:
    return f"/actors/{actor_id}/executions/{eid}/logs"


def expected(count: int) -> str:
    return "".join(f"line-{i}\n" for i in range(1, count + 1))


class Follower(threading.Thread):
    """Follows one live log through the API; after ``drop_after`` lines it hangs up once and
    comes back with Last-Event-ID. ``hold`` keeps it connected until set."""

    def __init__(self, platform, path: str, user: str = "alice", drop_after: int | None = None,
                 hold: threading.Event | None = None):
        super().__init__(daemon=True)
        self.platform, self.path, self.user, self.drop_after, self.hold = platform, path, user, drop_after, hold
        self.text, self.end, self.error = "", None, None
        self.connects, self.last_id = 0, None
        self.first_event = threading.Event()

    def connect(self) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.platform.token(self.user)}"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        self.connects += 1
        resp = requests.get(self.platform.url + self.path, params={"follow": "true"}, headers=headers,
                            stream=True, timeout=(10, 60))
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return resp

    def run(self) -> None:
        try:
            dropped = self.drop_after is None
            while self.end is None:
                resp = self.connect()
                parser = livelog.SseParser()
                with resp:
                    for data in resp.iter_content(chunk_size=None):
                        for event_id, event, text in parser.feed(data):
                            self.first_event.set()
                            if event == "end":
                                self.end = json.loads(text)
                                break
                            self.text += text
                            self.last_id = event_id
                        if self.end is not None or self.hold is not None and self.hold.is_set():
                            break
                        if not dropped and self.text.count("\n") >= self.drop_after:
                            dropped = True
                            break              # hang up mid-stream: the forced reconnect
                if self.hold is not None and self.hold.is_set():
                    return
        except Exception as exc:              # reported by the test
            self.error = exc
        finally:
            self.first_event.set()


def test_twenty_followers_get_every_line_once_in_order_across_a_reconnect(platform, shared, logstream_up):
    actor = shared
    eid = send(platform, actor["id"], count=40, code=3)
    followers = [Follower(platform, logs_path(actor["id"], eid), drop_after=5 + i % 10) for i in range(20)]
    for f in followers:
        f.start()
    for f in followers:
        f.join(120)
    record = platform.wait_execution(actor["id"], eid)
    stored = platform.ok("GET", logs_path(actor["id"], eid))["logs"]
    assert stored == expected(40)                     # the stored log, as before live logs
    for f in followers:
        assert f.error is None and not f.is_alive()
        assert f.connects == 2                        # each came back once
        assert f.text == stored                       # every line, in order, once
        assert f.end == {"status": record["status"], "exitCode": record["exit_code"]} == \
            {"status": "COMPLETE", "exitCode": 3}


def test_the_live_log_is_the_stored_log_and_tail_starts_lines_back(platform, shared, logstream_up):
    actor = shared
    eid = send(platform, actor["id"], count=12)
    platform.wait_execution(actor["id"], eid)
    stored = platform.ok("GET", logs_path(actor["id"], eid))["logs"]
    from actors.store.redis import RedisBackend
    client = RedisBackend(platform.config).client
    entries = livelog.decode_entries(client.xrange(livelog.stream_key(platform.config.general.instance, eid)))
    assert "".join(v for _, kind, v in entries if kind == "text") == stored == expected(12)
    assert client.ttl(livelog.stream_key(platform.config.general.instance, eid)) > 0     # it expires as the log does
    headers = {"Authorization": f"Bearer {platform.token('alice')}"}
    resp = requests.get(platform.url + logs_path(actor["id"], eid), params={"follow": "true", "tail": 3},
                        headers=headers, timeout=30)
    events = livelog.SseParser().feed(resp.content)
    assert "".join(text for _, event, text in events if event is None) == "line-10\nline-11\nline-12\n"
    assert events[-1][1] == "end"
    # resuming after the end event answers just the end again
    resp = requests.get(platform.url + logs_path(actor["id"], eid), params={"follow": "true"},
                        headers=dict(headers, **{"Last-Event-ID": events[-1][0]}), timeout=30)
    assert [e[1] for e in livelog.SseParser().feed(resp.content)] == ["end"]


def _counts(pid: int) -> tuple[int, int]:
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def test_followers_that_leave_release_their_files_and_threads(platform, ticker, logstream_up):
    pid = platform.procs["logstream"].pid
    assert b"logstream" in Path(f"/proc/{pid}/cmdline").read_bytes()
    actor = platform.register(ticker)
    eid = send(platform, actor["id"], count=300)
    path = logs_path(actor["id"], eid)
    warm = Follower(platform, path, hold=threading.Event())
    warm.start()
    assert warm.first_event.wait(60) and warm.error is None
    warm.hold.set()
    warm.join(30)
    time.sleep(1)                                    # let the server notice the warm-up follower left
    baseline = _counts(pid)
    hold = threading.Event()
    followers = [Follower(platform, path, hold=hold) for _ in range(20)]
    for f in followers:
        f.start()
    for f in followers:
        assert f.first_event.wait(60) and f.error is None, f.error
    during = _counts(pid)
    assert during[0] >= baseline[0] + 20             # a socket each, at least
    hold.set()
    for f in followers:
        f.join(30)
    back = wait_until(lambda: (lambda c: c if c[0] <= baseline[0] and c[1] <= baseline[1] else None)(_counts(pid)),
                      30, f"logstream's fds and threads back to {baseline}")
    print(f"logstream fds/threads: baseline {baseline}, with 20 followers {during}, after {back}")
    platform.request("DELETE", f"/actors/{actor['id']}/executions/{eid}")


def test_who_may_follow_is_who_may_read_the_logs(platform, shared, logstream_up):
    actor = shared
    eid = send(platform, actor["id"], count=5)
    other = send(platform, actor["id"], count=2)
    path = logs_path(actor["id"], eid)
    for user, tenant in (("bob", "default"), ("alice", "othertenant")):
        plain = platform.request("GET", path, user=user, tenant=tenant)
        follow = platform.request("GET", path, params={"follow": "true"}, user=user, tenant=tenant,
                                  allow_redirects=False)
        assert follow.status_code == plain.status_code in (403, 404), (user, tenant)
        assert "Location" not in follow.headers and follow.json()["status"] == "error"
    # the legitimate use: bob may follow once he may read
    platform.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": "bob", "level": "READ"})
    bob = platform.request("GET", path, params={"follow": "true"}, user="bob", timeout=90)
    assert bob.status_code == 200 and "event: end" in bob.text and "line-5" in bob.text
    # the attacks on the ticket itself
    location = platform.request("GET", path, params={"follow": "true"}, allow_redirects=False).headers["Location"]
    url = urlsplit(location)
    for_other = urlunsplit(url._replace(path=logs_path(actor["id"], other)))
    refused = requests.get(for_other, timeout=10)
    assert refused.status_code == 403 and refused.json()["status"] == "error"
    expired = logtickets.issue(platform.config, auth.Identity(user="alice", role="user"), actor["id"], eid, ttl=-5)
    refused = requests.get(urlunsplit(url._replace(query=f"follow=true&ticket={expired}")), timeout=10)
    assert refused.status_code == 401 and "expired" in refused.json()["message"]
    refused = requests.get(urlunsplit(url._replace(query="follow=true")), timeout=10)
    assert refused.status_code == 401
    ticket = location.split("ticket=")[1].split("&")[0]
    as_token = requests.get(platform.url + path, headers={"Authorization": f"Bearer {ticket}"}, timeout=10)
    assert as_token.status_code == 401                # a ticket is no API token


def test_a_user_past_the_follower_cap_gets_429(platform, ticker, logstream_up):
    port = free_port()
    platform.start("logstream-capped", [str(BIN / "abaco-logstream")],
                   {"ABACO_LOGSTREAM_PORT": str(port), "ABACO_LOGSTREAM_MAX_FOLLOWERS_PER_USER": "2"})
    try:
        platform.wait_ready("logstream-capped",
                            lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok, timeout=60)
        actor = platform.register(ticker)
        eid = send(platform, actor["id"], count=300)
        path = logs_path(actor["id"], eid)

        def capped_url() -> str:
            location = platform.request("GET", path, params={"follow": "true"},
                                        allow_redirects=False).headers["Location"]
            return urlunsplit(urlsplit(location)._replace(netloc=f"127.0.0.1:{port}"))
        held = [requests.get(capped_url(), stream=True, timeout=30) for _ in range(2)]
        assert [r.status_code for r in held] == [200, 200]
        third = requests.get(capped_url(), timeout=30)
        assert third.status_code == 429 and third.json()["status"] == "error"
        assert "max_followers_per_user" in third.json()["message"]
        held.pop().close()                            # one leaves: room for another

        def admitted():
            resp = requests.get(capped_url(), stream=True, timeout=30)
            if resp.status_code == 200:
                held.append(resp)
                return True
            resp.close()
            return False
        wait_until(admitted, 30, "a follower admitted once another left")
        for resp in held:
            resp.close()
        platform.request("DELETE", f"/actors/{actor['id']}/executions/{eid}")
    finally:
        platform.stop("logstream-capped")


def test_the_cli_follows_to_the_end_and_exits_with_the_exit_code(platform, shared, logstream_up):
    actor = shared
    eid = send(platform, actor["id"], count=15, code=7)
    done = subprocess.run([str(BIN / "abaco"), "--url", platform.url, "--token", platform.token("alice"),
                           "logs", "-f", actor["id"], eid], capture_output=True, timeout=120)
    assert done.returncode == 7, done.stderr
    assert done.stdout.decode() == expected(15)
    assert "COMPLETE (exit code 7)" in done.stderr.decode()


def test_other_requests_succeed_while_a_hundred_followers_are_connected(platform, ticker, logstream_up):
    actor = platform.register(ticker)
    users = ["alice"] + [f"reader{i}" for i in range(4)]      # 20 each: the default cap per user
    for user in users[1:]:
        platform.ok("POST", f"/actors/{actor['id']}/permissions", json={"user": user, "level": "READ"})
    eid = send(platform, actor["id"], count=400)
    path = logs_path(actor["id"], eid)
    hold = threading.Event()
    followers = [Follower(platform, path, user=users[i % 5], hold=hold) for i in range(100)]
    for f in followers:
        f.start()
    for f in followers:
        assert f.first_event.wait(90) and f.error is None, f.error
    took = []
    for _ in range(50):
        began = time.perf_counter()
        resp = platform.request("GET", f"/actors/{actor['id']}")
        took.append(time.perf_counter() - began)
        assert resp.status_code == 200
    assert all(f.is_alive() for f in followers)        # all still connected
    hold.set()
    for f in followers:
        f.join(30)
    cuts = statistics.quantiles(took, n=100)
    print(f"GET /actors/ID with 100 followers connected: p50 {cuts[49] * 1000:.1f} ms, "
          f"p99 {cuts[98] * 1000:.1f} ms (timed in bench/logstream.py)")
    platform.request("DELETE", f"/actors/{actor['id']}/executions/{eid}")
