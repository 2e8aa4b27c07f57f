"""Resync after a syntax error costs what reading the input once does.

After a message that began at S fails at E, scanning resumes after the
first line break after S; but a line whose first byte that is not white
space opens a container still open at E is skipped: a message starting
there would read the same bytes (valid inside that container) up to E and
fail there again.  So garbage that opens a value on each of many lines and
errs only far later costs one error and one pass, not one rescan per line,
while every message that a restart would recover is still delivered.

The work is measured by the error records: a message recorded as failing
at ``position`` after beginning at ``offset`` was read over that whole
span, so the sum of the spans is a lower bound on the bytes scanned.
"""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmpfast import Decoder, DecodeError, IncompleteMessageError

STOP = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
        b'"event": "STOP"}\n')
GOOD = [STOP, b'{"return": {}}\n', b'{"return": [1, 2]}\n']


def decode(backend, data, chunk=None, **options):
    """(offset and bytes of each message, (type, offset, position) of each
    error) of ``data`` fed in pieces of ``chunk`` bytes (None: whole)."""
    dec = Decoder(backend=backend, on_error="skip", **options)
    step = chunk or max(1, len(data))
    out = []
    for i in range(0, len(data), step):
        out += dec.feed(data[i:i + step])
    try:
        out += dec.close()
    except IncompleteMessageError as cut:  # also in dec.errors
        out += cut.messages
    return ([(m.stream_offset, m.raw) for m in out],
            [(type(e), e.offset, e.position) for e in dec.errors])


def scanned_by_errors(errors):
    return sum(position - offset for _t, offset, position in errors)


# ---- (a) the reproducer, scaled down -------------------------------------

def test_open_lines_then_a_long_string_then_a_bad_byte(backend):
    """300 lines that each open a value, the last with a 1 MiB string
    after which comes a bad byte: one error, then every good message."""
    head = b'{"a":\n' * 299 + b'{"a":"' + b"s" * (1 << 20) + b'"'
    data = head + b" x\n" + b"".join(GOOD)
    for chunk in (None, 65536):
        msgs, errors = decode(backend, data, chunk)
        assert [e[1:] for e in errors] == [(0, len(head) + 1)]
        assert issubclass(errors[0][0], DecodeError)
        assert [raw + b"\n" for _o, raw in msgs] == GOOD
        assert msgs[0][0] == len(head) + 3


# ---- (b) the work is linear -----------------------------------------------

def _nested(n, line, tail):
    return b'{"a": [\n' + line * n + tail


