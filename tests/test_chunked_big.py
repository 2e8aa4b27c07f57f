"""A big message fed in small chunks decodes as it does in one piece.

``Decoder.feed`` has a short path for a chunk that goes on with a message
in progress and completes nothing, and hands its pending bytearray to the
messages it completes instead of copying it.  These tests check that the
messages, errors, positions and memory bounds are those of one-piece
decoding, on both backends.
"""

import json
import random

import pytest

from qmpfast import DecodeError, MessageTooLargeError

from test_limits import feed_all


def big_event(n_items, seed=1, name="QUERY_BLOCKSTATS"):
    rng = random.Random(seed)
    items = [{"device": f"virtio-disk{rng.randrange(64)}",
              "stats": {"rd_bytes": rng.randrange(1 << 40),
                        "idle": rng.random() < 0.5,
                        "note": "caf\u00e9 \"quoted\" \\ [x] {y}"}}
             for _ in range(n_items)]
    msg = {"timestamp": {"seconds": 1732442400, "microseconds": 5},
           "event": name, "data": {"items": items}}
    return json.dumps(msg).encode() + b"\r\n", items


def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def decode(decoder, parts):
    out, raised = feed_all(decoder, parts)
    out += decoder.close()
    return out, raised


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_big_message_in_small_chunks(decoder_factory, size):
    msg, items = big_event(300 if size == 1 else 3000)
    small = b'{"return": {}}\n'
    data = small + msg + small + msg[:len(msg) // 2]
    # where each message ends (its closing brace)
    ends = [len(small) - 1, len(small) + len(msg) - 2,
            2 * len(small) + len(msg) - 1]
    dec = decoder_factory()
    out = []
    fed = 0
    for part in pieces(data, size):
        out += dec.feed(part)
        fed += len(part)
        # a message comes out of the feed call that completes it
        assert len(out) == sum(end <= fed for end in ends)
    assert [m.kind for m in out] == ["return", "event", "return"]
    assert out[1].data == {"items": items}
    assert out[1].raw == msg.rstrip()
    assert type(out[1].raw) is bytes
    assert dec.position == len(data)
    whole = decoder_factory()
    assert [m.raw for m in whole.feed(data)] == [m.raw for m in out]


def test_messages_keep_their_bytes_after_more_feeds(decoder_factory):
    msg, items = big_event(500)
    tail = b'{"return": {"x": 1}}\n' + msg[:100]
    dec = decoder_factory()
    out = []
    for part in pieces(msg + tail, 4096):
        out += dec.feed(part)
    for part in pieces(msg[100:] + msg, 333):
        out += dec.feed(part)
    assert [m.kind for m in out] == ["event", "return", "event", "event"]
    for m in (out[0], out[2], out[3]):
        assert m.raw == msg.rstrip()
        assert m.data == {"items": items}
    assert out[1].raw == b'{"return": {"x": 1}}'


@pytest.mark.parametrize("on_error", ["raise", "skip"])
@pytest.mark.parametrize("size", [5, 4096])
def test_error_inside_big_message_same_as_one_piece(decoder_factory,
                                                    on_error, size):
    msg, _ = big_event(2000)
    cut = msg.index(b"}}, {", len(msg) * 2 // 3) + 2  # between items
    bad = msg[:cut] + b"?" + msg[cut:]
    data = b'{"return": {}}\n' + bad + b'{"return": 1}\n' + msg
    results = []
    for parts in ([data], pieces(data, size)):
        dec = decoder_factory(on_error=on_error)
        out, raised = decode(dec, parts)
        errors = raised + dec.errors
        results.append(([m.raw for m in out],
                        [(type(e), e.offset, e.position) for e in errors]))
    assert results[0] == results[1]
    kinds, errors = results[0]
    assert errors == [(DecodeError, 15, 15 + cut)]
    assert len(kinds) == 3


def test_filtered_big_event_in_small_chunks(decoder_factory):
    msg, _ = big_event(2000, name="SOMETHING_ELSE")
    keep, _ = big_event(10, name="BLOCK_IO_ERROR")
    data = msg + keep + msg
    dec = decoder_factory(events={"BLOCK_IO_ERROR"})
    out = []
    for part in pieces(data, 4096):
        out += dec.feed(part)
        assert len(dec._pending or b"") <= 4096 + len(msg)
    assert [m.raw for m in out] == [keep.rstrip()]
    assert dec._pending is None


def test_too_large_message_in_small_chunks(decoder_factory):
    limit = 50_000
    msg, _ = big_event(3000)
    assert len(msg) > 4 * limit
    data = msg + b'{"return": {}}\n'
    dec = decoder_factory(max_message_size=limit, on_error="skip")
    out = []
    peak = 0
    for part in pieces(data, 1000):
        out += dec.feed(part)
        peak = max(peak, len(dec._pending or b""))
    out += dec.close()
    assert [m.kind for m in out] == ["return"]
    assert [type(e) for e in dec.errors] == [MessageTooLargeError]
    assert (dec.errors[0].offset, dec.errors[0].position) == (0, limit)
    assert peak <= limit + 1000
