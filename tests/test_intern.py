"""Member values read a column at a time (``Batch.rows``): each distinct
value decoded once per decoder, equal to reading each record's slot, on
every stream of the test data; bounded however many values a stream has;
and the C interner safe on records that do not belong to the buffer and
when two threads read columns of one decoder."""

import threading

import pytest

import qmpfast
from qmpfast.model.catalogue import EXTRACTED_PATHS
from qmpfast.scan import _header as K
from qmpfast.scan.paths import MISSING
from qmpfast.scan.records import tag_kind

from decoding import event_bytes
from test_columns import STREAMS


def _batches(backend, data, **options):
    dec = qmpfast.Decoder(backend=backend, on_error="skip", **options)
    msgs = dec.feed(data)
    try:
        msgs += dec.close()
    except qmpfast.IncompleteMessageError:
        pass  # a stream cut short: its messages before the cut
    seen, out = set(), []
    for m in msgs:
        if id(m._batch) not in seen:
            seen.add(id(m._batch))
            out.append(m._batch)
    return dec, out


def _slots(dec):
    return tuple(dec._schema.slot_of[path] for path in EXTRACTED_PATHS)


def _expected(batch, n, slots, want=None, dense=True):
    from qmpfast.scan.records import wanted
    out = []
    for i in range(n):
        if want is not None and not wanted(batch.tag(i), want):
            if dense:
                out += [None] * len(slots)
            continue
        for slot in slots:
            try:
                v = batch.value(i, slot)
            except qmpfast.IntegerTooLongError as exc:
                v = exc
            out.append(None if v is MISSING else v)
    return out


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_rows_equal_each_slot_read(backend, name):
    dec, batches = _batches(backend, STREAMS[name])
    slots = _slots(dec)
    checked = 0
    for batch in batches:
        # the good records (a batch may end with its scanner error's)
        n = sum(tag_kind(batch.tag(i)) != K.KIND_BAD for i in range(batch.n))
        expected = _expected(batch, n, slots)
        if any(isinstance(v, Exception) for v in expected):
            with pytest.raises(qmpfast.IntegerTooLongError):
                batch.rows(n, slots)
            continue
        assert batch.rows(n, slots) == expected
        checked += sum(v is not None for v in expected)
    if b'"device"' in STREAMS[name] or b'"client"' in STREAMS[name]:
        assert checked  # a stream with typed members read some


@pytest.mark.parametrize("dense", [True, False])
def test_rows_of_some_events(backend, dense):
    data = b"".join(
        event_bytes(n, {"device": f"d{k % 3}", "operation": "read",
                        "action": "stop", "reason": "x"} if n ==
                    "BLOCK_IO_ERROR" else {"guest": k % 2 == 0,
                                           "reason": f"r{k % 4}"})
        + b"\r\n" for k, n in enumerate(["BLOCK_IO_ERROR", "RESET"] * 40))
    dec, batches = _batches(backend, data)
    names = dec._schema.names
    want = bytes(name == "RESET" for name in names)
    slots = (dec._schema.slot_of[("data", "reason")],
             dec._schema.slot_of[("data", "guest")])
    (batch,) = batches
    got = batch.rows(batch.n, slots, want, dense)
    assert got == _expected(batch, batch.n, slots, want, dense)
    assert len(got) == (80 if dense else 40) * 2
    if not dense:
        assert got[:4] == ["r1", False, "r3", False]  # RESETs: odd k


def test_equal_values_are_one_object(backend):
    """A repeated value is decoded once: every row holds the same object
    (C backend), and equal values whatever the backend."""
    data = b"".join(event_bytes("BLOCK_IO_ERROR", {
        "device": "virtio-disk0", "operation": "write", "action": "report",
        "reason": "Input/output error"}) + b"\n" for _ in range(50))
    dec, (batch,) = _batches(backend, data)
    slot = dec._schema.slot_of[("data", "device")]
    values = batch.rows(batch.n, (slot,))
    assert values == ["virtio-disk0"] * 50
    if backend == "c":
        assert len({id(v) for v in values}) == 1


