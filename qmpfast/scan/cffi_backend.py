"""The C backend: the scanner of csrc/qmpscan.c through cffi.

One ``qmpf_scan`` call per chunk (the GIL is released during it) fills an
int64 record array and a uint32 slot array; nothing per message crosses the
FFI.  Values are decoded from their byte spans only when read.
"""

from __future__ import annotations

import sys
import threading
from itertools import repeat
from typing import Any, Optional

from . import _header as K
from .records import (R_END, R_TAG, REC_FIELDS, TAG_BIGNUM, Records,
                      wanted)
from ._qmpscan import ffi, lib  # type: ignore[import-not-found]
from .paths import S_DATA, Path, Schema
from ..errors import IntegerTooLongError
from .paths import MISSING, member_path as _member
from .values import decode_span, fast_loads, loads, std_loads

_DATA_WORDS = S_DATA * K.SLOT_WORDS

_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_qmpf_scan = lib.qmpf_scan
_qmpf_keep_from = lib.qmpf_keep_from
_from_buffer = ffi.from_buffer
_U8 = ffi.typeof("uint8_t[]")
_I64 = ffi.typeof("int64_t[]")
_U32 = ffi.typeof("uint32_t[]")
_intern_column = lib.qmpf_intern_column
_intern = sys.intern

# On PyPy a batch's records are a list of ints (``ffi.unpack``) and its
# slots a C array (a copy by ``ffi.memmove``): the JIT reads both as raw
# memory, while a memoryview cast goes through the buffer protocol on
# every read, and copying through ``ffi.buffer`` or unpacking the slots
# into a list costs ten to twenty times the ``memmove``.  CPython keeps
# the memoryviews (no Python int per field until it is read).
CDATA = sys.implementation.name == "pypy"


def _c_array(ctype: Any, seq: Any) -> Any:
    """A C array of ``seq`` (a list: copied; cdata or a buffer: shared)."""
    if type(seq) is list:
        return ffi.new(ctype, seq)
    if isinstance(seq, ffi.CData):
        return seq
    return _from_buffer(ctype, seq)


def _u32_copy(src: Any, words: int) -> Any:
    """A new C array of the first ``words`` uint32 at ``src``."""
    words = max(1, words)
    copy = _alloc(_U32, words)
    ffi.memmove(copy, src, words * 4)
    return copy

# Batch.peek_object() decodes objects up to this size whole: beyond it,
# reading a few members' slots costs less than decoding the object.
PEEK_OBJECT_MAX = 2048

_SLOT_WORDS, _T_OBJECT = K.SLOT_WORDS, K.T_OBJECT


class _CTables:
    """A Schema frozen into the C tables (kept alive with the scanner)."""

    def __init__(self, schema: Schema) -> None:
        entries: list[tuple[int, int, int, int]] = []
        pool = bytearray()

        def put(parent: int, key: str, value: int) -> None:
            raw = key.encode("utf-8", "surrogatepass")
            entries.append((parent, len(pool), len(raw), value))
            pool.extend(raw)

        for node in schema.nodes[1:]:
            assert node.key is not None  # only the root has none
            put(node.parent, node.key, node.id)
        for name_id, name in enumerate(schema.names):
            put(K.NAMES_PARENT, name, name_id)
        size = 8
        while size < 2 * len(entries) + 2:
            size *= 2
        self.pool = ffi.new("uint8_t[]", bytes(pool) or b"\0")
        self.table = ffi.new("uint32_t[]", size * K.ENTRY_WORDS)
        for parent, off, length, value in entries:
            if lib.qmpf_table_insert(self.table, size - 1, self.pool, parent,
                                     off, length, value):
                raise ValueError("duplicate key in schema")
        self.nodes = ffi.new("qmpf_node[]", len(schema.nodes))
        for node in schema.nodes:
            c = self.nodes[node.id]
            c.slot = node.slot
            c.slot_end = node.slot_end
            c.role = node.role
        self.schema = ffi.new("qmpf_schema *")
        cs = self.schema
        cs.nodes = self.nodes
        cs.n_nodes = len(schema.nodes)
        cs.n_slots = schema.n_slots
        cs.pool = self.pool
        cs.table = self.table
        cs.table_mask = size - 1
        if schema.keep is not None:
            keep = bytearray(max(1, len(schema.names)))
            for name_id in schema.keep:
                keep[name_id] = 1
            self.keep = ffi.new("uint8_t[]", bytes(keep))
            cs.keep = self.keep
        else:
            cs.keep = ffi.NULL
        cs.keep_unknown = 0
        for role, slot in enumerate(schema.role_slot):
            cs.role_slot[role] = slot


