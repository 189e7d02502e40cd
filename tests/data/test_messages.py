"""Encoding on the way in, decoding on the way out, matching, and how messages are shown in failures."""

import datetime
import decimal
from types import SimpleNamespace

import pytest

from harness.data.messages import (
    Message,
    decode_value,
    describe_messages,
    encode_headers,
    encode_key,
    encode_value,
    matches,
)


def test_values_are_json_unless_bytes():
    assert encode_value({"id": 1, "name": "Zoë"}) == '{"id":1,"name":"Zoë"}'.encode()
    assert encode_value("text") == b'"text"'
    assert encode_value(b"\x00raw") == b"\x00raw"
    assert encode_value(bytearray(b"ab")) == b"ab"
    assert encode_value(None) is None  # a tombstone, not the JSON text null


def test_a_value_json_cannot_encode_is_a_type_error_naming_the_type_and_where_it_is():
    with pytest.raises(TypeError) as error:
        encode_value({"order": {"placed": datetime.date(2026, 1, 2)}})
    assert str(error.value).startswith("value['order']['placed'] is a datetime.date, which is not JSON-serialisable.")
    with pytest.raises(TypeError, match=r"^value\[1\] is a decimal.Decimal, which is not JSON-serialisable"):
        encode_value([1, decimal.Decimal("2.5")])
    with pytest.raises(TypeError, match=r"^value is a builtins.set, which is not JSON-serialisable"):
        encode_value({1, 2})


def test_decoding_gives_json_when_it_parses_else_the_bytes():
    assert decode_value(b'{"id":1}') == {"id": 1}
    assert decode_value(b'"text"') == "text"
    assert decode_value(b"plain words") == b"plain words"
    assert decode_value(b"\xff\xfe") == b"\xff\xfe"
    assert decode_value(None) is None


def test_keys_and_headers():
    assert encode_key("user-1") == b"user-1"
    assert encode_key(b"\x01") == b"\x01"
    assert encode_key(None) is None
    with pytest.raises(TypeError, match=r"key must be str, bytes or None, not int \(42\); pass str\(42\)"):
        encode_key(42)  # type: ignore[arg-type]
    assert encode_headers({"trace": "abc", "bin": b"\x00"}) == [("trace", b"abc"), ("bin", b"\x00")]
    assert encode_headers([("a", "1"), ("a", "2")]) == [("a", b"1"), ("a", b"2")]
    with pytest.raises(TypeError, match="header 'n' must be str or bytes, not int"):
        encode_headers({"n": 1})  # type: ignore[dict-item]


def test_a_record_becomes_a_message_with_text_where_it_is_text():
    record = SimpleNamespace(
        topic="t", partition=2, offset=7, key=b"user-1", value=b'{"total":30}',
        headers=[("trace", b"abc"), ("blob", b"\xff")], timestamp=123,
    )
    message = Message.from_record(record)
    assert (message.topic, message.partition, message.offset) == ("t", 2, 7)
    assert message.key == "user-1" and message.value == {"total": 30}
    assert message.headers == {"trace": "abc", "blob": b"\xff"}
    assert message.raw_value == b'{"total":30}' and message.raw_key == b"user-1"


def _message(value, offset=0):
    return Message(topic="t", partition=0, offset=offset, key=None, value=value)


def test_a_dict_matches_a_value_that_contains_it_recursively():
    value = {"type": "placed", "order": {"id": 7, "lines": [1, 2]}, "total": 30}
    assert matches({"type": "placed"}, _message(value))
    assert matches({"order": {"id": 7}}, _message(value))
    assert not matches({"order": {"id": 8}}, _message(value))
    assert not matches({"missing": None}, _message(value))
    assert not matches({"type": "placed"}, _message(b"not json"))


def test_a_callable_match_is_given_the_message():
    assert matches(lambda message: message.value["total"] > 10, _message({"total": 30}))
    assert not matches(lambda message: message.offset == 1, _message({}))


def test_failures_show_at_most_twenty_messages_and_shorten_long_values():
    shown = describe_messages([_message({"n": index}, offset=index) for index in range(25)])
    assert shown.splitlines()[0] == "  [0] partition 0 offset 0 key=None value={'n': 0}"
    assert shown.splitlines()[-1] == "  ... and 5 more"
    assert len(shown.splitlines()) == 21
    assert describe_messages([_message("x" * 1000)]).endswith("...")
    assert describe_messages([]) == "  (none)"
