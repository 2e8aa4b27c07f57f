"""A stream fed in pieces decodes as it does in one piece.

Every cut point, fixed and random chunk sizes and empty feeds give the same
messages (compared field by field with ``describe``), and messages already
returned keep their bytes while the decoder goes on.  On every backend.
"""

import random

import pytest

from conftest import sample
from decoding import chunks_of, decode, describe
from doc2010 import doc_examples, DOC_2010


def _stream_for_chunking():
    lines = sample("qemu-7.2.qmp").split(b"\r\n")
    return (b"\r\n".join(lines[:12]) + b"\r\n" + doc_examples() +
            b'{"a": "\xc3\xa9\\u00e9\\ud83d\\ude00", "b": [1.5e3, -0, null]}'
            b'{"c": {}}\r\n')


def test_every_two_piece_split_gives_the_same_messages(decoder_factory):
    data = (doc_examples() +
            b'{"return": {"x": "\xe2\x82\xac"}, "id": "\\u0041"}')
    whole = [describe(m) for m in decode(decoder_factory, data)]
    assert len(whole) == 8
    for cut in range(len(data) + 1):
        got = decode(decoder_factory, data, [data[:cut], data[cut:]])
        assert [describe(m) for m in got] == whole, cut


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_any_chunk_size_gives_the_same_messages(decoder_factory, size):
    data = _stream_for_chunking()
    whole = [describe(m) for m in decode(decoder_factory, data)]
    got = decode(decoder_factory, data, chunks_of(data, size))
    assert [describe(m) for m in got] == whole
    assert len(whole) > 20


def test_random_chunks_and_empty_feeds(decoder_factory):
    data = _stream_for_chunking()
    whole = [describe(m) for m in decode(decoder_factory, data)]
    rng = random.Random(20100225)
    for _ in range(20):
        pieces, i = [], 0
        while i < len(data):
            n = rng.choice([0, 0, 1, 2, 5, 17, 100, 999])
            pieces.append(data[i:i + n])
            i += n
        got = decode(decoder_factory, data, pieces)
        assert [describe(m) for m in got] == whole


def test_messages_stay_valid_after_later_feeds(decoder_factory):
    """Messages read lazily keep their bytes while the decoder moves on."""
    data = doc_examples()
    dec = decoder_factory()
    msgs = []
    for piece in chunks_of(data, 5):
        msgs += dec.feed(piece)
    dec.feed(b'{"x": "' + b"y" * 5000 + b'"}\n{"z":')
    assert [m.data for m in msgs] == [d for _n, _s, _u, d in DOC_2010]
    assert msgs[0].device == "ide0-hd1"
    assert msgs[5].client.sasl_username == "luiz"
    assert [m.raw for m in msgs] == [t.strip() for t in data.split(b"\n\n")]
