"""Decoder.feed accepts bytes-like input only (no int or list coercion)."""

import pytest

import qmpfast


@pytest.mark.parametrize("bad", [5, 200_000_000, [123, 125, 10], "{}\n", None])
def test_feed_refuses_non_bytes(backend, bad):
    decoder = qmpfast.Decoder(backend=backend)
    with pytest.raises(TypeError, match="bytes-like"):
        decoder.feed(bad)
    assert decoder.position == 0  # nothing was scanned


@pytest.mark.parametrize("make", [bytes, bytearray, memoryview])
def test_feed_takes_bytes_like(backend, make):
    decoder = qmpfast.Decoder(backend=backend)
    out = decoder.feed(make(b'{"return": {}}\n'))
    assert [type(m).__name__ for m in out] == ["Return"]
