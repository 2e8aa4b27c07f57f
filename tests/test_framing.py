"""Where one message ends and the next begins, and what ``feed`` accepts.

Messages are framed by JSON structure alone: any whitespace, or none, may
separate them, braces inside strings do not count, and ``raw`` holds a
message's bytes without the whitespace around it.  On every backend.
"""

import json

import pytest

import qmpfast
from qmpfast import DecodeError, ErrorResponse, Return

from decoding import ts, decode


COMPACT = [b'{"return": {}, "id": 1}',
           b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
           b'"event": "STOP"}',
           b'{"id": 9, "error": {"class": "GenericError", "desc": "no"}}']


@pytest.mark.parametrize("sep", [b"\r\n", b"\n", b"", b" ", b"\t\r\n \n"],
                         ids=["crlf", "lf", "none", "space", "mixed"])
def test_framing_by_structure(decoder_factory, sep):
    data = sep.join(COMPACT) + sep
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == COMPACT
    assert [type(m) for m in msgs] == [Return, qmpfast.Stop, ErrorResponse]
    offset = 0
    for msg, raw in zip(msgs, COMPACT):
        assert msg.stream_offset == offset
        offset += len(raw) + len(sep)


def test_no_separator_between_objects(decoder_factory):
    msgs = decode(decoder_factory, b'{"a":1}{"b":2}{}{"c":[{}]}')
    assert [m.raw for m in msgs] == [b'{"a":1}', b'{"b":2}', b"{}",
                                     b'{"c":[{}]}']
    assert [m.to_dict() for m in msgs] == [{"a": 1}, {"b": 2}, {},
                                           {"c": [{}]}]


def test_braces_inside_strings_do_not_frame(decoder_factory):
    raw = b'{"a": "}{\\"}\\n{", "b": ["}", "{"]}'
    msgs = decode(decoder_factory, raw + b"\n" + raw)
    assert [m.raw for m in msgs] == [raw, raw]
    assert msgs[0].to_dict() == {"a": '}{"}\n{', "b": ["}", "{"]}


def test_pretty_multiline(decoder_factory):
    objs = [{"return": {}, "id": 1},
            {"event": "RESET", "timestamp": ts(5, 6),
             "data": {"guest": True, "reason": "guest-reset"}},
            {"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}]
    texts = [json.dumps(o, indent=4).replace("\n", "\r\n").encode()
             for o in objs]
    data = b"\r\n".join(texts) + b"\r\n"
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == texts
    assert [m.to_dict() for m in msgs] == objs
    assert [m.kind for m in msgs] == ["return", "event", "greeting"]
    assert msgs[1].guest is True and msgs[1].reason == "guest-reset"


def test_surrounding_whitespace_is_not_in_raw(decoder_factory):
    data = b' \t\r\n  {"a": 1}   \r\n\n\t{ "b" : [ 1 , 2 ] }\t \n \r\n  '
    msgs = decode(decoder_factory, data)
    assert [m.raw for m in msgs] == [b'{"a": 1}', b'{ "b" : [ 1 , 2 ] }']
    assert [m.stream_offset for m in msgs] == [6, 21]
    assert msgs[1].to_dict() == {"b": [1, 2]}


@pytest.mark.parametrize("data", [b"", b" ", b"\r\n\r\n", b" \t\n\r" * 50])
def test_whitespace_only_stream(decoder_factory, data):
    dec = decoder_factory()
    assert dec.feed(data) == []
    assert dec.close() == []
    assert dec.position == len(data)


def test_feed_accepts_bytes_like(decoder_factory):
    data = bytearray(b'{"a": 1}\n{"b": 2}\n{"c"')
    dec = decoder_factory()
    msgs = dec.feed(data)
    data[:] = b"X" * len(data)  # the caller reuses its buffer
    msgs += dec.feed(memoryview(b': 3}\n'))
    assert [m.to_dict() for m in msgs] == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert [m.raw for m in msgs] == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']


def test_position_counts_scanned_bytes(decoder_factory):
    dec = decoder_factory()
    dec.feed(b'{"a": 1}\n')
    assert dec.position == 9
    dec.feed(b'{"b": ')
    assert dec.position == 15
    dec.feed(b"2}")
    assert dec.position == 17


def test_many_messages_in_one_chunk(decoder_factory):
    n = 10000
    data = b"".join(b'{"return": %d}' % i for i in range(n))
    msgs = decode(decoder_factory, data)
    assert [m.value for m in msgs] == list(range(n))
    assert msgs[-1].stream_offset == len(data) - len(msgs[-1].raw)
    dec = decoder_factory()
    with pytest.raises(DecodeError) as info:
        dec.feed(data + b"{x}" + data)
    assert len(info.value.messages) == n
    assert info.value.offset == len(data)
    assert dec.close() == []  # the rest of the line was skipped


def test_feed_wants_bytes(decoder_factory):
    with pytest.raises(TypeError):
        decoder_factory().feed('{"a": 1}')


def test_decoder_is_not_iterable(decoder_factory):
    with pytest.raises(TypeError):
        iter(decoder_factory())
