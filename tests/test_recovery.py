"""Recovery after bad input loses nothing, on every backend.

The resync rule: a message with a syntax error is dropped up to the first
line break after where it began, and scanning resumes there (so a good
message on the next line is found even when the bad one swallowed it as a
nested value).  A message over the size limit is dropped up to the first
line break after the point where the limit was passed.  A QMP shape error
(valid JSON) drops only that message.  With on_error="raise" the error
carries the messages decoded before it and the bytes after it stay pending.
"""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmpfast import (DecodeError, IncompleteMessageError,
                     MessageTooLargeError, ProtocolError)

from conftest import sample

# Real messages, one per line, from the captures.
GOOD = [line + b"\n" for line in sample("qemu-7.2.qmp").split(b"\r\n")
        if line.strip()]
GOOD += [line + b"\n" for line in sample("qemu-7.2-guest-poweroff.qmp")
         .split(b"\r\n") if line.strip()]

BAD_LINES = [
    b"garbage",
    b"{",
    b'{"a":',
    b'{"a": [',
    b'{"a": {"b": [1, {',
    b'{"a": "unterminated',
    b'{"a": tru',
    b'{"a": 1,}',
    b"}",
    b"]]]",
    b'{"a": "\xff"}',
    b'{"a": "\\ud800"}',
    b"\x00\x01\x02",
    b'{"event": 5, "timestamp": {"seconds": 1, "microseconds": 1}}',
    b'{"event": "STOP"}',
    b'{"error": {"class": "X"}}',
    b"[1, 2, 3]",
    b'"a string"',
    b"{}{",
    b'{"a": 1} trailing',
    b"\xef\xbb\xbf",
]


def collect(dec, chunks):
    out = []
    for chunk in chunks:
        out += dec.feed(chunk)
    return out


def split(data, rng, top=64):
    chunks, i = [], 0
    while i < len(data):
        n = rng.randint(1, top)
        chunks.append(data[i:i + n])
        i += n
    return chunks


# ---- the rule, case by case ----------------------------------------------

@pytest.mark.parametrize("bad", BAD_LINES, ids=repr)
def test_good_lines_after_a_bad_line(decoder_factory, bad):
    good = GOOD[:5]
    data = bad + b"\n" + b"".join(good)
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        dec = decoder_factory(on_error="skip")
        out = collect(dec, chunks)
        dec.close()
        assert dec.errors, "the bad line is reported"
        assert [m.raw + b"\n" for m in out[-5:]] == good
        # extra messages can only come from the bad line itself ("{}{")
        assert all(m.stream_offset < len(bad) for m in out[:-5])


def test_bad_message_swallowing_the_next_line(decoder_factory):
    """'{"a": [' then a good message: the good one is first read as an
    element; the error comes at the next line, and the rescan from the
    first line break delivers the good message."""
    data = b'{"a": [\n' + GOOD[1] + GOOD[2]
    dec = decoder_factory(on_error="skip")
    out = collect(dec, [data])
    assert [m.raw + b"\n" for m in out] == [GOOD[1], GOOD[2]]
    (err,) = dec.errors
    assert (err.offset, err.position) == (0, 8 + len(GOOD[1]))


def test_resync_is_at_the_first_line_break_after_the_start(decoder_factory):
    # the bad message spans lines: decoding resumes after its first line
    data = b'{"a":\n1, "b": \xff}\n{"return": 1}\n'
    dec = decoder_factory(on_error="skip")
    out = collect(dec, [data])
    assert [m.value for m in out] == [1]
    assert [(e.offset, e.position) for e in dec.errors] == [(0, 14), (6, 6)]


def test_protocol_error_drops_only_that_message(decoder_factory):
    data = (b'{"event": "STOP"}{"return": 1}\n'
            b'{"error": {"desc": "x"}} {"return": 2}\n')
    dec = decoder_factory(on_error="skip")
    out = collect(dec, [data])
    assert [m.value for m in out] == [1, 2]
    assert [type(e) for e in dec.errors] == [ProtocolError] * 2


def test_too_large_resyncs_after_the_limit(decoder_factory):
    small = [g for g in GOOD if len(g) <= 100][:2]
    big = b'{"return": "' + b"x" * 200 + b'"}\n'
    data = small[0] + big + small[1]
    dec = decoder_factory(on_error="skip", max_message_size=100)
    out = collect(dec, split(data, random.Random(1)))
    assert [m.raw + b"\n" for m in out] == small
    (err,) = dec.errors
    assert type(err) is MessageTooLargeError
    assert (err.offset, err.position) == (len(small[0]), len(small[0]) + 100)


def test_raise_mode_loses_nothing(decoder_factory):
    """Each error carries the messages decoded before it in the same feed;
    what follows it is decoded by the next feed (even an empty one)."""
    data = (GOOD[0] + b"bad\n" + GOOD[1] + GOOD[2] + b'{"a": \xff}\n' +
            GOOD[3])
    dec = decoder_factory()
    got, errors = [], []
    chunk = data
    while True:
        try:
            got += dec.feed(chunk)
            break
        except DecodeError as exc:
            got += exc.messages
            errors.append((exc.offset, exc.position))
            chunk = b""
    got += dec.close()
    assert [m.raw + b"\n" for m in got] == GOOD[:4]
    bad2 = len(GOOD[0]) + 4 + len(GOOD[1]) + len(GOOD[2])
    assert errors == [(len(GOOD[0]), len(GOOD[0])), (bad2, bad2 + 6)]


