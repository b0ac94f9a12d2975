"""prometheus/: the rendered configurations are valid for the installed Prometheus and AlertManager,
name this instance and its scrape token (never the token itself), and the rules do what they say
(promtool's rule tests over synthetic series)."""

from __future__ import annotations

import subprocess

from actors import credentials, prometheus_config
from actors.config import REPO_ROOT


def run(*cmd: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_rendered_prometheus_configuration_is_valid_and_names_this_instance(config, tmp_path):
    config = config.replace(autoscaler={"listen": "127.0.0.1:19999", "alertmanager_listen": "127.0.0.1:19998"})
    path = prometheus_config.render_prometheus(config, tmp_path / "prom", scrape_interval=1)
    text = path.read_text()
    token = credentials.scrape_token(config.keys_dir)
    assert token and token not in text
    assert str(config.keys_dir / credentials.SCRAPE_TOKEN) in text
    assert f'abaco_instance: "{config.general.instance}"' in text
    assert f'"{config.web.host}:{config.web.port}"' in text and '"127.0.0.1:19999"' in text
    assert "scrape_interval: 1000ms" in text
    assert "SUCCESS" in run("promtool", "check", "config", str(path))


def test_rendered_alertmanager_configuration_is_valid_and_posts_to_the_autoscaler(config, tmp_path):
    config = config.replace(autoscaler={"listen": "127.0.0.1:19997"})
    path = prometheus_config.render_alertmanager(config, tmp_path / "am")
    text = path.read_text()
    assert "http://127.0.0.1:19997/alerts" in text
    assert credentials.scrape_token(config.keys_dir) not in text
    assert "SUCCESS" in run("amtool", "check-config", str(path))


def test_recording_and_alert_rules_pass_their_promtool_tests():
    assert "SUCCESS" in run("promtool", "test", "rules", str(REPO_ROOT / "prometheus" / "tests" / "rules.test.yml"))
