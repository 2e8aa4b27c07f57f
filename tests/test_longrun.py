"""Long runs and concurrency, on every backend.

* Ten million events (one million on the pure-Python backend, which decodes
  about 0.1 M events/s here against 0.6 M/s for C) go through one decoder
  with flat memory: what the process holds (resident size; on PyPy the
  live objects after a full collection, tests/memory.py) is read after a
  warm-up and again at the end, and may grow by a few MiB at most.
* Many decoders in many threads at once (the C scanner releases the GIL)
  give exactly what each gives alone.

QMPFAST_LONGRUN_EVENTS overrides the event count of the long run.
"""

import os
import random
import threading

import pytest

import qmpfast

from conftest import sample
from memory import process_bytes

EVENTS = (
    b'{"timestamp": {"seconds": 1795563459, "microseconds": %d}, '
    b'"event": "STOP"}\n',
    b'{"timestamp": {"seconds": 1795563460, "microseconds": %d}, '
    b'"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}}\n',
    b'{"timestamp": {"seconds": 1795563461, "microseconds": %d}, '
    b'"event": "BLOCK_IO_ERROR", "data": {"device": "ide0-hd1", '
    b'"operation": "read", "action": "stop", "nospace": false, '
    b'"reason": "Input/output error"}}\n',
)


def event_chunk(size=64 << 10):
    """About ``size`` bytes of whole events, and how many there are."""
    out, i = bytearray(), 0
    while len(out) < size:
        out += EVENTS[i % len(EVENTS)] % (i * 7919 % 1000000)
        i += 1
    return bytes(out), i


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                    reason="needs /proc/self/statm (Linux)")
def test_ten_million_events_with_flat_memory(backend):
    default = 10_000_000 if backend == "c" else 1_000_000
    total = int(os.environ.get("QMPFAST_LONGRUN_EVENTS", default))
    chunk, per_chunk = event_chunk()
    # split the chunk off a message boundary, so messages straddle feeds
    cut = len(chunk) // 3 + 17
    head, tail = chunk[:cut], chunk[cut:]
    dec = qmpfast.Decoder(backend=backend)
    rounds = -(-total // per_chunk)
    warmup = max(1, rounds // 10)
    seen = 0
    names = set()
    last = None
    for r in range(rounds):
        for part in (head, tail):
            out = dec.feed(part)
            seen += len(out)
            if out:
                last = out[-1]
                names.add(last.name)
        if r == warmup:
            base = process_bytes()
    grown = process_bytes() - base
    dec.close()
    assert seen == rounds * per_chunk >= total
    assert last.stream_offset + len(last.raw) + 1 == rounds * len(chunk)
    assert names <= {"STOP", "RESET", "BLOCK_IO_ERROR"}
    assert grown < 8 << 20, f"memory grew by {grown / 2**20:.1f} MiB"


def _stream(seed):
    """Real captures, bad lines and events, in a seeded order."""
    rng = random.Random(seed)
    parts = [sample("qemu-7.2.qmp"), sample("qemu-7.2-pretty.qmp"),
             sample("qemu-7.2-guest-poweroff.qmp"), event_chunk(8192)[0],
             b"garbage line\n", b'{"a": "\xff"}\n', b'{"event": 5}\n',
             b'{"return": ' + b"9" * 300 + b"}\n"]
    return b"".join(rng.choice(parts) for _ in range(60))


def _decode(backend, data, seed, options):
    rng = random.Random(seed)
    dec = qmpfast.Decoder(backend=backend, on_error="skip", **options)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 4096)
        for m in dec.feed(data[i:i + n]):
            out.append((m.stream_offset, m.kind, m.raw, m.to_dict(),
                        getattr(m, "name", None),
                        getattr(m, "seconds", None)))
        i += n
    dec.close()
    return out, [(type(e).__name__, e.offset, e.position)
                 for e in dec.errors]


OPTIONS = [{}, {"events": ["STOP", "RESET"]}, {"max_message_size": 512},
           {"max_depth": 3}]


def test_many_decoders_in_many_threads(backend):
    jobs = [(_stream(k % 3), k, OPTIONS[k % len(OPTIONS)])
            for k in range(16)]
    alone = [_decode(backend, *job) for job in jobs]
    assert all(res[0] for res in alone)
    results = [None] * len(jobs)
    errors = []
    start = threading.Barrier(8)

    def worker(w):
        try:
            start.wait()
            for _ in range(2):
                for k in range(w, len(jobs), 8):
                    got = _decode(backend, *jobs[k])
                    if results[k] is None:
                        results[k] = got
                    elif results[k] != got:
                        errors.append(f"job {k} differs between runs")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k, (want, got) in enumerate(zip(alone, results)):
        assert got == want, f"job {k} ({jobs[k][2]}) differs from alone"


def test_one_schema_shared_by_threads_with_the_same_filter(backend):
    """Decoders with the same filter share one frozen schema; building it
    from many threads at once gives one result."""
    data = _stream(7)
    want = _decode(backend, data, 1, {"events": ["SHUTDOWN", "STOP"]})
    got = [None] * 8
    start = threading.Barrier(8)

    def worker(w):
        start.wait()
        got[w] = _decode(backend, data, 1, {"events": ["SHUTDOWN", "STOP"]})

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(g == want for g in got)
