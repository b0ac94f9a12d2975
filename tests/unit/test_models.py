import pytest

from actors import fields, models, times
from actors.codes import ActorStatus
from actors.errors import BadRequestError


def test_ids_are_short_url_safe_and_unique():
    ids = {models.new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 13 and i.isalnum() for i in ids)


def test_new_actor_defaults():
    given = fields.validate({"image": "abaco/echo:local"})
    actor = models.new_actor(given, owner="alice", tenant="t1", default_max_workers=2)
    assert actor["status"] == ActorStatus.SUBMITTED and actor["revision"] == 1
    assert actor["stateless"] is True and actor["max_workers"] == 2
    assert actor["default_environment"] == {} and actor["state"] == {}
    assert actor["create_time"] == actor["last_update_time"]


def test_stateful_actor_has_one_worker():
    given = fields.validate({"image": "x/y", "stateless": False})
    assert models.new_actor(given, "a", "t", 5)["max_workers"] == 1
    with pytest.raises(BadRequestError, match="stateful"):
        models.new_actor(fields.validate({"image": "x/y", "stateless": "false", "max_workers": 2}), "a", "t", 5)


def test_camel_case_keys_and_string_booleans():
    out = fields.validate({"image": "x/y", "defaultEnvironment": {"A": "1"}, "stateless": "true",
                           "maxWorkers": "3", "memLimit": "512M"})
    assert out == {"image": "x/y", "default_environment": {"A": "1"}, "stateless": True,
                   "max_workers": 3, "mem_limit": "512m"}


@pytest.mark.parametrize("body", [
    {"image": None}, {"image": 5}, {"image": "has space"}, {"image": "x/y", "name": "bad/name"},
    {"image": "x/y", "hints": "sync"}, {"image": "x/y", "max_cpus": -1}, {"image": "x/y", "token": "yes"},
    {"image": "x/y", "max_workers": True}, "not an object",
])
def test_invalid_input(body):
    with pytest.raises(BadRequestError):
        fields.validate(body)


def test_every_stored_field_given_at_registration_is_kept():
    """log_ex was accepted by POST and then dropped: a new actor keeps every field it was given."""
    given = fields.validate({"image": "x/y", "log_ex": 60, "cpu_weight": 5, "queue": "q1", "hints": ["sync"],
                             "read_only_root": True, "description": "d"})
    actor = models.new_actor(given, "a", "t", 2)
    assert actor["log_ex"] == 60
    for name, value in given.items():
        assert actor[name] == value, name
    assert set(actor) >= {f.name for f in fields.ACTOR_FIELDS if f.stored}
    assert "force" not in actor


def test_partial_update_does_not_require_image():
    assert fields.validate({"description": "d"}, partial=True) == {"description": "d"}


def test_display_hides_tenant_and_converts_case():
    doc = {"id": "a", "tenant": "t", "default_environment": {"MY_VAR": "1"}, "status_message": ""}
    assert models.display(doc, "snake") == {"id": "a", "default_environment": {"MY_VAR": "1"},
                                            "status_message": ""}
    assert models.display(doc, "camel") == {"id": "a", "defaultEnvironment": {"MY_VAR": "1"},
                                            "statusMessage": ""}


def test_case_helpers_round_trip():
    for name in ("max_workers", "default_environment", "id", "last_health_check_time"):
        assert fields.to_snake(fields.to_camel(name)) == name


def test_times_are_utc_iso8601():
    stamp = times.now()
    assert stamp.endswith("Z")
    assert times.parse(stamp).utcoffset().total_seconds() == 0
