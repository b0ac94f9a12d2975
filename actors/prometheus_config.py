"""Prometheus's and AlertManager's configuration for one instance, from the prometheus/ templates.

``python -m actors.prometheus_config prometheus DIR`` writes DIR/prometheus.yml (the API and the
autoscaler as scrape targets, every series labelled ``abaco_instance``, the scrape token read from
the keys directory, never copied) with the recording and alert rules beside it;
``python -m actors.prometheus_config alertmanager DIR`` writes DIR/alertmanager.yml (every alert
posted to the autoscaler's /alerts). ``make up`` runs both on every start; the test fixtures use
:func:`render_prometheus` with a shorter scrape interval.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from string import Template

from actors import config as config_mod
from actors import credentials
from actors.config import Config

TEMPLATES = config_mod.REPO_ROOT / "prometheus"
RULE_FILES = ("recording.rules.yml", "alerts.rules.yml")


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.replace(path)


def render_prometheus(config: Config, out_dir: Path, scrape_interval: float | None = None) -> Path:
    """Write prometheus.yml and the rule files into ``out_dir``; returns prometheus.yml's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    interval = scrape_interval or config.autoscaler.scrape_interval
    credentials.ensure_scrape_token(config.keys_dir)
    values = {"scrape_interval": _seconds(interval), "scrape_timeout": _seconds(min(interval, 10.0)),
              "out_dir": str(out_dir), "alertmanager_listen": config.autoscaler.alertmanager_listen,
              "token_file": str(config.keys_dir / credentials.SCRAPE_TOKEN),
              "api_address": f"{config.web.host}:{config.web.port}", "instance": config.general.instance,
              "autoscaler_listen": config.autoscaler.listen}
    text = Template((TEMPLATES / "prometheus.yml.in").read_text()).substitute(values)
    for name in RULE_FILES:
        shutil.copyfile(TEMPLATES / name, out_dir / name)
    _write(out_dir / "prometheus.yml", text)
    return out_dir / "prometheus.yml"


def render_alertmanager(config: Config, out_dir: Path) -> Path:
    """Write alertmanager.yml into ``out_dir``; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    credentials.ensure_scrape_token(config.keys_dir)
    values = {"autoscaler_listen": config.autoscaler.listen,
              "token_file": str(config.keys_dir / credentials.SCRAPE_TOKEN)}
    text = Template((TEMPLATES / "alertmanager.yml.in").read_text()).substitute(values)
    _write(out_dir / "alertmanager.yml", text)
    return out_dir / "alertmanager.yml"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("prometheus", "alertmanager"):
        print("usage: python -m actors.prometheus_config prometheus|alertmanager DIR\n"
              "renders the prometheus/ templates for this instance (abaco.conf plus ABACO_* overrides)",
              file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    config = config_mod.load()
    render = render_prometheus if argv[0] == "prometheus" else render_alertmanager
    print(render(config, Path(argv[1]).resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
