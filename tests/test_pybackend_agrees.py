"""The pure-Python scanner agrees with the C scanner, byte for byte.

Both scanners are driven the way the Decoder drives them (keep the bytes
from ``keep_from``, append the next chunk, scan again until DONE; at the
end restart after a cut message as Decoder.close() does) over the same
chunks, and every call must give the same status, the same records (all six
fields), the same ``value()`` and ``is_object()`` at every slot, the same
``obj()``, and the same ``pos``/``keep_from``/``in_message``/
``message_start`` afterwards.

QMPFAST_HYPOTHESIS_EXAMPLES raises the number of random streams tried.
"""

import json
import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.both_backends

C = pytest.importorskip(
    "qmpfast.scan.cffi_backend",
    reason="the C scanner is not built (python3 csrc/build_ffi.py)")

from qmpfast.scan import _header as K  # noqa: E402
from qmpfast.scan import records as R  # noqa: E402
from qmpfast.scan import twin as P  # noqa: E402
from qmpfast.scan.paths import Schema  # noqa: E402
from qmpfast.scan.paths import MISSING  # noqa: E402

EXAMPLES = int(os.environ.get("QMPFAST_HYPOTHESIS_EXAMPLES", "60"))

LONG_NAME = "X" * 130          # more than the 128 bytes a name may have
LIMIT_NAME = "\u00e9" * 64     # exactly 128 bytes of UTF-8
OVER_NAME = "\u00e9" * 65      # 130 bytes
NAMES = ["STOP", "RESUME", "BLOCK_IO_ERROR", "VNC_CONNECTED", "SHUTDOWN",
         "\u00c9V\u00c9NEMENT", 'A"B\\C', LONG_NAME, LIMIT_NAME, OVER_NAME,
         "\U0001f600EMOJI"]
PATHS = [("data", "device"), ("data", "server", "host"),
         ("data", "client", "sasl_username"), ("data", "node-name"),
         ("data", "server"), ("data", "d\u00e9j\u00e0")]
KEEP = ["STOP", "BLOCK_IO_ERROR", LIMIT_NAME, LONG_NAME, OVER_NAME, 'A"B\\C',
        "\U0001f600EMOJI"]

SCHEMAS = {
    "all": Schema(paths=PATHS, names=NAMES),
    "keep": Schema(paths=PATHS, names=NAMES, keep=KEEP),
}


# ---- driving a scanner --------------------------------------------------

