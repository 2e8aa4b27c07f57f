"""Regression tests for what the fuzzers (fuzz/) found.

Each test states the behaviour qmpfast must have, on both backends.
"""

import pytest

import qmpfast

from qmpfast import IncompleteMessageError

TS = b'"timestamp": {"seconds": 1, "microseconds": 2}'


def test_int64_min_timestamp(decoder_factory):
    """libFuzzer + UBSan, C scanner: a timestamp integer whose first 19
    digits are 9223372036854775808 with a minus sign negated INT64_MIN
    (undefined behaviour, csrc/qmpscan.c at the slow-path number_done).
    Without sanitizers the value comes out right; under UBSan this test is
    the reproducer (fuzz/sanitizer_tests.sh)."""
    for text in (b"-9223372036854775808", b"-92233720368547758080"):
        raw = (b'{"event": "STOP", "timestamp": {"seconds": ' + text +
               b', "microseconds": ' + text + b"}}\n")
        dec = decoder_factory()
        out = []
        for i in range(len(raw)):  # byte by byte: the slow path
            out += dec.feed(raw[i:i + 1])
        (ev,) = out
        assert ev.seconds == ev.microseconds == int(text)
        (ev,) = decoder_factory().feed(raw)
        assert ev.seconds == ev.microseconds == int(text)


def test_scalar_replacing_a_tracked_object(decoder_factory):
    """differential: {"data": {...}, "data": 5} -- json.loads keeps the
    last value, so the event has no members; the C scanner kept the slots
    of the first object's members (Reset.guest read True)."""
    raw = (b'{' + TS + b', "event": "RESET", "data": {"guest": true, '
           b'"reason": "x"}, "data": 5}\n')
    (ev,) = decoder_factory().feed(raw)
    assert ev.to_dict()["data"] == 5
    assert ev.guest is None and ev.reason is None
    raw = (b'{"return": 1, "error": {"class": "A", "desc": "b"}, '
           b'"error": "x", "id": {"a": 1}, "id": 2}\n')
    (msg,) = decoder_factory().feed(raw)
    assert msg.id == 2


def test_vnc_members_on_every_backend(decoder_factory):
    """differential: the pure-Python Batch had no is_object(), which
    VNC_* events' server/client attributes call (AttributeError)."""
    raw = (b'{' + TS + b', "event": "VNC_CONNECTED", "data": {"server": '
           b'{"auth": "none", "family": "unix", "service": "s", "host": ""},'
           b' "client": {"family": "ipv4", "service": "1", "host": "h"}}}\n')
    (ev,) = decoder_factory().feed(raw)
    assert ev.server.family == "unix" and ev.client.host == "h"
    (ev,) = decoder_factory().feed(raw.replace(b'"server": {', b'"server": '
                                               b'5, "x": {'))
    assert ev.server == 5


def test_integers_beyond_4300_digits_everywhere(decoder_factory):
    """differential: values._parse_int fell back to Decimal(bytes), which
    raised TypeError: `.value` of a 5000-digit integer, and an event whose
    timestamp has more than 4300 digits, failed on the C backend.  Both
    backends now refuse such integers as json.loads does, with the same
    error (tests/test_big_integers.py)."""
    (msg,) = decoder_factory().feed(b'{"return": ' + b"7" * 5000 + b"}\n")
    with pytest.raises(qmpfast.IntegerTooLongError):
        msg.value
    dec = decoder_factory(on_error="skip")
    assert dec.feed(b'{"event": "STOP", "timestamp": {"seconds": ' +
                    b"9" * 4301 + b', "microseconds": 0}}\n') == []
    assert [type(e) for e in dec.errors] == [qmpfast.IntegerTooLongError]


@pytest.mark.parametrize("number", [b"18446744073709551616",
                                    b"-9223372036854775809",
                                    b"1" + b"0" * 100])
def test_big_integers_stay_integers(decoder_factory, number):
    """differential vs json.loads: with orjson installed, integers beyond
    64 bits inside objects and arrays came out of to_dict()/.value/.data
    as floats (orjson parses them as doubles; values.loads only fell back
    to the json module when orjson raised).  Fixed: the scanner flags
    messages with such integers."""
    raw = b'{"return": {"x": [' + number + b']}, "id": 1}\n'
    (msg,) = decoder_factory().feed(raw)
    assert msg.to_dict()["return"]["x"][0] == int(number)
    assert type(msg.value["x"][0]) is int


def test_deepest_accepted_message_decodes(decoder_factory):
    """differential: a message nested 1024 deep is accepted (QEMU's limit),
    but the json module recurses and raised RecursionError from to_dict()
    on the pure-Python backend, and on the C backend whenever orjson is
    missing or declines the message (here: 1e400)."""
    inner = b"[" * 1022 + b"1e400" + b"]" * 1022
    raw = b'{"return": ' + inner + b"}\n"
    (msg,) = decoder_factory().feed(raw)
    value = msg.to_dict()["return"]
    for _ in range(1022):
        (value,) = value
    assert value == float("inf")


