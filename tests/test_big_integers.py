"""Integers beyond the interpreter's digit limit are refused like json.loads
refuses them (a ValueError naming the member), not converted at quadratic
cost with the GIL held; below the limit they decode exactly."""

import json
import sys

import pytest

import qmpfast
from qmpfast import IntegerTooLongError

LIMIT = sys.get_int_max_str_digits()
TS = b'"timestamp": {"seconds": 1, "microseconds": 2}'


def one(decoder_factory, raw):
    (msg,) = decoder_factory().feed(raw + b"\n")
    return msg


@pytest.mark.parametrize("digits", [19, 4000, LIMIT])
def test_long_integers_within_the_limit_decode_exactly(decoder_factory,
                                                       digits):
    number = b"-" + b"7" * digits
    raw = b'{"return": {"size": ' + number + b', "list": [' + number + b"]}}"
    msg = one(decoder_factory, raw)
    assert msg.value == json.loads(raw)["return"]
    assert msg.to_dict() == json.loads(raw)


@pytest.mark.parametrize("digits", [LIMIT + 1, 300_000])
def test_a_reply_over_the_limit_is_refused_naming_the_member(
        decoder_factory, digits):
    raw = b'{"return": ' + b"7" * digits + b"}"
    with pytest.raises(ValueError):
        json.loads(raw)  # what the interpreter itself does
    msg = one(decoder_factory, raw)
    for read in (lambda: msg.value, msg.to_dict):
        with pytest.raises(IntegerTooLongError) as info:
            read()
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, qmpfast.DecodeError)
        assert info.value.path == "$.return"
        assert info.value.digits == digits
        assert "$.return" in str(info.value) and str(digits) in str(info.value)


def test_the_path_names_a_nested_member(decoder_factory):
    raw = (b'{"return": {"a": [1, {"b": -' + b"9" * (LIMIT + 5) +
           b'}], "c": "ok"}, "id": 3}')
    msg = one(decoder_factory, raw)
    with pytest.raises(IntegerTooLongError) as info:
        msg.value
    assert info.value.path == "$.return.a[1].b"
    assert info.value.digits == LIMIT + 5
    assert msg.id == 3  # other members still read


def test_event_data_over_the_limit(decoder_factory):
    raw = (b'{' + TS + b', "event": "BLOCK_IO_ERROR", "data": {"device": '
           b'"disk0", "sectors": ' + b"1" * (LIMIT + 1) + b'}}')
    msg = one(decoder_factory, raw)
    assert msg.name == "BLOCK_IO_ERROR"
    assert (msg.seconds, msg.microseconds) == (1, 2)
    with pytest.raises(IntegerTooLongError) as info:
        msg.data
    assert info.value.path == "$.data.sectors"


def test_a_timestamp_over_the_limit_is_that_message_s_error_only(
        decoder_factory):
    bad = (b'{"timestamp": {"seconds": ' + b"7" * (LIMIT + 1) +
           b', "microseconds": 1}, "event": "STOP"}\n')
    good = b'{' + TS + b', "event": "RESUME"}\n'
    dec = decoder_factory(on_error="skip")
    out = dec.feed(bad + good)
    assert [m.name for m in out] == ["RESUME"]
    (err,) = dec.errors
    assert isinstance(err, IntegerTooLongError)
    assert err.path == "$.timestamp.seconds" and err.offset == 0

    dec = decoder_factory()
    with pytest.raises(IntegerTooLongError) as info:
        dec.feed(bad + good)
    assert [m.name for m in info.value.messages] == ["RESUME"]
    assert [m.value for m in dec.feed(b'{"return": 5}\n')] == [5]


def test_the_limit_is_the_running_interpreter_s(decoder_factory):
    raw = b'{"return": ' + b"7" * (LIMIT + 10) + b"}"
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # unlimited, as json.loads then is
    try:
        assert one(decoder_factory, raw).value == json.loads(raw)["return"]
    finally:
        sys.set_int_max_str_digits(old)