def _value_repr(value):
    """A comparable form that tells 1, 1.0 and True apart, -0.0 from 0.0,
    and key order apart (repr cannot print integers of 5000 digits)."""
    if value is MISSING:
        return "MISSING"
    if isinstance(value, dict):
        return ("dict", tuple((k, _value_repr(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_value_repr(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def _read(method, *args):
    try:
        return _value_repr(method(*args))
    except Exception as exc:  # noqa: BLE001 - compared like a value
        return ("raised", type(exc).__name__)


def _snapshot(scanner, status, batch, slots):
    recs = list(batch.recs[:batch.n * R.REC_FIELDS])
    good = [i for i in range(batch.n)
            if R.tag_kind(batch.tag(i)) != K.KIND_BAD]
    values = {i: [_read(batch.value, i, s) for s in slots] for i in good}
    objects = {i: [_read(batch.is_object, i, s) for s in slots]
               for i in good}
    objs = {i: _read(batch.obj, i) for i in good}
    # once more: values read after obj() must not have changed
    again = {i: [_read(batch.value, i, s) for s in slots] for i in good}
    return {"status": status, "recs": recs,
            "raw": [bytes(batch.raw(i)) for i in range(batch.n)],
            "values": values, "again": again, "objects": objects,
            "objs": objs, "pos": scanner.pos,
            "keep_from": scanner.keep_from,
            "in_message": scanner.in_message,
            "message_start": scanner.message_start}


def drive(backend, schema, chunks, max_records, max_size=1 << 20,
          max_depth=64, pending_type=bytes):
    """Feed ``chunks`` to a new scanner of ``backend`` as the Decoder does,
    then end the stream as Decoder.close() does (a message left cut: restart
    after the first line break after its start), and return what every scan
    call gave, as comparable snapshots."""
    scanner = backend.Scanner(schema, max_size, max_depth)
    slots = range(len(schema.paths))
    trace = []
    buf = pending_type()
    base = 0

    def scan_all():
        while True:
            status, batch = scanner.scan(buf, base, max_records)
            trace.append(_snapshot(scanner, status, batch, slots))
            if status == K.DONE:
                return
            assert len(trace) < 100000, "the scanner does not progress"

    for chunk in chunks:
        keep = scanner.keep_from
        buf = pending_type(buf[keep - base:]) + chunk
        base = keep
        scan_all()
    while scanner.in_message:
        newline = buf.find(b"\n", scanner.message_start - base)
        resume = base + (newline + 1 if newline >= 0 else len(buf))
        scanner.restart(resume)
        buf = buf[resume - base:]
        base = resume
        scan_all()
    return trace


def assert_agree(schema, chunks, max_records, **options):
    want = drive(C, schema, chunks, max_records, **options)
    got = drive(P, schema, chunks, max_records, **options)
    assert len(got) == len(want), (len(got), len(want))
    for call, (w, g) in enumerate(zip(want, got)):
        where = f"scan call {call}"
        for field in ("status", "recs", "raw", "pos", "keep_from",
                      "in_message", "message_start"):
            assert g[field] == w[field], (where, field, w[field], g[field])
        assert g["objs"] == w["objs"], (where, "obj", w["objs"], g["objs"])
        for i in w["values"]:
            for key in ("values", "again", "objects"):
                for slot, (wv, gv) in enumerate(zip(w[key][i], g[key][i])):
                    assert gv == wv, (where, key, i, schema.paths[slot],
                                      wv, gv, w["raw"][i])
    return want


# ---- random QMP-like streams ---------------------------------------------

class Obj(list):
    """A JSON object as a list of (key, value) pairs: keys may repeat."""


class Raw(str):
    """JSON text inserted as it is (numbers json.dumps cannot write)."""


BIG_NUMBERS = [
    "0", "-0", "7", "-1", "999999999999999999", "-999999999999999999",
    "1000000000000000000", "-1000000000000000000", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "9999999999999999999", "18446744073709551616", "12345678901234567890123",
    "-98765432109876543210987654321", "1" + "0" * 40, "5" * 4400,
    "-0.0", "0.5", "1e3", "1E+3", "-2.5e-3", "1e400", "-1e400", "6.02e23",
    "1.7976931348623157e308", "5e-324", "123.456e7"]

KEYS = ["event", "timestamp", "seconds", "microseconds", "data", "device",
        "server", "client", "host", "sasl_username", "node-name", "return",
        "error", "class", "desc", "QMP", "execute", "exec-oob", "arguments",
        "id", "d\u00e9j\u00e0", "", "k"]

_STRINGS = ["", "ide0-hd1", "#block123", "Input/output error", "127.0.0.1",
            "caf\u00e9", "\u20ac100", "\U0001f600", "a\"b", "back\\slash",
            "tab\there", "nl\nhere", "\x00nul", "\x7fdel", "/slash/",
            "\u2028sep", "\ufeffbom", "x" * 200,
            # lone surrogates: the scanner refuses them, escaped or not
            "lone\ud800", "\udc00", "\ud83d\ude00pair?", "\udbff\udfff"]


def _random_string(r):
    if r.random() < 0.6:
        return r.choice(_STRINGS)
    alphabet = "ab\u00e9\u20ac\U0001f600\"\\/\n\t\x01 {}[]:,\u0800\uffff"
    return "".join(r.choice(alphabet) for _ in range(r.randrange(12)))


def _random_value(r, depth=0):
    x = r.random()
    if depth > 3 or x < 0.35:
        return r.choice([
            None, True, False, r.randrange(-10 ** 6, 10 ** 6),
            r.random() * 10 ** r.randrange(-5, 20), Raw(r.choice(BIG_NUMBERS)),
            _random_string(r), _random_string(r)])
    if x < 0.55:
        return [_random_value(r, depth + 1) for _ in range(r.randrange(4))]
    return Obj((r.choice(KEYS) if r.random() < 0.5 else _random_string(r),
                _random_value(r, depth + 1)) for _ in range(r.randrange(5)))


def _timestamp(r):
    x = r.random()
    if x < 0.7:
        return Obj([("seconds", r.choice([1732442400, 0, -1, 5])),
                    ("microseconds", r.choice([123456, 0, -1, 999999]))])
    if x < 0.85:
        pairs = [("seconds", Raw(r.choice(BIG_NUMBERS[:18]))),
                 ("microseconds", Raw(r.choice(BIG_NUMBERS[:18])))]
        r.shuffle(pairs)
        return Obj(pairs)
    return r.choice([
        None, 5, "now", [], Obj(), Obj([("seconds", 1)]),
        Obj([("seconds", 1.5), ("microseconds", 2)]),
        Obj([("seconds", True), ("microseconds", 2)]),
        Obj([("seconds", 1), ("microseconds", Raw("1e3"))]),
        Obj([("seconds", 1), ("microseconds", 2), ("seconds", "x")]),
        Obj([("seconds", "x"), ("microseconds", 2), ("seconds", 3)])])


def _data(r):
    pairs = [(k, v) for k, v in [
        ("device", r.choice(["ide0-hd1", "virtio0", 5, None, Obj()])),
        ("node-name", "#block123"),
        ("server", Obj([("host", r.choice(["127.0.0.1", "::1", 1])),
                        ("service", "5900")])),
        ("client", Obj([("host", "10.0.0.1"),
                        ("sasl_username", r.choice(["joe", "\u00e9mile"]))])),
        ("d\u00e9j\u00e0", "vu"),
        ("reason", _random_string(r)),
        ("extra", _random_value(r))] if r.random() < 0.5]
    r.shuffle(pairs)
    if r.random() < 0.15:  # a duplicate replaces a subtree
        pairs.append((r.choice(["server", "client", "device"]),
                      _random_value(r)))
    return Obj(pairs)


def _message(r):
    kind = r.random()
    if kind < 0.5:
        name = r.choice(NAMES + ["UNKNOWN_EVENT", "stop"])
        if r.random() < 0.05:
            name = r.choice([None, 5, [], Obj()])
        pairs = [("event", name), ("data", _data(r))]
        if r.random() < 0.95:
            pairs.append(("timestamp", _timestamp(r)))
        r.shuffle(pairs)
        if r.random() < 0.05:
            pairs.append(("event", r.choice(NAMES + [5])))
        return Obj(pairs)
    if kind < 0.6:
        return Obj([("return", _random_value(r)), ("id", _random_value(r))])
    if kind < 0.7:
        err = r.choice([
            Obj([("class", "GenericError"), ("desc", _random_string(r))]),
            Obj([("desc", "d"), ("class", "C")]), Obj([("class", "C")]),
            Obj([("class", 5), ("desc", "d")]), "oops", None, [],
            Obj([("class", "C"), ("desc", "d"), ("desc", None)])])
        return Obj([("error", err), ("id", 1)])
    if kind < 0.75:
        return Obj([("QMP", Obj([("version", Obj([("qemu", Obj(
            [("micro", 0), ("minor", 2), ("major", 7)]))])),
            ("capabilities", ["oob"])]))])
    if kind < 0.85:
        key = r.choice(["execute", "exec-oob"])
        return Obj([(key, r.choice(["query-status", 5])),
                    ("arguments", Obj([("id", _random_value(r))]))])
    if kind < 0.97:
        return _random_value(r) if r.random() < 0.1 else Obj(
            (r.choice(KEYS), _random_value(r)) for _ in range(r.randrange(4)))
    return r.choice([[], "top", 5, None])


def _escape_char(ch, r, ensure_ascii, escape):
    if ch == '"':
        return '\\"'
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    simple = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in simple and r.random() < 0.7:
        return simple[ch]
    force = code < 0x20 or (ensure_ascii and code > 0x7E) or (
        0xD800 <= code <= 0xDFFF and r.random() < 0.9)
    if not force and r.random() >= escape:
        if ch == "/" and r.random() < 0.3:
            return "\\/"
        return ch
    fmt = "\\u%04x" if r.random() < 0.5 else "\\u%04X"
    if code > 0xFFFF:
        code -= 0x10000
        return fmt % (0xD800 + (code >> 10)) + fmt % (0xDC00 + (code & 0x3FF))
    return fmt % code


def _ser(v, r, style, level=0):
    """JSON text of ``v`` in a random but valid layout."""
    ws = style["ws"]

    def gap():
        if ws == "random":
            return "".join(r.choice(" \t\r\n") for _ in range(r.randrange(3)))
        return ""

    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, str):
        return '"' + "".join(_escape_char(ch, r, style["ascii"],
                                          style["escape"])
                             for ch in v) + '"'
    if isinstance(v, Obj) or isinstance(v, list):
        is_obj = isinstance(v, Obj)
        if is_obj:
            items = [_ser(k, r, style) + gap() + style["colon"] + gap() +
                     _ser(x, r, style, level + 1) for k, x in v]
        else:
            items = [_ser(x, r, style, level + 1) for x in v]
        opening, closing = "{}" if is_obj else "[]"
        if not items:
            return opening + gap() + closing
        if ws == "pretty":
            pad = "\n" + "  " * (level + 1)
            return (opening + pad + ("," + pad).join(items) + "\n" +
                    "  " * level + closing)
        return (opening + gap() +
                (gap() + style["comma"] + gap()).join(items) + gap() +
                closing)
    if isinstance(v, float):
        return repr(v) if r.random() < 0.5 else json.dumps(v)
    return json.dumps(v)


def _to_plain(v):
    if isinstance(v, Obj):
        return {k: _to_plain(x) for k, x in v}
    if isinstance(v, list):
        return [_to_plain(x) for x in v]
    if isinstance(v, Raw):
        return json.loads(v) if len(v) < 1000 else 0
    return v


def _serialize(v, r):
    if r.random() < 0.3 and not _has_raw(v):
        # the json module's own layouts
        return json.dumps(_to_plain(v), ensure_ascii=r.random() < 0.5,
                          indent=r.choice([None, None, 2]),
                          separators=r.choice([None, (",", ":"),
                                               (", ", ": ")]))
    style = {"ws": r.choice(["none", "none", "random", "pretty"]),
             "ascii": r.random() < 0.3,
             "escape": r.choice([0.03, 0.03, 0.5]),
             "comma": r.choice([",", ", "]), "colon": r.choice([":", ": "])}
    return _ser(v, r, style)


def _has_raw(v):
    if isinstance(v, Raw):
        return True
    if isinstance(v, Obj):
        return any(_has_raw(x) for _, x in v)
    if isinstance(v, list):
        return any(_has_raw(x) for x in v)
    return False


INSERTS = [b"\n", b"\r\n", b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":",
           b"\x00", b"\x01", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80",
           b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\\ud800", b"\\udc00",
           b"\\uD83D\\uDE00", b"\\u12", b"NaN", b"Infinity", b"-", b"1e",
           b"0.", b"tru", b"nul", b" ", b"\t", b"\xef\xbb\xbf", b"/",
           b"123456789012345678901234567890"]


def _mutate(data, r):
    data = bytearray(data)
    for _ in range(r.randrange(1, 4)):
        if not data:
            break
        pos = r.randrange(len(data) + 1)
        what = r.random()
        if what < 0.4:
            data[pos:pos] = r.choice(INSERTS)
        elif what < 0.7 and pos < len(data):
            data[pos] = r.randrange(256)
        elif what < 0.9:
            del data[pos:pos + r.randrange(1, 8)]
        else:
            del data[pos:]
    return bytes(data)


def _stream(r):
    parts = []
    for _ in range(r.randrange(1, 8)):
        # surrogatepass: a lone surrogate left unescaped is invalid UTF-8
        parts.append(_serialize(_message(r), r).encode("utf-8",
                                                        "surrogatepass"))
        parts.append(r.choice([b"\n", b"\r\n", b"\r\n", b"", b" ", b"\n\n",
                               b"\t\r\n"]))
    data = b"".join(parts)
    if r.random() < 0.5:
        data = _mutate(data, r)
    return data


def _chunks(data, r):
    mode = r.random()
    if mode < 0.2 or not data:
        return [data]
    if mode < 0.35 and len(data) < 3000:
        return [data[i:i + 1] for i in range(len(data))]
    cuts = sorted(r.randrange(len(data) + 1)
                  for _ in range(r.randrange(1, 12)))
    bounds = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def _options(r):
    options = {}
    if r.random() < 0.2:
        options["max_size"] = r.randrange(1, 400)
    if r.random() < 0.2:
        options["max_depth"] = r.randrange(1, 6)
    if r.random() < 0.3:
        options["pending_type"] = bytearray
    return options


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 64 - 1),
       schema=st.sampled_from(sorted(SCHEMAS)),
       max_records=st.sampled_from([1, 1, 2, 3, 5, 1000]))
def test_random_streams_agree(seed, schema, max_records):
    r = random.Random(seed)
    data = _stream(r)
    assert_agree(SCHEMAS[schema], _chunks(data, r), max_records,
                 **_options(r))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300)),
       max_records=st.integers(1, 4), max_size=st.sampled_from([7, 60, 1000]),
       max_depth=st.sampled_from([1, 3, 64]))
