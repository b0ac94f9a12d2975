from actors import times
from actors.message import Message


def test_message_headers_round_trip():
    msg = Message("e1", b"\x00\x01", "application/octet-stream", "alice", {"A": "1"}, 3)
    back = Message.from_amqp(msg.headers(), msg.body)
    assert back == msg


def test_message_from_bad_headers():
    msg = Message.from_amqp({"env": "{broken"}, b"x")
    assert msg.env == {} and msg.execution_id == "" and msg.content_type == "str"


def test_docker_time_keeps_sub_second_precision():
    a = times.docker_time("2026-11-24T12:07:22.157514136Z")
    b = times.docker_time("2026-11-24T12:07:22.160585755Z")
    assert abs((b - a) - 0.003071619) < 1e-6
    assert times.docker_time("0001-01-01T00:00:00Z") is None


def test_a_json_message_field_is_a_raw_string_message():
    from actors.message import message_field
    assert message_field({"message": "hello"}) == "hello"
    assert message_field({"message": "hello", "other": 1}) == "hello"
    for doc in ({"message": ""}, {"message": {"k": "v"}}, {"x": 1}, ["message"], "message", None):
        assert message_field(doc) is None
