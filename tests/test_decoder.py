"""Behaviour of the streaming decoder, on every backend.

Every behavioural test here takes the ``backend`` fixture (directly or
through ``decoder_factory``), so it runs once on the C scanner and once on
the pure-Python one.  The reference for what a message means is ``json.loads``;
the reference for what QEMU sends is the 2010 QMP event documentation
(``tests/data/qmp-events-2010.txt``) and the real captures in
``qmpfast/samples``.
"""

import datetime
import io
import json
import os
import pickle
import random
import socket
import threading
import tracemalloc

import pytest

import qmpfast
from qmpfast import (Command, DecodeError, ErrorResponse, Event, Greeting,
                     IncompleteMessageError, Message, MessageTooLargeError,
                     ProtocolError, QMPError, Return)

from conftest import sample

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_EXAMPLES = os.path.join(HERE, "data", "qmp-events-2010.txt")
# The documentation page the examples come from: QEMU commit d74c7dfd1b63
# ("QMP: Revamp the qmp-events.txt file", 2010), as a rendered git diff.
# QMPFAST_QMP_EVENTS_DOC may point at a copy; otherwise a copy next to the
# repository is used when there is one.
DOC_PAGE = os.environ.get("QMPFAST_QMP_EVENTS_DOC") or os.path.join(
    HERE, os.pardir, os.pardir, "shared", "seed", "000_40c9818782d43da7.txt")

UTC = datetime.timezone.utc


# ---- helpers ---------------------------------------------------------------

def ts(seconds=1, microseconds=2):
    return {"seconds": seconds, "microseconds": microseconds}


def event_bytes(name, data=None, seconds=1700000000, microseconds=123456):
    obj = {"timestamp": ts(seconds, microseconds), "event": name}
    if data is not None:
        obj["data"] = data
    return json.dumps(obj).encode()


def chunks_of(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def decode(factory, data, pieces=None, **options):
    """All messages of ``data`` fed as ``pieces`` (default: one piece)."""
    dec = factory(**options)
    out = []
    for piece in (pieces if pieces is not None else [data]):
        out += dec.feed(piece)
    out += dec.close()
    return out


def describe(msg):
    """Everything a message says, for comparing decodings."""
    d = {"type": type(msg).__name__, "kind": msg.kind, "raw": msg.raw,
         "offset": msg.stream_offset, "dict": msg.to_dict()}
    if isinstance(msg, Event):
        d.update(name=msg.name, seconds=msg.seconds,
                 microseconds=msg.microseconds, data=msg.data)
        for attr in getattr(type(msg), "members", {}):
            value = getattr(msg, attr)
            if isinstance(value, qmpfast.VncInfo):
                value = ("vnc", value.to_dict(), value.host, value.service,
                         value.family, value.auth, value.websocket,
                         value.x509_dname, value.sasl_username)
            d[attr] = value
    elif isinstance(msg, Return):
        d.update(value=msg.value, id=msg.id)
    elif isinstance(msg, ErrorResponse):
        d.update(error_class=msg.error_class, desc=msg.desc, id=msg.id)
    elif isinstance(msg, Greeting):
        d.update(version=msg.version, capabilities=msg.capabilities)
    elif isinstance(msg, Command):
        d.update(command=msg.command, arguments=msg.arguments, id=msg.id,
                 oob=msg.oob)
    return d


def feed_through_errors(dec, pieces):
    """Feed everything, collecting messages and errors, as a reader that
    goes on after each DecodeError would."""
    messages, errors = [], []
    for piece in pieces:
        try:
            messages += dec.feed(piece)
        except DecodeError as exc:
            messages += exc.messages
            errors.append(exc)
    for _ in range(100):
        try:
            messages += dec.close()
            break
        except IncompleteMessageError as exc:
            messages += exc.messages
            errors.append(exc)
            break
        except DecodeError as exc:
            messages += exc.messages
            errors.append(exc)
    return messages, errors


def doc_examples():
    with open(DOC_EXAMPLES, "rb") as f:
        return f.read()


# The seven examples of the 2010 documentation, in its order.  The fourth is
# printed under "STOP" but is a SHUTDOWN event: a slip in the document, kept
# as is in the data.
VNC_SERVER_2010 = {"auth": "sasl", "family": "ipv4", "service": "5901",
                   "host": "0.0.0.0"}
DOC_2010 = [
    ("BLOCK_IO_ERROR", 1265044230, 450486,
     {"device": "ide0-hd1", "operation": "write", "action": "stop"}),
    ("RESET", 1267041653, 9518, {}),
    ("SHUTDOWN", 1267040730, 682951, {}),
    ("SHUTDOWN", 1267041730, 281295, {}),  # documented under STOP
    ("VNC_CONNECTED", 1262976601, 975795,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "58425",
                 "host": "127.0.0.1"}}),
    ("VNC_DISCONNECTED", 1262976601, 975795,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "58425",
                 "host": "127.0.0.1", "sasl_username": "luiz"}}),
    ("VNC_INITIALIZED", 1263475302, 150772,
     {"server": VNC_SERVER_2010,
      "client": {"family": "ipv4", "service": "46089",
                 "host": "127.0.0.1", "sasl_username": "luiz"}}),
]


# ---- the documentation examples --------------------------------------------

