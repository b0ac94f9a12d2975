"""Page time of the dashboard with 10,000 executions stored, against the raw API calls behind it.

Against the stack ``make up`` started (its dashboard on ``[dashboard] host:port``): it
registers one actor, stores N executions of it and N accounting records (over 5 users and
30 days) straight through the store API for speed, signs in to the dashboard as an admin,
then times the actors page (``/``) and the accounting page (``/admin/accounting``) over
``--requests`` requests each, next to the API calls those pages make (``GET /actors``,
``GET /accounting``) timed in the same run. It prints p50/p95 against the 300 ms target and
the dashboard's overhead over the raw call, and removes everything it stored.

    .venv/bin/python bench/dashboard.py [--executions 10000] [--requests 20]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ready_actor, stack_client  # noqa: E402

from actors import auth, models, times  # noqa: E402
from actors.readiness import wait_until  # noqa: E402
from actors.store import open_stores  # noqa: E402
from actors.usage import owner_group  # noqa: E402

TARGET_MS = 300.0
USERS = 5
DAYS = 30


def _iso(epoch: float) -> str:
    return times.iso(datetime.fromtimestamp(epoch, timezone.utc), "microseconds")


def store_records(stores, actor: dict, count: int) -> list[str]:
    """``count`` finished executions of ``actor`` and their accounting records; their ids.
    Written from 16 threads: Redis fsyncs every write, and concurrent writes share an fsync."""
    now = time.time()

    def one(i: int) -> str:
        execution = models.new_execution(actor, actor["owner"], "str", 5)
        ended = now - (i % DAYS) * 86400 - 60
        execution.update(status="COMPLETE" if i % 10 else "ERROR", runtime=1.5, cpu=300_000_000 + i,
                         memory_peak=5_000_000, io=4096, exit_code=0 if i % 10 else 1,
                         start_time=_iso(ended - 1.5), finish_time=_iso(ended))
        stores.executions.put(execution["id"], execution, group=actor["id"])
        record = {"execution_id": execution["id"], "actor_id": actor["id"], "owner": f"bench-user{i % USERS}",
                  "tenant": "default", "executor": actor["owner"], "host": "local", "image": actor["image"],
                  "submit_time": execution["message_received_time"], "start_time": execution["start_time"],
                  "end_time": execution["finish_time"], "runtime": 1.5, "exit_code": execution["exit_code"],
                  "cpu_ns": execution["cpu"], "memory_peak": 5_000_000, "io_bytes": 4096,
                  "status": execution["status"], "reason": "", "attempts": 1}
        stores.accounting.put(execution["id"], record, group=owner_group(record))
        return execution["id"]
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def remove_records(stores, ids: list[str]) -> None:
    def one(execution_id: str) -> None:
        stores.executions.delete(execution_id)
        stores.accounting.delete(execution_id)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, ids))


def timed(get, url: str, runs: int, warm: int = 4) -> list[float]:
    """Milliseconds of ``runs`` GETs of ``url``, each a 200, after ``warm`` untimed ones (each API
    process reads the accounting records once after it starts; see actors/accounting_index.py)."""
    for _ in range(warm):
        assert get(url).status_code == 200
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        resp = get(url)
        out.append((time.perf_counter() - began) * 1000)
        assert resp.status_code == 200, (url, resp.status_code, resp.text[:300])
    return out


def signed_in(dashboard: str, token: str) -> requests.Session:
    """A session of the dashboard signed in with ``token``. Its cookies are Secure, which
    browsers send to loopback over HTTP but Python's cookie jar does not: they are set as a
    header here, as a browser would send them."""
    anonymous = requests.Session()
    form = anonymous.get(dashboard + "/signin")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    cookie = f"csrftoken={form.cookies['csrftoken']}"
    signed = anonymous.post(dashboard + "/signin", data={"token": token, "csrfmiddlewaretoken": csrf},
                            headers={"Referer": dashboard + "/signin", "Cookie": cookie}, allow_redirects=False)
    assert signed.status_code == 302, signed.text[:300]
    browser = requests.Session()
    browser.headers["Cookie"] = f"abaco_dashboard={signed.cookies['abaco_dashboard']}"
    return browser


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    cfg, client = stack_client(user="bench-owner")
    stores = open_stores(cfg)
    dashboard = f"http://{cfg.dashboard.host}:{cfg.dashboard.port}"
    wait_until(lambda: requests.get(dashboard + "/signin", timeout=2).status_code == 200, 60,
               f"the dashboard at {dashboard}")
    admin_token = auth.issue_token(cfg, "bench-admin", "admin")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {admin_token}"
    with ready_actor(client, "abaco/echo:local", wait=False, name="bench-dashboard") as actor:
        began = time.perf_counter()
        ids = store_records(stores, actor, args.executions)
        print(f"stored {len(ids)} executions and accounting records in {time.perf_counter() - began:.1f} s")
        try:
            browser = signed_in(dashboard, admin_token)
            api_url = cfg.web.api_server.rstrip("/")
            rows = [
                ("actors page", timed(browser.get, dashboard + "/", args.requests)),
                ("  GET /actors (API)", timed(api.get, api_url + "/actors", args.requests)),
                ("accounting page", timed(browser.get, dashboard + "/admin/accounting", args.requests)),
                ("  GET /accounting (API)", timed(api.get, api_url + "/accounting", args.requests)),
            ]
        finally:
            remove_records(stores, ids)
    print(f"{args.executions} executions stored, {args.requests} requests each (ms)")
    print(f"{'':26}{'p50':>8}{'p95':>8}{'max':>8}   target {TARGET_MS:.0f} ms (p95)")
    for name, values in rows:
        verdict = "" if name.startswith(" ") else ("  ok" if pct(values, 0.95) <= TARGET_MS else "  OVER")
        print(f"{name:26}{statistics.median(values):8.1f}{pct(values, 0.95):8.1f}{max(values):8.1f}{verdict}")
    for page, raw in ((rows[0], rows[1]), (rows[2], rows[3])):
        print(f"{page[0]}: {statistics.median(page[1]) / statistics.median(raw[1]):.2f} x its API call (p50)")
    return 0 if all(pct(v, 0.95) <= TARGET_MS for n, v in rows if not n.startswith(" ")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
