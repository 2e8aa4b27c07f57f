#!/usr/bin/env python3
"""Write the seed corpora of both fuzzers from the real captures.

Seeds come from qmpfast/samples/*.qmp (what QEMU really sent), the 2010 QMP
event examples in tests/data/, each of their messages alone, and a few
hand-made edge cases (deep nesting, escapes, huge numbers, bad UTF-8, broken
QMP shapes, truncations).  Nothing here is committed: the corpora are made
afresh by fuzz/build.sh and fuzz/run_ci.sh.

    python3 fuzz/make_corpus.py scan DIR   # libFuzzer: 4 option bytes + stream
    python3 fuzz/make_corpus.py diff DIR   # differential.py: 4 option bytes
                                           # + stream
"""

import glob
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def captures():
    """(name, bytes) of every real capture and test data file."""
    paths = sorted(glob.glob(os.path.join(ROOT, "qmpfast", "samples", "*.qmp")))
    paths += sorted(glob.glob(os.path.join(ROOT, "tests", "data", "*")))
    for path in paths:
        if os.path.isfile(path):
            with open(path, "rb") as f:
                yield os.path.basename(path), f.read()


def messages(stream):
    """The top-level objects of a stream, split by brace depth (outside
    strings), with the bytes between them dropped."""
    out, depth, start, in_str, esc = [], 0, None, False, False
    for i, c in enumerate(stream):
        if in_str:
            if esc:
                esc = False
            elif c == 0x5C:
                esc = True
            elif c == 0x22:
                in_str = False
            continue
        if c == 0x22:
            in_str = True
        elif c in b"{[":
            if depth == 0:
                start = i
            depth += 1
        elif c in b"}]":
            depth -= 1
            if depth == 0 and start is not None:
                out.append(stream[start:i + 1])
                start = None
    return out


TS = b'"timestamp": {"seconds": 1795563459, "microseconds": 80371}'

EDGE_CASES = [
    b'{"a":' + b"[" * 1023 + b"]" * 1023 + b"}\n",
    b'{"a":' + b"[" * 1100 + b"\n",
    b"[" * 3000,
    b'{"return": ' + b"9" * 5000 + b"}\n",
    b'{"return": -0.0e-00, "id": 1E+400}\n{"return": 1.5e-400}\n',
    b'{"event": "STOP", "timestamp": {"seconds": 99999999999999999999, '
    b'"microseconds": -9223372036854775808}}\n',
    b'{"event": "STOP", "timestamp": {"seconds": -9223372036854775807, '
    b'"microseconds": 9223372036854775807}}\n',
    b'{"event": "\\u0053TOP", ' + TS + b'}\n',
    b'{"event": "\\u00c9V\\u00c9NEMENT", ' + TS + b'}\n',
    b'{"event": "\xc3\x89V\xc3\x89NEMENT", ' + TS + b'}\n',
    b'{"event": "' + b"L" * 129 + b'", ' + TS + b'}\n',
    b'{"event": "NEW_EVENT", ' + TS + b', "data": {"x": [1, 2.5, true, '
    b'false, null, "\\ud83d\\ude00 \xf0\x9f\x98\x80"]}}\n',
    b'{"event": 5, ' + TS + b'}\n{"event": "STOP"}\n'
    b'{"event": "STOP", "timestamp": {"seconds": 1.5, "microseconds": 0}}\n',
    b'{"error": {"class": "GenericError"}, "id": 3}\n{"error": "x"}\n',
    b'{"timestamp":{"seconds":1,"microseconds":2},"event":"RESET",'
    b'"data":{"guest":true,"reason":"x"},"data":5}\n',
    b'{"event":"A","event":"STOP",' + TS + b',"timestamp":{"seconds":3,'
    b'"microseconds":4}}\n',
    b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n'
    b'{"exec-oob": "migrate-pause", "id": "x"}\n',
    b'{"QMP": {"version": {}, "capabilities": []}}{"return":{}}{}\n',
    b'{"a": "\xed\xa0\x80"}\n{"a": "\xc0\xaf"}\n{"a": "\xe0\x80\xaf"}\n'
    b'{"a": "\xf4\x90\x80\x80"}\n{"a": "\xff"}\n{"a": "\xc3"}\n',
    b'{"a": "\\ud800"}\n{"a": "\\udc00"}\n{"a": "\\ud800\\u0041"}\n'
    b'{"a": "\\ud800x"}\n{"a": "\\uZZZZ"}\n{"a": "\\x"}\n',
    b'{"a": "\x00"}\n{"a": "\x1f"}\n{"a":\x00 1}\n\x00\n{"a": "\x7f"}\n',
    # resync: lines opening values still open at the error (indented,
    # arrays), lines that restart and fail at once, swallowed messages
    b'{"a": [\n  {"b":\n\t[\n"s",\n{"return": {}},\n{"c": 1 x\n'
    b'{"return": 1}\n' + b'{"a":\n' * 40 + b'"s" x\n{"return": 2}\n',
    b'{"a": NaN}\n{"a": Infinity}\n{"a": -Infinity}\n{"a": tru}\n'
    b'{"a": 01}\n{"a": 1.}\n{"a": .5}\n{"a": 1e}\n{"a": -}\n',
    b'{"a" 1}\n{"a": 1,}\n{"a": [1,]}\n{,}\n{"a": 1 "b": 2}\n}\n]\n',
    b'garbage\n{"return": {}}\n{"return": {\n{"return": {}, "id": 2}\n',
    b'{"event": "STOP",\r\n ' + TS + b'\t}\r\n\r\n',
    b"\xef\xbb\xbf{}\n",
]


