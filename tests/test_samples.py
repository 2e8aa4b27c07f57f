"""The real QEMU 7.2 captures of qmpfast/samples, on every backend.

What each capture holds is described in qmpfast/samples/README.md; these
tests check the decoder reads exactly that.
"""

import json

import pytest

import qmpfast
from qmpfast import ErrorResponse, Event, Greeting, Return

from conftest import sample

COMPACT = "qemu-7.2.qmp"
PRETTY = "qemu-7.2-pretty.qmp"
POWEROFF = "qemu-7.2-guest-poweroff.qmp"

EVENT_ORDER = ["STOP", "RESUME", "RESET", "RESET", "RESET", "VNC_CONNECTED",
               "VNC_INITIALIZED", "VNC_DISCONNECTED", "BLOCK_IO_ERROR",
               "STOP", "RESUME", "BLOCK_IO_ERROR", "STOP", "SHUTDOWN"]
STATUSES = {3: "running", 5: "paused", 7: "running", 10: "running",
            12: "io-error", 14: "io-error"}


def decode(backend, data, size=None):
    dec = qmpfast.Decoder(backend=backend)
    out = []
    if size is None:
        out += dec.feed(data)
    else:
        for i in range(0, len(data), size):
            out += dec.feed(data[i:i + size])
    out += dec.close()
    return out


def summary(msg):
    d = {"type": type(msg), "raw": msg.raw, "offset": msg.stream_offset,
         "dict": msg.to_dict(), "kind": msg.kind}
    if isinstance(msg, Event):
        d.update(name=msg.name, seconds=msg.seconds,
                 microseconds=msg.microseconds, data=msg.data)
        for attr in type(msg).members:
            value = getattr(msg, attr)
            if isinstance(value, qmpfast.VncInfo):
                value = [getattr(value, m) for m in (
                    "host", "service", "family", "auth", "websocket",
                    "x509_dname", "sasl_username")]
            d[attr] = value
    return d


def normalized(obj):
    """A message without what changes from one recording to the next."""
    obj = json.loads(json.dumps(obj))
    if "timestamp" in obj:
        obj["timestamp"] = "T"
    data = obj.get("data", {})
    if "node-name" in data:
        data["node-name"] = "#block"
    if isinstance(data.get("server"), dict) and \
            data["server"].get("service", "").endswith("vnc.sock"):
        data["server"]["service"] = "vnc.sock"
    return obj


@pytest.mark.parametrize("name, size, count", [
    (COMPACT, 3380, 30), (PRETTY, 5378, 30), (POWEROFF, 826, 10)])
def test_capture_sizes_and_framing(backend, name, size, count):
    data = sample(name)
    assert len(data) == size
    msgs = decode(backend, data)
    assert len(msgs) == count
    assert data.endswith(b"}\r\n")
    end = 0
    for msg in msgs:
        # between messages there is only the line break QEMU sends
        assert data[end:msg.stream_offset] in (b"", b"\r\n")
        assert data[msg.stream_offset:].startswith(msg.raw)
        assert msg.to_dict() == json.loads(msg.raw)
        end = msg.stream_offset + len(msg.raw)
    assert data[end:] == b"\r\n"


def test_compact_capture_messages(backend):
    data = sample(COMPACT)
    msgs = decode(backend, data)
    assert [m.raw for m in msgs] == data.split(b"\r\n")[:-1]
    kinds = [m.kind for m in msgs]
    assert kinds.count("greeting") == 1 and kinds[0] == "greeting"
    assert kinds.count("return") == 14
    assert kinds.count("error") == 1
    assert kinds.count("event") == 14
    assert [m.name for m in msgs if isinstance(m, Event)] == EVENT_ORDER


@pytest.mark.parametrize("name", [COMPACT, PRETTY])
def test_capture_replies(backend, name):
    msgs = decode(backend, sample(name))
    greeting = msgs[0]
    assert type(greeting) is Greeting
    assert greeting.version["qemu"] == {"major": 7, "minor": 2, "micro": 22}
    assert greeting.version["package"] == "Debian 1:7.2+dfsg-7+deb12u18+b3"
    assert greeting.capabilities == ["oob"]
    replies = [m for m in msgs if isinstance(m, (Return, ErrorResponse))]
    assert [m.id for m in replies] == list(range(1, 16))
    (error,) = [m for m in replies if isinstance(m, ErrorResponse)]
    assert error.id == 9
    assert error.error_class == "CommandNotFound"
    assert error.desc == "The command no-such-command has not been found"
    assert error.raw.startswith(b'{"id": 9') or name == PRETTY
    for reply in replies:
        if reply.id in STATUSES:
            assert reply.value["status"] == STATUSES[reply.id]
            assert reply.value["running"] is (STATUSES[reply.id] ==
                                              "running")
        elif reply.id == 2:
            assert reply.value["qemu"]["micro"] == 22
        elif reply.id != 9:
            assert reply.value == {}


