"""The streaming decoder: bytes in, message objects out.

``Decoder.feed`` hands each chunk to the scanner in one call, keeps only
the bytes of a message still in progress, and turns each batch of records
into message objects in one pass.  Errors come back as records too: raised
with the messages decoded before them (``on_error="raise"``) or collected
in ``errors`` (``"skip"``).
"""

from __future__ import annotations

import re
import threading
from functools import partial
from itertools import islice, repeat
from operator import is_ as _is
from typing import (Any, Callable, Iterable, Iterator, Literal, Optional,
                    Protocol, TypeVar, Union)

_new = tuple.__new__

from .scan import _header as K
from .scan.records import (ERROR_TEXT, PROTOCOL_CODES, R_END, R_MICROS,
                           R_SECONDS, R_START, R_TAG, REC_FIELDS, TAG_BIGTS,
                           TAG_LONGNAME, column, tag_byte, tag_code,
                           tag_kind, tag_name_id)
from .scan import BACKEND, Scanner, ScannerType, backend as _backend_module
from .model.catalogue import EVENT_CLASSES, EVENTS, EXTRACTED_PATHS
from .errors import (DecodeError, IncompleteMessageError, IntegerTooLongError,
                     MessageTooLargeError, ProtocolError, ValidationError)
from .model import messages as _messages
from .model.messages import F_BATCH, F_INDEX, KIND_CLASSES, Event, Message
from .scan.paths import S_EVENT, S_MICROS, S_SECONDS, Schema
from .scan.records import Records

# What builds the message of a record: (seconds, microseconds, batch,
# index) -> the message, or None for one filtered out or refused.
Factory = Callable[[int, int, Records, int], Optional[Message]]
# What Decoder.feed takes.
BytesLike = Union[bytes, bytearray, memoryview]

_DONE = K.DONE

DEFAULT_MAX_MESSAGE_SIZE = 64 << 20  # QEMU's own input limit
DEFAULT_MAX_DEPTH = 1024  # QEMU's own nesting limit
MAX_MESSAGE_SIZE_LIMIT = (1 << 32) - 1  # spans are 32-bit

_CATALOGUE_NAMES = tuple(EVENTS)
_schemas: dict[Optional[frozenset[str]], Schema] = {}


def _schema(events: Optional[Iterable[str]]) -> Schema:
    """One Schema per filter, shared by every decoder that uses it."""
    key = None if events is None else frozenset(events)
    schema = _schemas.get(key)
    if schema is None:
        schema = _schemas[key] = Schema(
            paths=EXTRACTED_PATHS, names=_CATALOGUE_NAMES, keep=key)
        schema.factories = _Classes(schema)
    return schema


class _Pending(tuple):  # type: ignore[type-arg]
    """Stands for the message of a rare tag while a batch is built; the
    decoder replaces it by what the tag's factory makes (see _Classes)."""


class _Classes(dict[int, type]):
    """tag -> the class of the message of a record with that tag.

    A whole batch is built by one ``map`` of ``tuple.__new__`` over these
    classes and the zipped record fields: no Python code runs per message.
    Tags of records that need more decoding (event names the catalogue
    does not know or the scanner gave no id, timestamps beyond 64 bits,
    names too long to match) are never stored: looking one up marks the
    batch (``rare``) and gives ``_Pending``, whose objects the decoder then
    replaces by what ``factory(tag)`` builds.
    """

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        self.schema = schema
        # whether a rare tag was looked up since the flag was last cleared
        self.rare = False
        # (index, error) of events whose timestamp could not be converted,
        # filled while a batch is built; the decoder reports and clears it
        self.refused: list[tuple[Records, int, IntegerTooLongError]] = []

    def __missing__(self, tag: int) -> type:
        kind = tag_kind(tag)
        cls: Optional[type]
        if kind == K.KIND_EVENT:
            name_id = tag_name_id(tag)
            cls = None
            if name_id >= 0 and not tag & (TAG_BIGTS | TAG_LONGNAME):
                cls = EVENT_CLASSES.get(self.schema.names[name_id])
            if cls is None:
                self.rare = True
                return _Pending
        else:
            cls = KIND_CLASSES[kind]
        self[tag] = cls
        return cls

    def build(self, tag: int, seconds: int, microseconds: int,
              batch: Records, index: int) -> Optional[Message]:
        """The message of one record (None: filtered out or refused), for
        readers that build messages one at a time."""
        cls = self[tag]
        if cls is _Pending:
            self.rare = False
            return self.factory(tag)(seconds, microseconds, batch, index)
        message: Message = _new(cls, (seconds, microseconds, batch, index))
        return message

    def factory(self, tag: int) -> Factory:
        """What builds the message of a record with a rare tag."""
        name_id = tag_name_id(tag)
        if name_id >= 0 and not tag & (TAG_BIGTS | TAG_LONGNAME):
            return partial(_event, self.schema.names[name_id])
        if tag & TAG_LONGNAME and self.schema.keep_names is not None:
            return partial(_slow_event, keep=self.schema.keep_names,
                           refused=self.refused)
        return partial(_slow_event, refused=self.refused)