def seeds():
    """(name, stream) of every seed."""
    for name, data in captures():
        yield name, data
        for i, msg in enumerate(messages(data)):
            yield f"{name}.{i}", msg + b"\n"
        half = len(data) // 2
        yield f"{name}.cut", data[:half]
    for i, data in enumerate(EDGE_CASES):
        yield f"edge.{i}", data


# option bytes for the libFuzzer harness (see fuzz/scan_fuzzer.c): max_recs,
# filter, keep_unknown, depth; size; chunk seed
SCAN_OPTIONS = [
    bytes([0x60, 0x0d, 0, 1]),   # 1 rec/call, depth 1024, 64 MiB
    bytes([0x63, 0x0d, 7, 9]),   # 7 recs/call
    bytes([0x65, 0x0a, 1, 2]),   # filter on, 4096 bytes
    bytes([0x3e, 0x07, 3, 4]),   # filter + unknown, depth 4, 128 bytes
    bytes([0x11, 0x04, 5, 6]),   # depth 2, 40 bytes
]


# option bytes for fuzz/differential.py (see its Case): stream as given;
# on_error, strict, filter; depth, size; chunk seed
DIFF_OPTIONS = [
    bytes([0x00, 0x00, 0, 1]),   # skip, defaults, chunks of 1..3 bytes
    bytes([0x04, 0x00, 7, 9]),   # raise
    bytes([0x18, 0x1b, 1, 2]),   # strict, filter STOP/RESET, depth 1, 4 KiB
    bytes([0x00, 0x00, 0, 6]),   # one piece
]


def main(argv):
    if len(argv) != 3 or argv[1] not in ("scan", "diff"):
        sys.exit(__doc__)
    kind, out = argv[1], argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0
    for name, data in seeds():
        variants = [opt + data for opt in (
            SCAN_OPTIONS if kind == "scan" else DIFF_OPTIONS)]
        for v in variants:
            digest = hashlib.sha1(v).hexdigest()[:16]
            with open(os.path.join(out, f"seed-{digest}"), "wb") as f:
                f.write(v)
            n += 1
    print(f"{n} seeds in {out}")


if __name__ == "__main__":
    main(sys.argv)