@pytest.mark.parametrize("name", [COMPACT, PRETTY])
def test_capture_has_the_seven_documented_events(backend, name):
    msgs = decode(backend, sample(name))
    events = [m for m in msgs if isinstance(m, Event)]
    assert [m.name for m in events] == EVENT_ORDER
    by_name = {}
    for ev in events:
        assert type(ev) is qmpfast.event_class(ev.name)
        assert ev.datetime is not None
        assert ev.datetime.year == 2026
        assert 0 <= ev.microseconds < 1000000
        by_name.setdefault(ev.name, []).append(ev)
    assert {"BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP", "VNC_CONNECTED",
            "VNC_DISCONNECTED", "VNC_INITIALIZED"} <= set(by_name)
    stamps = [(e.seconds, e.microseconds) for e in events]
    assert stamps == sorted(stamps)

    first, second, third = by_name["RESET"]
    assert type(first) is qmpfast.Reset
    assert (first.guest, first.reason) == (False, "host-qmp-system-reset")
    assert (second.guest, second.reason) == (True, "guest-reset")
    assert (third.guest, third.reason) == (True, "guest-reset")

    (shutdown,) = by_name["SHUTDOWN"]
    assert (shutdown.guest, shutdown.reason) == (False, "host-qmp-quit")

    for stop in by_name["STOP"]:
        assert type(stop) is qmpfast.Stop and stop.data == {}

    for bio in by_name["BLOCK_IO_ERROR"]:
        assert type(bio) is qmpfast.BlockIoError
        assert bio.device == "ide1-hd0"
        assert bio.node_name.startswith("#block")
        assert bio.nospace is False
        assert bio.reason == "Input/output error"
        assert bio.operation == "read"
        assert bio.action == "stop"
        assert bio.qom_path is None  # QEMU 7.2 does not send it

    for vnc in ("VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED"):
        (ev,) = by_name[vnc]
        server, client = ev.server, ev.client
        assert server.auth == "none"
        assert server.family == "unix"
        assert server.service.endswith("/vnc.sock")
        assert server.service.startswith("/tmp/qmpfast-qemu-")
        assert server.host == ""
        assert server.websocket is False
        assert (client.family, client.host, client.service) == (
            "unix", "", "")
        assert client.websocket is False
        assert client.auth is None
        assert client.x509_dname is None
        assert client.sasl_username is None
        assert server.to_dict() == ev.data["server"]
        assert client == ev.data["client"]


def test_guest_poweroff_capture(backend):
    msgs = decode(backend, sample(POWEROFF))
    assert [m.kind for m in msgs].count("return") == 5
    events = [m for m in msgs if isinstance(m, Event)]
    assert [(e.name, e.data) for e in events] == [
        ("RESUME", {}),
        ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
        ("STOP", {}),
        ("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})]
    assert [(e.guest, e.reason) for e in events
            if e.name == "SHUTDOWN"] == [(True, "guest-shutdown"),
                                         (False, "host-qmp-quit")]
    statuses = [m.value["status"] for m in msgs
                if isinstance(m, Return) and m.id in (2, 4)]
    assert statuses == ["prelaunch", "shutdown"]


@pytest.mark.parametrize("name", [COMPACT, PRETTY, POWEROFF])
@pytest.mark.parametrize("size", [1, 13, 4096])
def test_capture_in_chunks(backend, name, size):
    data = sample(name)
    whole = [summary(m) for m in decode(backend, data)]
    assert [summary(m) for m in decode(backend, data, size)] == whole


def test_pretty_capture_layout(backend):
    msgs = decode(backend, sample(PRETTY))
    for msg in msgs:
        assert b"\r\n    " in msg.raw
        assert msg.raw.endswith(b"\r\n}")
    empty = [m for m in msgs if isinstance(m, Return) and m.value == {}]
    assert empty and all(b'"return": {\r\n    }' in m.raw for m in empty)


def test_pretty_and_compact_recordings_say_the_same(backend):
    compact = decode(backend, sample(COMPACT))
    pretty = decode(backend, sample(PRETTY))
    assert [normalized(m.to_dict()) for m in compact] == \
        [normalized(m.to_dict()) for m in pretty]
    assert [type(m) for m in compact] == [type(m) for m in pretty]


def _reformat(msgs, pretty):
    if pretty:
        return b"".join(
            json.dumps(m.to_dict(), indent=4).replace("\n", "\r\n").encode() +
            b"\r\n" for m in msgs)
    return b"".join(json.dumps(m.to_dict()).encode() + b"\r\n"
                    for m in msgs)


@pytest.mark.parametrize("name", [COMPACT, PRETTY])
def test_pretty_and_compact_layouts_give_equal_dicts(backend, name):
    msgs = decode(backend, sample(name))
    for pretty in (False, True):
        again = decode(backend, _reformat(msgs, pretty))
        assert [m.to_dict() for m in again] == [m.to_dict() for m in msgs]
        assert [summary(m)["type"] for m in again] == [type(m) for m in msgs]
        assert again == msgs  # equal messages, whatever the layout


@pytest.mark.both_backends
@pytest.mark.parametrize("name", [COMPACT, PRETTY, POWEROFF])
def test_backends_decode_captures_alike(name):
    data = sample(name)
    c = [summary(m) for m in decode("c", data)]
    py = [summary(m) for m in decode("python", data)]
    assert c == py
    assert [summary(m) for m in decode("python", data, 7)] == c