def _event(name: str, seconds: int, microseconds: int, batch: Records,
           index: int) -> Message:
    """The message of an event: typed when the catalogue knows the name."""
    cls = EVENT_CLASSES.get(name)
    if cls is not None:
        return _new(cls, (seconds, microseconds, batch, index))
    return _new(Event, (seconds, microseconds, batch, index, name))


def _slow_event(seconds: int, microseconds: int, batch: Records, index: int,
                keep: Optional[frozenset[str]] = None,
                refused: Optional[list[tuple[Records, int, IntegerTooLongError]]]
                = None) -> Optional[Message]:
    """Events whose name or timestamp the scanner left to Python; None for
    an event the filter ``keep`` does not want (names too long for the
    scanner to match are filtered here) or whose timestamp has more digits
    than the interpreter converts (put in ``refused``, reported as an
    error of that message)."""
    try:
        name = batch.value(index, S_EVENT)
        if keep is not None and name not in keep:
            return None
        seconds = batch.value(index, S_SECONDS)
        microseconds = batch.value(index, S_MICROS)
    except IntegerTooLongError as exc:
        if refused is None:
            raise
        refused.append((batch, index, exc))
        return None
    return _event(name, seconds, microseconds, batch, index)


# A batch whose buffer holds more than this many bytes per message it
# delivers is split (see _unshared): below it, sharing one buffer costs
# less than copying.
SHARED_BYTES_PER_MESSAGE = 2048
# Messages of at least this many bytes get a buffer of their own; smaller
# ones share one in runs of about this size, with no more than GAP bytes
# between neighbours.
OWN_BUFFER_BYTES = 4096
GAP = 512


def _unshared(batch: Records,
              n: int) -> tuple[list[Records], list[int]]:
    """For each of the first ``n`` records of ``batch``: a batch holding
    little but its message's bytes, and its index there.  A message kept
    (or queued) then holds about its own bytes (at most OWN_BUFFER_BYTES
    + GAP more), whatever came between, not the whole chunk it was read
    from.  Large messages are cut alone; small ones share a batch in runs
    with short gaps between them."""
    starts = column(batch.recs, R_START)
    ends = column(batch.recs, R_END)
    batches: list[Records] = []
    indices: list[int] = []
    first = 0
    for i in range(1, n + 1):
        if (i < n and ends[i - 1] - starts[first] < OWN_BUFFER_BYTES
                and ends[i] - starts[i] < OWN_BUFFER_BYTES
                and starts[i] - ends[i - 1] <= GAP):
            continue  # a small message close to a short run joins it
        part = batch.subset(first, i)
        batches += [part] * (i - first)
        indices += range(i - first)
        first = i
    return batches, indices


def _error_from_record(batch: Records, i: int,
                       source: Optional[str] = None) -> DecodeError:
    start, errpos, tag = batch.start(i), batch.error_pos(i), batch.tag(i)
    code = tag_code(tag)
    byte = tag_byte(tag)
    what = ERROR_TEXT.get(code, f"error {code}")
    if code in PROTOCOL_CODES:
        return ProtocolError(
            f"{what} in the message at byte {start}", start, errpos or start,
            source=source)
    if code == K.E_TOO_LARGE:
        return MessageTooLargeError(
            f"{what}: the message at byte {start} exceeds the limit of "
            f"{errpos - start} bytes (dropped up to the next line break)",
            start, errpos, source=source)
    found = f" ({bytes([byte])!r} found)" if byte >= 0 else ""
    return DecodeError(
        f"invalid JSON at byte {errpos}: {what}{found}, in the message at "
        f"byte {start}", start, errpos, source=source)


_Out = TypeVar("_Out", bound=list[Any])
_BLANKS = re.compile(rb"[ \t\r\n]*")  # JSON white space


def _blank_run(buf: bytearray, at: int) -> int:
    """Where the JSON white space from ``at`` on ends."""
    match = _BLANKS.match(buf, at)
    return match.end() if match is not None else at


