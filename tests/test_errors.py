"""Decode errors: their class, where they point, and what comes after them.

A DecodeError gives the offset where the bad message began and the
position of the bad byte, carries the messages decoded before it, and
leaves the rest of the stream to the next call; valid JSON that is not
valid QMP is a ProtocolError; a stream cut inside a message is an
IncompleteMessageError at ``close()``; no input raises anything else.  On
every backend.
"""

import json
import pickle
import random

import pytest

import qmpfast
from qmpfast import (DecodeError, IncompleteMessageError, MessageTooLargeError,
                     ProtocolError, QMPError)

from conftest import sample
from decoding import ts, chunks_of, decode, feed_through_errors


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


def test_decode_errors_pickle():
    err = DecodeError("bad", 5, 9)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is DecodeError
    assert (again.offset, again.position, str(again)) == (5, 9, "bad")
    err = MessageTooLargeError("big", 3)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is MessageTooLargeError and again.position == 3


def test_errors_keep_their_source_across_pickle():
    """An error sent back from a worker process still names its input."""
    from qmpfast.errors import IntegerTooLongError, ValidationError
    for err in (qmpfast.DecodeError("bad", 3, 5, source="vm1.qmp"),
                qmpfast.MessageTooLargeError("big", 7, source="vm2.qmp"),
                ValidationError("v", 1, path="$.data.x", source="vm3.qmp"),
                IntegerTooLongError("i", 2, path="$.return", digits=5000,
                                    source="vm4.qmp")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert back.source == err.source and str(back) == str(err)
        assert (back.offset, back.position) == (err.offset, err.position)
        assert getattr(back, "path", None) == getattr(err, "path", None)
