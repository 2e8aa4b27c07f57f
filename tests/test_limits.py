"""Limits on hostile input, on every backend.

Nesting depth and message size are enforced while scanning, before anything
is buffered or built; numbers of any length decode; every kind of invalid
text (bad UTF-8, overlong forms, encoded surrogates, lone surrogate escapes,
NUL and control bytes) is a DecodeError at the same offset and position on
both backends.  Memory is measured as the bytes the decoder holds (and
tracemalloc's peak where the interpreter has it) and the decoder's pending
buffer, never with timings.
"""

import contextlib
import json
import sys

import pytest

import qmpfast
from qmpfast import DecodeError, MessageTooLargeError, ProtocolError

from memory import Peak

MiB = 1 << 20
TS = b'"timestamp": {"seconds": 1, "microseconds": 2}'


@contextlib.contextmanager
def unlimited_int_digits():
    """Lift Python's limit on int <-> str conversions (qmpfast then decodes
    integers of any length, as json.loads does)."""
    old = getattr(sys, "get_int_max_str_digits", lambda: None)()
    if old is not None:
        sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        if old is not None:
            sys.set_int_max_str_digits(old)


def pending(decoder):
    """Bytes the decoder holds for a message in progress."""
    return len(decoder._pending or b"")


def feed_all(decoder, chunks):
    """Feed every chunk; collect messages and raised errors."""
    out, raised = [], []
    for chunk in chunks:
        while True:
            try:
                out += decoder.feed(chunk)
                break
            except DecodeError as exc:
                out += exc.messages
                raised.append(exc)
                chunk = b""
    return out, raised


def nested(depth, opener=b"[", closer=b"]"):
    """A message whose deepest value is at ``depth`` (the message is 1)."""
    n = depth - 1
    return b'{"a":' + opener * n + b"0" * (n == 0) + closer * n + b"}\n"


def nested_objects(depth):
    n = depth - 1
    return b'{"a":' + b'{"a":' * (n - 1) + b"{}" + b"}" * (n - 1) + b"}\n"


# ---- nesting --------------------------------------------------------------

def test_default_depth_is_qemus():
    assert qmpfast.DEFAULT_MAX_DEPTH == 1024


@pytest.mark.parametrize("make", [nested, nested_objects],
                         ids=["arrays", "objects"])
def test_depth_1024_ok_1025_error(decoder_factory, make):
    (msg,) = decoder_factory().feed(make(1024))
    assert msg.raw == make(1024).strip()
    data = make(1025)
    with pytest.raises(DecodeError) as info:
        decoder_factory().feed(data)
    exc = info.value
    assert type(exc) is DecodeError
    assert exc.offset == 0
    # the opening bracket that would be level 1025
    assert exc.position == (5 + 1023 if make is nested else 5 * 1024)
    assert "too deep" in str(exc)


@pytest.mark.parametrize("limit", [1, 2, 3, 64])
def test_depth_limit_is_exact(decoder_factory, limit):
    decoder_factory(max_depth=limit).feed(nested(limit))
    with pytest.raises(DecodeError):
        decoder_factory(max_depth=limit).feed(nested(limit + 1))


def test_depth_far_beyond_recursion(decoder_factory):
    """Nesting is tracked on an explicit stack: 200 000 levels scan fine."""
    depth = 200_000
    data = nested(depth)
    dec = decoder_factory(max_depth=depth)
    out, raised = feed_all(dec, [data[i:i + 65536]
                                 for i in range(0, len(data), 65536)])
    assert not raised
    assert len(out) == 1 and out[0].raw == data.strip()
    with pytest.raises(DecodeError):
        decoder_factory(max_depth=depth - 1).feed(data)


def test_a_stream_of_brackets_ends_in_an_error(decoder_factory):
    """100 000 '[' at the top level: one error, nothing buffered."""
    dec = decoder_factory()
    with pytest.raises(DecodeError) as info:
        dec.feed(b"[" * 100_000)
    assert (info.value.offset, info.value.position) == (0, 0)
    assert pending(dec) == 0
    dec = decoder_factory(on_error="skip")
    for _ in range(10):
        assert dec.feed(b"[" * 100_000) == []
        assert pending(dec) == 0
    assert len(dec.errors) == 1  # one bad line, skipped up to its end
    (msg,) = dec.feed(b'\n{"return": {}}\n')
    assert msg.kind == "return"


