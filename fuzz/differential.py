#!/usr/bin/env python3
"""Differential fuzzer: C backend vs pure-Python backend vs json.loads.

Each input is turned into a byte stream, decoder options and a chunking
(see ``Case``), then decoded

1. by the C backend, fed in those chunks;
2. by the Python backend, fed in the same chunks;
3. by the C backend, fed in one piece;

and the three results must be identical: for every message its class, kind,
raw bytes, stream offset, to_dict(), and what its accessors give (name,
seconds, microseconds, data, value, id, error class and desc, greeting
version, command and arguments, every typed event attribute); for every
error its type, offset and position, in the same order.  Any exception other
than a DecodeError (from feed or close, or from reading a message) is a
finding, and so is a hang (libFuzzer's -timeout, or the alarm of the
hypothesis driver).

When the stream is a sequence of JSON objects that json.loads accepts, a
fourth decode (C backend, default limits) must agree with a model built from
json.loads: the same objects at the same offsets, each classified as QMP says
(event, return, error, greeting, command, plain message, or a ProtocolError
for an event without a string name or integer timestamp and an error reply
without string class and desc).  The documented differences are accounted
for: qmpfast rejects lone surrogate escapes and NaN/Infinity, which json.loads
takes, and json.loads gives up on nesting that Python's recursion limit
cannot hold (those inputs are not compared with json).

Drivers:
    python3 fuzz/differential.py [libFuzzer flags] [CORPUS ...]   # atheris
    python3 fuzz/differential.py --hypothesis SECONDS             # fallback
    python3 fuzz/differential.py --replay FILE ...                # re-run
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

_ATHERIS = None
if "--hypothesis" not in sys.argv and "--replay" not in sys.argv:
    try:
        import atheris as _ATHERIS
    except ImportError:
        _ATHERIS = None

if _ATHERIS is not None:
    with _ATHERIS.instrument_imports(include=["qmpfast"]):
        import qmpfast
        import qmpfast.scan.twin  # noqa: F401
        import qmpfast.model.validate  # noqa: F401
else:
    import qmpfast

from qmpfast import DecodeError  # noqa: E402
from qmpfast.scan import available_backends  # noqa: E402
from qmpfast.model.catalogue import VncInfo, Struct  # noqa: E402
from qmpfast.scan.paths import MISSING  # noqa: E402

import make_corpus  # noqa: E402

if "c" not in available_backends() or "python" not in available_backends():
    sys.exit("differential.py needs both backends (build the C one: "
             "pip install -e .)")


class Finding(AssertionError):
    """A disagreement between decoders, or an unexpected exception (its
    traceback in the message)."""


# ---- inputs ---------------------------------------------------------------

def _real():
    streams, lines = [], []
    for _name, data in make_corpus.captures():
        streams.append(data)
        lines.extend(m + b"\n" for m in make_corpus.messages(data))
    return streams, lines


REAL_STREAMS, REAL_LINES = _real()
DEPTHS = (1024, 1024, 1024, 1, 2, 3, 8, 64)
SIZES = (64 << 20, 64 << 20, 1 << 20, 4096, 256, 100, 40, 1)
FILTERS = (None, None, ("STOP", "RESET"), ("BLOCK_IO_ERROR", "\u00c9V\u00c9",
                                            "NOPE", "VNC_CONNECTED"))


class Case:
    """What one fuzzer input means.

    byte 0: bits 0-1 how the stream is made (0, 1: the rest of the input;
            2: a real capture edited by the rest; 3: real message lines with
            the rest as garbage lines between them), bit 2 on_error
            ("skip" or "raise"), bit 3 strict, bits 4-5 event filter
    byte 1: bits 0-2 max_depth, bits 3-5 max_message_size
    bytes 2, 3: seed of the chunking
    """

    def __init__(self, data):
        if len(data) < 4:
            data = bytes(4 - len(data)) + data
        o0, o1 = data[0], data[1]
        rest = data[4:]
        mode = o0 & 3
        if mode == 2:
            self.stream = _edit_real(rest)
        elif mode == 3:
            self.stream = _interleave(rest)
        else:
            self.stream = bytes(rest)
        self.options = dict(
            on_error="raise" if o0 & 4 else "skip",
            strict=bool(o0 & 8),
            events=FILTERS[(o0 >> 4) & 3],
            max_depth=DEPTHS[o1 & 7],
            max_message_size=SIZES[(o1 >> 3) & 7],
        )
        self.chunks = _chunks(self.stream, data[2] << 8 | data[3])

    def __repr__(self):
        return (f"Case(options={self.options!r}, chunks="
                f"{[len(c) for c in self.chunks]!r}, stream={self.stream!r})")


def _edit_real(rest):
    pool = REAL_STREAMS + REAL_LINES
    buf = bytearray(pool[rest[0] % len(pool)] if rest else pool[0])
    i = 1
    while i + 3 <= len(rest):
        pos = (rest[i] << 8 | rest[i + 1]) % (len(buf) + 1)
        op = rest[i + 2]
        n = (op >> 2) % 16
        payload = rest[i + 3:i + 3 + n]
        i += 3 + n
        kind = op & 3
        if kind == 0:
            buf[pos:pos] = payload
        elif kind == 1:
            buf[pos:pos + len(payload)] = payload
        elif kind == 2:
            del buf[pos:pos + n + 1]
        else:
            buf[pos:pos] = buf[pos:pos + 1 + n * 8]
    return bytes(buf)


def _interleave(rest):
    out = bytearray()
    for k, garbage in enumerate(rest.split(b"\n")):
        out += REAL_LINES[(len(garbage) * 7 + k) % len(REAL_LINES)]
        out += garbage + b"\n"
    return bytes(out)


def _chunks(stream, seed):
    """Split the stream at positions drawn from the seed."""
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
    if seed % 5 == 0:
        top = 3
    elif seed % 5 == 1:
        top = len(stream) + 1
    else:
        top = 64
    chunks, i = [], 0
    while i < len(stream):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        n = 1 + x % top
        chunks.append(stream[i:i + n])
        i += n
    return chunks


# ---- running a decoder ----------------------------------------------------

class _Key(str):
    """A dict key in canon()'s output."""


