"""Properties of the decoder, checked with hypothesis on generated streams.

* Any split of a stream into chunks gives the messages of the whole.
* For valid QMP (unicode, escapes, nesting, duplicate keys, any key order,
  any layout) every backend agrees with ``json.loads`` and with the other
  backend: ``to_dict``, ``raw``, kind, event name, timestamp and typed
  attributes.
* Invalid input raises DecodeError, and both backends report it at the same
  offset.

The budgets are kept small so the suite stays fast; set
QMPFAST_HYPOTHESIS_EXAMPLES (e.g. to 5000) for a thorough run.
"""

import json
import re
import os
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import qmpfast
from qmpfast import DecodeError, Event, IncompleteMessageError, ProtocolError

EXAMPLES = int(os.environ.get("QMPFAST_HYPOTHESIS_EXAMPLES", "0"))


def budget(default):
    return settings(
        max_examples=EXAMPLES or default, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture,
                               HealthCheck.too_slow,
                               HealthCheck.data_too_large])


both_backends = pytest.mark.both_backends

RESERVED = ("event", "timestamp", "return", "error", "QMP", "execute",
            "exec-oob", "data", "id", "arguments")
DOCUMENTED = ("BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP", "VNC_CONNECTED",
              "VNC_DISCONNECTED", "VNC_INITIALIZED")
VNC_MEMBERS = ("host", "service", "family", "auth", "websocket",
               "x509_dname", "sasl_username")


# ---- generated JSON --------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                max_size=12)
keys = st.one_of(texts, st.sampled_from(RESERVED + ("seconds",
                                                    "microseconds")))
int64 = st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1)
scalars = st.one_of(
    st.none(), st.booleans(), int64,
    st.floats(allow_nan=False, allow_infinity=False), texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=10)

event_names = st.one_of(st.sampled_from(sorted(qmpfast.EVENT_CLASSES)),
                        st.sampled_from(DOCUMENTED),
                        st.text(alphabet=st.characters(
                            blacklist_categories=("Cs",)), max_size=30))


def maybe(strategy):
    """A member value: usually typed, sometimes any JSON value."""
    return st.one_of(strategy, strategy, strategy, values)


vnc_info = st.fixed_dictionaries({}, optional={
    "host": maybe(texts), "service": maybe(texts),
    "family": maybe(st.sampled_from(["ipv4", "ipv6", "unix", "vsock",
                                     "unknown"])),
    "auth": maybe(texts), "websocket": maybe(st.booleans()),
    "x509_dname": maybe(texts), "sasl_username": maybe(texts),
    "extra": values})
shutdown_data = st.fixed_dictionaries({}, optional={
    "guest": maybe(st.booleans()),
    "reason": maybe(st.sampled_from(["host-qmp-quit", "guest-reset",
                                     "guest-shutdown"]))})
DATA = {
    "BLOCK_IO_ERROR": st.fixed_dictionaries({}, optional={
        "device": maybe(texts), "node-name": maybe(texts),
        "operation": maybe(st.sampled_from(["read", "write"])),
        "action": maybe(st.sampled_from(["ignore", "report", "stop"])),
        "nospace": maybe(st.booleans()), "reason": maybe(texts),
        "qom-path": maybe(texts), "other": values}),
    "RESET": shutdown_data,
    "SHUTDOWN": shutdown_data,
    "STOP": st.just({}),
}
for _name in ("VNC_CONNECTED", "VNC_DISCONNECTED", "VNC_INITIALIZED"):
    DATA[_name] = st.fixed_dictionaries({}, optional={
        "server": maybe(vnc_info), "client": maybe(vnc_info)})


@st.composite
def events(draw):
    name = draw(event_names)
    if draw(st.integers(0, 9)) == 0:
        seconds = microseconds = -1
    else:
        seconds, microseconds = draw(int64), draw(int64)
    obj = {"event": name,
           "timestamp": {"seconds": seconds, "microseconds": microseconds}}
    if draw(st.booleans()):
        obj["data"] = draw(DATA.get(name, st.dictionaries(texts, values,
                                                          max_size=4)))
    if draw(st.integers(0, 4)) == 0:  # members the event takes precedence over
        for key, value in draw(replies()).items():
            obj.setdefault(key, value)
    return obj


