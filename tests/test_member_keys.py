"""Finding the members that matter, whatever else the object holds.

Members may come in any order; of duplicate keys the last one wins, as in
``json.loads``, for the kind, the reply fields, the timestamp and the typed
members; members nested deeper do not count; keys and event names close to
the reserved or catalogued ones are plain members and plain events.  On
every backend.
"""

import json

import pytest

import qmpfast
from qmpfast import Event, Message

from decoding import ts, event_bytes, decode


@pytest.mark.parametrize("raw", [
    # QEMU's order
    b'{"timestamp": {"seconds": 1265044230, "microseconds": 450486}, '
    b'"event": "BLOCK_IO_ERROR", "data": {"device": "ide0-hd1", '
    b'"operation": "write", "action": "stop"}}',
    # the documentation's order
    b'{"event": "BLOCK_IO_ERROR", "data": {"device": "ide0-hd1", '
    b'"operation": "write", "action": "stop"}, "timestamp": '
    b'{"seconds": 1265044230, "microseconds": 450486}}',
    # anything else, with the timestamp's members swapped too
    b'{"data": {"action": "stop", "operation": "write", '
    b'"device": "ide0-hd1"}, "timestamp": {"microseconds": 450486, '
    b'"seconds": 1265044230}, "event": "BLOCK_IO_ERROR"}',
], ids=["qemu", "doc", "other"])
def test_keys_in_any_order(decoder_factory, raw):
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.BlockIoError
    assert (ev.seconds, ev.microseconds) == (1265044230, 450486)
    assert (ev.device, ev.operation, ev.action) == (
        "ide0-hd1", "write", "stop")
    assert ev.data == {"device": "ide0-hd1", "operation": "write",
                       "action": "stop"}


@pytest.mark.parametrize("raw", [
    b'{"event": "STOP", "event": "RESUME", "timestamp": '
    b'{"seconds": 1, "microseconds": 2}}',
    b'{"event": 5, "event": "RESUME", "timestamp": '
    b'{"seconds": 1, "microseconds": 2}}',
    b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME", '
    b'"timestamp": {"seconds": 3, "microseconds": 4}}',
    b'{"timestamp": 7, "event": "RESUME", '
    b'"timestamp": {"seconds": 3, "microseconds": 4}}',
    b'{"timestamp": {"seconds": 9, "seconds": 3, "microseconds": 0, '
    b'"microseconds": 4}, "event": "RESUME"}',
    b'{"event": "RESUME", "data": {"a": 1}, "data": {"b": [2]}, '
    b'"timestamp": {"seconds": 3, "microseconds": 4}, "id": 1, "id": 2}',
])
def test_duplicate_keys_last_wins(decoder_factory, raw):
    (ev,) = decode(decoder_factory, raw)
    expected = json.loads(raw)
    assert type(ev) is qmpfast.Resume
    assert ev.name == expected["event"] == "RESUME"
    assert ev.seconds == expected["timestamp"]["seconds"]
    assert ev.microseconds == expected["timestamp"]["microseconds"]
    assert ev.data == expected.get("data", {})
    assert ev.to_dict() == expected


def test_duplicate_keys_in_extracted_members(decoder_factory):
    raw = (b'{"event": "BLOCK_IO_ERROR", "timestamp": {"seconds": 1, '
           b'"microseconds": 2}, "data": {"device": "a", "operation": '
           b'"read", "action": "stop", "device": "b"}, "data": '
           b'{"device": "c", "action": "report", "action": "ignore"}}')
    (ev,) = decode(decoder_factory, raw)
    assert ev.device == "c"
    assert ev.operation is None  # the first "data" was replaced entirely
    assert ev.action == "ignore"
    assert ev.data == {"device": "c", "action": "ignore"}
    raw = (b'{"event": "VNC_CONNECTED", "timestamp": {"seconds": 1, '
           b'"microseconds": 2}, "data": {"server": {"host": "h1", '
           b'"family": "ipv4"}, "server": {"host": "h2"}, "client": 5, '
           b'"client": {"family": "unix", "family": "vsock"}}}')
    (ev,) = decode(decoder_factory, raw)
    assert ev.server.host == "h2"
    assert ev.server.family is None
    assert ev.client.family == "vsock"
    assert ev.server.to_dict() == {"host": "h2"}


def test_duplicate_event_names(decoder_factory):
    long_name = "L" * 300
    data = (b'{"event": "STOP", "event": "' + long_name.encode() + b'", '
            b'"timestamp": {"seconds": 1, "microseconds": 2}}\n'
            b'{"event": "STOP", "event": "NEW_EVENT", '
            b'"timestamp": {"seconds": 1, "microseconds": 2}}\n'
            b'{"event": "NEW_EVENT", "event": "RESET", '
            b'"timestamp": {"seconds": 1, "microseconds": 2}}\n'
            b'{"event": "STOP", "event": "RESUME", '
            b'"timestamp": {"seconds": 1, "microseconds": 2}}\n'
            b'{"event": "RESUME", "event": "STOP", '
            b'"timestamp": {"seconds": 1, "microseconds": 2}}\n')
    msgs = decode(decoder_factory, data)
    assert [m.name for m in msgs] == [long_name, "NEW_EVENT", "RESET",
                                      "RESUME", "STOP"]
    assert [type(m) for m in msgs] == [Event, Event, qmpfast.Reset,
                                       qmpfast.Resume, qmpfast.Stop]
    msgs = decode(decoder_factory, data, events={"STOP", "NEW_EVENT"})
    assert [m.name for m in msgs] == ["NEW_EVENT", "STOP"]
    assert [m.stream_offset for m in msgs] == [
        data.index(b'{"event": "STOP", "event": "NEW'),
        data.index(b'{"event": "RESUME", "event": "STOP"')]