def _examples_in_doc_page(text):
    """The JSON examples of the documentation page: the added lines of the
    diff, from each line opening an event object to its closing brace."""
    lines = [line[1:] for line in text.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    examples = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith('{ "event"'):
            i += 1
            continue
        depth, block = 0, []
        while True:
            block.append(lines[i])
            depth += lines[i].count("{") - lines[i].count("}")
            i += 1
            if depth == 0:
                break
        examples.append("\n".join(block))
    return examples


def test_doc_examples_match_the_documentation_page():
    if not os.path.exists(DOC_PAGE):
        pytest.skip(f"no copy of the 2010 documentation page at {DOC_PAGE}")
    with open(DOC_PAGE, encoding="utf-8") as f:
        page = f.read()
    assert "d74c7dfd1b63850309d7595b4db2e91b78c1dc05" in page
    examples = _examples_in_doc_page(page)
    assert len(examples) == 7
    with open(DOC_EXAMPLES, encoding="utf-8") as f:
        data = f.read()
    assert data == "\n\n".join(examples) + "\n"
    # the slip: the example of the STOP section is a SHUTDOWN event
    stop_section = page.split("+STOP\n+----\n", 1)[1]
    assert stop_section.split("+{ ", 1)[1].startswith('"event": "SHUTDOWN"')


def test_doc_examples_are_multiline_json():
    texts = doc_examples().decode().split("\n\n")
    assert len(texts) == 7
    for text, (name, _s, _u, _d) in zip(texts, DOC_2010):
        assert "\n" in text.strip()
        assert json.loads(text)["event"] == name


def test_doc_examples_decode(decoder_factory):
    data = doc_examples()
    msgs = decode(decoder_factory, data)
    assert [type(m) for m in msgs] == [
        qmpfast.BlockIoError, qmpfast.Reset, qmpfast.Shutdown,
        qmpfast.Shutdown, qmpfast.VncConnected, qmpfast.VncDisconnected,
        qmpfast.VncInitialized]
    texts = data.split(b"\n\n")
    for msg, text, (name, seconds, micros, body) in zip(msgs, texts,
                                                        DOC_2010):
        assert msg.kind == "event"
        assert msg.name == name
        assert msg.seconds == seconds and msg.microseconds == micros
        assert msg.data == body
        assert msg.raw == text.strip()
        assert b"\n" in msg.raw
        assert msg.to_dict() == json.loads(text)
        assert data[msg.stream_offset:].startswith(msg.raw)


def test_doc_examples_typed_attributes(decoder_factory):
    bio, reset, shut, shut2, conn, disc, init = decode(
        decoder_factory, doc_examples())
    assert (bio.device, bio.operation, bio.action) == (
        "ide0-hd1", "write", "stop")
    # members later QEMUs added are absent in 2010
    assert bio.node_name is None and bio.reason is None
    assert bio.qom_path is None and bio.nospace is None
    for ev in (reset, shut, shut2):
        assert ev.guest is None and ev.reason is None
    for ev in (conn, disc, init):
        assert isinstance(ev.server, qmpfast.VncInfo)
        assert ev.server.host == "0.0.0.0"
        assert ev.server.service == "5901"
        assert ev.server.family == "ipv4"
        assert ev.server.auth == "sasl"
        assert ev.server.websocket is None
        assert ev.server == VNC_SERVER_2010
        assert ev.client.host == "127.0.0.1"
        assert ev.client.family == "ipv4"
        assert ev.client.websocket is None
        assert ev.client.x509_dname is None
        assert ev.client.auth is None
    assert conn.client.service == "58425"
    assert conn.client.sasl_username is None
    assert disc.client.sasl_username == "luiz"
    assert init.client.service == "46089"
    assert init.client.sasl_username == "luiz"
    assert conn.client.to_dict() == DOC_2010[4][3]["client"]


def test_doc_examples_datetime(decoder_factory):
    msgs = decode(decoder_factory, doc_examples())
    bio = msgs[0]
    assert bio.datetime == datetime.datetime(2010, 2, 1, 17, 10, 30, 450486,
                                             tzinfo=UTC)
    for msg, (_n, seconds, micros, _d) in zip(msgs, DOC_2010):
        assert msg.timestamp == pytest.approx(seconds + micros / 1e6)
        assert msg.datetime == datetime.datetime.fromtimestamp(
            seconds, UTC).replace(microsecond=micros)


# ---- framing ---------------------------------------------------------------

COMPACT = [b'{"return": {}, "id": 1}',
           b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
           b'"event": "STOP"}',
           b'{"id": 9, "error": {"class": "GenericError", "desc": "no"}}']


@pytest.mark.parametrize("sep", [b"\r\n", b"\n", b"", b" ", b"\t\r\n \n"],
                         ids=["crlf", "lf", "none", "space", "mixed"])
def test_framing_by_structure(decoder_factory, sep):
    data = sep.join(COMPACT) + sep
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == COMPACT
    assert [type(m) for m in msgs] == [Return, qmpfast.Stop, ErrorResponse]
    offset = 0
    for msg, raw in zip(msgs, COMPACT):
        assert msg.stream_offset == offset
        offset += len(raw) + len(sep)


def test_no_separator_between_objects(decoder_factory):
    msgs = decode(decoder_factory, b'{"a":1}{"b":2}{}{"c":[{}]}')
    assert [m.raw for m in msgs] == [b'{"a":1}', b'{"b":2}', b"{}",
                                     b'{"c":[{}]}']
    assert [m.to_dict() for m in msgs] == [{"a": 1}, {"b": 2}, {},
                                           {"c": [{}]}]


def test_braces_inside_strings_do_not_frame(decoder_factory):
    raw = b'{"a": "}{\\"}\\n{", "b": ["}", "{"]}'
    msgs = decode(decoder_factory, raw + b"\n" + raw)
    assert [m.raw for m in msgs] == [raw, raw]
    assert msgs[0].to_dict() == {"a": '}{"}\n{', "b": ["}", "{"]}


def test_pretty_multiline(decoder_factory):
    objs = [{"return": {}, "id": 1},
            {"event": "RESET", "timestamp": ts(5, 6),
             "data": {"guest": True, "reason": "guest-reset"}},
            {"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}]
    texts = [json.dumps(o, indent=4).replace("\n", "\r\n").encode()
             for o in objs]
    data = b"\r\n".join(texts) + b"\r\n"
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == texts
    assert [m.to_dict() for m in msgs] == objs
    assert [m.kind for m in msgs] == ["return", "event", "greeting"]
    assert msgs[1].guest is True and msgs[1].reason == "guest-reset"


def test_surrounding_whitespace_is_not_in_raw(decoder_factory):
    data = b' \t\r\n  {"a": 1}   \r\n\n\t{ "b" : [ 1 , 2 ] }\t \n \r\n  '
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == [b'{"a": 1}', b'{ "b" : [ 1 , 2 ] }']
    assert [m.stream_offset for m in msgs] == [6, 21]
    assert msgs[1].to_dict() == {"b": [1, 2]}


@pytest.mark.parametrize("data", [b"", b" ", b"\r\n\r\n", b" \t\n\r" * 50])
def test_whitespace_only_stream(decoder_factory, data):
    dec = decoder_factory()
    assert dec.feed(data) == []
    assert dec.close() == []
    assert dec.position == len(data)


def test_feed_accepts_bytes_like(decoder_factory):
    data = bytearray(b'{"a": 1}\n{"b": 2}\n{"c"')
    dec = decoder_factory()
    msgs = dec.feed(data)
    data[:] = b"X" * len(data)  # the caller reuses its buffer
    msgs += dec.feed(memoryview(b': 3}\n'))
    assert [m.to_dict() for m in msgs] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [m.raw for m in msgs] == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


# ---- chunking --------------------------------------------------------------

def _stream_for_chunking():
    lines = sample("qemu-7.2.qmp").split(b"\r\n")
    return (b"\r\n".join(lines[:12]) + b"\r\n" + doc_examples() +
            b'{"a": "\xc3\xa9\\u00e9\\ud83d\\ude00", "b": [1.5e3, -0, null]}'
            b'{"c": {}}\r\n')


def test_every_two_piece_split_gives_the_same_messages(decoder_factory):
    data = doc_examples() + b'{"return": {"x": "\xe2\x82\xac"}, "id": "\\u0041"}'
    whole = [describe(m) for m in decode(decoder_factory, data)]
    assert len(whole) == 8
    for cut in range(len(data) + 1):
        got = decode(decoder_factory, data, [data[:cut], data[cut:]])
        assert [describe(m) for m in got] == whole, cut


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_any_chunk_size_gives_the_same_messages(decoder_factory, size):
    data = _stream_for_chunking()
    whole = [describe(m) for m in decode(decoder_factory, data)]
    got = decode(decoder_factory, data, chunks_of(data, size))
    assert [describe(m) for m in got] == whole
    assert len(whole) > 20


def test_random_chunks_and_empty_feeds(decoder_factory):
    data = _stream_for_chunking()
    whole = [describe(m) for m in decode(decoder_factory, data)]
    rng = random.Random(20100225)
    for _ in range(20):
        pieces, i = [], 0
        while i < len(data):
            n = rng.choice([0, 0, 1, 2, 5, 17, 100, 999])
            pieces.append(data[i:i + n])
            i += n
        got = decode(decoder_factory, data, pieces)
        assert [describe(m) for m in got] == whole


def test_messages_stay_valid_after_later_feeds(decoder_factory):
    """Messages read lazily keep their bytes while the decoder moves on."""
    data = doc_examples()
    dec = decoder_factory()
    msgs = []
    for piece in chunks_of(data, 5):
        msgs += dec.feed(piece)
    dec.feed(b'{"x": "' + b"y" * 5000 + b'"}\n{"z":')
    assert [m.data for m in msgs] == [d for _n, _s, _u, d in DOC_2010]
    assert msgs[0].device == "ide0-hd1"
    assert msgs[5].client.sasl_username == "luiz"
    assert [m.raw for m in msgs] == [t.strip() for t in data.split(b"\n\n")]


def test_position_counts_scanned_bytes(decoder_factory):
    dec = decoder_factory()
    dec.feed(b'{"a": 1}\n')
    assert dec.position == 9
    dec.feed(b'{"b": ')
    assert dec.position == 15
    dec.feed(b"2}")
    assert dec.position == 17


# ---- kinds -----------------------------------------------------------------

EV = '"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}'
RET = '"return": {"r": 1}'
ERR = '"error": {"class": "GenericError", "desc": "d"}'
QMP = '"QMP": {"version": {}, "capabilities": []}'
EXE = '"execute": "query-status"'
OOB = '"exec-oob": "migrate-pause"'


@pytest.mark.parametrize("members, cls, kind", [
    ([EV, RET, ERR, QMP, EXE], qmpfast.Stop, "event"),
    ([EXE, QMP, ERR, RET, EV], qmpfast.Stop, "event"),
    ([RET, ERR, QMP, EXE], Return, "return"),
    ([EXE, QMP, ERR, RET], Return, "return"),
    ([ERR, QMP, EXE], ErrorResponse, "error"),
    ([OOB, QMP, ERR], ErrorResponse, "error"),
    ([QMP, EXE], Greeting, "greeting"),
    ([OOB, QMP], Greeting, "greeting"),
    ([EXE], Command, "command"),
    ([OOB], Command, "command"),
    (['"id": 3', EXE, '"arguments": {"a": 1}'], Command, "command"),
    (['"foo": 1'], Message, "message"),
    ([], Message, "message"),
    (['"data": {"event": "STOP"}', '"id": 1'], Message, "message"),
    (['"return": {"event": "STOP", "error": {}}'], Return, "return"),
    (['"x": {"QMP": {}, "execute": "a"}'], Message, "message"),
])
def test_kind_precedence(decoder_factory, members, cls, kind):
    raw = ("{" + ", ".join(members) + "}").encode()
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is cls
    assert msg.kind == kind
    assert isinstance(msg, Message)
    assert msg.raw == raw
    assert msg.to_dict() == json.loads(raw)


@pytest.mark.parametrize("value", [b"null", b"false", b"0", b'""', b"[]",
                                   b'"text"', b"[1, {}]", b"{}", b"-1.5e3"])
def test_return_of_any_value(decoder_factory, value):
    raw = b'{"return": ' + value + b"}"
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is Return
    assert msg.value == json.loads(value)
    assert msg.id is None


def test_return_fields(decoder_factory):
    raw = (b'{"return": {"status": "running", "singlestep": false, '
           b'"running": true}, "id": {"tag": ["x", 7]}}')
    (msg,) = decode(decoder_factory, raw)
    assert msg.value == {"status": "running", "singlestep": False,
                         "running": True}
    assert msg.id == {"tag": ["x", 7]}
    (msg,) = decode(decoder_factory, b'{"id": "a\\"b", "return": []}')
    assert msg.id == 'a"b' and msg.value == []


def test_error_response_fields(decoder_factory):
    raw = (b'{"id": 9, "error": {"class": "CommandNotFound", '
           b'"desc": "The command no-such-command has not been found"}}')
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is ErrorResponse and msg.kind == "error"
    assert msg.error_class == "CommandNotFound"
    assert msg.desc == "The command no-such-command has not been found"
    assert msg.id == 9
    (msg,) = decode(decoder_factory,
                    b'{"error": {"desc": "caf\\u00e9 \xe2\x82\xac", '
                    b'"class": "Generic\\u0045rror", "extra": [1]}}')
    assert msg.error_class == "GenericError"
    assert msg.desc == "caf\u00e9 \u20ac"
    assert msg.id is None


def test_greeting_fields(decoder_factory):
    raw = sample("qemu-7.2.qmp").split(b"\r\n", 1)[0]
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is Greeting and msg.kind == "greeting"
    assert msg.version == {"qemu": {"micro": 22, "minor": 2, "major": 7},
                           "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}
    assert msg.capabilities == ["oob"]


def test_command_fields(decoder_factory):
    (msg,) = decode(decoder_factory,
                    b'{"execute": "send-key", "arguments": {"keys": '
                    b'[{"type": "qcode", "data": "ret"}]}, "id": 11}')
    assert type(msg) is Command and msg.kind == "command"
    assert msg.command == "send-key"
    assert msg.arguments == {"keys": [{"type": "qcode", "data": "ret"}]}
    assert msg.id == 11
    assert msg.oob is False
    (msg,) = decode(decoder_factory,
                    b'{"exec-oob": "migrate-pause", "id": "oob-1"}')
    assert msg.command == "migrate-pause"
    assert msg.oob is True
    assert msg.arguments == {}
    assert msg.id == "oob-1"


# ---- events ----------------------------------------------------------------

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


def test_to_dict_is_a_new_dict_for_every_kind(decoder_factory):
    data = sample("qemu-7.2.qmp")
    for msg in decode(decoder_factory, data):
        first = msg.to_dict()
        first.clear()
        assert msg.to_dict() == json.loads(msg.raw)
        if isinstance(msg, Return) and isinstance(msg.value, dict):
            msg.value["mutated"] = True
            assert "mutated" not in msg.to_dict()["return"]
            assert "mutated" not in msg.value


@pytest.mark.parametrize("name_json, name", [
    (r'"ST\u004fP"', "STOP"),
    (r'"\u0053\u0054\u004F\u0050"', "STOP"),
    (r'"BLOCK\u005fIO_ERROR"', "BLOCK_IO_ERROR"),
    (r'"MY\u005fEVENT"', "MY_EVENT"),
    (r'"caf\u00e9"', "caf\u00e9"),
    ('"caf\u00e9"', "caf\u00e9"),
    (r'"\ud83d\ude00 \"q\" \\ \/"', "\U0001F600 \"q\" \\ /"),
])
def test_escaped_event_names(decoder_factory, name_json, name):
    raw = ('{"event": ' + name_json + ', "timestamp": {"seconds": 1, '
           '"microseconds": 2}, "data": {"device": "ide0"}}').encode()
    (ev,) = decode(decoder_factory, raw)
    assert ev.name == name
    assert type(ev) is qmpfast.event_class(name)
    assert ev.to_dict()["event"] == name
    if name == "BLOCK_IO_ERROR":
        assert type(ev) is qmpfast.BlockIoError
        assert ev.device == "ide0"


def test_escaped_event_name_passes_the_filter(decoder_factory):
    data = (b'{"event": "ST\\u004fP", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}}\n'
            b'{"event": "RES\\u0055ME", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}}\n')
    msgs = decode(decoder_factory, data, events={"STOP"})
    assert [m.name for m in msgs] == ["STOP"]
    assert type(msgs[0]) is qmpfast.Stop


def test_escaped_keys(decoder_factory):
    raw = (b'{"\\u0065vent": "BLOCK_IO_ERROR", "t\\u0069mestamp": '
           b'{"s\\u0065conds": 10, "micro\\u0073econds": 20}, '
           b'"d\\u0061ta": {"dev\\u0069ce": "ide0\\u002dhd1", '
           b'"op\\u0065ration": "r\\u0065ad", "action": "stop"}}')
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.BlockIoError
    assert (ev.seconds, ev.microseconds) == (10, 20)
    assert ev.device == "ide0-hd1"
    assert ev.operation == "read"
    assert ev.action == "stop"
    (ret,) = decode(decoder_factory, b'{"r\\u0065turn": 5, "\\u0069d": 1}')
    assert type(ret) is Return and ret.value == 5 and ret.id == 1


def test_unicode_extremes(decoder_factory):
    raw = ('{"return": ["\x7f", "\u0080", "\u07ff", "\u0800", "\uffff", '
           '"\U00010000", "\U0010ffff", "\\u0000\\uffff\\udbff\\udfff"]}'
           ).encode("utf-8")
    (msg,) = decode(decoder_factory, raw)
    assert msg.value == ["\x7f", "\u0080", "\u07ff", "\u0800", "\uffff",
                         "\U00010000", "\U0010ffff",
                         "\u0000\uffff\U0010ffff"]
    assert msg.to_dict() == json.loads(raw)


def test_unicode_values(decoder_factory):
    obj = {"timestamp": ts(), "event": "BLOCK_IO_ERROR", "data": {
        "device": "disque-\u00e9\u20ac\U0001F600", "operation": "write",
        "action": "report", "reason": "Aucun espace \u00e0 \"gauche\"\n"}}
    for ascii_only in (True, False):
        raw = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
        (ev,) = decode(decoder_factory, raw)
        assert ev.device == "disque-\u00e9\u20ac\U0001F600"
        assert ev.reason == "Aucun espace \u00e0 \"gauche\"\n"
        assert ev.to_dict() == obj
        assert ev.raw == raw


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


def test_many_messages_in_one_chunk(decoder_factory):
    n = 10000
    data = b"".join(b'{"return": %d}' % i for i in range(n))
    msgs = decode(decoder_factory, data)
    assert [m.value for m in msgs] == list(range(n))
    assert msgs[-1].stream_offset == len(data) - len(msgs[-1].raw)
    dec = decoder_factory()
    with pytest.raises(DecodeError) as info:
        dec.feed(data + b"{x}" + data)
    assert len(info.value.messages) == n
    assert info.value.offset == len(data)
    assert dec.close() == []  # the rest of the line was skipped


def test_feed_wants_bytes(decoder_factory):
    with pytest.raises(TypeError):
        decoder_factory().feed('{"a": 1}')


def test_duplicate_keys_change_the_kind_or_reply(decoder_factory):
    (msg,) = decode(decoder_factory, b'{"return": 1, "return": [2], "id": 1,'
                                     b' "id": "x"}')
    assert msg.value == [2] and msg.id == "x"
    (msg,) = decode(decoder_factory,
                    b'{"error": {"class": "A", "desc": "a"}, '
                    b'"error": {"class": "B", "desc": "b"}}')
    assert (msg.error_class, msg.desc) == ("B", "b")
    (msg,) = decode(decoder_factory, b'{"execute": "a", "execute": "b", '
                                     b'"arguments": {"x": 1}, "arguments": {}}')
    assert msg.command == "b" and msg.arguments == {}


# ---- typed attributes of the seven documented events, modern shape --------

def _modern(name, data):
    return {"timestamp": ts(1795563461, 50009), "event": name, "data": data}


MODERN = [
    _modern("BLOCK_IO_ERROR", {
        "qom-path": "/machine/peripheral/virtio-disk0/virtio-backend",
        "device": "", "node-name": "disk0-fmt", "operation": "write",
        "action": "report", "nospace": True,
        "reason": "No space left on device"}),
    _modern("RESET", {"guest": True, "reason": "guest-reset"}),
    _modern("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}),
    {"timestamp": ts(1795563461, 50107), "event": "STOP"},
    _modern("VNC_CONNECTED", {
        "server": {"auth": "none", "family": "unix",
                   "service": "/run/vnc.sock", "host": "",
                   "websocket": False},
        "client": {"family": "unix", "service": "", "host": "",
                   "websocket": False}}),
    _modern("VNC_INITIALIZED", {
        "server": {"auth": "vencrypt+x509+sasl", "family": "vsock",
                   "service": "5900", "host": "2", "websocket": True},
        "client": {"family": "vsock", "service": "1234", "host": "3",
                   "websocket": True, "x509_dname": "CN=client,O=Example",
                   "sasl_username": "alice"}}),
    _modern("VNC_DISCONNECTED", {
        "server": {"auth": "none", "family": "ipv6", "service": "5901",
                   "host": "::", "websocket": False},
        "client": {"family": "ipv6", "service": "40000", "host": "::1",
                   "websocket": False, "x509_dname": "CN=\u00e9",
                   "sasl_username": "bob"}}),
]


@pytest.mark.parametrize("layout", ["compact", "pretty"])
def test_modern_typed_attributes(decoder_factory, layout):
    indent = 4 if layout == "pretty" else None
    data = b"\r\n".join(json.dumps(m, indent=indent).encode()
                        for m in MODERN) + b"\r\n"
    bio, reset, shutdown, stop, conn, init, disc = decode(decoder_factory,
                                                          data)
    assert type(bio) is qmpfast.BlockIoError
    assert bio.qom_path == "/machine/peripheral/virtio-disk0/virtio-backend"
    assert bio.device == ""
    assert bio.node_name == "disk0-fmt"
    assert bio.operation == "write"
    assert bio.action == "report"
    assert bio.nospace is True
    assert bio.reason == "No space left on device"
    assert (reset.guest, reset.reason) == (True, "guest-reset")
    assert (shutdown.guest, shutdown.reason) == (False, "host-qmp-quit")
    assert type(stop) is qmpfast.Stop and stop.data == {}
    assert conn.server.family == "unix"
    assert conn.server.service == "/run/vnc.sock"
    assert conn.server.host == "" and conn.server.auth == "none"
    assert conn.server.websocket is False
    assert conn.client.family == "unix" and conn.client.host == ""
    assert conn.client.websocket is False
    assert conn.client.sasl_username is None
    assert init.server.family == "vsock" and init.server.host == "2"
    assert init.server.websocket is True
    assert init.server.auth == "vencrypt+x509+sasl"
    assert init.client.x509_dname == "CN=client,O=Example"
    assert init.client.sasl_username == "alice"
    assert init.client.service == "1234"
    assert disc.server.family == "ipv6" and disc.server.host == "::"
    assert disc.client.host == "::1"
    assert disc.client.x509_dname == "CN=\u00e9"
    assert disc.client.sasl_username == "bob"
    for msg, obj in zip((bio, reset, shutdown, stop, conn, init, disc),
                        MODERN):
        assert msg.to_dict() == obj
        assert msg.data == obj.get("data", {})
        if "server" in msg.data:
            assert msg.server.to_dict() == obj["data"]["server"]
            assert msg.client == obj["data"]["client"]


def test_typed_attributes_of_unusual_values(decoder_factory):
    raw = event_bytes("BLOCK_IO_ERROR", {"device": None, "operation": 5,
                                         "action": ["x"],
                                         "nospace": "maybe"})
    (ev,) = decode(decoder_factory, raw)
    assert ev.device is None
    assert ev.operation == 5
    assert ev.action == ["x"]
    assert ev.nospace == "maybe"
    assert ev.reason is None
    (ev,) = decode(decoder_factory, event_bytes("VNC_CONNECTED", {}))
    assert ev.server is None and ev.client is None


def test_other_catalogue_events_have_typed_attributes(decoder_factory):
    raw = event_bytes("RESUME", None)
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.Resume
    raw = event_bytes("DEVICE_DELETED", {"device": "virtio-disk0",
                                         "path": "/machine/peripheral/x"})
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.event_class("DEVICE_DELETED")
    assert ev.device == "virtio-disk0"
    assert ev.path == "/machine/peripheral/x"


def test_event_class():
    assert qmpfast.event_class("STOP") is qmpfast.Stop
    assert qmpfast.event_class("BLOCK_IO_ERROR") is qmpfast.BlockIoError
    assert qmpfast.event_class("VNC_CONNECTED") is qmpfast.VncConnected
    assert qmpfast.event_class("NO_SUCH_EVENT") is Event
    assert qmpfast.event_class("stop") is Event
    for name in ("BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP",
                 "VNC_CONNECTED", "VNC_DISCONNECTED", "VNC_INITIALIZED"):
        cls = qmpfast.event_class(name)
        assert issubclass(cls, Event) and cls is not Event
    assert len(qmpfast.EVENT_CLASSES) > 7


def test_every_catalogue_event_decodes_to_its_class(decoder_factory):
    names = sorted(qmpfast.EVENT_CLASSES)
    data = b"\n".join(event_bytes(n, None) for n in names) + b"\n"
    data += event_bytes("NOT_A_QEMU_EVENT", {"x": 1})
    msgs = decode(decoder_factory, data)
    assert [m.name for m in msgs] == names + ["NOT_A_QEMU_EVENT"]
    for msg in msgs:
        assert type(msg) is qmpfast.event_class(msg.name)
    assert type(msgs[-1]) is Event
    assert msgs[-1].data == {"x": 1}


# ---- the events= filter ----------------------------------------------------

def test_events_filter(decoder_factory):
    data = sample("qemu-7.2.qmp")
    all_msgs = decode(decoder_factory, data)
    kept = decode(decoder_factory, data, events={"STOP", "RESET"})
    expected = [m for m in all_msgs
                if m.kind != "event" or m.name in ("STOP", "RESET")]
    assert [describe(m) for m in kept] == [describe(m) for m in expected]
    assert sum(m.kind == "event" for m in kept) == 6
    assert sum(m.kind != "event" for m in kept) == 16


def test_events_filter_with_names_not_in_the_catalogue(decoder_factory):
    data = b"".join([
        event_bytes("MY_EVENT", {"a": 1}), b"\n",
        event_bytes("OTHER_NEW_EVENT", None), b"\n",
        event_bytes("STOP", None), b"\n",
        b'{"return": {}}\n',
    ])
    msgs = decode(decoder_factory, data, events=["MY_EVENT"])
    assert [m.kind for m in msgs] == ["event", "return"]
    assert msgs[0].name == "MY_EVENT" and type(msgs[0]) is Event
    assert msgs[0].data == {"a": 1}
    msgs = decode(decoder_factory, data, events="STOP")
    assert [getattr(m, "name", m.kind) for m in msgs] == ["STOP", "return"]


def test_events_filter_empty_keeps_only_non_events(decoder_factory):
    data = sample("qemu-7.2.qmp")
    msgs = decode(decoder_factory, data, events=())
    assert len(msgs) == 16
    assert all(m.kind != "event" for m in msgs)


def test_events_filter_on_chunked_input(decoder_factory):
    data = sample("qemu-7.2.qmp") + doc_examples()
    whole = decode(decoder_factory, data, events={"SHUTDOWN", "VNC_CONNECTED"})
    pieces = decode(decoder_factory, data, chunks_of(data, 3),
                    events={"SHUTDOWN", "VNC_CONNECTED"})
    assert [describe(m) for m in pieces] == [describe(m) for m in whole]
    assert [m.name for m in whole if m.kind == "event"] == [
        "VNC_CONNECTED", "SHUTDOWN", "SHUTDOWN", "SHUTDOWN", "VNC_CONNECTED"]


def test_events_filter_with_a_long_event_name(decoder_factory):
    """A name longer than anything QEMU uses is still matched exactly."""
    long_name = "X_" + "LONG" * 50
    other = "X_" + "LONG" * 49 + "LONF"
    data = (event_bytes(long_name, {"n": 1}) + b"\n" +
            event_bytes(other, {"n": 2}) + b"\n")
    msgs = decode(decoder_factory, data)
    assert [m.name for m in msgs] == [long_name, other]
    msgs = decode(decoder_factory, data, events={long_name})
    assert [m.name for m in msgs] == [long_name]
    assert msgs[0].data == {"n": 1}


# ---- errors ----------------------------------------------------------------

def test_error_hierarchy():
    for cls in (MessageTooLargeError, IncompleteMessageError, ProtocolError,
                qmpfast.ValidationError):
        assert issubclass(cls, DecodeError)
    assert issubclass(DecodeError, QMPError)
    assert issubclass(DecodeError, ValueError)


@pytest.mark.parametrize("bad, position", [
    (b'{"b": x}', 6),
    (b'{"b": }', 6),
    (b'{"b" 1}', 5),
    (b'{"b": 1,}', 8),
    (b"{'b': 1}", 1),
    (b'{"b": [1,]}', 9),
    (b'{"b": 01}', 7),
    (b'{"b": 1.}', 8),
    (b'{"b": -}', 7),
    (b'{"b": NaN}', 6),
    (b'{"b": Infinity}', 6),
    (b'{"b": tru}', 9),
    (b'{"b": "\\x"}', 8),
    (b'{"b": "\\u12G4"}', 11),
    (b'{"b": "\\ud800"}', 13),
    (b'{"b": "\\udc00"}', 12),
    (b'{"b": "\x01"}', 7),
    (b'{"b": "\xff"}', 7),
    (b'{"b": "\xc0\xaf"}', 7),
    (b'{"b": "\xed\xa0\x80"}', 8),
    (b'[1, 2]', 0),
    (b'"text"', 0),
    (b"}", 0),
    (b"\x00", 0),
    (b"\xef\xbb\xbf{}", 0),
    (b"\x0b{}", 0),
    (b"\x0c{}", 0),
    (b'{"b": "\xf4\x90\x80\x80"}', 8),
])
def test_decode_error_offset_and_position(decoder_factory, bad, position):
    prefix = b'{"a": 1}\r\n{"timestamp": {"seconds": 1, "microseconds": 2}, ' \
             b'"event": "STOP"}\r\n  '
    data = prefix + bad + b"\r\n" + b'{"c": 3}\r\n'
    dec = decoder_factory()
    with pytest.raises(DecodeError) as info:
        dec.feed(data)
    err = info.value
    assert type(err) is DecodeError
    assert err.offset == len(prefix)
    assert err.position == len(prefix) + position
    assert [m.to_dict() for m in err.messages] == [
        {"a": 1}, {"timestamp": ts(1, 2), "event": "STOP"}]
    assert str(len(prefix)) in str(err)
    # the bytes after the bad line are decoded by the next call
    assert [m.to_dict() for m in dec.feed(b'{"d": 4}')] == [{"c": 3},
                                                            {"d": 4}]
    assert dec.close() == []


def test_decode_error_offset_across_chunks(decoder_factory):
    prefix = sample("qemu-7.2.qmp")
    bad = b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": '
    data = prefix + bad + b'2x}}\r\n{"c": 3}\r\n'
    for size in (1, 5, 100, 4096):
        dec = decoder_factory()
        messages, errors = feed_through_errors(dec, chunks_of(data, size))
        assert len(errors) == 1, size
        assert type(errors[0]) is DecodeError
        assert errors[0].offset == len(prefix)
        assert errors[0].position == len(prefix) + len(bad) + 1
        assert len(messages) == 31
        assert messages[-1].to_dict() == {"c": 3}
        assert messages[-1].stream_offset == len(data) - 10


def test_messages_before_an_error_are_on_the_error(decoder_factory):
    dec = decoder_factory()
    first = b'{"a": 1}\n{"b"'
    second = b': 2}\n{"c": 3}{"d": 4}\n{"e": ?}\n{"f": 6}\n'
    assert [m.to_dict() for m in dec.feed(first)] == [{"a": 1}]
    with pytest.raises(DecodeError) as info:
        dec.feed(second)
    err = info.value
    assert err.offset == (first + second).index(b'{"e"')
    assert err.position == (first + second).index(b"?")
    assert [m.to_dict() for m in err.messages] == [{"b": 2}, {"c": 3},
                                                   {"d": 4}]
    assert [m.to_dict() for m in dec.close()] == [{"f": 6}]


def test_close_after_an_error_decodes_the_rest(decoder_factory):
    dec = decoder_factory()
    with pytest.raises(DecodeError):
        dec.feed(b'{"a": 1}\n{"b": x}\n{"c": 3}\n')
    assert [m.to_dict() for m in dec.close()] == [{"c": 3}]
    assert dec.close() == []


def test_close_after_an_error_reports_a_cut_message(decoder_factory):
    """The bytes left after an error hold a whole message and a cut one:
    close() decodes the first and still reports the stream as cut."""
    dec = decoder_factory()
    with pytest.raises(DecodeError):
        dec.feed(b'{"a": 1}\n{"b": x}\n{"c": 3}\n{"d": ')
    with pytest.raises(IncompleteMessageError) as info:
        dec.close()
    assert info.value.offset == 27
    assert [m.to_dict() for m in info.value.messages] == [{"c": 3}]


def test_error_leaves_the_same_line_and_resumes_on_the_next(decoder_factory):
    data = b'{"a": 1}\n{"b": x} {"lost": 1}\n{"c": 3}\n'
    dec = decoder_factory(on_error="skip")
    msgs = dec.feed(data) + dec.close()
    assert [m.to_dict() for m in msgs] == [{"a": 1}, {"c": 3}]
    assert [e.offset for e in dec.errors] == [9]


def test_error_in_a_message_on_the_next_line(decoder_factory):
    data = b'{"a": 1}\n{"b":\n x}\n{"c": 3}\n'
    dec = decoder_factory()
    with pytest.raises(DecodeError) as info:
        dec.feed(data)
    assert info.value.offset == 9
    assert info.value.position == 16


@pytest.mark.parametrize("bad, position", [
    (b'{"event": 1, "timestamp": {"seconds": 1, "microseconds": 2}}', 10),
    (b'{"event": null, "timestamp": {"seconds": 1, "microseconds": 2}}', 10),
    (b'{"event": ["STOP"], "timestamp": {"seconds": 1, "microseconds": 2}}',
     10),
    (b'{"event": {}, "timestamp": {"seconds": 1, "microseconds": 2}}', 10),
    (b'{"event": "STOP", "event": 1, "timestamp": {"seconds": 1, '
     b'"microseconds": 2}}', 27),
    (b'{"event": "STOP"}', 0),
    (b'{"event": "STOP", "data": {"timestamp": {"seconds": 1, '
     b'"microseconds": 2}}}', 0),
    (b'{"event": "STOP", "timestamp": 5}', 31),
    (b'{"event": "STOP", "timestamp": null}', 31),
    (b'{"event": "STOP", "timestamp": [1, 2]}', 31),
    (b'{"event": "STOP", "timestamp": {}}', 31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1}}', 31),
    (b'{"event": "STOP", "timestamp": {"microseconds": 1}}', 31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1.5, "microseconds": 2}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2.0}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1e3, "microseconds": 2}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": true, "microseconds": 2}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": false}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": "1", "microseconds": 2}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": null, "microseconds": 2}}',
     31),
    (b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}, '
     b'"timestamp": {"seconds": 1}}', 79),
    (b'{"error": {"desc": "no class"}}', 10),
    (b'{"error": {"class": "GenericError"}}', 10),
    (b'{"error": {}}', 10),
    (b'{"error": "GenericError"}', 10),
    (b'{"error": null}', 10),
    (b'{"error": {"class": 1, "desc": "d"}}', 10),
    (b'{"error": {"class": "C", "desc": ["d"]}}', 10),
    (b'{"id": 1, "error": {"class": "A", "desc": "a"}, "error": '
     b'{"class": "B"}}', 57),
])
def test_protocol_errors(decoder_factory, bad, position):
    assert json.loads(bad)  # valid JSON, invalid QMP
    prefix = b'{"return": {}, "id": 1}\r\n'
    dec = decoder_factory()
    with pytest.raises(ProtocolError) as info:
        dec.feed(prefix + bad + b'\r\n{"return": {}, "id": 2}\r\n')
    err = info.value
    assert err.offset == len(prefix)
    assert err.position == len(prefix) + position
    assert len(err.messages) == 1 and err.messages[0].id == 1
    assert [m.id for m in dec.close()] == [2]


