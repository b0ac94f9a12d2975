"""The compose watchdog starts again only the containers that were killed, not stopped."""

from __future__ import annotations

import threading

from actors.services import compose_watchdog as wd


def event(action: str, container: str = "c1") -> dict:
    return {"Type": "container", "Action": action, "id": container}


def test_a_die_with_no_stop_after_the_grace_is_due():
    pending = wd.Pending()
    pending.observe(event("die"), now=10.0)
    assert pending.due(now=11.0, grace=3.0) == []         # a stop may still follow
    assert pending.due(now=13.5, grace=3.0) == ["c1"]
    assert pending.due(now=20.0, grace=3.0) == []         # returned once


def test_a_stop_destroy_or_start_after_the_die_cancels_it():
    for action in ("stop", "destroy", "start"):
        pending = wd.Pending()
        pending.observe(event("die"), now=10.0)
        pending.observe(event(action), now=10.1)
        assert pending.due(now=100.0) == [], action


def test_events_of_other_containers_do_not_mix():
    pending = wd.Pending()
    pending.observe(event("die", "a"), now=1.0)
    pending.observe(event("die", "b"), now=1.0)
    pending.observe(event("stop", "b"), now=1.2)
    assert pending.due(now=10.0) == ["a"]


def test_only_a_stopped_container_whose_policy_restarts_is_started():
    assert wd.should_start({"Running": False, "Restarting": False}, "unless-stopped")
    assert wd.should_start({"Running": False}, "always")
    assert not wd.should_start({"Running": True}, "unless-stopped")
    assert not wd.should_start({"Running": False, "Restarting": True}, "unless-stopped")
    assert not wd.should_start({"Running": False}, "no")
    assert not wd.should_start({"Running": False}, "")


class FakeContainer:
    def __init__(self, running: bool, policy: str):
        self.attrs = {"State": {"Running": running}, "HostConfig": {"RestartPolicy": {"Name": policy}}}
        self.labels = {wd.SERVICE_LABEL: "spawner"}
        self.name = "abaco-x_spawner_1"
        self.started = 0

    def start(self):
        self.started += 1


class FakeContainers:
    def __init__(self, found: dict):
        self.found = found

    def get(self, container_id):
        if container_id not in self.found:
            raise LookupError(container_id)      # removed meanwhile
        return self.found[container_id]


class FakeClient:
    def __init__(self, found: dict):
        self.containers = FakeContainers(found)


def test_the_watchdog_starts_the_killed_container_and_survives_a_vanished_one():
    killed, running = FakeContainer(False, "unless-stopped"), FakeContainer(True, "unless-stopped")
    dog = wd.Watchdog(FakeClient({"k": killed, "r": running}), "abaco-x", threading.Event(), grace=0.0)
    dog.follow([event("die", "k"), event("die", "r"), event("die", "gone")])
    assert dog.restart_due() == ["k"]
    assert killed.started == 1 and running.started == 0
    assert dog.filters()["label"] == f"{wd.PROJECT_LABEL}=abaco-x"