def test_arbitrary_bytes_agree(data, cuts, max_records, max_size, max_depth):
    bounds = [0] + sorted(min(c, len(data)) for c in cuts) + [len(data)]
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    assert_agree(SCHEMAS["all"], chunks, max_records, max_size=max_size,
                 max_depth=max_depth)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children,
                    max_size=4),
    max_leaves=12)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(_json_values, min_size=1, max_size=5),
       ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 1]),
       chunk=st.integers(1, 64), max_records=st.integers(1, 3))
def test_json_dumps_streams_agree(messages, ensure_ascii, indent, chunk,
                                  max_records):
    data = b"".join(json.dumps(m, ensure_ascii=ensure_ascii,
                               indent=indent).encode() + b"\r\n"
                    for m in messages)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    assert_agree(SCHEMAS["all"], chunks, max_records)
    assert_agree(SCHEMAS["keep"], [data], 1000)


# ---- each error code, on both backends -------------------------------------

def _records(backend, data, max_size=1 << 20, max_depth=64,
             schema="all"):
    trace = drive(backend, SCHEMAS[schema], [data], 1000, max_size=max_size,
                  max_depth=max_depth)
    recs = [call["recs"][j:j + R.REC_FIELDS] for call in trace
            for j in range(0, len(call["recs"]), R.REC_FIELDS)]
    return recs