_END_OBJ, _END_ARR = object(), object()


def canon(value):
    """A value with its JSON types made explicit, for exact comparison
    (1 vs 1.0 vs True, -0.0 vs 0.0, key order), as a flat tuple of tokens.
    No recursion: values nest as deep as max_depth allows."""
    if isinstance(value, VncInfo):
        return ("VncInfo", canon(value.to_dict()),
                tuple(canon(getattr(value, a)) for a in (
                    "host", "service", "family", "auth", "websocket",
                    "x509_dname", "sasl_username")))
    if isinstance(value, Struct):
        return ("Struct", type(value).__name__, canon(value.to_dict()))
    if value is MISSING:
        return ("MISSING",)
    out = []
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if v is _END_OBJ:
            out.append("}")
        elif v is _END_ARR:
            out.append("]")
        elif t is _Key:
            out.append(("key", str(v)))
        elif t is dict:
            out.append("{")
            stack.append(_END_OBJ)
            for k, x in reversed(list(v.items())):
                stack.append(x)
                stack.append(_Key(k))
        elif t is list:
            out.append("[")
            stack.append(_END_ARR)
            stack.extend(reversed(v))
        elif t is float:
            out.append(("float", repr(v)))
        elif t is bool or v is None or t is int or t is str:
            out.append((t.__name__, v))
        else:
            raise Finding(f"unexpected value type {t!r}: {v!r}")
    return tuple(out)


def _read(get):
    """canon(get()), or what was refused: an integer beyond the
    interpreter's digit limit is refused on read, by both backends alike."""
    try:
        return canon(get())
    except qmpfast.IntegerTooLongError as exc:
        return ("refused", exc.path, exc.digits)


def describe(msg):
    """Everything a reader can get from a message, canonicalised."""
    d = [type(msg).__name__, msg.kind, bytes(msg.raw), msg.stream_offset,
         _read(msg.to_dict)]
    kind = msg.kind
    if kind == "event":
        d += [msg.name, msg.seconds, msg.microseconds,
              _read(lambda: msg.data), repr(msg.datetime)]
        for attr in getattr(type(msg), "members", ()):
            d.append((attr, _read(lambda: getattr(msg, attr))))
    elif kind == "return":
        d += [_read(lambda: msg.value), canon(msg.id)]
    elif kind == "error":
        d += [canon(msg.error_class), canon(msg.desc), canon(msg.id)]
    elif kind == "greeting":
        d += [_read(lambda: msg.version), _read(lambda: msg.capabilities)]
    elif kind == "command":
        d += [canon(msg.command), _read(lambda: msg.arguments),
              _read(lambda: msg.id), msg.oob]
    # a second read gives the same (caches must not change anything)
    if _read(msg.to_dict) != d[4]:
        raise Finding("to_dict() changed between two reads")
    return tuple(d)