def test_protocol_errors_only_for_the_kind_that_wins(decoder_factory):
    # "error" of a return or event is not checked: it is just a member
    msgs = decode(decoder_factory,
                  b'{"return": 1, "error": 5}\n'
                  b'{"event": "STOP", "error": null, "timestamp": '
                  b'{"seconds": 1, "microseconds": 2}}\n'
                  b'{"data": {"event": 5}, "x": {"timestamp": 1}}\n')
    assert [m.kind for m in msgs] == ["return", "event", "message"]


def test_message_too_large(decoder_factory):
    big = b'{"return": "' + b"x" * 200 + b'"}'
    data = b'{"a": 1}\r\n' + big + b'\r\n{"b": 2}\r\n'
    dec = decoder_factory(max_message_size=100)
    with pytest.raises(MessageTooLargeError) as info:
        dec.feed(data)
    assert info.value.offset == 10
    assert isinstance(info.value, DecodeError)
    assert [m.to_dict() for m in info.value.messages] == [{"a": 1}]
    assert [m.to_dict() for m in dec.close()] == [{"b": 2}]


def test_message_too_large_then_more_input(decoder_factory):
    dec = decoder_factory(max_message_size=100)
    with pytest.raises(MessageTooLargeError) as info:
        dec.feed(b'{"a": 1}\n{"big": "' + b"x" * 300)
    assert info.value.offset == 9
    assert "100 bytes" in str(info.value)
    out = dec.feed(b"x" * 300 + b'", "more": 1}\n{"b": 2}\n')
    out += dec.close()
    assert [m.to_dict() for m in out] == [{"b": 2}]
    assert out[0].stream_offset == 9 + 9 + 600 + 14