def _concurrent_use() -> RuntimeError:
    return RuntimeError(
        "this Decoder is in use by another thread: one Decoder reads one "
        "stream, from one thread at a time")


class Decoder:
    """Decode a QMP byte stream into messages, chunk by chunk.

    ``events``: a set of event names to deliver; other events are dropped
    inside the scanner (non-events are always delivered).
    ``on_error``: ``"raise"`` or ``"skip"`` (a bad message is dropped up to
    the next line break after where it began and recorded in ``errors``).
    ``strict``: validate each event against QEMU's event catalogue.
    ``backend``: ``"c"`` or ``"python"`` to pick a scanner for this decoder
    (default: ``qmpfast.BACKEND``).
    ``source``: a name (file, socket) that error messages start with.
    """

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 max_depth: int = DEFAULT_MAX_DEPTH,
                 events: Union[str, Iterable[str], None] = None,
                 on_error: Literal["raise", "skip"] = "raise",
                 strict: bool = False, backend: Optional[str] = None,
                 source: Optional[str] = None) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        if not 1 <= max_message_size <= MAX_MESSAGE_SIZE_LIMIT:
            raise ValueError(
                f"max_message_size must be 1..{MAX_MESSAGE_SIZE_LIMIT}")
        if not 1 <= max_depth <= 1 << 20:
            raise ValueError("max_depth must be 1..1048576")
        if isinstance(events, str):
            events = (events,)
        self._schema = _schema(events)
        self._factories = self._schema.factories
        self._filtering = self._schema.keep is not None
        scanner_class: type[ScannerType]
        if backend is None or backend == BACKEND:
            scanner_class = Scanner
            self.backend: str = BACKEND
        else:
            scanner_class = _backend_module(backend).Scanner
            self.backend = backend
        self._scanner = scanner_class(self._schema, max_message_size,
                                      max_depth)
        # bytes from _pending_base on
        self._pending: Optional[bytearray] = None
        self._pending_base = 0
        # after a strict error: decoded messages and a scanner error that
        # came after it in the same batch, for the next call
        self._backlog: list[Message] = []
        self._deferred: Optional[DecodeError] = None
        self.on_error = on_error
        self.strict = strict
        self.source = source
        self.errors: list[DecodeError] = []
        if strict:
            from .model.validate import validate_event
            self._validate = validate_event
        # held during feed() and close(): the scanner and its scratch arrays
        # are one stream's state (the C scan runs without the GIL), so a
        # second thread is refused instead of corrupting them
        self._busy = threading.Lock()

    @property
    def position(self) -> int:
        """Absolute stream offset up to which input has been scanned."""
        return self._scanner.pos

    def feed(self, data: BytesLike) -> list[Message]:
        """Scan ``data``; return the messages completed so far, in order.

        One Decoder reads one stream: calling it from a second thread while
        a call is running raises RuntimeError (use one Decoder per thread,
        or a lock)."""
        if not self._busy.acquire(False):
            raise _concurrent_use()
        try:
            return self._feed(data)
        finally:
            self._busy.release()

    def _feed(self, data: BytesLike) -> list[Message]:
        if type(data) is not bytes:
            # bytes-like only: bytes(5) would be five NULs, bytes([123])
            # a '{', and bytes(10**9) a gigabyte
            try:
                data = bytes(memoryview(data))
            except TypeError:
                raise TypeError(
                    "Decoder.feed() takes bytes-like input, not "
                    f"{type(data).__name__}") from None
        scanner = self._scanner
        pending = self._pending
        buf: Union[bytes, bytearray]
        if pending is not None:
            pending += data
            buf = pending
            base = self._pending_base
        else:
            buf = data
            base = scanner.pos
        out: list[Message] = []
        shared = False  # whether a batch holds ``pending`` as its bytes
        keep = None
        try:
            if self._backlog:  # left by a strict error at the last call
                backlog, self._backlog = self._backlog, []
                out = self._check(backlog, 0)
            if self._deferred is not None:  # the scanner error after them
                err, self._deferred = self._deferred, None
                err.messages = out
                raise err
            unscanned = len(data)  # all before it was scanned already
            while True:
                max_records = unscanned // 48 + 16
                if max_records > 4096:
                    max_records = 4096
                status, n, keep = scanner.scan_count(buf, base, max_records)
                # no records (every chunk of a big message but its last):
                # no batch
                if n:
                    # The messages keep ``pending`` itself as their bytes
                    # (no copy): from here on it is never changed, and
                    # _keep starts a new one for the bytes still needed.
                    shared = shared or buf is pending
                    out = self._messages(out, scanner.batch(buf, base, n),
                                         status)
                if status == _DONE:
                    break
                unscanned = len(buf) + base - scanner.pos
        finally:
            self._keep(buf, base, shared, keep)
        return out

    def _messages(self, out: list[Message], batch: Records,
                  status: int) -> list[Message]:
        """``out`` with the messages of ``batch`` added (and its error
        raised or recorded)."""
        n = batch.n
        recs = batch.recs
        bad = None
        if status == K.ERROR:
            n -= 1
            bad = _error_from_record(batch, n, self.source)
            recs = recs[:n * REC_FIELDS]
        if n:
            first = len(out)
            if len(batch.buf) > n * SHARED_BYTES_PER_MESSAGE:
                # mostly bytes that are not these messages' (filtered
                # events, a huge message among small ones, junk): give the
                # messages buffers of their own so that none pins the rest
                batches, indices = _unshared(batch, n)
                out = self._build(out, recs, batches, indices)
            else:
                out = self._build(out, recs, repeat(batch, n), range(n))
            refused = self._factories.refused
            if (self._filtering or refused) and any(map(
                    _is, islice(out, first, None),
                    repeat(None))):  # long names filtered out, or refused
                out[first:] = [m for m in out[first:] if m is not None]
            if refused:
                try:
                    out = self._refuse(out, refused)
                except IntegerTooLongError:
                    self._deferred = bad  # reported at the next call
                    raise
            if self.strict:
                try:
                    out = self._check(out, len(out) - n)
                except ValidationError:
                    # the scanner's own error after it comes next, at the
                    # next call
                    self._deferred = bad
                    raise
        return self._report(out, bad)

    def _report(self, out: _Out, bad: Optional[DecodeError]) -> _Out:
        """``out``, after ``bad`` (the scanner's error of the batch, if
        any) was raised with ``out`` as its messages or recorded."""
        if bad is not None:
            if self.on_error == "raise":
                bad.messages = out
                raise bad
            self.errors.append(bad)
        return out

    def _build(self, out: list[Message], recs: Any,
               batches: Iterable[Records],
               indices: Iterable[int]) -> list[Message]:
        """``out`` with the message objects of the records ``recs``, each
        read from its batch and index there, built by one ``map``: no
        Python frame per message."""
        classes = self._factories
        first = len(out)
        out += map(_new, map(classes.__getitem__, column(recs, R_TAG)),
                   zip(column(recs, R_SECONDS), column(recs, R_MICROS),
                       batches, indices))
        if classes.rare:  # records that need more decoding
            classes.rare = False
            for j in range(first, len(out)):
                pending: Any = out[j]
                if type(pending) is _Pending:
                    batch: Records = pending[F_BATCH]
                    out[j] = classes.factory(batch.tag(pending[F_INDEX]))(
                        *pending)
        return out

    def _refuse(self, out: list[Message],
                refused: list[tuple[Records, int, IntegerTooLongError]]
                ) -> list[Message]:
        """Report events whose timestamp could not be converted, as the
        errors of their messages (``on_error`` decides)."""
        errors: list[DecodeError] = []
        for batch, index, exc in refused:
            start = batch.start(index)
            errors.append(IntegerTooLongError(
                f"{exc.msg}, in the message at byte {start}", start,
                start, path=exc.path, digits=exc.digits,
                source=self.source))
        refused.clear()
        if self.on_error == "raise":
            errors[0].messages = out
            raise errors[0]
        self.errors += errors
        return out

    def _check(self, out: list[Message], first: int) -> list[Message]:
        """Strict mode: validate the new events; drop or raise the bad.

        Raising leaves the messages after the bad one in ``_backlog``, for
        the next call to deliver (they were decoded already)."""
        kept = out[:first]
        for j in range(first, len(out)):
            msg = out[j]
            if isinstance(msg, Event):
                error = self._validate(msg, self.source)
                if error is not None:
                    if self.on_error == "raise":
                        error.messages = kept
                        self._backlog = out[j + 1:]
                        raise error
                    self.errors.append(error)
                    continue
            kept.append(msg)
        return kept

    def _keep(self, buf: Union[bytes, bytearray], base: int, shared: bool,
              keep: Optional[int] = None) -> None:
        """Keep the bytes from the scanner's ``keep_from`` (``keep``, when
        known) on for the next call (``shared``: a batch holds ``buf``,
        which must not change)."""
        if keep is None:
            keep = self._scanner.keep_from
        end = base + len(buf)
        if keep >= end:
            self._pending = None
        elif shared:
            # a new bytearray (buf is the pending one)
            self._pending = buf[keep - base:]  # type: ignore[assignment]
            self._pending_base = keep
        elif buf is self._pending:
            if keep > base:
                del buf[:keep - base]  # type: ignore[union-attr,unused-ignore]
            self._pending_base = keep
        else:
            self._pending = bytearray(buf[keep - base:])
            self._pending_base = keep

    def close(self) -> list[Message]:
        """End of stream: return the messages still to deliver.

        A message cut by the end of the stream raises IncompleteMessageError.
        Like any bad message it is dropped up to the line break after where
        it began, and what follows that line break is still decoded, so the
        error carries every message decoded by this call (``.messages``).
        With ``on_error="raise"`` it is raised at once and the next
        ``close()`` goes on after it; with "skip" the rest of the stream is
        decoded first, every cut message goes to ``errors``, and the first
        is raised at the end.
        """
        if not self._busy.acquire(False):
            raise _concurrent_use()
        try:
            return self._close()
        finally:
            self._busy.release()

    def _close(self) -> list[Message]:
        scanner = self._scanner
        out: list[Message] = []
        first: Optional[IncompleteMessageError] = None
        while True:
            if self._backlog or self._deferred is not None or (
                    self._pending is not None and scanner.pos < (
                        self._pending_base + len(self._pending))):
                try:
                    out += self._feed(b"")
                except DecodeError as err:
                    err.messages = out + err.messages
                    raise
            if not scanner.in_message:
                if first is not None:
                    first.messages = out
                    raise first
                return out
            start = scanner.message_start
            cut = IncompleteMessageError(
                f"the stream ended inside the message at byte {start}",
                start, scanner.pos, source=self.source)
            self._resync_after(start, frozenset(scanner.open_containers()))
            if self.on_error == "raise":
                cut.messages = out
                raise cut
            self.errors.append(cut)
            if first is None:
                first = cut

    def _resync_after(self, start: int,
                      doomed: frozenset[int] = frozenset()) -> None:
        """Restart scanning after the first line break after ``start``,
        passing over lines whose first non-blank byte opens one of the
        containers ``doomed``: those were still open where the stream
        ended, so a message begun there would end the same way (the
        rescan stays linear, as after a syntax error in the scanner)."""
        pending = self._pending
        base = self._pending_base
        newline = -1
        if pending is not None:
            newline = pending.find(b"\n", start - base)
            while newline >= 0 and doomed:
                first = _blank_run(pending, newline + 1)
                if base + first not in doomed:
                    break
                newline = pending.find(b"\n", first)
        if pending is None or newline < 0:
            end = base + (len(pending) if pending is not None else 0)
            self._scanner.restart(end)
            self._pending = None
            return
        resume = base + newline + 1
        self._scanner.restart(resume)
        del pending[:newline + 1]
        self._pending_base = resume
        if not pending:
            self._pending = None

    def __iter__(self) -> Iterator[Message]:
        raise TypeError("feed() a Decoder chunks; use iter_messages() to "
                        "read a file or socket")