@st.composite
def replies(draw):
    """A return, error, greeting, command or plain message, or a mix whose
    kind the precedence decides."""
    obj = {}
    parts = draw(st.sets(st.sampled_from(
        ["return", "error", "QMP", "execute", "exec-oob", "plain"]),
        min_size=1, max_size=3))
    if "return" in parts:
        obj["return"] = draw(values)
    if "error" in parts:
        err = {"class": draw(texts), "desc": draw(texts)}
        for key, value in draw(st.dictionaries(texts, values,
                                               max_size=2)).items():
            err.setdefault(key, value)
        obj["error"] = err
    if "QMP" in parts:
        obj["QMP"] = draw(st.one_of(
            st.fixed_dictionaries({
                "version": st.fixed_dictionaries({
                    "qemu": st.fixed_dictionaries({
                        "major": int64, "minor": int64, "micro": int64}),
                    "package": texts}),
                "capabilities": st.lists(texts, max_size=3)}),
            values))
    if "execute" in parts:
        obj["execute"] = draw(texts)
    if "exec-oob" in parts:
        obj["exec-oob"] = draw(texts)
    if "execute" in parts or "exec-oob" in parts:
        if draw(st.booleans()):
            obj["arguments"] = draw(st.dictionaries(texts, values,
                                                    max_size=3))
    if "plain" in parts:
        for key, value in draw(st.dictionaries(texts, values,
                                               max_size=4)).items():
            if key not in RESERVED:
                obj[key] = value
    if draw(st.booleans()):
        obj["id"] = draw(values)
    return obj


messages = st.one_of(events(), replies())
# the layout of a rendering comes from a seeded generator: hypothesis then
# shrinks the messages, and a failure still reproduces exactly
seeds = st.integers(min_value=0, max_value=2 ** 32 - 1)


# ---- rendering with every freedom JSON gives -------------------------------

WS = ["", "", "", " ", "  ", "\n", "\r\n", "\t", "\r\n    "]
SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n",
         "\r": "\\r", "\t": "\\t"}


def _u(code):
    return "\\u%04x" % code if code & 1 else "\\u%04X" % code


def render_string(text, rnd):
    out = ['"']
    for ch in text:
        code = ord(ch)
        r = rnd.random()
        if ch in SHORT and r < 0.6:
            out.append(SHORT[ch])
        elif ch in SHORT or code < 0x20 or r < 0.15:
            if code >= 0x10000:
                code -= 0x10000
                out.append(_u(0xD800 + (code >> 10)) +
                           _u(0xDC00 + (code & 0x3FF)))
            else:
                out.append(_u(code))
        elif ch == "/" and r < 0.5:
            out.append("\\/")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render(value, rnd, layout):
    """JSON text of ``value``: random escapes, whitespace (none when
    ``layout`` is "compact", no line breaks when "line"), key order and
    duplicate keys that the last occurrence overrides."""
    def ws():
        if layout == "compact":
            return ""
        choice = rnd.choice(WS)
        if layout == "line":
            choice = choice.replace("\r", "").replace("\n", " ")
        return choice

    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        members = []
        for key, item in items:
            if rnd.random() < 0.1:  # an earlier duplicate, overridden
                decoy = rnd.choice([None, 0, "x", [], {}, {"seconds": 1.5},
                                    True])
                members.append((key, decoy))
            members.append((key, item))
        if not members:
            return "{" + ws() + "}"
        return "{" + ",".join(
            ws() + render_string(k, rnd) + ws() + ":" + ws() +
            render(v, rnd, layout) + ws() for k, v in members) + "}"
    if isinstance(value, list):
        if not value:
            return "[" + ws() + "]"
        return "[" + ",".join(ws() + render(v, rnd, layout) + ws()
                              for v in value) + "]"
    if isinstance(value, str):
        return render_string(value, rnd)
    if isinstance(value, float):
        text = json.dumps(value)
        return text.replace("e", "E") if rnd.random() < 0.3 else text
    return json.dumps(value)


@st.composite
def streams(draw, min_size=1, layouts=("compact", "line", "pretty")):
    """(bytes, [(offset, raw, obj)]) of a stream of valid messages."""
    objs = draw(st.lists(messages, min_size=min_size, max_size=6))
    rnd = random.Random(draw(seeds))
    layout = draw(st.sampled_from(layouts))
    data = bytearray(rnd.choice(["", " ", "\r\n"]).encode())
    out = []
    for obj in objs:
        raw = render(obj, rnd, layout).encode("utf-8")
        out.append((len(data), raw, obj))
        data += raw
        data += rnd.choice(["", "\n", "\r\n", " ", "\r\n\r\n", "\t"]).encode()
    return bytes(data), out


def split(data, cuts):
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


# ---- what a message says ----------------------------------------------------

def _typed(value):
    if isinstance(value, qmpfast.VncInfo):
        return ("vnc", value.to_dict()) + tuple(
            getattr(value, m) for m in VNC_MEMBERS)
    if isinstance(value, qmpfast.Struct):
        return ("struct", value.to_dict())
    return value