def _tables(schema: Schema) -> _CTables:
    tables: Optional[_CTables] = getattr(schema, "_ctables", None)
    if tables is None:
        tables = schema._ctables = _CTables(schema)
    return tables


# A batch of at most this many records lets the batches cut from it
# (subset) share its record and slot arrays, a few KiB at most.
SHARED_ROWS_MAX = 64


def _copy(view: memoryview) -> memoryview:
    """A memoryview of the same format holding a copy of ``view``."""
    copy: memoryview = memoryview(view.tobytes()).cast(
        view.format)  # type: ignore[call-overload]
    return copy


# The interner of a scanner starts this small (a decoder that never reads
# a member column costs nothing) and grows fourfold each time it fills, up
# to INTERN_MAX_IDS values and INTERN_POOL_BYTES bytes of them.
INTERN_FIRST_IDS = 256
INTERN_MAX_IDS = 16384
INTERN_POOL_BYTES = 1 << 19

_OTHER: Any = object()  # a value the interner did not take: decode it
_ID_BYTES = ffi.sizeof("int32_t")


def _add_fresh(values: list[Any], buf: Any, fields: list[int]) -> None:
    """Append the values of the new ids (``fields``: FRESH_WORDS each,
    start, end, type): ASCII strings, most of them, by one ``map``."""
    types = fields[2::K.FRESH_WORDS]
    starts = fields[0::K.FRESH_WORDS]
    ends = fields[1::K.FRESH_WORDS]
    if types.count(K.T_STR_ASCII) == len(types):
        values += map(str, map(buf.__getitem__, map(slice, starts, ends)),
                      repeat("ascii"))
        return
    for start, end, t in zip(starts, ends, types):
        value = decode_span(buf, t, start, end)
        values.append(_intern(value) if type(value) is str else value)