def err_tuple(exc):
    return ("error", type(exc).__name__, exc.offset, exc.position)


def decode(backend, chunks, options):
    """The sequence of messages and errors a decoder gives for ``chunks``."""
    dec = qmpfast.Decoder(backend=backend, **options)
    out = []

    def take(msgs):
        out.extend(describe(m) for m in msgs)

    def feed(chunk):
        while True:
            try:
                take(dec.feed(chunk))
                return
            except DecodeError as exc:
                if options.get("on_error") != "raise":
                    raise Finding(f"{exc!r} raised with on_error='skip'")
                take(exc.messages)
                out.append(err_tuple(exc))
                chunk = b""  # what followed the error is still pending

    for chunk in chunks:
        feed(chunk)
        out.extend(err_tuple(e) for e in dec.errors)
        dec.errors.clear()
    while True:
        try:
            take(dec.close())
            break
        except DecodeError as exc:
            take(exc.messages)
            out.append(err_tuple(exc))
            if isinstance(exc, qmpfast.IncompleteMessageError):
                break
    out.extend(err_tuple(e) for e in dec.errors)
    # in stream order: with on_error="skip" the errors of one feed() come
    # after its messages, so the chunking would change the order
    out.sort(key=lambda item: item[3] if item[0] != "error" else item[2])
    return out