def test_message_size_limit_is_inclusive(decoder_factory):
    raw = b'{"a": "' + b"x" * 50 + b'"}'
    (msg,) = decode(decoder_factory, raw, max_message_size=len(raw))
    assert msg.raw == raw
    with pytest.raises(MessageTooLargeError):
        decode(decoder_factory, raw, max_message_size=len(raw) - 1)


def test_message_too_large_across_chunks_is_not_buffered(decoder_factory):
    dec = decoder_factory(max_message_size=1000, on_error="skip")
    out = dec.feed(b'{"a": 1}\n{"big": "')
    chunk = b"y" * 1000
    tracemalloc.start()
    try:
        for _ in range(2000):
            out += dec.feed(chunk)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 500_000  # 2 MB went through
    out += dec.feed(b'"}\n{"b": 2}\n')
    out += dec.close()
    assert [m.to_dict() for m in out] == [{"a": 1}, {"b": 2}]
    assert len(dec.errors) == 1
    assert type(dec.errors[0]) is MessageTooLargeError
    assert dec.errors[0].offset == 9


def test_max_depth(decoder_factory):
    ok = b'{"a": [{"b": []}]}'  # four levels
    assert decode(decoder_factory, ok, max_depth=4)[0].raw == ok
    with pytest.raises(DecodeError) as info:
        decode(decoder_factory, ok, max_depth=3)
    assert info.value.offset == 0
    assert info.value.position == 13


