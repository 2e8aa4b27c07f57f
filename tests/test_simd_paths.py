"""Every code path of the C scanner gives the records of the scalar one.

The SIMD paths (SSE2, AVX2 chosen at run time, NEON) find string ends,
white space and UTF-8 runs in blocks and read containers with nothing
tracked inside with a fast validator; the scalar path reads byte by byte
and is the reference.  Each stream is driven through both as the Decoder
drives a scanner (tests/test_pybackend_agrees.drive), and every scan call
must give the same status, records, values and positions.  Inputs aim at
the block edges: strings, white space and UTF-8 of every length around 16,
32 and 64 bytes, cut at every byte, errors deep in untracked containers.
"""

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

C = pytest.importorskip(
    "qmpfast.scan.cffi_backend",
    reason="the C scanner is not built (python3 csrc/build_ffi.py)")

import test_pybackend_agrees as A  # noqa: E402
from qmpfast.scan._qmpscan import lib  # noqa: E402

EXAMPLES = int(os.environ.get("QMPFAST_HYPOTHESIS_EXAMPLES", "60"))
HERE = os.path.dirname(os.path.abspath(__file__))

PATHS = [lib.QMPF_SIMD_SSE2, lib.QMPF_SIMD_AVX2, lib.QMPF_SIMD_NEON]
SIMD = [p for p in PATHS if lib.qmpf_simd_supported(p)]


class _Path:
    """drive() takes a backend module; this one makes C scanners that run
    one code path."""

    def __init__(self, simd):
        self.simd = simd

    def Scanner(self, *args, **kwargs):  # noqa: N802 - a backend's name
        return C.Scanner(*args, simd=self.simd, **kwargs)


def assert_paths_agree(schema, chunks, max_records=1000, **options):
    want = A.drive(_Path(lib.QMPF_SIMD_SCALAR), schema, chunks, max_records,
                   **options)
    for simd in SIMD:
        got = A.drive(_Path(simd), schema, chunks, max_records, **options)
        assert got == want, f"code path {simd} differs from the scalar one"
    return want


def test_a_simd_path_runs_here():
    """x86-64 always has SSE2, arm64 NEON: the paths compared below are
    not all skipped, and the default is the best of them."""
    assert SIMD
    assert lib.qmpf_simd_default() in (SIMD[-1], lib.QMPF_SIMD_SCALAR)
    scanner = C.Scanner(A.SCHEMAS["all"], 1 << 20, 64)
    scanner.restart(0)
    assert scanner.simd == lib.qmpf_simd_default()


def test_environment_forces_the_scalar_path(monkeypatch):
    monkeypatch.setenv("QMPFAST_SCALAR", "1")
    assert C.Scanner(A.SCHEMAS["all"], 1 << 20, 64).simd == \
        lib.QMPF_SIMD_SCALAR
    monkeypatch.setenv("QMPFAST_SCALAR", "0")
    assert C.Scanner(A.SCHEMAS["all"], 1 << 20, 64).simd != \
        lib.QMPF_SIMD_SCALAR


def test_unsupported_path_refused():
    with pytest.raises(ValueError):
        C.Scanner(A.SCHEMAS["all"], 1 << 20, 64, simd=99)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 64 - 1),
       schema=st.sampled_from(sorted(A.SCHEMAS)),
       max_records=st.sampled_from([1, 2, 1000]))
def test_random_streams_agree(seed, schema, max_records):
    r = random.Random(seed)
    data = A._stream(r)
    assert_paths_agree(A.SCHEMAS[schema], A._chunks(data, r), max_records,
                       **A._options(r))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300)),
       max_depth=st.sampled_from([2, 64]))
def test_arbitrary_bytes_agree(data, cuts, max_depth):
    bounds = sorted({0, len(data), *[c for c in cuts if c <= len(data)]})
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])] or [data]
    assert_paths_agree(A.SCHEMAS["keep"], chunks, max_depth=max_depth)


def test_the_2010_capture_agrees():
    with open(os.path.join(HERE, "data", "qmp-events-2010.txt"), "rb") as f:
        data = f.read()
    for schema in A.SCHEMAS.values():
        assert_paths_agree(schema, [data])
        assert_paths_agree(schema, [data[i:i + 61]
                                    for i in range(0, len(data), 61)])


def _event(name, data):
    return (b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "'
            + name + b'", "data": ' + data + b'}\r\n')


# bytes a block may end at or begin with
_TAILS = [b"", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\\n",
          b"\\u00e9", b"\\ud83d\\ude00", b"\x01", b"\xc3", b"\xe2\x82",
          b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xff"]


@pytest.mark.parametrize("name", [b"STOP", b"RESUME"])  # kept, dropped
def test_string_and_utf8_block_edges_agree(name):
    parts = []
    for n in list(range(0, 70)) + [127, 128, 129, 255, 256, 1000]:
        for tail in _TAILS:
            text = b"x" * n + tail + b"y" * (n % 7)
            parts.append(_event(name, b'{"device": "' + text + b'", "k": ["'
                                + text + b'", {"a": "' + text + b'"}]}'))
    data = b"".join(parts)
    for schema in A.SCHEMAS.values():
        assert_paths_agree(schema, [data])
        assert_paths_agree(schema, [data[i:i + 97]
                                    for i in range(0, len(data), 97)])


def test_white_space_runs_agree():
    parts = []
    for n in range(0, 40):
        ws = (b" \t\r\n" * 12)[:n]
        parts.append(ws + b'{' + ws + b'"event"' + ws + b':' + ws
                     + b'"STOP"' + ws + b',' + ws + b'"data":' + ws + b'{'
                     + ws + b'"k"' + ws + b':' + ws + b'[' + ws + b'1' + ws
                     + b',' + ws + b'{}' + ws + b']' + ws + b'}' + ws
                     + b',"timestamp":{"seconds":1,"microseconds":2}}'
                     + ws + (b"\x0b" if n % 5 == 0 else b"") + b"\n")
    data = b"".join(parts)
    for schema in A.SCHEMAS.values():
        assert_paths_agree(schema, [data])
        assert_paths_agree(schema, [data[i:i + 13]
                                    for i in range(0, len(data), 13)])


@pytest.mark.parametrize("inner", [
    b'"\xc3\xa9"', b'"\\n"', b"12345678901234567890", b"1.5e3", b'"bad\x01"',
    b"tru", b"[1,]", b'{"a" 1}', b"-", b"01", b"9" * 19, b'{"":{}}',
    b'"\xff"'])
@pytest.mark.parametrize("depth", [1, 3, 40])
def test_untracked_containers_agree(inner, depth):
    """What the fast validator cannot take (escapes, UTF-8, integers of
    more than 18 digits, errors, the depth limit) is read by the general
    path from the container's start: the same records and flags."""
    nest = b'[{"x": ' * depth + inner + b"}]" * depth
    data = b"".join([_event(b"STOP", b'{"server": ' + nest + b"}"),
                     _event(b"RESUME", nest),
                     b'{"return": ' + nest + b"}\n",
                     _event(b"STOP", b'{"k": [1, ' + nest + b", 2]}")])
    for schema in A.SCHEMAS.values():
        for max_depth in (8, 64, 200):
            assert_paths_agree(schema, [data], max_depth=max_depth)
            assert_paths_agree(schema, [data[i:i + 29]
                                        for i in range(0, len(data), 29)],
                               max_depth=max_depth)