SHAPES = {
    # every line opens a value
    "objects": lambda n: b'{"a":\n' * n + b'"' + b"t" * 20000 + b'" x\n',
    "arrays": lambda n: _nested(n, b'[\n{"b":\n', b"1 2\n"),
    # lines that open a value alternate with lines that restart and fail
    # at once: the open containers of the error are remembered across
    # those failures
    "alternating": lambda n: _nested(n, b'"s",\n{"b": [\n', b"1 2\n"),
    # white space before the opening bracket, closed values on the way
    "indented": lambda n: _nested(n, b'  {"k": [1, {}], "b":\n\t[ {},\n',
                                  b"null x\n"),
    # a good message swallowed on each line
    "swallowing": lambda n: _nested(n, b'{"b": ' + GOOD[1][:-1] + b", \"c\":"
                                    b" [\n", b"]] x\n"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_resync_work_is_linear(backend, shape):
    """The spans read by failed attempts add up to about the input's
    length, where restarting at each line read the rest of the region
    again from every line (about n * n / 2 lines)."""
    bad = SHAPES[shape](300)
    data = bad + b"".join(GOOD)
    msgs, errors = decode(backend, data, 4096)
    assert scanned_by_errors(errors) <= 2 * len(data)
    assert len(errors) <= 302
    assert [raw + b"\n" for o, raw in msgs if o >= len(bad)] == GOOD


# ---- (c) what the rescan recovers is kept ---------------------------------

RECOVER = (b'{"a":\n' + STOP +              # swallowed, then an error at '{'
           b'{"b": [\n' +                   # open at the error below
           b"  " + GOOD[1][:-1] + b",\n" +  # closed before it: recovered
           b'{"c":\n' +                     # open at the error below
           b'[{"d": 1}, 2 x\n' +            # open; the error is at 'x'
           GOOD[2])


def test_a_message_swallowed_and_completed_before_the_error_is_kept(
        backend):
    msgs, errors = decode(backend, RECOVER)
    assert [raw + b"\n" for _o, raw in msgs] == [STOP, GOOD[1], GOOD[2]]
    x = RECOVER.index(b"x")
    comma = RECOVER.index(b"},\n") + 1
    line3 = RECOVER.index(b'{"b"')
    assert [e[1:] for e in errors] == [
        (0, line3),                  # '{"a": STOP' then '{': no ','
        (line3, x),                  # the region: found once
        (comma, comma),              # after the recovered message: ','
    ]


# ---- (d) white space before a doomed line; every chunking; every path -----

INDENTED = (b'{"a": [\n'
            b'   {"b":\n'            # white space, then '{' open at the error
            b'\t[\n'                 # '[' open at the error
            b'  {"c": 1 y\n' +       # open; the error is at 'y'
            GOOD[1])


@pytest.mark.parametrize("chunk", [1, 7, 64, None])
def test_indented_doomed_lines_are_skipped(backend, chunk):
    msgs, errors = decode(backend, INDENTED, chunk)
    assert [raw + b"\n" for _o, raw in msgs] == [GOOD[1]]
    assert [e[1:] for e in errors] == [(0, INDENTED.index(b"y"))]


AGREE = {"indented": INDENTED, "recover": RECOVER,
         **{name: make(12) + b"".join(GOOD) for name, make in SHAPES.items()}}


@pytest.mark.parametrize("name", sorted(AGREE))
def test_scanners_agree_on_resync(name):
    """The twin gives the C scanner's records, and every C code path the
    scalar one's, call by call, for every chunking."""
    data = AGREE[name]
    A = pytest.importorskip("test_pybackend_agrees")
    S = pytest.importorskip("test_simd_paths")
    for step in (1, 7, 64, len(data)):
        chunks = [data[i:i + step] for i in range(0, len(data), step)]
        for schema in A.SCHEMAS.values():
            A.assert_agree(schema, chunks, 3)
            S.assert_paths_agree(schema, chunks, 3)


# ---- against the rule it replaces ------------------------------------------

def _restart_everywhere(text):
    """Messages and errors by the rule of restarting after the first line
    break after a bad message's start, at every line, with json.loads:
    (messages, error offsets)."""
    dec = json.JSONDecoder()
    msgs, errors, pos = [], [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return msgs, errors
        try:
            if text[pos] != "{":
                raise ValueError
            value, end = dec.raw_decode(text, pos)
            msgs.append((pos, text[pos:end]))
            pos = end
        except ValueError:
            errors.append(pos)
            nl = text.find("\n", pos)
            pos = len(text) if nl < 0 else nl + 1


TOKENS = [b"{", b"[", b"}", b"]", b'"k": ', b'"s"', b", ", b"1", b" ",
          b"\n", b"\n  ", b"x", b'{"return": 1}', b'{"return": [2]}']


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=60),
       seed=st.integers(0, 2 ** 32))
def test_same_messages_as_restarting_at_every_line(backend, parts, seed):
    """Skipping doomed lines loses no message and invents no error: the
    messages are those of restarting at every line, and each error is one
    that rule reports too."""
    data = b"".join(parts) + b"\n" + GOOD[1]
    want_msgs, want_errors = _restart_everywhere(data.decode())
    rng = random.Random(seed)
    msgs, errors = decode(backend, data, rng.choice([1, 5, 64, None]))
    assert [(o, raw.decode()) for o, raw in msgs] == want_msgs
    assert {offset for _t, offset, _p in errors} <= set(want_errors)
    # each bad region is read once: no two errors that read something end
    # at the same byte (restarting at every line, one per line does)
    ends = [p for _t, offset, p in errors if offset < p]
    assert len(ends) == len(set(ends))


# ---- the stream ends inside open lines -------------------------------------

@pytest.mark.parametrize("chunk", [None, 7, 65536])
def test_a_stream_cut_inside_open_lines_costs_one_pass(backend, chunk):
    """300 lines that each open a value, then a string the stream ends in:
    close() reports the cut message once (and the string's own line, which
    cannot start a message), instead of restarting at every line, each
    restart reading to the end again."""
    head = b'{"a":\n' * 299 + b'{"a":\n'
    data = head + b'"' + b"s" * (1 << 18)
    msgs, errors = decode(backend, data, chunk)
    assert msgs == []
    assert errors[0] == (IncompleteMessageError, 0, len(data))
    assert len(errors) <= 2
    assert scanned_by_errors(errors) <= 2 * len(data)
    # a message after a blank line is still found: the rest is not skipped
    tail = b'\n{"return": 5}\n'
    msgs, errors = decode(backend, head + tail, chunk)
    assert [raw for _o, raw in msgs] == [b'{"return": 5}']