def test_nested_members_do_not_count(decoder_factory):
    (ev,) = decode(decoder_factory,
                   b'{"event": "STOP", "timestamp": {"seconds": 1, '
                   b'"x": {"seconds": 1.5, "microseconds": null}, '
                   b'"microseconds": 2}, "data": {"event": 5, '
                   b'"timestamp": 1, "data": {"device": 7}}}')
    assert (ev.name, ev.seconds, ev.microseconds) == ("STOP", 1, 2)
    (ev,) = decode(decoder_factory,
                   b'{"event": "BLOCK_IO_ERROR", "timestamp": {"seconds": '
                   b'1, "microseconds": 2}, "data": {"x": {"device": "no"}, '
                   b'"device": "yes", "y": [{"device": "no"}]}}')
    assert ev.device == "yes"


NEAR_KEYS = ["even", "events", "event\u0000", "Event", "eventevent", "retur",
             "returnx", "QM", "QMPP", "exec", "execute-oob", "exec-oo",
             "erro", "errors", "event" + "x" * 200, "x" * 200]


@pytest.mark.parametrize("key", NEAR_KEYS)
def test_keys_close_to_reserved_ones_are_plain_members(decoder_factory,
                                                       key):
    (msg,) = decode(decoder_factory, json.dumps({key: "STOP"}).encode())
    assert type(msg) is Message
    (ev,) = decode(decoder_factory, json.dumps(
        {key: "STOP", "event": "RESET", "timestamp": ts()}).encode())
    assert ev.name == "RESET"


@pytest.mark.parametrize("key", ["second", "secondss", "micro",
                                 "microsecondsX", "seconds\u0000",
                                 "seconds" + "s" * 150])
def test_timestamp_keys_close_to_the_real_ones(decoder_factory, key):
    for stamp in ({key: 5, "seconds": 1, "microseconds": 2},
                  {"seconds": 1, "microseconds": 2, key: 5}):
        (ev,) = decode(decoder_factory, json.dumps(
            {"event": "STOP", "timestamp": stamp}).encode())
        assert (ev.seconds, ev.microseconds) == (1, 2)


@pytest.mark.parametrize("key", ["devic", "devicee", "device\u0000",
                                 "Device", "node-nam", "node_name",
                                 "nodename", "node-name2"])
def test_member_keys_close_to_typed_ones(decoder_factory, key):
    (ev,) = decode(decoder_factory, event_bytes("BLOCK_IO_ERROR", {key: "X"}))
    assert ev.device is None and ev.node_name is None
    assert ev.data == {key: "X"}


@pytest.mark.parametrize("key", ["hos", "hostt", "host\u0000", "famil",
                                 "websockets", "x509_dnam", "sasl_usernam",
                                 "auth" * 40])
def test_vnc_keys_close_to_typed_ones(decoder_factory, key):
    (ev,) = decode(decoder_factory, event_bytes(
        "VNC_CONNECTED", {"server": {key: "X"}, "client": {}}))
    for attr in ("host", "service", "family", "auth", "websocket",
                 "x509_dname", "sasl_username"):
        assert getattr(ev.server, attr) is None
    assert ev.server.to_dict() == {key: "X"}


@pytest.mark.parametrize("name", ["STO", "STOPP", "STOP\u0000", "RESE",
                                  "BLOCK_IO_ERRO", "VNC_CONNECTED_", "Stop"])
def test_names_close_to_catalogue_ones(decoder_factory, name):
    raw = event_bytes(name, None)
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is Event and ev.name == name
    assert decode(decoder_factory, raw, events={"STOP", "RESET"}) == []


def test_duplicate_keys_change_the_kind_or_reply(decoder_factory):
    (msg,) = decode(decoder_factory, b'{"return": 1, "return": [2], "id": 1,'
                                     b' "id": "x"}')
    assert msg.value == [2] and msg.id == "x"
    (msg,) = decode(decoder_factory,
                    b'{"error": {"class": "A", "desc": "a"}, '
                    b'"error": {"class": "B", "desc": "b"}}')
    assert (msg.error_class, msg.desc) == ("B", "b")
    (msg,) = decode(decoder_factory,
                    b'{"execute": "a", "execute": "b", '
                    b'"arguments": {"x": 1}, "arguments": {}}')
    assert msg.command == "b" and msg.arguments == {}