def test_brackets_inside_a_message_hit_the_depth_limit(decoder_factory):
    """'{"a":' then 100 000 '[' in small chunks: TOO_DEEP at level 1025,
    and what is kept stays below the depth limit's worth of bytes."""
    data = b'{"a":' + b"[" * 100_000
    dec = decoder_factory()
    raised = []
    for i in range(0, len(data), 997):
        try:
            dec.feed(data[i:i + 997])
        except DecodeError as exc:
            raised.append(exc)
        assert pending(dec) <= 2048
    assert len(raised) == 1
    assert (raised[0].offset, raised[0].position) == (0, 5 + 1023)
    dec.close()  # skipping the rest of the line is not a message in progress


# ---- message size ---------------------------------------------------------

def test_size_limit_is_exact(decoder_factory):
    msg = b'{"return": "' + b"x" * 100 + b'"}'
    (m,) = decoder_factory(max_message_size=len(msg)).feed(msg + b"\n")
    assert m.raw == msg
    with pytest.raises(MessageTooLargeError) as info:
        decoder_factory(max_message_size=len(msg) - 1).feed(msg + b"\n")
    assert info.value.offset == 0
    assert info.value.position == len(msg) - 1


def test_100_mb_message_is_refused_before_buffering(decoder_factory):
    """A 100 MiB message, 1 MiB limit, fed in 1 MiB chunks: the error comes
    as soon as the limit is passed, at most about the limit is ever held,
    and the message after it is delivered."""
    limit = MiB
    dec = decoder_factory(max_message_size=limit)
    body = b"a" * MiB
    with Peak() as peak:
        out, raised = feed_all(dec, [b'{"return": "'])
        for i in range(100):
            more, errs = feed_all(dec, [body])
            out += more
            raised += errs
            assert pending(dec) <= limit
            peak.sample(dec, out, raised)
            if i == 1:
                assert len(raised) == 1  # reported on the chunk passing it
        more, errs = feed_all(dec, [b'"}\n{"return": 7}\n'])
        out += more
        raised += errs
        peak.sample(dec, out, raised)
    assert len(raised) == 1
    exc = raised[0]
    assert type(exc) is MessageTooLargeError
    assert (exc.offset, exc.position) == (0, limit)
    assert [m.value for m in out] == [7]
    assert peak.below(12 * MiB), vars(peak)  # vs 100 MiB of input
    dec.close()