def summary(msg):
    d = {"type": type(msg), "kind": msg.kind, "raw": msg.raw,
         "offset": msg.stream_offset, "dict": msg.to_dict()}
    if isinstance(msg, Event):
        d.update(name=msg.name, seconds=msg.seconds,
                 microseconds=msg.microseconds, data=msg.data,
                 datetime=msg.datetime)
        for attr in getattr(type(msg), "members", {}):
            d[attr] = _typed(getattr(msg, attr))
    elif msg.kind == "return":
        d.update(value=msg.value, id=msg.id)
    elif msg.kind == "error":
        d.update(cls=msg.error_class, desc=msg.desc, id=msg.id)
    elif msg.kind == "greeting":
        d.update(version=msg.version, capabilities=msg.capabilities)
    elif msg.kind == "command":
        d.update(command=msg.command, arguments=msg.arguments, id=msg.id,
                 oob=msg.oob)
    return d


def decode(backend, pieces, **options):
    dec = qmpfast.Decoder(backend=backend, **options)
    out = []
    for piece in pieces:
        out += dec.feed(piece)
    out += dec.close()
    return out


def expected_kind(obj):
    if "event" in obj:
        return "event"
    if "return" in obj:
        return "return"
    if "error" in obj:
        return "error"
    if "QMP" in obj:
        return "greeting"
    if "execute" in obj or "exec-oob" in obj:
        return "command"
    return "message"


