"""Mount templates, UID maps and the confinement decided for an actor."""

from __future__ import annotations

import os

import pytest

from actors import config as config_mod
from actors.sandbox import MountRefused, confine, parse_mounts, parse_uid_map, resolve_mount


def test_uid_map_and_mounts_parse_and_refuse_garbage():
    assert parse_uid_map("alice:1000, bob:1001:1002") == {"alice": "1000", "bob": "1001:1002"}
    for bad in ("alice", "alice:x", "alice:1:2:3", ":1000"):
        with pytest.raises(ValueError):
            parse_uid_map(bad)
    assert parse_mounts(("/data/{username}:/work:rw", "/shared:/shared")) == [
        ("/data/{username}", "/work", False), ("/shared", "/shared", True)]
    for bad in ("relative:/x", "/a:/b:rx", "/only"):
        with pytest.raises(ValueError):
            parse_mounts((bad,))


def test_templated_mount_cannot_leave_its_parent(tmp_path):
    (tmp_path / "alice").mkdir()
    os.symlink("/etc", tmp_path / "mallory")
    template = str(tmp_path / "{username}")
    assert resolve_mount(template, "alice") == str(tmp_path / "alice")
    for user in ("..", "../etc", "a/b", "mallory", ""):
        with pytest.raises(MountRefused):
            resolve_mount(template, user)


def test_confinement_follows_the_actor_and_config(tmp_path):
    (tmp_path / "alice").mkdir()
    cfg = config_mod.load(environ={"ABACO_WORKERS_UID_MAP": "alice:1000,bob:2000",
                                   "ABACO_WORKERS_DEFAULT_UID": "65534",
                                   "ABACO_WORKERS_MOUNTS": f"{tmp_path}/{{username}}:/home:rw"})
    box = confine(cfg, {"owner": "alice"}, executor="bob")
    assert box.user == "1000" and "no-new-privileges" in box.security_opt and box.cap_drop == ("ALL",)
    assert box.binds == ((str(tmp_path / "alice"), "/home", False),)
    assert confine(cfg, {"owner": "alice", "run_as_executor": True}, "bob").user == "2000"
    assert confine(cfg, {"owner": "carol"}, "carol").user == "65534"
    assert confine(cfg, {"owner": "carol"}, "carol").binds == ()
    assert confine(cfg, {"owner": "alice", "use_container_uid": True}, "bob").user is None
    privileged = confine(cfg, {"owner": "alice", "privileged": True}, "alice")
    assert privileged.cap_drop == () and privileged.security_opt == ()
    ro = confine(cfg, {"owner": "alice", "read_only_root": True}, "alice")
    assert ro.read_only and "/tmp" in ro.tmpfs



def test_by_default_nobody_and_no_capabilities():
    cfg = config_mod.load(environ={})
    box = confine(cfg, {"owner": "alice"}, executor="alice")
    assert box.user == "65534:65534" and box.cap_drop == ("ALL",) and box.cap_add == ()


def test_only_harmless_capabilities_can_be_given_back():
    cfg = config_mod.load(environ={"ABACO_WORKERS_CAP_ADD": "chown,KILL"})
    assert confine(cfg, {"owner": "alice"}, "alice").cap_add == ("CHOWN", "KILL")
    with pytest.raises(config_mod.ConfigError, match="SYS_ADMIN"):
        config_mod.load(environ={"ABACO_WORKERS_CAP_ADD": "SYS_ADMIN"})