class Interner:
    """Each distinct scalar member value of a stream, decoded once.

    ``qmpf_intern_column`` gives a column of ids; ``values`` holds the
    value of each id, so a column of values is one ``map`` over the ids.
    Values are immutable (str, int, float, bool, None) and shared by every
    message holding them.  Bounded: when the C table fills, it is reset
    (and grown, up to its limits) before the next column.  A lock keeps
    two threads reading columns of one decoder's batches apart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = INTERN_FIRST_IDS // 2
        self._state: Any = None
        self._out: Any = None
        self._fresh: Any = None
        self._n_fresh = ffi.new("size_t[2]")  # new values, OTHER ids
        self._counts_other = self._n_fresh + 1
        self._room = 0
        self._which: dict[tuple[int, ...], Any] = {}
        self.values: list[Any] = []

    def _reset(self) -> None:
        state = self._state
        if state is None or state.full:
            if state is not None and self._ids < INTERN_MAX_IDS:
                self._ids = min(self._ids * 4, INTERN_MAX_IDS)
            ids = self._ids
            size = 2 * ids
            pool = min(ids * 32, INTERN_POOL_BYTES)
            state = ffi.new("qmpf_interner *")
            self._table = ffi.new("uint32_t[]", size * K.INTERN_ENTRY_WORDS)
            self._pool = ffi.new("uint8_t[]", pool)
            state.table = self._table
            state.mask = size - 1
            state.max_ids = ids
            state.pool = self._pool
            state.pool_size = pool
            lib.qmpf_intern_reset(state)
            self._state = state
            values: list[Any] = [None] * K.ID_FIRST
            values[K.ID_OTHER] = _OTHER
            self.values = values

    def rows(self, batch: Batch, n: int, slots: tuple[int, ...],
             want: Optional[bytes], dense: bool) -> list[Any]:
        """The values at ``slots`` of the first ``n`` records of
        ``batch`` (None where absent), ``len(slots)`` per record, record
        after record.  ``want``: a byte per event name id, nonzero for the
        events to read (None: every record); ``dense``: values for every
        record (None for the others) rather than for the records read."""
        m = len(slots)
        with self._lock:
            self._reset()
            room = n * m
            if self._room < room:
                self._room = room = max(room, 1024)
                self._out = ffi.new("int32_t[]", room)
                self._fresh = ffi.new("int64_t[]", room * K.FRESH_WORDS)
            which = self._which.get(slots)
            if which is None:
                which = self._which[slots] = ffi.new("uint32_t[]", slots)
            buf = batch.buf
            count = _intern_column(
                self._state, _from_buffer(_U8, buf), len(buf), batch.base,
                _c_array(_I64, batch.recs),
                _c_array(_U32, batch._slots), n, batch._nw, which, m,
                _from_buffer(_U8, want) if want is not None else ffi.NULL,
                len(want) if want is not None else 0, dense, self._out,
                self._fresh, self._n_fresh, self._counts_other)
            values = self.values
            fresh = self._n_fresh[0]
            if fresh:
                _add_fresh(values, buf, ffi.unpack(
                    self._fresh, fresh * K.FRESH_WORDS))
            out = list(map(values.__getitem__, ffi.unpack(self._out, count)))
            other = self._n_fresh[1]
        if other:
            self._decode_others(batch, n, slots, want, dense, out)
        return out

    @staticmethod
    def _decode_others(batch: Batch, n: int, slots: tuple[int, ...],
                       want: Optional[bytes], dense: bool,
                       out: list[Any]) -> None:
        """Values the interner did not take, decoded from their spans."""
        rows = (range(n) if dense or want is None else
                [i for i in range(n) if wanted(batch.tag(i), want)])
        m = len(slots)
        for j, value in enumerate(out):
            if value is _OTHER:
                v = batch.value(rows[j // m], slots[j % m])
                out[j] = None if v is MISSING else v


class Batch(Records):
    """The records of one scan call and the bytes they point into.

    ``recs`` is an int64 view (REC_FIELDS per record), ``_slots`` a uint32
    view (SLOT_WORDS per slot, ``_nw`` words per record).
    """

    __slots__ = ("_slots", "_nw", "_paths", "_interner")

    def __init__(self, buf: Any, base: int, recs: Any, n: int,
                 slots: Any, nw: int, paths: list[Path],
                 interner: Interner) -> None:
        self.buf = buf
        self.base = base
        self.recs = recs
        self.n = n
        self._slots = slots
        self._nw = nw
        self._paths = paths  # slot -> member path, for error messages
        self._interner = interner

    def rows(self, n: int, slots: tuple[int, ...],
             want: Optional[bytes] = None, dense: bool = True) -> list[Any]:
        """The values at ``slots`` of the first ``n`` records, record
        after record (None where absent), each distinct value decoded once
        per decoder; see ``Interner.rows``."""
        return self._interner.rows(self, n, slots, want, dense)

    def subset(self, first: int, end: int) -> Batch:
        """Records ``first`` to ``end - 1`` as a batch of their own, with a
        copy of just their bytes.  Their rows are views of this batch's
        when it has few records (its arrays are then small, and slicing a
        view costs far less than copying), copies otherwise."""
        recs = self.recs
        start = recs[first * REC_FIELDS]  # R_START
        stop = recs[(end - 1) * REC_FIELDS + R_END]
        nw = self._nw
        rows = recs[first * REC_FIELDS:end * REC_FIELDS]
        if CDATA:  # a list slice is a copy; a cdata slice would not own
            slots = _u32_copy(self._slots + first * nw, (end - first) * nw)
        else:
            slots = self._slots[first * nw:max(end * nw, 1)]
            if self.n > SHARED_ROWS_MAX:
                rows = _copy(rows)
                slots = _copy(slots)
        return Batch(self.buf[start - self.base:stop - self.base], start,
                     rows, end - first, slots, nw, self._paths,
                     self._interner)

    def is_object(self, i: int, slot: int) -> bool:
        """Whether the value at a slot is a JSON object."""
        t: int = self._slots[i * self._nw + slot * K.SLOT_WORDS + 2]
        return t == K.T_OBJECT

    def value(self, i: int, slot: int) -> Any:
        """The decoded value at a slot's path, or MISSING."""
        k = i * self._nw + slot * K.SLOT_WORDS
        sl = self._slots
        t = sl[k + 2]
        if t == K.T_STR_ASCII:  # most members: inline the common case
            off = self.recs[i * REC_FIELDS] - self.base
            return self.buf[off + sl[k]:off + sl[k + 1]].decode("ascii")
        if not t:
            return MISSING
        j = i * REC_FIELDS
        off = self.recs[j] - self.base
        try:
            return decode_span(self.buf, t, off + sl[k], off + sl[k + 1],
                               std_loads if self.recs[j + R_TAG] & TAG_BIGNUM
                               else loads)
        except IntegerTooLongError as exc:
            raise exc.under(_member(self._paths[slot])) from None

    def data(self, i: int) -> Any:
        """The ``data`` member decoded (``{}`` when absent): the one value
        the "full" job reads per event, so its usual case (an object, no
        integer beyond 64 bits) is one slice and one loader call."""
        k = i * self._nw + _DATA_WORDS
        sl = self._slots
        t = sl[k + 2]
        if t == _T_OBJECT:
            j = i * REC_FIELDS
            recs = self.recs
            if not recs[j + R_TAG] & TAG_BIGNUM:
                off = recs[j] - self.base
                return fast_loads(self.buf[off + sl[k]:off + sl[k + 1]])
        elif not t:  # STOP, RESUME...
            return {}
        value = self.value(i, S_DATA)
        return {} if value is MISSING else value

    def peek_object(self, i: int, slot: int) -> Optional[dict[str, Any]]:
        """The JSON object at a slot decoded whole (a new dict, the
        caller's), for reading members from; None when the value there is
        not an object, or is too large for decoding it whole to beat
        reading member slots."""
        k = i * self._nw + slot * _SLOT_WORDS
        sl = self._slots
        if sl[k + 2] != _T_OBJECT:
            return None
        start = sl[k]
        end = sl[k + 1]
        if end - start > PEEK_OBJECT_MAX:
            return None
        j = i * REC_FIELDS
        recs = self.recs
        off = recs[j] - self.base
        data = self.buf[off + start:off + end]
        if recs[j + R_TAG] & TAG_BIGNUM:
            try:
                return std_loads(data)  # type: ignore[no-any-return]
            except IntegerTooLongError as exc:
                raise exc.under(_member(self._paths[slot])) from None
        return fast_loads(data)  # type: ignore[no-any-return]

    def obj(self, i: int) -> Any:
        """The whole message decoded."""
        if self.has_bignum(i):
            return std_loads(self.raw(i))
        return loads(self.raw(i))