def test_deep_nesting_does_not_crash(decoder_factory):
    depth = 100000
    data = b'{"a": ' + b"[" * depth + b"]" * depth + b"}\n{}"
    with pytest.raises(DecodeError) as info:
        decode(decoder_factory, data)
    assert info.value.offset == 0
    msgs = decode(decoder_factory, data, max_depth=depth + 1)
    assert len(msgs) == 2 and msgs[0].raw == data[:-3]
    assert msgs[1].raw == b"{}"


def test_incomplete_message_at_close(decoder_factory):
    dec = decoder_factory()
    assert [m.to_dict() for m in dec.feed(b'{"a": 1}\r\n{"b": [1, ')] == [
        {"a": 1}]
    with pytest.raises(IncompleteMessageError) as info:
        dec.close()
    assert info.value.offset == 10
    assert isinstance(info.value, DecodeError)


@pytest.mark.parametrize("tail", [b"{", b'{"', b'{"a"', b'{"a":', b'{"a": "x',
                                  b'{"a": 1', b'{"a": 1,', b'{"a": tr',
                                  b'{"a": "\\u00', b'{"a": "\xc3'])
def test_incomplete_message_at_close_any_point(decoder_factory, tail):
    dec = decoder_factory()
    dec.feed(b"  " + tail)
    with pytest.raises(IncompleteMessageError) as info:
        dec.close()
    assert info.value.offset == 2