def _none_if_missing(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def check_message(msg, offset, raw, obj):
    """``msg`` says what ``obj`` (what json.loads gives) says."""
    assert msg.raw == raw
    assert msg.stream_offset == offset
    assert msg.to_dict() == obj == json.loads(raw)
    kind = expected_kind(obj)
    assert msg.kind == kind
    if kind == "event":
        name = obj["event"]
        assert msg.name == name
        assert type(msg) is qmpfast.event_class(name)
        assert msg.seconds == obj["timestamp"]["seconds"]
        assert msg.microseconds == obj["timestamp"]["microseconds"]
        data = obj.get("data", {})
        assert msg.data == data
        if name in DOCUMENTED:
            members = type(msg).members
            for attr, (key, _typ, _opt) in members.items():
                value = getattr(msg, attr)
                want = _none_if_missing(data, key)
                if key in ("server", "client") and isinstance(want, dict):
                    assert isinstance(value, qmpfast.VncInfo)
                    assert value.to_dict() == want
                    for member in VNC_MEMBERS:
                        assert getattr(value, member) == want.get(member)
                else:
                    assert value == want
                    assert type(value) is type(want)
    elif kind == "return":
        assert msg.value == obj["return"]
        assert msg.id == obj.get("id")
    elif kind == "error":
        assert msg.error_class == obj["error"]["class"]
        assert msg.desc == obj["error"]["desc"]
        assert msg.id == obj.get("id")
    elif kind == "greeting":
        qmp = obj["QMP"] if isinstance(obj["QMP"], dict) else {}
        assert msg.version == qmp.get("version")
        assert msg.capabilities == qmp.get("capabilities")
    elif kind == "command":
        assert msg.oob == ("execute" not in obj)
        assert msg.command == obj.get("execute", obj.get("exec-oob"))
        assert msg.arguments == obj.get("arguments", {})
        assert msg.id == obj.get("id")


# ---- valid streams ---------------------------------------------------------

@budget(100)
@given(stream=streams())
def test_every_message_matches_json_loads(backend, stream):
    data, expected = stream
    msgs = decode(backend, [data])
    assert len(msgs) == len(expected)
    for msg, (offset, raw, obj) in zip(msgs, expected):
        check_message(msg, offset, raw, obj)


@budget(100)
@given(stream=streams(), cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_any_split_gives_the_same_messages(backend, stream, cuts):
    data, _expected = stream
    whole = [summary(m) for m in decode(backend, [data])]
    pieces = split(data, cuts)
    assert b"".join(pieces) == data
    assert [summary(m) for m in decode(backend, pieces)] == whole


@budget(30)
@given(stream=streams(min_size=3), size=st.integers(1, 9))
def test_small_chunks_give_the_same_messages(backend, stream, size):
    data, _expected = stream
    whole = [summary(m) for m in decode(backend, [data])]
    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    assert [summary(m) for m in decode(backend, pieces)] == whole


@both_backends
@budget(100)
@given(stream=streams(), cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_c_and_python_agree(stream, cuts):
    data, expected = stream
    pieces = split(data, cuts)
    c = [summary(m) for m in decode("c", pieces)]
    py = [summary(m) for m in decode("python", [data])]
    assert c == py
    assert len(c) == len(expected)


@budget(50)
@given(stream=streams(), wanted=st.sets(event_names, max_size=4),
       cuts=st.lists(st.integers(0, 4000), max_size=6))
def test_events_filter_keeps_exactly_the_wanted_events(backend, stream,
                                                       wanted, cuts):
    data, expected = stream
    names = {obj["event"] for _o, _r, obj in expected if "event" in obj}
    wanted = set(wanted) | set(sorted(names)[:1])
    msgs = decode(backend, split(data, cuts), events=wanted)
    keep = [(offset, raw, obj) for offset, raw, obj in expected
            if "event" not in obj or obj["event"] in wanted]
    assert [m.raw for m in msgs] == [raw for _o, raw, _obj in keep]
    for msg, (offset, raw, obj) in zip(msgs, keep):
        check_message(msg, offset, raw, obj)


big_ints = st.one_of(st.integers(min_value=2 ** 63),
                     st.integers(max_value=-2 ** 63 - 1),
                     st.integers(min_value=10 ** 20, max_value=10 ** 60))


@budget(30)
@given(value=big_ints, seconds=big_ints)
def test_big_integers_keep_their_value(backend, value, seconds):
    obj = {"event": "X", "timestamp": {"seconds": seconds,
                                       "microseconds": value},
           "data": {"n": value, "list": [value, {"m": -value}]}}
    raw = json.dumps(obj).encode()
    (msg,) = decode(backend, [raw])
    assert msg.seconds == seconds and msg.microseconds == value
    assert msg.data == obj["data"]
    assert type(msg.data["n"]) is int
    whole = msg.to_dict()
    assert whole == obj
    assert type(whole["data"]["list"][0]) is int
    assert type(whole["timestamp"]["seconds"]) is int
    (ret,) = decode(backend, [json.dumps({"return": value}).encode()])
    assert ret.value == value and type(ret.value) is int


# ---- invalid input ---------------------------------------------------------

def _reject_constant(name):
    raise ValueError(name)


def _has_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v)
                   for k, v in value.items())
    return False


def _has_big_int(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -2 ** 63 <= value < 2 ** 63
    if isinstance(value, list):
        return any(_has_big_int(v) for v in value)
    if isinstance(value, dict):
        return any(_has_big_int(v) for v in value.values())
    return False


def strict_json(data):
    """json.loads as RFC 8259 has it: strict UTF-8, no NaN/Infinity, no
    lone surrogates.  Raises ValueError for invalid JSON."""
    text = data.decode("utf-8")
    # RFC 8259: \u takes four hex digits (PyPy's json.loads also takes
    # "\u 06E", as int(" 06E", 16) would)
    for m in re.finditer(r"\\(u....|.)", text, re.S):
        if m.group(1)[0] == "u" and not re.fullmatch(
                "[0-9a-fA-F]{4}", m.group(1)[1:]):
            raise ValueError("bad \\u escape")
    value = json.loads(text, parse_constant=_reject_constant)
    if _has_surrogate(value):
        raise ValueError("lone surrogate")
    return value


def qmp_problem(obj):
    """What makes a JSON object invalid QMP, or None."""
    if "event" in obj:
        if not isinstance(obj["event"], str):
            return "event name"
        stamp = obj.get("timestamp")
        if not (isinstance(stamp, dict) and
                type(stamp.get("seconds")) is int and
                type(stamp.get("microseconds")) is int):
            return "timestamp"
    elif "return" in obj:
        pass
    elif "error" in obj:
        err = obj["error"]
        if not (isinstance(err, dict) and isinstance(err.get("class"), str)
                and isinstance(err.get("desc"), str)):
            return "error"
    return None


def outcome(backend, pieces, on_error="raise"):
    """What a decoding produced: (messages, errors), as a reader that goes
    on after each error sees them."""
    dec = qmpfast.Decoder(backend=backend, on_error=on_error)
    msgs, errors = [], []

    def failed(exc):
        msgs.extend((m.raw, m.stream_offset) for m in exc.messages)
        errors.append((type(exc).__name__, exc.offset, exc.position))

    for piece in pieces:
        try:
            msgs.extend((m.raw, m.stream_offset) for m in dec.feed(piece))
        except DecodeError as exc:
            failed(exc)
    for _ in range(len(b"".join(pieces)) + 2):
        try:
            msgs.extend((m.raw, m.stream_offset) for m in dec.close())
            break
        except IncompleteMessageError as exc:
            failed(exc)
            break
        except DecodeError as exc:
            failed(exc)
    errors += [(type(e).__name__, e.offset, e.position) for e in dec.errors]
    return msgs, errors


MUTATION_BYTES = b'{}[]":,\\ \n\r\t0123456789-+.eEtrufalsn\x00\x01\x7f' \
    b'\xc3\xa9\xed\xa0\x80\xf0\x9f\x98\x80\xff'


@st.composite
def mutated(draw):
    """A message with a few bytes replaced, inserted or deleted."""
    obj = draw(messages)
    rnd = random.Random(draw(seeds))
    raw = bytearray(render(obj, rnd, draw(st.sampled_from(
        ["compact", "line", "pretty"]))).encode())
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(list(MUTATION_BYTES)))
        if op == "insert":
            raw[i:i] = bytes([byte])
        elif i < len(raw):
            if op == "replace":
                raw[i] = byte
            else:
                del raw[i]
    return bytes(raw)


@budget(200)
@given(data=mutated())
def test_parse_agrees_with_strict_json(backend, data):
    try:
        obj = strict_json(data)
    except (ValueError, RecursionError):
        with pytest.raises(DecodeError):
            qmpfast.parse(data, backend=backend)
        return
    if not isinstance(obj, dict):
        with pytest.raises(DecodeError) as info:
            qmpfast.parse(data, backend=backend)
        assert not isinstance(info.value, ProtocolError)
        return
    assume(not _has_big_int(obj))
    if qmp_problem(obj):
        with pytest.raises(ProtocolError) as info:
            qmpfast.parse(data, backend=backend)
        assert info.value.offset == len(data) - len(data.lstrip(b" \t\r\n"))
        return
    msg = qmpfast.parse(data, backend=backend)
    check_message(msg, msg.stream_offset, data.strip(b" \t\r\n"), obj)


@both_backends
@budget(200)
@given(data=st.one_of(mutated(), st.binary(max_size=80)),
       cuts=st.lists(st.integers(0, 200), max_size=5),
       on_error=st.sampled_from(["raise", "skip"]))
def test_backends_report_the_same_errors(data, cuts, on_error):
    pieces = split(data, cuts)
    c = outcome("c", pieces, on_error)
    py = outcome("python", [data], on_error)
    assert c == py


@budget(100)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200),
                                                   max_size=5))