def _bad(code, byte=None):
    return R.bad_tag(code, -1 if byte is None else byte)


OK_LINE = b'{"return": {}}\n'
ERROR_CASES = [
    # (input, code, offending byte offset or None, options)
    (b"[1]\n", K.E_EXPECTED_OBJECT, 0, {}),
    (b"\xef\xbb\xbf{}\n", K.E_EXPECTED_OBJECT, 0, {}),
    (b"{1:2}\n", K.E_EXPECTED_KEY, 1, {}),
    (b'{"a":1,}\n', K.E_EXPECTED_KEY, 7, {}),
    (b'{"a" 1}\n', K.E_EXPECTED_COLON, 5, {}),
    (b'{"a":}\n', K.E_EXPECTED_VALUE, 5, {}),
    (b'{"a":NaN}\n', K.E_EXPECTED_VALUE, 5, {}),
    (b'{"a":1 "b":2}\n', K.E_EXPECTED_OBJ_NEXT, 7, {}),
    (b'{"a":[1 2]}\n', K.E_EXPECTED_ARR_NEXT, 8, {}),
    (b'{"a":"x\x01"}\n', K.E_CONTROL_IN_STRING, 7, {}),
    (b'{"a":"\\x"}\n', K.E_BAD_ESCAPE, 7, {}),
    (b'{"a":"\\u12g4"}\n', K.E_BAD_UNICODE_ESCAPE, 10, {}),
    (b'{"a":"\\ud800x"}\n', K.E_LONE_SURROGATE, 12, {}),
    (b'{"a":"\\ud800\\u0041"}\n', K.E_LONE_SURROGATE, 17, {}),
    (b'{"a":"\\udc00"}\n', K.E_LONE_SURROGATE, 11, {}),
    (b'{"a":"\xff"}\n', K.E_BAD_UTF8, 6, {}),
    (b'{"a":"\xed\xa0\x80"}\n', K.E_BAD_UTF8, 7, {}),
    (b'{"a":"\xe0\x80\x80"}\n', K.E_BAD_UTF8, 7, {}),
    (b'{"a":-x}\n', K.E_BAD_NUMBER, 6, {}),
    (b'{"a":1.}\n', K.E_BAD_NUMBER, 7, {}),
    (b'{"a":1e+}\n', K.E_BAD_NUMBER, 8, {}),
    (b'{"a":tru}\n', K.E_BAD_LITERAL, 8, {}),
    (b'{"a":[[1]]}\n', K.E_TOO_DEEP, 6, {"max_depth": 2}),
]


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
@pytest.mark.parametrize("data,code,at,options", ERROR_CASES)
def test_syntax_errors(backend, data, code, at, options):
    recs = _records(backend, data + OK_LINE, **options)
    assert recs[0] == [0, at + 1, 0, 0, _bad(code, data[at]), at]
    # resumes after the line break after where the bad message began
    assert recs[1] == [len(data), len(data) + len(OK_LINE) - 1, 0, 0,
                       K.KIND_RETURN, 0]
    assert len(recs) == 2


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
def test_error_resumes_after_first_line_break(backend):
    # the message began on the line before the error: resume inside it
    data = b'{"a":\n1,\n"b" x}\n' + OK_LINE
    recs = _records(backend, data)
    assert recs[0][K.R_TAG] == _bad(K.E_EXPECTED_COLON, ord("x"))
    assert recs[1][K.R_TAG] == _bad(K.E_EXPECTED_OBJECT, ord("1"))
    assert recs[2][K.R_TAG] == _bad(K.E_EXPECTED_OBJECT, ord('"'))
    assert recs[3][K.R_TAG] == K.KIND_RETURN


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
def test_too_large(backend):
    data = b'{"a":"0123456789"}\n' + OK_LINE
    recs = _records(backend, data, max_size=10)
    assert recs[0] == [0, 10, 0, 0, _bad(K.E_TOO_LARGE), 10]
    assert recs[1][K.R_START] == 19
    # skips to the next line break from where the limit was hit
    data = b'{"a":\n"0123456789"}\n' + OK_LINE
    recs = _records(backend, data, max_size=10)
    assert recs[0] == [0, 10, 0, 0, _bad(K.E_TOO_LARGE), 10]
    assert recs[1][K.R_START] == 20
    assert len(recs) == 2
    # exactly at the limit is fine
    recs = _records(backend, b'{"a":"012"}\n', max_size=11)
    assert recs == [[0, 11, 0, 0, K.KIND_MESSAGE, 0]]