def test_skip_mode_records_errors_and_delivers_the_rest(decoder_factory):
    lines = [b'{"a": 1}', b'{"b": x}', b'{"event": 1, "timestamp": {}}',
             b'{"c": 3}', b"garbage", b'{"error": {}}', b"[]", b'{"d": 4}']
    data = b"\r\n".join(lines) + b"\r\n"
    for pieces in ([data], chunks_of(data, 1), chunks_of(data, 7)):
        dec = decoder_factory(on_error="skip")
        msgs = []
        for piece in pieces:
            msgs += dec.feed(piece)
        msgs += dec.close()
        assert [m.to_dict() for m in msgs] == [{"a": 1}, {"c": 3}, {"d": 4}]
        offsets = [sum(len(x) + 2 for x in lines[:i]) for i in (1, 2, 4, 5, 6)]
        assert [e.offset for e in dec.errors] == offsets
        assert [type(e) for e in dec.errors] == [
            DecodeError, ProtocolError, DecodeError, ProtocolError,
            DecodeError]


def test_skip_mode_incomplete_still_raises(decoder_factory):
    dec = decoder_factory(on_error="skip")
    dec.feed(b'{"a": 1}\n{"b":')
    with pytest.raises(IncompleteMessageError):
        dec.close()


GARBAGE = [
    b"\x00\xff\xfe", b"}}}}", b"]]]", b'"', b"\\", b"{{{{", b"{" * 5000,
    b"[" * 5000, b'{"a":' * 3000, b"\xc3", b"\xf4\x90\x80\x80",
    b'{"a": 1e}', b'{"a": --1}', b'{"a": "\\', b'{"a": "\\u', b"{,}",
    b'{"a": 1}}', b'{"a" "b"}', b"nul", b"\r\r\r", b"\n\n\n{\n",
    b'{"\xff": 1}', b'{"a": "\\ud83d\\u0041"}', b"{\"event\": 'x'}",
    b'{"event": "STOP", "timestamp": {"seconds": 99999999999999999999999, '
    b'"microseconds": -99999999999999999999}}',
]


