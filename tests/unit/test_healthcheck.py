"""The health checks of the compose services decide from what the probes see."""

from __future__ import annotations

from actors import channels, healthcheck


def test_the_api_is_healthy_when_it_answers_or_asks_for_credentials(config):
    for code in (200, 400, 401):
        assert healthcheck.check(config, "api", status=lambda url, c=code: c) == ""
    for code in (None, 500, 502):
        problem = healthcheck.check(config, "api", status=lambda url, c=code: c)
        assert f"{config.web.host}:{config.web.port}" in problem and str(code) in problem


def test_the_https_listener_is_probed_on_its_own_address(config):
    seen = []
    assert healthcheck.check(config, "tls", status=lambda url: seen.append(url) or 401) == ""
    assert seen == [f"https://{config.auth.tls_listen}/actors"]


def test_a_consumer_is_healthy_only_with_a_consumer_on_each_of_its_queues(config):
    counts = {channels.command_queue(config, "default"): 1, channels.accounting_queue(config): 0}
    count = lambda cfg, queue: counts.get(queue, 0)   # noqa: E731 - a probe double
    assert healthcheck.check(config, "spawner", count=count) == ""
    problem = healthcheck.check(config, "accounting", count=count)
    assert problem == f"no consumer on {channels.accounting_queue(config)}"
    assert healthcheck.check(config, "events", count=count).endswith(channels.deliveries_queue(config))
    # Another instance's queues are not this one's: the names carry the instance.
    assert all(q.startswith(config.general.instance + ".") for q in healthcheck.consumer_queues(config, "spawner"))


def test_an_unknown_process_is_never_healthy(config):
    assert "unknown process" in healthcheck.check(config, "nosuch", count=lambda cfg, q: 5)


def test_the_command_line_explains_itself(capsys):
    assert healthcheck.main(["--help"]) == 0
    assert "api, tls, spawner" in capsys.readouterr().out
    assert healthcheck.main([]) == 2