def _diff(name_a, a, name_b, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return (f"{name_a} and {name_b} differ at item {i}:\n"
                    f"  {name_a}: {x!r}\n  {name_b}: {y!r}")
    return (f"{name_a} gave {len(a)} items, {name_b} {len(b)}; first extra: "
            f"{(a[len(b):] or b[len(a):])[0]!r}")


# ---- the json.loads model -------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")


class _NotComparable(Exception):
    """json.loads and qmpfast differ here by design."""


def _reject(name):
    raise _NotComparable(name)


_JSON = json.JSONDecoder(parse_constant=_reject)
# every member, duplicates too: a lone surrogate in a value that a later
# duplicate key replaces is gone from json.loads's result, but qmpfast,
# which validates every byte, rejects the message all the same
_PAIRS = json.JSONDecoder(parse_constant=_reject, object_pairs_hook=list)


def _has_surrogate(value):
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
                return True
        elif t is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif t is list or t is tuple:
            stack.extend(v)
    return False


def json_objects(stream):
    """[(start, end, obj)] with byte offsets when the stream is a sequence of
    JSON objects (whitespace around them) that json.loads takes and qmpfast
    must take too; None otherwise."""
    try:
        text = stream.decode("utf-8")
    except UnicodeDecodeError:
        return None
    out, i, byte = [], 0, 0
    try:
        while True:
            j = _WS.match(text, i).end()
            byte += j - i  # whitespace is ASCII
            if j == len(text):
                return out
            if text[j] != "{":
                return None
            obj, k = _JSON.raw_decode(text, j)
            size = len(text[j:k].encode("utf-8"))
            if _has_surrogate(_PAIRS.raw_decode(text, j)[0]):
                return None
            out.append((byte, byte + size, obj))
            byte += size
            i = k
    except (ValueError, _NotComparable, RecursionError):
        return None


def model(objects, events):
    """What qmpfast must give for json_objects(), per QMP."""
    out = []
    for start, end, obj in objects:
        kind = None
        if "event" in obj:
            name = obj["event"]
            if type(name) is not str:
                out.append(("ProtocolError", start))
                continue
            if events is not None and name not in events:
                continue
            ts = obj.get("timestamp")
            if (type(ts) is not dict or type(ts.get("seconds")) is not int
                    or type(ts.get("microseconds")) is not int):
                out.append(("ProtocolError", start))
                continue
            out.append(("event", start, end, canon(obj), name,
                        ts["seconds"], ts["microseconds"]))
            continue
        if "return" in obj:
            kind = "return"
        elif "error" in obj:
            err = obj["error"]
            if (type(err) is not dict or type(err.get("class")) is not str
                    or type(err.get("desc")) is not str):
                out.append(("ProtocolError", start))
                continue
            kind = "error"
        elif "QMP" in obj:
            kind = "greeting"
        elif "execute" in obj or "exec-oob" in obj:
            kind = "command"
        else:
            kind = "message"
        out.append((kind, start, end, canon(obj)))
    return out


def as_model(items, stream):
    out = []
    for it in items:
        if it[0] == "error":
            out.append((it[1], it[2]))
            continue
        _cls, kind, raw, offset, obj = it[:5]
        if raw != stream[offset:offset + len(raw)]:
            raise Finding(f"raw is not the stream's bytes at {offset}")
        entry = (kind, offset, offset + len(raw), obj)
        if kind == "event":
            entry += tuple(it[5:8])
        out.append(entry)
    return out


# ---- one input ------------------------------------------------------------

STATS = {"inputs": 0, "bytes": 0, "json_compared": 0, "messages": 0,
         "errors": 0}


def check(data):
    case = Case(data)
    STATS["inputs"] += 1
    if STATS["inputs"] % 1000 == 0:
        print(f"differential: {STATS}", file=sys.stderr, flush=True)
    STATS["bytes"] += len(case.stream)
    try:
        c_split = decode("c", case.chunks, case.options)
        py_split = decode("python", case.chunks, case.options)
        c_whole = decode("c", [case.stream] if case.stream else [],
                         case.options)
    except Finding:
        raise
    except Exception as exc:  # noqa: BLE001 - that is the point
        raise _unexpected(exc) from exc
    if c_split != py_split:
        raise Finding(_diff("C backend", c_split, "Python backend",
                            py_split))
    if c_split != c_whole:
        raise Finding(_diff("C in chunks", c_split, "C in one piece",
                            c_whole))
    STATS["messages"] += sum(1 for x in c_split if x[0] != "error")
    STATS["errors"] += sum(1 for x in c_split if x[0] == "error")

    objects = json_objects(case.stream)
    if objects is not None:
        STATS["json_compared"] += 1
        options = dict(on_error="skip", events=case.options["events"])
        try:
            got = as_model(decode("c", [case.stream], options), case.stream)
        except Finding:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _unexpected(exc) from exc
        want = model(objects, options["events"])
        if got != want:
            raise Finding(_diff("qmpfast", got, "json.loads model", want))


def _unexpected(exc):
    return Finding(f"{type(exc).__name__} raised: {exc}\n"
                   f"{traceback.format_exc()}")


def report(data, exc):
    sys.stderr.write(f"\n=== FINDING: {exc}\ninput: {bytes(data)!r}\n"
                     f"{Case(data)!r}\n")


def check_or_report(data):
    """check(), printing the input of any finding before it propagates."""
    try:
        check(data)
    except Finding as exc:
        report(data, exc)
        raise


# ---- drivers --------------------------------------------------------------

def atheris_main(argv):
    _ATHERIS.Setup(argv, check_or_report)
    _ATHERIS.Fuzz()


def replay_main(paths):
    bad = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        try:
            check(data)
            print(f"ok       {path}")
        except Finding as exc:
            bad += 1
            report(data, exc)
            print(f"FINDING  {path}")
    sys.exit(1 if bad else 0)


def hypothesis_main(seconds):
    """The fallback when atheris is missing: hypothesis draws option bytes,
    chunk seeds and streams (arbitrary bytes, edited real captures, real
    lines among garbage), for ``seconds`` of wall time."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [data for _n, data in make_corpus.seeds()]
    stream = st.one_of(st.binary(max_size=2048), st.sampled_from(seeds),
                       st.builds(lambda s, cut: s[:cut],
                                 st.sampled_from(seeds),
                                 st.integers(0, 4096)))
    deadline = time.monotonic() + seconds

    def on_alarm(signum, frame):
        raise Finding("hang: one input took more than 20 s")

    signal.signal(signal.SIGALRM, on_alarm)

    @settings(max_examples=200, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(min_size=4, max_size=4), stream)
    def run(opts, body):
        data = opts + body
        signal.alarm(20)
        try:
            check_or_report(data)
        finally:
            signal.alarm(0)

    try:
        while time.monotonic() < deadline:
            run()
    finally:
        print(f"hypothesis driver: {STATS}")


def main():
    argv = sys.argv
    if "--replay" in argv:
        replay_main([a for a in argv[1:] if a != "--replay"])
    elif "--hypothesis" in argv:
        i = argv.index("--hypothesis")
        hypothesis_main(float(argv[i + 1]) if len(argv) > i + 1 else 60)
    elif _ATHERIS is None:
        print("atheris is not installed: running the hypothesis driver "
              "for 60 s instead", file=sys.stderr)
        hypothesis_main(60)
    else:
        import atexit
        atexit.register(lambda: print(f"differential: {STATS}",
                                      file=sys.stderr))
        atheris_main(argv)


if __name__ == "__main__":
    main()
