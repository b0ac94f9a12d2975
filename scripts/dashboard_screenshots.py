"""Screenshots of the dashboard's main pages for the README (docs/screenshots/).

Against the stack ``make up`` started: registers two sample actors as user ``demo``, sends
them a few messages, then opens the pages in Debian's headless Chromium (Playwright) and
saves one PNG per page. The actors stay registered, so the pages show them.

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from actors import auth  # noqa: E402
from actors import config as config_mod  # noqa: E402
from actors.sdk.client import Client  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_mod.load()
    client = Client(cfg.web.api_server.rstrip("/"), auth.issue_token(cfg, "demo", "user"), timeout=120)
    echo = client.wait_ready(client.create_actor("abaco/echo:local", name="echo")["id"])
    sleeper = client.wait_ready(client.create_actor("abaco/sleep:local", name="sleeper",
                                                    default_environment={"SLEEP_SECONDS": "6"})["id"])
    for i in range(3):
        client.send_message(echo["id"], f"hello {i}")
    execution_id = client.send_message(sleeper["id"], "a longer run")["execution_id"]
    deadline = time.monotonic() + 120
    while client.call("GET", f"/actors/{sleeper['id']}/executions/{execution_id}")["status"] not in ("COMPLETE", "ERROR"):
        if time.monotonic() > deadline:
            raise SystemExit("the sample execution did not finish in 120 s")
        time.sleep(1)
    time.sleep(3)                                  # the accounting records
    base = f"http://{cfg.dashboard.host}:{cfg.dashboard.port}"
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for user, role, pages in (
            ("demo", "user", [("actors", "/"), ("actor", f"/actors/{sleeper['id']}"),
                              ("execution", f"/actors/{sleeper['id']}/executions/{execution_id}"),
                              ("send", f"/actors/{echo['id']}/send")]),
            ("admin", "admin", [("admin-overview", "/admin/"), ("admin-workers", "/admin/workers"),
                                ("admin-executions", "/admin/executions"), ("admin-accounting", "/admin/accounting")]),
        ):
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(base + "/signin")
            page.fill("#id_token", auth.issue_token(cfg, user, role))
            page.click("#signin-form button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in pages:
                page.goto(base + path)
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print(out / f"{name}.png")
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
