"""The fields every event has: name, timestamp, data.

Timestamps are exact integers of any size (``datetime`` is None where the
value has no date, as when QEMU could not read its clock); ``data`` is
decoded once and is the caller's to change.  On every backend.
"""

import datetime
import json

import pytest

import qmpfast
from qmpfast import Event

from decoding import ts, event_bytes, decode

UTC = datetime.timezone.utc


def test_event_fields(decoder_factory):
    raw = (b'{"timestamp": {"seconds": 1795563460, "microseconds": 15107}, '
           b'"event": "RESET", "data": {"guest": false, '
           b'"reason": "host-qmp-system-reset"}}')
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.Reset
    assert isinstance(ev, Event)
    assert ev.kind == "event"
    assert ev.name == "RESET"
    assert ev.seconds == 1795563460 and ev.microseconds == 15107
    assert type(ev.seconds) is int and type(ev.microseconds) is int
    assert ev.timestamp == pytest.approx(1795563460.015107, abs=1e-6)
    assert ev.datetime == datetime.datetime(2026, 11, 24, 23, 37, 40, 15107,
                                            tzinfo=UTC)
    assert ev.data == {"guest": False, "reason": "host-qmp-system-reset"}
    assert ev.guest is False and ev.reason == "host-qmp-system-reset"


def test_event_without_data(decoder_factory):
    (ev,) = decode(decoder_factory, b'{"event": "STOP", "timestamp": '
                                    b'{"seconds": 3, "microseconds": 4}}')
    assert type(ev) is qmpfast.Stop
    assert ev.data == {}
    assert ev.to_dict() == {"event": "STOP", "timestamp": ts(3, 4)}


def test_event_without_clock(decoder_factory):
    """QEMU sends -1/-1 when it could not read its clock."""
    (ev,) = decode(decoder_factory, event_bytes("STOP", None, -1, -1))
    assert ev.seconds == -1 and ev.microseconds == -1
    assert ev.datetime is None
    assert ev.timestamp == pytest.approx(-1.000001)


@pytest.mark.parametrize("seconds, micros", [
    (0, 0), (0, 999999), (-5, 0), (2 ** 62, 1), (-2 ** 63, 0),
    (2 ** 63 - 1, 0), (2 ** 63, 0), (-2 ** 63 - 1, 0), (2 ** 64 + 5, 7),
    (-(10 ** 30), 3), (10 ** 40, 10 ** 25), (10 ** 400, -(10 ** 400)),
])
def test_event_timestamp_integers(decoder_factory, seconds, micros):
    raw = event_bytes("MY_EVENT", None, seconds, micros)
    (ev,) = decode(decoder_factory, raw)
    assert (ev.seconds, ev.microseconds) == (seconds, micros)
    assert type(ev.seconds) is int and type(ev.microseconds) is int
    try:
        expected = datetime.datetime(1970, 1, 1, tzinfo=UTC) + \
            datetime.timedelta(seconds=seconds, microseconds=micros)
    except OverflowError:
        expected = None
    assert ev.datetime == expected


@pytest.mark.parametrize("value", [
    2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 63 - 1, 18446744073709551621,
    10 ** 30, -(10 ** 30), 10 ** 400])
def test_big_integers_keep_their_value(decoder_factory, value):
    """Integers beyond 64 bits are exact, as json.loads gives them."""
    raw = json.dumps({"return": {"n": value, "l": [value]}, "id": value})
    (msg,) = decode(decoder_factory, raw.encode())
    assert msg.id == value and type(msg.id) is int
    assert msg.value == {"n": value, "l": [value]}
    assert type(msg.value["n"]) is int and type(msg.value["l"][0]) is int
    whole = msg.to_dict()
    assert whole == json.loads(raw)
    assert type(whole["return"]["n"]) is int and type(whole["id"]) is int
    raw = event_bytes("X", {"n": value}, value, 0)
    (ev,) = decode(decoder_factory, raw)
    assert ev.seconds == value
    assert ev.data == {"n": value} and type(ev.data["n"]) is int
    assert type(ev.to_dict()["timestamp"]["seconds"]) is int


def test_event_data_is_decoded_once_and_independent(decoder_factory):
    raw = event_bytes("BLOCK_IO_ERROR", {"device": "d", "operation": "read",
                                         "action": "report",
                                         "list": [1, {"a": 2}]})
    (ev,) = decode(decoder_factory, raw)
    data = ev.data
    assert data is ev.data  # cached
    data["device"] = "changed"
    data["list"].append(3)
    assert ev.device == "d"  # typed attributes read the bytes
    whole = ev.to_dict()
    assert whole == json.loads(raw)
    whole["data"]["list"].append(4)
    whole["extra"] = 1
    assert ev.to_dict() == json.loads(raw)  # a new dict each time
    assert ev.to_dict() is not ev.to_dict()
