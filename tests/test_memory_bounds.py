"""Messages kept (or queued) hold about their own bytes, whatever came
between them in the stream: not the chunk, nor the huge or filtered
messages they were read with.

Memory is measured as the bytes of every object reachable from the kept
messages (gc.get_referents, tests/memory.py), so the bound is the same on
every interpreter and independent of the allocator."""

import json

import pytest

from memory import Peak, retained

STOP = b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n'
IO_ERROR = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": '
            b'"BLOCK_IO_ERROR", "data": {"device": "disk0", "operation": '
            b'"read", "action": "report"}}\r\n')
SHUTDOWN = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": '
            b'"SHUTDOWN", "data": {"guest": true, "reason": '
            b'"guest-shutdown"}}\r\n')
# what a kept message may hold beyond its own bytes: its object, a batch,
# its record and slots, and neighbours of at most 4 KiB + 512 bytes
ALLOWANCE = 16 << 10


def test_the_measure_sees_a_buffer_held_through_a_view_or_an_object():
    """The bounds below are only as good as this: a chunk a message keeps
    through a memoryview, a slot or a cffi buffer counts in full."""
    import cffi

    chunk = bytearray(b"x" * 1_000_000)

    class Holder:
        __slots__ = ("view",)

    holder = Holder()
    holder.view = memoryview(chunk)[10:20]
    assert retained([holder]) > 1_000_000
    assert retained([{"k": [cffi.FFI().from_buffer(chunk)]}]) > 1_000_000
    assert retained([bytes(chunk[:100])]) < 1000
    # PyPy stores lists of only bytes or str unboxed
    assert retained([[bytes(chunk)]]) > 1_000_000
    assert retained([{"k": [chunk.decode()]}]) > 1_000_000
    with Peak() as peak:
        peak.sample(holder)
        peak.sample([])
    assert peak.held > 1_000_000 and not peak.below(1_000_000)


def test_small_events_after_huge_messages_hold_only_themselves(
        decoder_factory):
    dec = decoder_factory()
    kept = []
    for _ in range(20):
        out = dec.feed(b'{"junk": "' + b"j" * 1_000_000 + b'"}\n' + STOP)
        kept += [m for m in out if m.kind == "event"]
    assert [m.name for m in kept] == ["STOP"] * 20
    held = retained(kept)
    assert held < 20 * (len(STOP) + ALLOWANCE), held


def test_filtered_streams_keep_only_the_wanted_events(decoder_factory):
    dec = decoder_factory(events={"SHUTDOWN"})
    chunk = IO_ERROR * (65536 // len(IO_ERROR)) + SHUTDOWN  # ~64 KiB reads
    kept = []
    for _ in range(100):
        kept += dec.feed(bytes(bytearray(chunk)))  # a new buffer per read
    assert [m.name for m in kept] == ["SHUTDOWN"] * 100
    held = retained(kept)
    assert held < 100 * (len(SHUTDOWN) + ALLOWANCE), held
    assert kept[-1].reason == "guest-shutdown" and kept[0].guest is True


def test_a_huge_message_kept_alone_holds_itself_not_its_neighbours(
        decoder_factory):
    dec = decoder_factory()
    big = b'{"return": "' + b"r" * 2_000_000 + b'", "id": 1}\n'
    out = dec.feed(b'{"junk": "' + b"j" * 8_000_000 + b'"}\n' + big + STOP)
    reply = [m for m in out if m.kind == "return"]
    held = retained(reply)
    # its bytes, and on the pure-Python backend the value parsed with them
    assert len(big) < held < 2 * len(big) + ALLOWANCE, held
    assert reply[0].id == 1 and len(reply[0].value) == 2_000_000


@pytest.mark.parametrize("chunk", [64, 4096, 1 << 20])
def test_split_batches_give_the_same_messages(decoder_factory, chunk):
    """Messages read from split batches are those of the shared one."""
    stream = (b'{"junk": "' + b"j" * 100_000 + b'"}\n' + STOP + IO_ERROR +
              b"x" * 3000 + b"\n" + IO_ERROR + b" " * 600 + SHUTDOWN) * 3
    dec = decoder_factory(on_error="skip")
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    got += dec.close()
    assert [m.kind for m in got] == ["message", "event", "event", "event",
                                     "event"] * 3
    offsets = [m.stream_offset for m in got]
    assert [stream[o:o + len(m.raw)] for o, m in zip(offsets, got)] == \
        [m.raw for m in got]
    assert [m.to_dict() for m in got[1:5]] == [
        json.loads(x) for x in (STOP, IO_ERROR, IO_ERROR,
                                              SHUTDOWN)]
    assert got[2].device == "disk0" and got[4].reason == "guest-shutdown"