def test_interner_stays_bounded_and_right(backend):
    """More distinct values than the interner holds: it is reset (and
    grown) as it fills, never past its bound, and every value still
    reads right."""
    n = 40000
    lines = [event_bytes("BLOCK_IO_ERROR", {
        "device": f"drive{k}", "operation": "read", "action": "stop",
        "reason": "r"}) + b"\n" for k in range(n)]
    dec = qmpfast.Decoder(backend=backend)
    slot = dec._schema.slot_of[("data", "device")]
    got = []
    for start in range(0, n, 4000):
        msgs = dec.feed(b"".join(lines[start:start + 4000]))
        batch = msgs[0]._batch
        got += batch.rows(batch.n, (slot,))
    assert got == [f"drive{k}" for k in range(n)]
    if backend == "c":
        from qmpfast.scan.cffi_backend import INTERN_MAX_IDS
        interner = dec._scanner._interner
        assert len(interner.values) <= K.ID_FIRST + INTERN_MAX_IDS
        assert interner._ids == INTERN_MAX_IDS  # it grew to its bound


def test_two_threads_read_columns_of_one_decoder(backend):
    data = b"".join(event_bytes("BLOCK_IO_ERROR", {
        "device": f"d{k % 500}", "operation": "read", "action": "stop",
        "reason": f"r{k % 7}"}) + b"\n" for k in range(3000))
    dec, batches = _batches(backend, data)
    slots = (dec._schema.slot_of[("data", "device")],
             dec._schema.slot_of[("data", "reason")])
    expected = [_expected(b, b.n, slots) for b in batches]
    failures = []

    def read():
        for _ in range(30):
            for batch, want in zip(batches, expected):
                if batch.rows(batch.n, slots) != want:
                    failures.append(batch)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def test_c_interner_ignores_records_outside_the_buffer():
    """Records whose spans fall outside the buffer given (a caller's
    mistake) give QMPF_ID_OTHER, never a read out of bounds."""
    pytest.importorskip("qmpfast.scan._qmpscan")
    from qmpfast.scan._qmpscan import ffi, lib
    it = ffi.new("qmpf_interner *")
    table = ffi.new("uint32_t[]", 64 * K.INTERN_ENTRY_WORDS)
    pool = ffi.new("uint8_t[]", 256)
    it.table, it.mask, it.max_ids = table, 63, 32
    it.pool, it.pool_size = pool, 256
    lib.qmpf_intern_reset(it)
    buf = b'{"a": "xyz"}'
    rec_words = K.REC_FIELDS
    recs = ffi.new("int64_t[]", 3 * rec_words)
    slots = ffi.new("uint32_t[]", 3 * K.SLOT_WORDS)
    # record 0: good; 1: starts past the end; 2: span past the end
    for r, start, span in [(0, 0, (7, 10)), (1, 100, (0, 3)),
                           (2, 0, (7, 4000))]:
        recs[r * rec_words + K.R_START] = start
        recs[r * rec_words + K.R_TAG] = K.KIND_EVENT
        slots[r * K.SLOT_WORDS] = span[0]
        slots[r * K.SLOT_WORDS + 1] = span[1]
        slots[r * K.SLOT_WORDS + 2] = K.T_STR_ASCII
    ids = ffi.new("int32_t[]", 3)
    fresh = ffi.new("int64_t[]", 3 * K.FRESH_WORDS)
    counts = ffi.new("size_t[2]")
    which = ffi.new("uint32_t[]", [0])
    n = lib.qmpf_intern_column(it, buf, len(buf), 0, recs, slots, 3,
                               K.SLOT_WORDS, which, 1, ffi.NULL, 0, 1, ids,
                               fresh, counts, counts + 1)
    assert n == 3
    assert list(ids) == [K.ID_FIRST, K.ID_OTHER, K.ID_OTHER]
    assert counts[0] == 1 and counts[1] == 2
    assert list(fresh[0:3]) == [7, 10, K.T_STR_ASCII]
    # a slot the records do not have: nothing is read
    which[0] = 5
    assert lib.qmpf_intern_column(it, buf, len(buf), 0, recs, slots, 3,
                                  K.SLOT_WORDS, which, 1, ffi.NULL, 0, 1,
                                  ids, fresh, counts, counts + 1) == 0
