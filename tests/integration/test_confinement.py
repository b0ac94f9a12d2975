"""Containers stay in their box: user, capabilities, no-new-privileges, read-only root, mounts."""

from __future__ import annotations

import os

import pytest
from test_cgroup_limits import build

pytestmark = pytest.mark.integration

PROBE = ("id; grep -E 'NoNewPrivs|CapEff' /proc/self/status; "
         "(touch /probe 2>/dev/null && echo rootfs-writable) || echo rootfs-readonly; "
         "(touch /tmp/x && echo tmp-writable) || echo tmp-readonly; "
         "ls /home/abaco 2>/dev/null || echo no-home")
CAP_NET_RAW, CAP_CHOWN = 13, 0


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    return build(tmp_path_factory.mktemp("probe"), "abaco-test/probe:local", "abaco/busybox:local",
                 f'["sh", "-c", "{PROBE}"]')


def probe_logs(platform, image, user="alice", executor=None, role="user", owner_role="user", **fields):
    actor = platform.register(image, user=user, role=owner_role, **fields)
    sender = executor or user
    eid = platform.ok("POST", f"/actors/{actor['id']}/messages", user=sender, role=role,
                      data={"message": "x"})["execution_id"]
    ex = platform.wait_execution(actor["id"], eid, user=user)
    assert ex["status"] == "COMPLETE", ex
    logs = platform.ok("GET", f"/actors/{actor['id']}/executions/{eid}/logs", user=user)["logs"]
    platform.ok("DELETE", f"/actors/{actor['id']}", user=user)
    return logs


def capabilities(logs: str) -> int:
    line = next(ln for ln in logs.splitlines() if ln.startswith("CapEff:"))
    return int(line.split()[1], 16)


def test_default_container_drops_capabilities_and_cannot_gain_privileges(platform, probe):
    logs = probe_logs(platform, probe)
    assert "NoNewPrivs:\t1" in logs
    assert capabilities(logs) == 0                 # cap_drop = ALL, nothing given back
    assert "uid=65534(nobody) gid=65534(nobody)" in logs   # alice is not in uid_map: default_uid, never root
    assert "rootfs-readonly" in logs and "no-home" in logs   # nobody cannot write to /


def test_an_image_running_as_root_keeps_no_capability_either(platform, probe):
    logs = probe_logs(platform, probe, owner_role="privileged", use_container_uid=True)
    assert "uid=0" in logs and capabilities(logs) == 0
    assert not capabilities(logs) & ((1 << CAP_NET_RAW) | (1 << CAP_CHOWN))


def test_mapped_user_runs_as_their_uid_and_sees_their_own_directory_only(platform, probe):
    home = platform.config.data_dir / "homes" / "uiduser"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dataset.txt").write_text("mine")
    logs = probe_logs(platform, probe, user="uiduser")
    assert "uid=4321 gid=4321" in logs
    assert "dataset.txt" in logs
    logs = probe_logs(platform, probe, user="uiduser", owner_role="privileged", use_container_uid=True)
    assert "uid=0" in logs


def test_only_privileged_users_may_run_as_the_images_own_user(platform):
    resp = platform.request("POST", "/actors", user="uiduser", json={"image": "abaco/echo:local",
                                                                     "use_container_uid": True})
    assert resp.status_code == 403 and "use_container_uid" in resp.json()["message"]


def test_run_as_executor_takes_the_senders_uid(platform, probe):
    logs = probe_logs(platform, probe, user="alice", executor="uidadmin", role="admin", run_as_executor=True)
    assert "uid=4400" in logs


def test_read_only_root_keeps_tmp_writable(platform, probe):
    logs = probe_logs(platform, probe, read_only_root=True)
    assert "rootfs-readonly" in logs and "tmp-writable" in logs


def test_a_symlink_out_of_the_homes_is_not_mounted(platform, probe):
    homes = platform.config.data_dir / "homes"
    homes.mkdir(parents=True, exist_ok=True)
    if not (homes / "evil").exists():
        os.symlink("/etc", homes / "evil")
    logs = probe_logs(platform, probe, user="evil")
    assert "no-home" in logs and "passwd" not in logs


def test_host_paths_and_privileged_actors_are_refused(platform):
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local",
                                                     "mounts": [{"host_path": "/etc", "container_path": "/x"}]})
    assert resp.status_code == 400 and "mounts" in resp.json()["message"]
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "privileged": True})
    assert resp.status_code == 403
    resp = platform.request("POST", "/actors", json={"image": "abaco/echo:local", "readOnlyRoot": "maybe"})
    assert resp.status_code == 400 and "read_only_root" in resp.json()["message"]
