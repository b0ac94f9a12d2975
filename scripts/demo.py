"""The demo `make demo` runs: register a sample Python actor, send it a message, show the result.

Talks to the stack `make up` started (the API at [web] api_server), as any user would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from actors import auth
from actors import config as config_mod
from actors.readiness import NotReady, api_answers, wait_until
from actors.sdk.client import Client, ClientError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cleanup", action="store_true", help="delete the demo actor at the end")
    args = parser.parse_args()
    cfg = config_mod.load()
    url = cfg.web.api_server.rstrip("/")
    client = Client(url, auth.issue_token(cfg, "demo", "user"))
    try:
        wait_until(lambda: api_answers(url), 120, f"the API at {url}", logs=[cfg.log_dir / "api.log"])
        return run(cfg, client, url, args.cleanup)
    except (ClientError, TimeoutError, NotReady) as exc:
        sys.exit(f"demo failed: {exc}")


def run(cfg: config_mod.Config, client: Client, url: str, cleanup: bool) -> int:
    print(f"== registering the sample Python actor (image abaco/pyactor:local) at {url}")
    actor = client.create_actor("abaco/pyactor:local", name="demo-actor", description="make demo",
                                stateless=False, default_environment={"GREETING": "hello"})
    print(f"   actor {actor['id']} status {actor['status']}")
    actor = client.wait_ready(actor["id"])
    print(f"   actor {actor['id']} is READY")

    print("== sending a message")
    eid = client.send_message(actor["id"], "Hello from make demo")["execution_id"]
    print(f"   execution {eid} submitted")
    execution = client.wait_execution(actor["id"], eid, timeout=120, interval=0.3)
    logs = client.get_logs(actor["id"], eid)
    state = client.get_state(actor["id"])
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
    deadline = time.monotonic() + 60
    while True:
        totals = client.call("GET", f"/accounting?actor={actor['id']}")["total"]
        if totals["executions"] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    print(f"   executions {totals['executions']}, cpu {totals['cpu_seconds']:.3f} s, "
          f"runtime {totals['runtime_seconds']:.3f} s, memory peak {totals['memory_peak_max']} bytes, "
          f"io {totals['io_bytes']} bytes")
    print(f"   SGE accounting(5) file: {cfg.accounting_file}, CSV: {cfg.accounting_csv}")
    print(f"== dashboard: http://{cfg.dashboard.host}:{cfg.dashboard.port}/ "
          f"(sign in with a token: `abaco token --user demo`; `--role admin` for the admin pages)")
    if cleanup:
        client.delete_actor(actor["id"])
        print(f"\nDeleted the demo actor {actor['id']}.")
        return 0 if execution["status"] == "COMPLETE" else 1
    print(f"\nThe actor stays registered: try `abaco executions {actor['id']}` or "
          f"`curl -H 'Authorization: Bearer $(abaco token --user demo)' {url}/actors/{actor['id']}`.")
    return 0 if execution["status"] == "COMPLETE" else 1


if __name__ == "__main__":
    sys.exit(main())