def test_huge_string_with_small_limit(decoder_factory):
    """200 MiB inside one string, 64 KiB limit, skip mode: one error, flat
    memory, the next message delivered."""
    dec = decoder_factory(max_message_size=64 << 10, on_error="skip")
    body = b"\xc3\xa9" * (MiB // 2)  # valid UTF-8 all along
    with Peak() as peak:
        out = dec.feed(b'{"event": "X", "data": {"s": "')
        for _ in range(200):
            out += dec.feed(body)
            assert pending(dec) <= 64 << 10
            peak.sample(dec, out)
        out += dec.feed(b'"}, ' + TS + b'}\n{"return": 1}\n')
        peak.sample(dec, out)
    assert [type(e) for e in dec.errors] == [MessageTooLargeError]
    assert [m.kind for m in out] == ["return"]
    assert peak.below(12 * MiB), vars(peak)


def test_whitespace_and_skipped_lines_are_not_buffered(decoder_factory):
    dec = decoder_factory(max_message_size=1024, on_error="skip")
    for _ in range(50):
        dec.feed(b" \t\r\n" * 65536)
        assert pending(dec) == 0
    dec.feed(b"garbage")
    for _ in range(50):
        dec.feed(b"g" * 262144)  # a bad line being skipped
        assert pending(dec) == 0
    (m,) = dec.feed(b'\n{"return": {}}\n')
    assert m.kind == "return" and len(dec.errors) == 1


def test_limits_are_validated():
    with pytest.raises(ValueError):
        qmpfast.Decoder(max_message_size=0)
    with pytest.raises(ValueError):
        qmpfast.Decoder(max_message_size=1 << 32)
    with pytest.raises(ValueError):
        qmpfast.Decoder(max_depth=0)


# ---- numbers --------------------------------------------------------------

def test_ten_thousand_digit_integer(decoder_factory):
    digits = "7" + "1234567890" * 1000  # 10 001 digits
    raw = b'{"return": ' + digits.encode() + b', "id": -' + \
        digits.encode() + b"}\n"
    (msg,) = decoder_factory().feed(raw)
    # refused under the interpreter's limit, as json.loads refuses it ...
    with pytest.raises(qmpfast.IntegerTooLongError):
        msg.to_dict()
    # ... and exact where the limit is lifted
    with unlimited_int_digits():
        d = msg.to_dict()
        assert type(d["return"]) is int and type(d["id"]) is int
        assert d["return"] == int(digits)
        assert d["id"] == -int(digits)


def test_long_fraction_and_exponent(decoder_factory):
    num = "0." + "3" * 5000 + "e-0000000000000000000000000000000001"
    (msg,) = decoder_factory().feed(b'{"return": ' + num.encode() + b"}\n")
    assert msg.to_dict()["return"] == float(num)


@pytest.mark.parametrize("digits", [1, 18, 19, 20, 64, 4300])
def test_timestamps_of_any_length(decoder_factory, digits):
    seconds = 10 ** digits - 1
    nines = b"9" * digits
    raw = (b'{"event": "STOP", "timestamp": {"seconds": ' + nines +
           b', "microseconds": -' + nines + b'}}\n')
    (ev,) = decoder_factory().feed(raw)
    assert ev.seconds == seconds and ev.microseconds == -seconds


@pytest.mark.parametrize("number", [b"01", b"-", b"1.", b".5", b"1e", b"1e+",
                                    b"+1", b"0x10", b"--1", b"1.e5", b"-01"])
def test_invalid_numbers(decoder_factory, number):
    with pytest.raises(DecodeError) as info:
        decoder_factory().feed(b'{"return": ' + number + b"}\n")
    assert type(info.value) is DecodeError


# ---- invalid text ---------------------------------------------------------

# (text after '{"a": "', how many bytes after that the bad byte is)
BAD_STRINGS = {
    "continuation byte alone": (b"\x80", 0),
    "0xff": (b"\xff", 0),
    "0xfe": (b"\xfe", 0),
    "overlong 2-byte lead 0xc0": (b"\xc0\xaf", 0),
    "overlong 2-byte lead 0xc1": (b"\xc1\xbf", 0),
    "overlong 3-byte": (b"\xe0\x80\xaf", 1),
    "overlong 4-byte": (b"\xf0\x80\x80\xaf", 1),
    "lead above U+10FFFF (0xf5)": (b"\xf5\x80\x80\x80", 0),
    "above U+10FFFF": (b"\xf4\x90\x80\x80", 1),
    "encoded high surrogate": (b"\xed\xa0\x80", 1),
    "encoded low surrogate": (b"\xed\xbf\xbf", 1),
    "encoded surrogate pair": (b"\xed\xa0\xbd\xed\xb8\x80", 1),
    "truncated 2-byte": (b"\xc3\"", 1),
    "truncated 3-byte": (b"\xe2\x82\"", 2),
    "truncated 4-byte": (b"\xf0\x9f\x98 ", 3),
    "ascii after lead": (b"\xc3A", 1),
    "lone high surrogate escape": (b'\\ud800"', 6),
    "lone high surrogate escape, then text": (b"\\ud800x", 6),
    "high then non-surrogate escape": (b"\\ud800\\u0041", 11),
    "two high surrogate escapes": (b"\\ud800\\ud800", 11),
    "lone low surrogate escape": (b"\\udc00", 5),
    "lone low surrogate escape (upper case)": (b"\\uDFFF", 5),
    "bad hex in escape": (b"\\u00g0", 4),
    "short escape": (b'\\u12"', 4),
    "unknown escape": (b"\\x41", 1),
    "escaped quote missing": (b"\\ ", 1),
    "NUL": (b"\x00", 0),
    "control 0x01": (b"\x01", 0),
    "tab": (b"\t", 0),
    "line feed": (b"\n", 0),
    "carriage return": (b"\r", 0),
    "control 0x1f": (b"\x1f", 0),
}


def _decode_error(decoder_factory, data, **options):
    dec = decoder_factory(**options)
    with pytest.raises(DecodeError) as info:
        dec.feed(data)
        dec.close()
    return info.value


@pytest.mark.parametrize("name", sorted(BAD_STRINGS))
@pytest.mark.parametrize("where", ["value", "key", "event name"])
def test_invalid_text_in_strings(decoder_factory, name, where):
    text, at = BAD_STRINGS[name]
    prefix = {"value": b'{"id": 1, "a": "', "key": b'{"id": 1, "',
              "event name": b'{"event": "'}[where]
    data = prefix + text + b'", "b": 2}\n{"return": {}}\n'
    exc = _decode_error(decoder_factory, data)
    assert type(exc) is DecodeError, exc
    assert (exc.offset, exc.position) == (0, len(prefix) + at), str(exc)
    # and the same in skip mode, byte by byte, with the next line delivered
    dec = decoder_factory(on_error="skip")
    out = []
    for i in range(len(data)):
        out += dec.feed(data[i:i + 1])
    dec.close()
    errors = [(type(e), e.offset, e.position) for e in dec.errors]
    assert errors[0] == (DecodeError, 0, len(prefix) + at)
    if b"\n" in text:
        # decoding resumes after that line break: its rest is a bad line
        nl = len(prefix) + text.index(b"\n") + 1
        assert errors[1:] == [(DecodeError, nl, nl)]
    else:
        assert len(errors) == 1
    assert [m.kind for m in out] == ["return"]


@pytest.mark.parametrize("data, position", [
    (b"\x00", 0),
    (b"\x00{}\n", 0),
    (b"{\x00}\n", 1),
    (b'{"a"\x00: 1}\n', 4),
    (b'{"a":\x00 1}\n', 5),
    (b'{"a": 1\x00}\n', 7),
    (b'{"a": [1\x00]}\n', 8),
    (b'{"a": tr\x00ue}\n', 8),
    (b'{"a": 1\x0b}\n', 7),  # vertical tab is not JSON whitespace
    (b'{"a": 1\x0c}\n', 7),  # nor form feed
    (b'\xef\xbb\xbf{"a": 1}\n', 0),  # nor a byte order mark
    (b'{"a": 1}\x85\n', 8),
])
def test_nul_and_control_bytes_outside_strings(decoder_factory, data,
                                                position):
    exc = _decode_error(decoder_factory, data)
    assert type(exc) is DecodeError
    assert exc.position == position


@pytest.mark.parametrize("text", [b"\x7f", b"\xc2\x80", b"\xdf\xbf",
                                  b"\xe0\xa0\x80", b"\xed\x9f\xbf",
                                  b"\xee\x80\x80", b"\xef\xbf\xbf",
                                  b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
                                  b"\\ud83d\\ude00", b"\\u0000", b"\\/"])
def test_valid_text_edges(decoder_factory, text):
    """The edges of what is valid are accepted, as json.loads reads them."""
    raw = b'{"return": "' + text + b'"}'
    (msg,) = decoder_factory().feed(raw + b"\n")
    assert msg.value == json.loads(raw.decode("utf-8"))["return"]
    assert msg.to_dict() == json.loads(raw.decode("utf-8"))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity",
                                     b"nan", b"inf", b"True", b"None",
                                     b"undefined", b"nul", b"truee"])
def test_non_json_literals(decoder_factory, literal):
    exc = _decode_error(decoder_factory, b'{"return": ' + literal + b"}\n")
    assert type(exc) is DecodeError


def test_protocol_errors_are_valid_json_with_bad_shapes(decoder_factory):
    dec = decoder_factory(on_error="skip")
    out = dec.feed(b'{"event": 5, ' + TS + b'}\n{"event": "STOP"}\n'
                   b'{"error": {"class": "X"}}\n{"return": 1}\n')
    assert [m.value for m in out] == [1]
    assert [type(e) for e in dec.errors] == [ProtocolError] * 3