def test_garbage_raises_only_decode_errors(decoder_factory):
    rng = random.Random(8259)
    inputs = list(GARBAGE)
    alphabet = b'{}[]":,\\ \n\r\t0123456789-+.eEtrufalsn\x00\xc3\xa9\xff'
    for _ in range(300):
        n = rng.randrange(1, 60)
        inputs.append(bytes(rng.choice(alphabet) for _ in range(n)))
    for _ in range(100):
        inputs.append(bytes(rng.randrange(256) for _ in range(40)))
    options = [{}, {"max_message_size": 16, "max_depth": 2}]
    for data in inputs:
        for size, opts in ((len(data) or 1, options[0]), (3, options[0]),
                           (5, options[1])):
            dec = decoder_factory(**opts)
            try:
                feed_through_errors(dec, chunks_of(data, size))
            except Exception as exc:  # noqa: BLE001
                pytest.fail(f"{data!r}: {type(exc).__name__}: {exc}")
            dec = decoder_factory(on_error="skip", **opts)
            for piece in chunks_of(data, size):
                dec.feed(piece)
            try:
                dec.close()
            except IncompleteMessageError:
                pass
            for err in dec.errors:
                assert isinstance(err, DecodeError)
                assert 0 <= err.offset <= err.position <= len(data)


def test_error_messages_name_the_source(decoder_factory):
    dec = decoder_factory(source="vm1.sock")
    with pytest.raises(DecodeError) as info:
        dec.feed(b'{"a": 1}\n{"b": x}\n')
    assert str(info.value).startswith("vm1.sock: ")
    assert "byte 9" in str(info.value)


def test_decoder_options_are_checked(backend):
    for bad in ({"on_error": "ignore"}, {"max_message_size": 0},
                {"max_depth": 0}):
        with pytest.raises(ValueError):
            qmpfast.Decoder(backend=backend, **bad)
    assert qmpfast.Decoder(backend=backend).backend == backend