def test_close_delivers_messages_after_a_message_left_open(decoder_factory):
    """recovery property: garbage that leaves a message open waiting for a
    value ('{"a": [' or '{"a":') reads the next message as that value; when
    the stream ends there, close() raised IncompleteMessageError and the
    complete message after the garbage's line break was never delivered
    (a syntax error in the same place resyncs at that line break and
    delivers it)."""
    dec = decoder_factory(on_error="skip")
    out = dec.feed(b'{"return": 1}\n{"event": "X", "data": [\n'
                   b'{"return": 2}\n')
    try:
        out += dec.close()
    except IncompleteMessageError as exc:
        out += exc.messages
    assert [m.to_dict() for m in out] == [{"return": 1}, {"return": 2}]


@pytest.mark.parametrize("raw, position", [
    (b'{"error": "x"}\n', 10),
    (b'{"event": "STOP", "timestamp": "x"}\n', 31),
    (b'{"event": "STOP", "timestamp": 5}\n', 31),
    (b'{"error": 5}\n', 10),
])
def test_protocol_error_points_at_the_value(decoder_factory, raw,
                                            position):
    """differential: for a QMP shape error whose offending value is a
    string, the C backend pointed at its opening quote and the Python
    backend at the byte after it.  The position is the value's first
    byte, as for any other value."""
    dec = decoder_factory(on_error="skip")
    dec.feed(raw)
    (err,) = dec.errors
    assert (err.offset, err.position) == (0, position)


def _errors_and_messages(decoder_factory, chunks, **options):
    """What a reader sees, driving the decoder the way the fuzzer does."""
    from qmpfast import DecodeError
    dec = decoder_factory(**options)
    seen = []
    for chunk in chunks + [None]:
        while True:
            try:
                got = dec.close() if chunk is None else dec.feed(chunk)
                seen += [m.raw for m in got]
                break
            except DecodeError as exc:
                seen += [m.raw for m in exc.messages]
                seen.append((type(exc).__name__, exc.offset))
                chunk = chunk if chunk is None else b""
    return seen


def test_strict_error_then_syntax_error_in_one_chunk(decoder_factory):
    """differential (libFuzzer CI run): in strict raise mode, a
    ValidationError raised for an event dropped the scanner's syntax error
    right after it in the same chunk, so one piece and line-sized chunks
    reported different errors.  The second error is raised at the next
    call."""
    stream = (b'{"event": "VNC_INITIALIZED", ' + TS + b'}\r\n'
              b' ,\r\n{"return": 1}\r\n')
    whole = _errors_and_messages(decoder_factory, [stream], strict=True)
    lines = _errors_and_messages(
        decoder_factory, [line + b"\n" for line in stream.split(b"\n")[:-1]],
        strict=True)
    assert whole == lines == [("ValidationError", 0),
                              ("DecodeError", stream.index(b" ,") + 1),
                              b'{"return": 1}']


def test_strict_error_keeps_the_messages_after_it(decoder_factory):
    """differential (8-minute run): in strict raise mode, the messages
    decoded after an invalid event in the same chunk were lost.  They come
    out at the next call, before any scanner error that followed them."""
    bad = (b'{"event": "RESET", "data": {"guest": true, "reason": "x"}, '
           + TS + b'}\r\n')
    good = b'{"event": "STOP", ' + TS + b'}\r\n'
    stream = good + bad + good + bad + good + b'}\r\n' + good
    whole = _errors_and_messages(decoder_factory, [stream], strict=True)
    lines = _errors_and_messages(
        decoder_factory, [line + b"\n" for line in stream.split(b"\n")[:-1]],
        strict=True)
    raw = good.strip()
    start2 = len(good + bad + good)
    assert whole == lines == [
        raw, ("ValidationError", len(good)), raw,
        ("ValidationError", start2), raw,
        ("DecodeError", start2 + len(bad + good)), raw]


def test_lone_surrogate_in_a_replaced_value_is_rejected(decoder_factory):
    """differential (10-minute run): a lone surrogate escape in a value
    that a later duplicate key replaces never reaches json.loads's result,
    but qmpfast validates every byte: the message is a DecodeError on both
    backends, pointing at the escape, whatever the chunking.  (The finding
    was in the fuzzer's json.loads model, which now reads duplicates too.)"""
    stream = (b'{"timestamp":{"seconds":1,"microseconds":2},"event":"RESET",'
              b'"data":{"guest":true,"reason\\ud800":"x"},"data":5}\n'
              b'{"return": 1}\n')
    at = stream.index(b'":"x"')
    for chunks in ([stream], [stream[:50], stream[50:102], stream[102:]]):
        decoder = decoder_factory(on_error="skip")
        out = []
        for chunk in chunks:
            out += decoder.feed(chunk)
        out += decoder.close()
        assert [m.raw for m in out] == [b'{"return": 1}']
        (err,) = decoder.errors
        assert type(err).__name__ == "DecodeError"
        assert (err.offset, err.position) == (0, at)