class Scanner:
    """A resumable scanner; see csrc/qmpscan.h for the contract."""

    _recs: Any  # cffi arrays, from _grow
    _slots: Any

    def __init__(self, schema: Schema, max_message_size: int,
                 max_depth: int, start: int = 0,
                 simd: Optional[int] = None) -> None:
        """``simd``: the C code path (``QMPF_SIMD_*`` of the header), so
        that tests can hold every path to the scalar one; by default the
        fastest this CPU runs, or the scalar one when the environment sets
        QMPFAST_SCALAR=1."""
        if simd is not None and not lib.qmpf_simd_supported(simd):
            raise ValueError(f"code path {simd} does not run on this CPU")
        self._simd = simd
        self._tables = _tables(schema)
        self._paths = schema.paths
        self._nw = schema.n_slots * K.SLOT_WORDS
        self._state = ffi.new("qmpf_scanner *")
        self._kinds = ffi.new("uint8_t[]", max_depth + 2)
        self._nodes = ffi.new("int32_t[]", max_depth + 2)
        self._starts = ffi.new("int64_t[]", max_depth + 2)
        self._doomed = ffi.new("int64_t[]", max_depth + 2)
        self._partial = ffi.new("uint32_t[]", max(1, self._nw))
        self._n = ffi.new("size_t *")
        self._room = 0
        self._interner = Interner()
        self._limits = (max_depth, max_message_size)
        self.restart(start)

    def restart(self, offset: int) -> None:
        """Forget any message in progress; scan on from ``offset``."""
        max_depth, max_message_size = self._limits
        lib.qmpf_init(self._state, self._tables.schema, self._kinds,
                      self._nodes, self._starts, self._doomed, self._partial,
                      max_depth, max_message_size, offset)
        if self._simd is not None:
            self._state.simd = self._simd

    @property
    def simd(self) -> int:
        """The code path this scanner runs (``QMPF_SIMD_*``)."""
        return self._state.simd  # type: ignore[no-any-return]

    @property
    def pos(self) -> int:
        """Absolute stream offset up to which input has been scanned."""
        return self._state.pos  # type: ignore[no-any-return]

    @property
    def keep_from(self) -> int:
        """The first offset the next scan may still need."""
        return lib.qmpf_keep_from(self._state)  # type: ignore[no-any-return]

    @property
    def in_message(self) -> bool:
        """Whether the scanner is inside a message."""
        return bool(lib.qmpf_in_message(self._state))

    @property
    def message_start(self) -> int:
        """The offset where the message in progress began."""
        return self._state.msg_start  # type: ignore[no-any-return]

    def open_containers(self) -> list[int]:
        """Stream offsets of the containers open inside the message in
        progress (not its own object), outermost first."""
        state = self._state
        if not lib.qmpf_in_message(state):
            return []
        return [self._starts[d] for d in range(2, state.depth + 1)]

    def scan(self, buf: Any, base: int,
             max_records: int) -> tuple[int, Batch]:
        """Scan ``buf`` (bytes at stream offset ``base``) from ``pos``.

        Returns (status, Batch).
        """
        status, n, _ = self.scan_count(buf, base, max_records)
        return status, self.batch(buf, base, n)

    def scan_count(self, buf: Any, base: int,
                   max_records: int) -> tuple[int, int, int]:
        """``scan`` without the Batch: returns (status, number of records,
        keep_from).

        ``batch(buf, base, n)`` then gives the records, before the next
        scan; the decoder's path for a chunk that completes nothing stops
        at the count.
        """
        if max_records > self._room or not self._room:
            self._grow(max(1, max_records))
        s = self._state
        n = self._n
        status = _qmpf_scan(s, _from_buffer(_U8, buf), len(buf), base,
                            self._recs, self._slots, max_records, n)
        return status, n[0], _qmpf_keep_from(s)

    def _grow(self, max_records: int) -> None:
        # scratch arrays reused by every call; a batch keeps a copy of only
        # the part it filled (fresh large allocations would cost a page
        # fault per 4 KiB on every chunk)
        self._room = max_records
        self._recs = _alloc("int64_t[]", max_records * REC_FIELDS)
        self._slots = _alloc("uint32_t[]", max(1, max_records * self._nw))

    def batch(self, buf: Any, base: int, n: int) -> Batch:
        """The Batch of the ``n`` records of the last ``scan_count``."""
        nw = self._nw
        if CDATA:
            return Batch(buf, base, ffi.unpack(self._recs, n * REC_FIELDS), n,
                         _u32_copy(self._slots, n * nw), nw, self._paths,
                         self._interner)
        # copies of just the filled parts, as int64 / uint32 views: fields
        # become Python ints only when read
        recs = memoryview(
            ffi.buffer(self._recs, max(1, n) * REC_FIELDS * 8)[:]).cast("q")
        view = memoryview(
            ffi.buffer(self._slots, max(1, n * nw) * 4)[:]).cast("I")
        return Batch(buf, base, recs, n, view, nw, self._paths,
                     self._interner)
