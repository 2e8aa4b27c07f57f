"""The Decoder's options: size and depth limits, skip mode, source name.

``max_message_size`` and ``max_depth`` are enforced while scanning (an
oversized message is never buffered), ``on_error="skip"`` records errors
and goes on, ``source`` names the stream in error messages, and bad option
values are refused.  On every backend.
"""

import pytest

import qmpfast
from qmpfast import (DecodeError, IncompleteMessageError, MessageTooLargeError,
                     ProtocolError)

from decoding import chunks_of, decode
from memory import Peak


def test_message_too_large(decoder_factory):
    big = b'{"return": "' + b"x" * 200 + b'"}'
    data = b'{"a": 1}\r\n' + big + b'\r\n{"b": 2}\r\n'
    dec = decoder_factory(max_message_size=100)
    with pytest.raises(MessageTooLargeError) as info:
        dec.feed(data)
    assert info.value.offset == 10
    assert isinstance(info.value, DecodeError)
    assert [m.to_dict() for m in info.value.messages] == [{"a": 1}]
    assert [m.to_dict() for m in dec.close()] == [{"b": 2}]


def test_message_too_large_then_more_input(decoder_factory):
    dec = decoder_factory(max_message_size=100)
    with pytest.raises(MessageTooLargeError) as info:
        dec.feed(b'{"a": 1}\n{"big": "' + b"x" * 300)
    assert info.value.offset == 9
    assert "100 bytes" in str(info.value)
    out = dec.feed(b"x" * 300 + b'", "more": 1}\n{"b": 2}\n')
    out += dec.close()
    assert [m.to_dict() for m in out] == [{"b": 2}]
    assert out[0].stream_offset == 9 + 9 + 600 + 14


def test_message_size_limit_is_inclusive(decoder_factory):
    raw = b'{"a": "' + b"x" * 50 + b'"}'
    (msg,) = decode(decoder_factory, raw, max_message_size=len(raw))
    assert msg.raw == raw
    with pytest.raises(MessageTooLargeError):
        decode(decoder_factory, raw, max_message_size=len(raw) - 1)


def test_message_too_large_across_chunks_is_not_buffered(decoder_factory):
    dec = decoder_factory(max_message_size=1000, on_error="skip")
    out = dec.feed(b'{"a": 1}\n{"big": "')
    chunk = b"y" * 1000
    with Peak() as peak:
        for i in range(2000):
            out += dec.feed(chunk)
            if i % 100 == 99:
                peak.sample(dec, out)
    assert peak.below(500_000), vars(peak)  # 2 MB went through
    out += dec.feed(b'"}\n{"b": 2}\n')
    out += dec.close()
    assert [m.to_dict() for m in out] == [{"a": 1}, {"b": 2}]
    assert len(dec.errors) == 1
    assert type(dec.errors[0]) is MessageTooLargeError
    assert dec.errors[0].offset == 9


def test_max_depth(decoder_factory):
    ok = b'{"a": [{"b": []}]}'  # four levels
    assert decode(decoder_factory, ok, max_depth=4)[0].raw == ok
    with pytest.raises(DecodeError) as info:
        decode(decoder_factory, ok, max_depth=3)
    assert info.value.offset == 0
    assert info.value.position == 13


def test_deep_nesting_does_not_crash(decoder_factory):
    depth = 100000
    data = b'{"a": ' + b"[" * depth + b"]" * depth + b"}\n{}"
    with pytest.raises(DecodeError) as info:
        decode(decoder_factory, data)
    assert info.value.offset == 0
    msgs = decode(decoder_factory, data, max_depth=depth + 1)
    assert len(msgs) == 2 and msgs[0].raw == data[:-3]
    assert msgs[1].raw == b"{}"


def test_skip_mode_records_errors_and_delivers_the_rest(decoder_factory):
    lines = [b'{"a": 1}', b'{"b": x}', b'{"event": 1, "timestamp": {}}',
             b'{"c": 3}', b"garbage", b'{"error": {}}', b"[]", b'{"d": 4}']
    data = b"\r\n".join(lines) + b"\r\n"
    for pieces in ([data], chunks_of(data, 1), chunks_of(data, 7)):
        dec = decoder_factory(on_error="skip")
        msgs = []
        for piece in pieces:
            msgs += dec.feed(piece)
        msgs += dec.close()
        assert [m.to_dict() for m in msgs] == [{"a": 1}, {"c": 3}, {"d": 4}]
        offsets = [sum(len(x) + 2 for x in lines[:i]) for i in (1, 2, 4, 5, 6)]
        assert [e.offset for e in dec.errors] == offsets
        assert [type(e) for e in dec.errors] == [
            DecodeError, ProtocolError, DecodeError, ProtocolError,
            DecodeError]


def test_skip_mode_incomplete_still_raises(decoder_factory):
    dec = decoder_factory(on_error="skip")
    dec.feed(b'{"a": 1}\n{"b":')
    with pytest.raises(IncompleteMessageError):
        dec.close()


def test_error_messages_name_the_source(decoder_factory):
    dec = decoder_factory(source="vm1.sock")
    with pytest.raises(DecodeError) as info:
        dec.feed(b'{"a": 1}\n{"b": x}\n')
    assert str(info.value).startswith("vm1.sock: ")
    assert "byte 9" in str(info.value)


def test_decoder_options_are_checked(backend):
    for bad in ({"on_error": "ignore"}, {"max_message_size": 0},
                {"max_depth": 0}):
        with pytest.raises(ValueError):
            qmpfast.Decoder(backend=backend, **bad)
    assert qmpfast.Decoder(backend=backend).backend == backend