PROTOCOL_CASES = [
    # (message, code, errpos)
    (b'{"event": 5, "timestamp": {"seconds": 1, "microseconds": 2}}',
     K.E_EVENT_NAME, 10),
    (b'{"event": "STOP"}', K.E_TIMESTAMP, 0),
    (b'{"event": "STOP", "timestamp": {"seconds": 1.5, "microseconds": 2}}',
     K.E_TIMESTAMP, 31),
    (b'{"event": "STOP", "timestamp": "x"}', K.E_TIMESTAMP, 31),
    (b'{"event": "STOP", "timestamp": {"seconds": true, "microseconds": 2}}',
     K.E_TIMESTAMP, 31),
    (b'{"error": "x"}', K.E_ERROR_SHAPE, 10),
    (b'{"error": {"class": "C"}}', K.E_ERROR_SHAPE, 10),
    (b'{"error": {"class": 1, "desc": "d"}}', K.E_ERROR_SHAPE, 10),
]


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
@pytest.mark.parametrize("message,code,errpos", PROTOCOL_CASES)
def test_protocol_errors(backend, message, code, errpos):
    data = b"  " + message + b"\r\n" + OK_LINE
    recs = _records(backend, data)
    end = 2 + len(message)
    assert recs[0] == [2, end, 0, 0, _bad(code), 2 + errpos]
    # the message ends the record; the next one follows
    assert recs[1][K.R_START] == end + 2
    assert len(recs) == 2


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
def test_filtered_events_and_big_timestamps(backend):
    ts = b'"timestamp": {"seconds": %s, "microseconds": 1}'
    data = (b'{"event": "RESUME", ' + ts % b"1" + b'}\n' +
            b'{"event": "STOP", ' + ts % b"12345678901234567890123" + b'}\n' +
            b'{"event": "' + LONG_NAME.encode() + b'", ' + ts % b"1" + b'}\n'
            + b'{"event": "STOP", ' + ts % b"-9223372036854775808" + b'}\n')
    recs = _records(backend, data, schema="keep")
    stop = K.KIND_EVENT | (NAMES.index("STOP") + 1) << K.TAG_ID_SHIFT
    big = K.TAG_BIGTS | K.TAG_BIGNUM
    # RESUME is filtered out; a name too long for an id never is
    assert [r[K.R_TAG] for r in recs] == [
        stop | big, K.KIND_EVENT | K.TAG_LONGNAME, stop | big]
    # more than 18 digits: flagged, and left at 0
    assert (recs[0][K.R_SECONDS], recs[0][K.R_MICROS]) == (0, 1)
    assert (recs[2][K.R_SECONDS], recs[2][K.R_MICROS]) == (0, 1)
    recs = _records(backend, data, schema="all")
    assert len(recs) == 4
    assert recs[0][K.R_TAG] == \
        K.KIND_EVENT | (NAMES.index("RESUME") + 1) << K.TAG_ID_SHIFT


