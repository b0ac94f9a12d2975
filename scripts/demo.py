"""The demo `make demo` runs: register a sample Python actor, send it a message, show the result.

Talks to the stack `make up` started (the API at [web] api_server), as any user would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests

from actors import auth
from actors import config as config_mod


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cleanup", action="store_true", help="delete the demo actor at the end")
    args = parser.parse_args()
    cfg = config_mod.load()
    url = cfg.web.api_server.rstrip("/")
    token = auth.issue_token(cfg, "demo", "user")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"

    def call(method: str, path: str, **kw):
        resp = http.request(method, url + path, timeout=60, **kw)
        body = resp.json()
        if resp.status_code != 200:
            sys.exit(f"{method} {path} failed ({resp.status_code}): {body.get('message')}")
        return body["result"]

    print(f"== registering the sample Python actor (image abaco/pyactor:local) at {url}")
    actor = call("POST", "/actors", json={"image": "abaco/pyactor:local", "name": "demo-actor",
                                          "description": "make demo", "stateless": False,
                                          "default_environment": {"GREETING": "hello"}})
    print(f"   actor {actor['id']} status {actor['status']}")
    deadline = time.monotonic() + 120
    while actor["status"] != "READY":
        if actor["status"] == "ERROR" or time.monotonic() > deadline:
            sys.exit(f"actor did not become READY: {actor['status']} {actor.get('status_message')}")
        time.sleep(0.3)
        actor = call("GET", f"/actors/{actor['id']}")
    print(f"   actor {actor['id']} is READY")

    print("== sending a message")
    sent = call("POST", f"/actors/{actor['id']}/messages", data={"message": "Hello from make demo"})
    eid = sent["execution_id"]
    print(f"   execution {eid} submitted")
    while True:
        execution = call("GET", f"/actors/{actor['id']}/executions/{eid}")
        if execution["status"] in ("COMPLETE", "ERROR"):
            break
        if time.monotonic() > deadline:
            sys.exit(f"execution {eid} did not finish; last status {execution['status']}")
        time.sleep(0.3)
    logs = call("GET", f"/actors/{actor['id']}/executions/{eid}/logs")["logs"]
    state = call("GET", f"/actors/{actor['id']}/state")["state"]
    print("== the finished execution")
    rows = [("status", execution["status"]), ("status message", execution["status_message"] or "-"),
            ("exit code", execution["exit_code"]), ("worker", execution["worker_id"]),
            ("started", execution["start_time"]), ("finished", execution["finish_time"]),
            ("runtime", f"{execution['runtime']:.3f} s"),
            ("cpu", f"{execution['cpu']} ns ({execution['cpu'] / 1e9:.3f} s)"),
            ("memory peak", f"{execution.get('memory_peak', 0)} bytes"),
            ("io", f"{execution['io']} bytes"), ("actor state", json.dumps(state))]
    for name, value in rows:
        print(f"   {name:<15} {value}")
    print("== logs")
    for line in logs.splitlines():
        print(f"   | {line}")
    print("== accounting (the accounting process keeps one record per finished execution)")
    while True:
        totals = call("GET", f"/accounting?actor={actor['id']}")["total"]
        if totals["executions"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    print(f"   executions {totals['executions']}, cpu {totals['cpu_seconds']:.3f} s, "
          f"runtime {totals['runtime_seconds']:.3f} s, memory peak {totals['memory_peak_max']} bytes, "
          f"io {totals['io_bytes']} bytes")
    print("   SGE accounting(5) file: .data/accounting/accounting, CSV: .data/accounting/accounting.csv")
    if args.cleanup:
        call("DELETE", f"/actors/{actor['id']}")
        print(f"\nDeleted the demo actor {actor['id']}.")
        return 0 if execution["status"] == "COMPLETE" else 1
    print(f"\nThe actor stays registered: try `abaco executions {actor['id']}` or "
          f"`curl -H 'Authorization: Bearer $(abaco token --user demo)' {url}/actors/{actor['id']}`.")
    return 0 if execution["status"] == "COMPLETE" else 1


if __name__ == "__main__":
    sys.exit(main())