def parse(data: BytesLike, **options: Any) -> Message:
    """Decode exactly one message from ``data``."""
    decoder = Decoder(**options)
    out = decoder.feed(data)
    out += decoder.close()
    if len(out) != 1:
        raise DecodeError(f"expected exactly one message, found {len(out)}",
                          0)
    return out[0]


class Readable(Protocol):
    """A binary file, as ``iter_messages`` reads it."""

    def read(self, size: int, /) -> bytes: ...


class Receiving(Protocol):
    """A socket, as ``iter_messages`` reads it."""

    def recv(self, size: int, /) -> bytes: ...


def reader(source: Union[Readable, Receiving]) -> Callable[[int], bytes]:
    """How to read up to n bytes from a binary file or a socket (``read1``
    where a buffered file has it: what is there, without waiting for
    more)."""
    if hasattr(source, "recv"):
        return source.recv
    return getattr(source, "read1", None) or source.read


def iter_messages(source: Union[Readable, Receiving], chunk_size: int = 65536,
                  **options: Any) -> Iterator[Message]:
    """Yield the messages read from a binary file or a socket."""
    decoder = Decoder(**options)
    read = reader(source)
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        yield from decoder.feed(chunk)
    yield from decoder.close()




__all__ = ["Decoder", "parse", "iter_messages", "DEFAULT_MAX_MESSAGE_SIZE",
           "DEFAULT_MAX_DEPTH"]


_messages._parse = parse