def test_decode_errors_pickle():
    err = DecodeError("bad", 5, 9)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is DecodeError
    assert (again.offset, again.position, str(again)) == (5, 9, "bad")
    err = MessageTooLargeError("big", 3)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is MessageTooLargeError and again.position == 3


# ---- parse and iter_messages ----------------------------------------------

def test_parse(backend):
    msg = qmpfast.parse(b'  {"return": {}, "id": 1}\r\n', backend=backend)
    assert type(msg) is Return and msg.id == 1
    ev = qmpfast.parse(doc_examples().split(b"\n\n")[0], backend=backend)
    assert type(ev) is qmpfast.BlockIoError and ev.device == "ide0-hd1"


@pytest.mark.parametrize("data, error", [
    (b"", DecodeError),
    (b"  \r\n", DecodeError),
    (b'{"a": 1}{"b": 2}', DecodeError),
    (b'{"a": 1}\n{"b": 2}\n', DecodeError),
    (b'{"a": 1', IncompleteMessageError),
    (b'{"a": x}', DecodeError),
    (b'{"event": "STOP"}', ProtocolError),
    (b'{"a": 1}\n{"a": x}', DecodeError),
])
def test_parse_wants_exactly_one_message(backend, data, error):
    with pytest.raises(error):
        qmpfast.parse(data, backend=backend)


def test_parse_options(backend):
    raw = b'{"a": "' + b"x" * 100 + b'"}'
    with pytest.raises(MessageTooLargeError):
        qmpfast.parse(raw, max_message_size=50, backend=backend)


def test_iter_messages_on_a_file(backend, tmp_path):
    data = sample("qemu-7.2-pretty.qmp")
    path = tmp_path / "capture.qmp"
    path.write_bytes(data)
    expected = [m.to_dict() for m in qmpfast.Decoder(backend=backend)
                .feed(data)]
    assert len(expected) == 30
    with open(path, "rb") as f:
        got = list(qmpfast.iter_messages(f, chunk_size=7, backend=backend))
    assert [m.to_dict() for m in got] == expected
    with open(path, "rb", buffering=0) as f:
        got = list(qmpfast.iter_messages(f, backend=backend))
    assert [m.raw for m in got] == [m.raw for m in qmpfast.Decoder(
        backend=backend).feed(data)]
    got = list(qmpfast.iter_messages(io.BytesIO(data), chunk_size=1,
                                     backend=backend, events={"STOP"}))
    assert sum(m.kind == "event" for m in got) == 3
    assert len(got) == 19


def test_iter_messages_reports_a_cut_file(backend):
    stream = io.BytesIO(b'{"a": 1}\n{"b": ')
    it = qmpfast.iter_messages(stream, backend=backend)
    assert next(it).to_dict() == {"a": 1}
    with pytest.raises(IncompleteMessageError):
        next(it)


def test_iter_messages_on_a_socket(backend):
    data = sample("qemu-7.2.qmp")
    reader, writer = socket.socketpair()

    def write():
        try:
            rng = random.Random(7)
            i = 0
            while i < len(data):
                n = rng.randrange(1, 200)
                writer.sendall(data[i:i + n])
                i += n
        finally:
            writer.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        reader.settimeout(30)
        got = list(qmpfast.iter_messages(reader, chunk_size=64,
                                         backend=backend))
    finally:
        thread.join()
        reader.close()
        writer.close()
    assert len(got) == 30
    assert [m.raw for m in got] == data.split(b"\r\n")[:-1]
    assert got[0].kind == "greeting" and got[-1].id == 15


# ---- equality, hash, repr, pickle ------------------------------------------

def test_equality_and_hash(decoder_factory):
    data = sample("qemu-7.2.qmp")
    first = decode(decoder_factory, data)
    second = decode(decoder_factory, data, chunks_of(data, 11))
    assert first == second
    assert [hash(m) for m in first] == [hash(m) for m in second]
    assert len(set(first)) == len(set(m.raw for m in first))
    assert first[1] != first[5]  # {"return": {}, "id": 1} vs id 4
    assert first[1] != first[2]
    assert first[0] != first[1]
    assert first[1] != first[1].to_dict()
    assert not (first[1] == first[1].raw)


def test_equality_across_layouts_and_kinds(decoder_factory):
    compact = decode(decoder_factory, sample("qemu-7.2.qmp"))
    pretty = decode(decoder_factory, sample("qemu-7.2-pretty.qmp"))
    assert [m.kind for m in compact] == [m.kind for m in pretty]
    # a separate recording: same members, different timestamps
    assert compact[0] == pretty[0]  # the greeting
    assert compact[1] == pretty[1]  # {"return": {}, "id": 1}
    assert hash(compact[1]) == hash(pretty[1])
    a = decode(decoder_factory, b'{"x": 1, "y": 2}')[0]
    b = decode(decoder_factory, b'{ "y" : 2 , "x" : 1 }')[0]
    assert a == b and hash(a) == hash(b)
    msg = decode(decoder_factory, b'{"x": 1}')[0]
    ret = decode(decoder_factory, b'{"return": 1}')[0]
    ret2 = decode(decoder_factory, b'{"return": 2}')[0]
    assert msg != ret and ret != ret2


def test_repr(decoder_factory):
    msgs = decode(decoder_factory, sample("qemu-7.2.qmp") + doc_examples() +
                  b'{"execute": "cont", "id": 16}{"x": "\xc3\xa9"}')
    texts = [repr(m) for m in msgs]
    for msg, text in zip(msgs, texts):
        assert text.startswith("<" + type(msg).__name__)
        assert isinstance(text, str)
    assert "7.2.22" in texts[0]
    assert "id=1" in texts[1]
    assert texts[4].startswith("<Stop at 2026-")
    assert "CommandNotFound" in texts[14]
    assert "ide1-hd0" in texts[20]
    assert "no time" in repr(decode(decoder_factory,
                                    event_bytes("STOP", None, -1, -1))[0])
    assert "'cont'" in texts[-2]
    assert "\u00e9" in texts[-1]


def test_pickle_round_trip(decoder_factory):
    msgs = decode(decoder_factory, sample("qemu-7.2.qmp") + doc_examples() +
                  b'{"execute": "cont"}{"other": [1]}')
    kinds = set()
    for msg in msgs:
        again = pickle.loads(pickle.dumps(msg))
        assert type(again) is type(msg)
        assert again == msg
        assert again.raw == msg.raw
        assert again.to_dict() == msg.to_dict()
        if isinstance(msg, Event):
            assert (again.name, again.seconds, again.microseconds) == (
                msg.name, msg.seconds, msg.microseconds)
        kinds.add(msg.kind)
    assert kinds == {"greeting", "return", "error", "event", "command",
                     "message"}
    bio = pickle.loads(pickle.dumps(msgs[30]))
    assert bio.device == "ide0-hd1" and bio.action == "stop"


def test_decoder_is_not_iterable(decoder_factory):
    with pytest.raises(TypeError):
        iter(decoder_factory())


def test_lazy_message_survives_its_decoder(decoder_factory):
    dec = decoder_factory()
    msgs = dec.feed(doc_examples())
    del dec
    assert msgs[4].server.auth == "sasl"
    assert msgs[6].client.service == "46089"