def test_garbage_raises_nothing_but_decode_errors(backend, data, cuts):
    for on_error in ("raise", "skip"):
        msgs, errors = outcome(backend, split(data, cuts), on_error)
        for name, offset, position in errors:
            assert 0 <= offset <= position <= len(data)
        for raw, offset in msgs:
            assert data[offset:offset + len(raw)] == raw


@st.composite
def streams_with_a_bad_message(draw):
    before = draw(st.lists(messages, max_size=3))
    after = draw(st.lists(messages, min_size=1, max_size=3))
    rnd = random.Random(draw(seeds))
    bad = render(draw(messages), rnd, "line").encode()
    i = draw(st.integers(1, len(bad) - 1))
    # bytes that cannot close the object early or end it before i
    junk = draw(st.sampled_from([b"\x01", b"\xff", b"\xc3(", b"\x00",
                                 b"\x1f", b"\xed\xa0\x80", b"\xc0\xaf",
                                 b"@", b",,", b"'"]))
    bad = bad[:i] + junk + bad[i:]
    try:
        strict_json(bad)
        assume(False)
    except (ValueError, RecursionError):
        pass
    lines = [render(o, rnd, "line").encode() for o in before]
    offset = sum(len(x) + 2 for x in lines)
    tail = [render(o, rnd, "line").encode() for o in after]
    data = b"\r\n".join(lines + [bad] + tail) + b"\r\n"
    return data, offset, len(bad), lines, tail


@budget(60)
@given(case=streams_with_a_bad_message(),
       cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_error_offset_is_where_the_bad_message_began(backend, case, cuts):
    data, offset, length, before, after = case
    got = outcome(backend, split(data, cuts))
    msgs, errors = got
    assert len(errors) == 1
    name, err_offset, position = errors[0]
    assert name == "DecodeError"
    assert err_offset == offset
    assert offset <= position < offset + length
    assert [raw for raw, _o in msgs] == before + after
    skip = outcome(backend, split(data, cuts), "skip")
    assert skip == got


@both_backends
@budget(50)
@given(case=streams_with_a_bad_message())
def test_backends_agree_on_bad_streams(case):
    data = case[0]
    assert outcome("c", [data]) == outcome("python", [data])
    rnd = random.Random(len(data))
    pieces = split(data, [rnd.randrange(len(data)) for _ in range(4)])
    assert outcome("c", pieces) == outcome("python", [data])