@pytest.mark.parametrize("backend", [C, P], ids=["c", "python"])
def test_bignum_flag(backend):
    data = (b'{"return": [1234567890123456789]}\n'     # 19 digits
            b'{"return": [-123456789012345678]}\n'     # 18
            b'{"return": "1234567890123456789"}\n'     # a string
            b'{"return": 1234567890123456789.5}\n'     # not an integer
            b'{"return": 1e1234567890123456789}\n'
            b'{"return": {}, "k": 12345678901234567890}\n')
    recs = _records(backend, data)
    big = K.KIND_RETURN | K.TAG_BIGNUM
    assert [r[K.R_TAG] for r in recs] == [
        big, K.KIND_RETURN, K.KIND_RETURN, K.KIND_RETURN, K.KIND_RETURN, big]


def test_max_records_zero():
    for backend in (C, P):
        scanner = backend.Scanner(SCHEMAS["all"], 1000, 10)
        assert scanner.scan(b"  ", 0, 1)[0] == K.DONE
        status, batch = scanner.scan(b"  " + OK_LINE, 0, 0)
        assert (status, batch.n, scanner.pos) == (K.FULL, 0, 2)


def test_split_message_costs_linear_time():
    """A big message fed in small chunks is not rescanned on every call:
    1 KiB chunks cost about what 64 KiB chunks cost (quadratic work would
    make them ~64 times dearer)."""
    body = b",".join(b'"k%d": ["v\\u00e9\xc3\xa9", 12.5e3, {"x": null}]' % i
                     for i in range(20000))
    data = b'{"return": {' + body + b'}}\n'

    def run(size):
        scanner = P.Scanner(SCHEMAS["all"], 1 << 26, 64)
        pending, base, n = bytearray(), 0, 0
        start = time.perf_counter()
        for i in range(0, len(data), size):
            keep = scanner.keep_from
            del pending[:keep - base]
            base = keep
            pending += data[i:i + size]
            status, batch = scanner.scan(pending, base, 10)
            n += batch.n
        assert n == 1
        return time.perf_counter() - start

    big = min(run(65536) for _ in range(3))
    small = min(run(1024) for _ in range(3))
    assert small < 4 * big + 0.2, (big, small)