def test_close_reports_a_cut_message(decoder_factory):
    dec = decoder_factory()
    (m,) = dec.feed(GOOD[0] + GOOD[1][:10])
    with pytest.raises(IncompleteMessageError) as info:
        dec.close()
    assert info.value.offset == len(GOOD[0])


# bad lines that leave a message open at their line break, waiting for a
# value: the next good message is read as that value until the error shows
# (see the test below)
OPEN_LINES = {b'{"a":', b'{"a": ['}


def test_errors_do_not_accumulate_state(decoder_factory):
    """Thousands of bad lines: the decoder keeps nothing of them, and the
    good message after each comes out of the same feed."""
    dec = decoder_factory(on_error="skip")
    rng = random.Random(5)
    closed = [b for b in BAD_LINES if b not in OPEN_LINES]
    for i in range(2000):
        bad = rng.choice(closed)
        out = dec.feed(bad + b"\n" + GOOD[i % len(GOOD)])
        assert out and out[-1].raw + b"\n" == GOOD[i % len(GOOD)]
        assert len(dec._pending or b"") == 0
    assert len(dec.errors) >= 2000 - 200  # a few bad lines are valid JSON


@pytest.mark.parametrize("bad", sorted(OPEN_LINES), ids=repr)
def test_a_line_left_open_delays_the_next_message(decoder_factory, bad):
    """Structural framing cannot tell garbage that leaves a message open
    from a message still arriving: the good message after it is read as a
    nested value, and comes out when the next bytes show the error."""
    dec = decoder_factory(on_error="skip")
    assert dec.feed(bad + b"\n" + GOOD[1]) == []
    out = dec.feed(GOOD[2])
    assert [m.raw + b"\n" for m in out][-2:] == [GOOD[1], GOOD[2]]
    assert len(dec.errors) == 1


# ---- the property ----------------------------------------------------------

garbage_lines = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(BAD_LINES),
    st.builds(lambda good, cut: good[:cut], st.sampled_from(GOOD),
              st.integers(0, 300)),
    st.lists(st.sampled_from([b"{", b"[", b'"a":', b"1", b",", b"}", b"]",
                              b'"', b"\\", b"\xff", b" ", b"true"]),
             max_size=12).map(b"".join),
).map(lambda g: g.replace(b"\n", b" ") + b"\n")

streams = st.lists(
    st.one_of(st.tuples(st.just("good"), st.sampled_from(GOOD)),
              st.tuples(st.just("bad"), garbage_lines)),
    min_size=1, max_size=25)


def _run(decoder_factory, parts, seed, closing):
    data = b"".join(p for _kind, p in parts)
    dec = decoder_factory(on_error="skip")
    out = collect(dec, split(data, random.Random(seed), top=40))
    cut = None
    try:
        out += dec.close()
    except IncompleteMessageError as exc:
        cut = exc.offset
    return data, out, dec.errors, cut


def _good_offsets(parts):
    pos, good = 0, []
    for kind, p in parts:
        if kind == "good":
            good.append((pos, p[:-1]))
        pos += len(p)
    return good


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(parts=streams, seed=st.integers(0, 2 ** 32))
def test_every_good_line_survives_any_garbage(decoder_factory, parts, seed):
    """Garbage lines (anything, ending with a line break) among real
    messages: every real message is delivered, except where the JSON
    grammar itself joins it to garbage, i.e. it lies inside a delivered
    message that began in garbage (garbage opened a container that later
    garbage closed), or inside the message still open when the stream ends
    (see test_fuzz_findings.py for that one)."""
    data, out, errors, cut = _run(decoder_factory, parts, seed, True)
    delivered = {(m.stream_offset, m.raw) for m in out}
    spans = [(m.stream_offset, m.stream_offset + len(m.raw)) for m in out]
    for start, raw in _good_offsets(parts):
        if (start, raw) in delivered:
            continue
        inside = any(a < start and start + len(raw) <= b for a, b in spans)
        at_end = cut is not None and cut < start
        assert inside or at_end, (start, raw, data)
    # errors and messages never overlap the same start, and every
    # error is somewhere in the stream
    starts = [m.stream_offset for m in out]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for e in errors:
        assert 0 <= e.offset <= e.position <= len(data)
    # every delivered message is what json.loads reads at that place
    for m in out:
        assert data[m.stream_offset:m.stream_offset + len(m.raw)] == m.raw
        assert m.to_dict() == json.loads(m.raw)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(parts=streams, seed=st.integers(0, 2 ** 32))
def test_garbage_without_closing_brackets_never_hides_a_message(
        decoder_factory, parts, seed):
    """When garbage cannot close what it opens (no '}' or ']' in it), no
    real message can become part of a garbage message: each one is
    delivered as itself, except the ones after garbage still open at the
    end of the stream."""
    parts = [(k, p.replace(b"}", b" ").replace(b"]", b" ")
              if k == "bad" else p) for k, p in parts]
    data, out, errors, cut = _run(decoder_factory, parts, seed, True)
    delivered = {(m.stream_offset, m.raw) for m in out}
    for start, raw in _good_offsets(parts):
        assert (start, raw) in delivered or (cut is not None and
                                             cut < start), (start, data)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
@given(parts=streams, seed=st.integers(0, 2 ** 32))
def test_recovery_does_not_depend_on_chunking(decoder_factory, parts, seed):
    data = b"".join(p for _k, p in parts)
    results = []
    for chunks in ([data], split(data, random.Random(seed), top=7)):
        dec = decoder_factory(on_error="skip")
        out = collect(dec, chunks)
        results.append(([(m.stream_offset, m.raw) for m in out],
                        [(type(e), e.offset, e.position)
                         for e in dec.errors]))
    assert results[0] == results[1]