# ---- the envelope fast lane ------------------------------------------------
# The C scanner reads QEMU's own envelope ({"timestamp": {"seconds": S,
# "microseconds": U}, "event": "NAME", "data": ...) by comparing constant
# strings; every departure from it must give what the general path gives.

ENVELOPE = (b'{"timestamp": {"seconds": 1732442400, "microseconds": 123456}, '
            b'"event": "BLOCK_IO_ERROR", "data": {"device": "ide0-hd1", '
            b'"server": {"host": "::1"}}}\r\n')
_END_OF_ENVELOPE = ENVELOPE.index(b'{"device"')


def _envelope_variants():
    """Each byte of the envelope replaced, deleted or doubled, plus numbers
    and names at the edges of what the fast lane takes."""
    lines = []
    for at in range(_END_OF_ENVELOPE + 1):
        for byte in b' "0-9x\\}{,:\n\x80':
            lines.append(ENVELOPE[:at] + bytes([byte]) + ENVELOPE[at + 1:])
        lines.append(ENVELOPE[:at] + ENVELOPE[at + 1:])
        lines.append(ENVELOPE[:at] + ENVELOPE[at:at + 1] + ENVELOPE[at:])
    for number in BIG_NUMBERS[:18] + ["00", "01", "-", "-01", "1.", "2e"]:
        for field in (b"1732442400", b"123456"):
            lines.append(ENVELOPE.replace(field, number.encode(), 1))
    for name in NAMES + ["", "X" * 128, "X" * 129, "STOP\\u0041", "caf\u00e9"]:
        lines.append(ENVELOPE.replace(b"BLOCK_IO_ERROR", json.dumps(
            name, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass")))
    lines.append(ENVELOPE.replace(b', "data": {"device": "ide0-hd1", '
                                  b'"server": {"host": "::1"}}', b""))
    lines.append(ENVELOPE.replace(b'}}}\r\n', b'}}, "event": "STOP"}\r\n'))
    lines.append(ENVELOPE.replace(b'}}}\r\n', b'}}, "timestamp": 5}\r\n'))
    lines.append(ENVELOPE.replace(b'"data": {', b'"data": [{', 1)
                 .replace(b'}}}\r\n', b'}}]}\r\n'))
    return lines


@pytest.mark.parametrize("schema", sorted(SCHEMAS))
def test_envelope_variants_agree(schema):
    """Every variant of the envelope, each line also ending a good one."""
    stream = b"".join(line + b"\n" + ENVELOPE for line in _envelope_variants())
    assert_agree(SCHEMAS[schema], [stream], 4096)
    assert_agree(SCHEMAS[schema], [stream], 3)


@pytest.mark.parametrize("max_size,max_depth", [
    (1 << 20, 1), (1 << 20, 2), (20, 64), (75, 64), (84, 64), (85, 64),
    (86, 64), (95, 64)])
def test_envelope_limits_agree(max_size, max_depth):
    """Size and depth limits that fall inside the envelope."""
    assert_agree(SCHEMAS["all"], [ENVELOPE * 3], 4096, max_size=max_size,
                 max_depth=max_depth)


def test_envelope_cut_anywhere_agrees():
    """The envelope cut between chunks at every byte."""
    stream = ENVELOPE * 2
    for cut in range(1, _END_OF_ENVELOPE + 2):
        assert_agree(SCHEMAS["keep"], [stream[:cut], stream[cut:]], 4096)


def test_envelope_fast_lane_records():
    """The records of QEMU's envelope carry the name id and timestamp."""
    status, batch = C.Scanner(SCHEMAS["all"], 1 << 20, 64).scan(
        ENVELOPE, 0, 16)
    assert (status, batch.n) == (K.DONE, 1)
    rec = batch.recs[:K.REC_FIELDS]
    assert rec[K.R_TAG] == K.KIND_EVENT | (NAMES.index("BLOCK_IO_ERROR") + 1) \
        << K.TAG_ID_SHIFT
    assert (rec[K.R_SECONDS], rec[K.R_MICROS]) == (1732442400, 123456)
    assert batch.value(0, SCHEMAS["all"].paths.index(("data", "device"))) \
        == "ide0-hd1"


def test_filtered_data_read_again_when_kept_after_all():
    """The C scanner reads the data of an event the filter drops without
    matching keys; a later duplicate "event" key that makes it kept must
    still give every extracted member (the message is read again)."""
    dropped = ENVELOPE.replace(b"BLOCK_IO_ERROR", b"RESUME")
    kept_late = dropped.replace(b'}}}\r\n', b'}}, "event": "STOP"}\r\n')
    dropped_late = ENVELOPE.replace(b'}}}\r\n', b'}}, "event": "RESUME"}\r\n')
    stream = dropped + kept_late + dropped_late + kept_late + ENVELOPE
    for max_records in (4096, 1, 2):
        assert_agree(SCHEMAS["keep"], [stream], max_records)
    names = {NAMES.index("STOP") + 1: "STOP",
             NAMES.index("BLOCK_IO_ERROR") + 1: "BLOCK_IO_ERROR"}
    status, batch = C.Scanner(SCHEMAS["keep"], 1 << 20, 64).scan(
        stream, 0, 16)
    device = SCHEMAS["keep"].paths.index(("data", "device"))
    host = SCHEMAS["keep"].paths.index(("data", "server", "host"))
    got = [(names[batch.recs[i * K.REC_FIELDS + K.R_TAG] >> K.TAG_ID_SHIFT],
            batch.value(i, device), batch.value(i, host))
           for i in range(batch.n)]
    assert got == [("STOP", "ide0-hd1", "::1")] * 2 + [
        ("BLOCK_IO_ERROR", "ide0-hd1", "::1")]


# The data of an event the filter drops is read by a validating loop of its
# own (skip_value); whatever it declines goes the general way.
_DROPPED = (b'{"timestamp": {"seconds": 1732442400, "microseconds": 1}, '
            b'"event": "RESUME", "data": %s}\r\n')
_SKIP_DATA = [
    b'{}', b'[]', b'{ }', b'[ ]', b'{"a": 1}', b'{"a": -0, "b": 0.5e-3}',
    b'{"a": [1, 2.0, -3e+2, 4E5, true, false, null, "x", {}, []]}',
    b'{"a":{"b":{"c":[[[{"d":"e"}]]]}}}', b'5', b'"s"', b'true', b'null',
    b'{"a": "caf\xc3\xa9"}', b'{"a": "esc\\"aped"}', b'{"k\\u00e9": 1}',
    b'{\r\n  "a": [\r\n    1\r\n  ]\r\n}', b'{"a": 12345678901234567890123}',
    # errors, each where the general path reports it
    b'{"a": 01}', b'{"a": 1.}', b'{"a": -}', b'{"a": 1e}', b'{"a": .5}',
    b'{"a": tru}', b'{"a": falsy}', b'{"a" 1}', b'{"a": [1,]}', b'[1 2]',
    b'{"a": 1,}', b'{,}', b'{"a": "\x01"}', b'{"a": "\xff"}', b'{"a": }',
    b'{"a": 1]', b'[1}', b'{"a": [}', b'{a: 1}', b'{"a": "x', b'{"a": 1',
    b'[' * 70 + b']' * 70, b'[' * 63 + b']' * 63, b'[' * 64 + b']' * 64,
]


@pytest.mark.parametrize("max_depth", [64, 2, 3, 5, 1100])
def test_dropped_event_data_agrees(max_depth):
    stream = b"".join(_DROPPED % d + ENVELOPE for d in _SKIP_DATA)
    assert_agree(SCHEMAS["keep"], [stream], 4096, max_depth=max_depth)


def test_dropped_event_data_mutated_and_cut_agrees():
    """Every byte of a dropped event's data replaced, and the event cut
    between chunks at every byte of its data."""
    data = b'{"a": [1, -2.5e3, true, {"b": "c"}], "d": null}'
    line = _DROPPED % data
    at = line.index(data)
    lines = []
    for i in range(at, at + len(data)):
        for byte in b' "1-.e\\}]{[,:tx\n\x80':
            lines.append(line[:i] + bytes([byte]) + line[i + 1:])
    assert_agree(SCHEMAS["keep"], [b"".join(x + ENVELOPE for x in lines)],
                 4096)
    stream = line + ENVELOPE
    for cut in range(at, at + len(data) + 1):
        assert_agree(SCHEMAS["keep"], [stream[:cut], stream[cut:]], 4096)
    for max_size in range(at, len(line) + 2, 3):
        assert_agree(SCHEMAS["keep"], [stream], 4096, max_size=max_size)


def test_escapes_across_a_block_agree():
    """The Python backend looks for lone surrogate escapes message by
    message within a block of lines; each message is judged on its own."""
    lines = [b'{"return": "caf\\u00e9"}', b'{"return": "\\udc00"}',
             b'{"return": "\\ud83d\\ude00", "id": "\\u00e9"}',
             b'{"return": 1}', b'{"return": "\\uD800x"}',
             b'{"return": "\\u0041"}']
    stream = b"\r\n".join(lines) + b"\r\n"
    trace = assert_agree(SCHEMAS["all"], [stream], 4096)
    tags = [r & K.TAG_KIND_MASK
            for call in trace for r in call["recs"][K.R_TAG::6]]
    assert tags == [K.KIND_RETURN, K.KIND_BAD, K.KIND_RETURN, K.KIND_RETURN,
                    K.KIND_BAD, K.KIND_RETURN]
