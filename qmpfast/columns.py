"""Messages as columns: one list per field for a whole chunk.

A collector counting events, or a loader filling a table, needs each
message's kind, name and timestamp, not an object per message.  The
scanner already writes them as flat integer arrays; ``ColumnDecoder``
hands those arrays over as lists (a few ns per value) and turns event name
ids into names with one ``map``.  Everything else (raw bytes, ``data``,
member paths) is read from the same records only when a column is asked
for.

The stream handling (partial messages, errors, ``on_error``, ``events=``)
is the Decoder's own: ``ColumnDecoder`` runs a Decoder whose per-batch
step builds columns instead of objects, so both APIs deliver the same
messages and raise the same errors at the same offsets.
"""

from __future__ import annotations

import weakref
from functools import cached_property, partial
from itertools import chain
from typing import (Any, Callable, Iterable, Iterator, Literal, Optional,
                    Sequence, Union)

from .decoder import (BytesLike, Decoder, Readable, Receiving, reader,
                      _error_from_record)
from .errors import DecodeError, IntegerTooLongError
from .model.messages import KIND_CLASSES, Message
from .scan import _header as K
from .scan.paths import (MISSING, S_DATA, S_EVENT, S_MICROS, S_SECONDS,
                         Path, Schema)
from .scan.records import (R_MICROS, R_SECONDS, R_START, R_TAG, REC_FIELDS,
                           TAG_BIGTS, TAG_LONGNAME, Records, column,
                           tag_kind, tag_name_id)

__all__ = ["ColumnDecoder", "Columns", "iter_columns", "read_columns",
           "member_path_of", "BASE_COLUMNS"]

EVENT = KIND_CLASSES[K.KIND_EVENT].kind
# the kind of each record kind, as the message classes name it
KIND_NAMES = {kind: cls.kind for kind, cls in KIND_CLASSES.items()}

BASE_COLUMNS = ("kind", "name", "seconds", "microseconds", "offset", "raw")
"""The columns every batch has (``data`` and member paths on request)."""

# name of an event whose name or timestamp the scanner left to Python
_SLOW: Any = type("Slow", (), {"__slots__": (), "__repr__":
                               lambda self: "SLOW"})()

# a requested member: (column key, path)
Member = tuple[str, Path]
# (batch, index, error) of events whose timestamp could not be converted
Refused = list[tuple[Records, int, IntegerTooLongError]]


_PATHS: dict[str, Member] = {}


def member_path_of(spec: Union[str, Sequence[str]]) -> Member:
    """``"data.server.host"`` (or ``("data", "server", "host")``, for keys
    holding a dot) as (column key, path)."""
    if type(spec) is str:
        member = _PATHS.get(spec)
        if member is None:
            member = _member_path_of(spec)
            if len(_PATHS) < 4096:
                _PATHS[spec] = member
        return member
    return _member_path_of(spec)


def _member_path_of(spec: Union[str, Sequence[str]]) -> Member:
    if isinstance(spec, str):
        path = tuple(spec.split("."))
        key = spec
    else:
        path = tuple(spec)
        key = ".".join(path)
    if not path or not all(isinstance(k, str) and k for k in path):
        raise ValueError(f"a member path is keys from the message down, "
                         f"such as 'data.device', not {spec!r}")
    return key, path


class _TagTables:
    """tag -> event name and tag -> kind, for one Schema, filled as tags
    are met (a stream has a few dozen distinct tags)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.slow_tags: set[int] = set()
        tables = self

        class Names(dict[int, Any]):
            def __missing__(self, tag: int) -> Any:
                name = tables._name(tag)
                self[tag] = name
                return name

        class Kinds(dict[int, str]):
            def __missing__(self, tag: int) -> str:
                kind = self[tag] = KIND_NAMES[tag_kind(tag)]
                return kind

        self.names = Names()
        self.kinds = Kinds()
        # frozenset of event names -> its mask of name ids (Columns._mask)
        self.masks: dict[frozenset[str], bytes] = {}

    def _name(self, tag: int) -> Any:
        if tag_kind(tag) != K.KIND_EVENT:
            return None
        name_id = tag_name_id(tag)
        if name_id < 0 or tag & (TAG_BIGTS | TAG_LONGNAME):
            self.slow_tags.add(tag)
            return _SLOW
        return self.schema.names[name_id]


_tables: weakref.WeakKeyDictionary[Schema, _TagTables] = \
    weakref.WeakKeyDictionary()


def _tag_tables(schema: Schema) -> _TagTables:
    tables = _tables.get(schema)
    if tables is None:
        tables = _tables[schema] = _TagTables(schema)
    return tables


class _Part:
    """The kept records of one batch: the record fields (``recs``), the
    indices kept (None: all of them), and the columns read at feed time;
    ``kind`` and ``offset`` are read from the records when first asked
    for."""

    __slots__ = ("batch", "recs", "rows", "name", "seconds",
                 "microseconds", "slow", "_kinds", "_kind", "_offset")

    def __init__(self, batch: Records, recs: Any, rows: Optional[list[int]],
                 name: list[Any], seconds: list[Any],
                 microseconds: list[Any], kinds: _TagTables,
                 slow: Sequence[int] = ()) -> None:
        self.batch = batch
        self.recs = recs
        self.rows = rows
        self.name = name
        self.seconds = seconds
        self.microseconds = microseconds
        # positions of events whose name the scanner left to Python (no
        # name id: a mask of name ids does not find them)
        self.slow = slow
        self._kinds = kinds.kinds
        self._kind: Optional[list[str]] = None
        self._offset: Optional[list[int]] = None

    def column(self, slot: int, want: Optional[bytes]) -> list[Any]:
        """The values at ``slot`` of the events ``want`` asks for (a byte
        per event name id; None: every message), None in the other rows:
        one interned column of the batch."""
        values = self.batch.rows(len(self.recs) // REC_FIELDS, (slot,), want)
        rows = self.rows
        if rows is not None:
            values = [values[i] for i in rows]
        return values

    def _kept(self, values: Iterable[Any]) -> list[Any]:
        rows = self.rows
        if rows is None:
            return list(values)
        values = list(values)
        return [values[i] for i in rows]

    @property
    def tags(self) -> list[int]:
        return self._kept(column(self.recs, R_TAG))

    @property
    def kind(self) -> list[str]:
        if self._kind is None:
            self._kind = self._kept(map(self._kinds.__getitem__,
                                        column(self.recs, R_TAG)))
        return self._kind

    @property
    def offset(self) -> list[int]:
        if self._offset is None:
            self._offset = self._kept(column(self.recs, R_START))
        return self._offset

    def indices(self) -> Iterable[int]:
        return range(len(self.name)) if self.rows is None else self.rows


def _part(batch: Records, n: int, tables: _TagTables,
          keep: Optional[frozenset[str]], refused: Refused) -> _Part:
    """The columns of the first ``n`` records of ``batch``: lists made
    from the record array's strided views, names by one ``map``; only
    events the scanner left to Python (names without an id, timestamps
    beyond 64 bits) are read one by one."""
    recs = batch.recs
    if n != batch.n:
        recs = recs[:n * REC_FIELDS]
    names = list(map(tables.names.__getitem__, column(recs, R_TAG)))
    seconds: list[Any] = list(column(recs, R_SECONDS))
    micros: list[Any] = list(column(recs, R_MICROS))
    rows: Optional[list[int]] = None
    slow: list[int] = []
    if tables.slow_tags and _SLOW in names:
        dropped: set[int] = set()
        for i, name in enumerate(names):
            if name is not _SLOW:
                continue
            slow.append(i)
            try:
                name = batch.value(i, S_EVENT)
                if (batch.tag(i) & TAG_LONGNAME and keep is not None
                        and name not in keep):
                    dropped.add(i)  # too long for the scanner's filter
                    continue
                seconds[i] = batch.value(i, S_SECONDS)
                micros[i] = batch.value(i, S_MICROS)
            except IntegerTooLongError as exc:
                refused.append((batch, i, exc))
                dropped.add(i)
                continue
            names[i] = name
        if dropped:
            rows = [i for i in range(n) if i not in dropped]
            names = [names[i] for i in rows]
            seconds = [seconds[i] for i in rows]
            micros = [micros[i] for i in rows]
            position = {i: j for j, i in enumerate(rows)}
            slow = [position[i] for i in slow if i in position]
    if None in names:  # only events have a timestamp
        seconds = [None if m is None else s for s, m in zip(seconds, names)]
        micros = [None if m is None else u for u, m in zip(micros, names)]
    return _Part(batch, recs, rows, names, seconds, micros, tables, slow)


class _ColumnFeed(Decoder):
    """A Decoder whose per-batch step collects columns in ``parts`` (its
    own result lists stay empty); reading, keeping partial messages,
    errors and ``close()`` are the Decoder's."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.parts: list[_Part] = []
        self._tables = _tag_tables(self._schema)
        self._refused: Refused = []

    def _messages(self, out: list[Message], batch: Records,
                  status: int) -> list[Message]:
        n = batch.n
        bad = None
        if status == K.ERROR:
            n -= 1
            bad = _error_from_record(batch, n, self.source)
        if n:
            self.parts.append(_part(batch, n, self._tables,
                                    self._schema.keep_names, self._refused))
            if self._refused:
                try:
                    out = self._refuse(out, self._refused)
                except IntegerTooLongError:
                    self._deferred = bad  # reported at the next call
                    raise
        return self._report(out, bad)


class Columns:
    """The messages of one ``feed()`` (or of several, ``concat``), as
    columns: equal-length lists, one entry per message.

    ``kind``: "event", "return", "error", "greeting", "command" or
    "message"; ``name``, ``seconds``, ``microseconds``: the event's (None
    for other kinds); ``offset``: stream offset of the message's first
    byte; ``raw``: its bytes.  ``data()`` and ``member(path)`` read more,
    when asked.  ``members`` are the paths the decoder was asked for;
    ``self["data.device"]`` is one of them (or any column by name).

    The columns keep the chunks they were read from until they are
    dropped.
    """

    def __init__(self, parts: Sequence[_Part], schema: Schema,
                 members: Sequence[Member] = ()) -> None:
        self._parts = list(parts)
        self._schema = schema
        self.members: tuple[str, ...] = tuple(key for key, _ in members)
        self._paths = dict(members)
        self._position_cache: dict[int, dict[frozenset[str], list[int]]] = {}

    @classmethod
    def concat(cls, batches: Iterable[Columns]) -> Columns:
        """One Columns of the messages of ``batches``, in order (they must
        come from decoders asked for the same members)."""
        batches = list(batches)
        if not batches:
            raise ValueError("concat() needs at least one Columns")
        first = batches[0]
        parts = [p for b in batches for p in b._parts]
        return cls(parts, first._schema, list(first._paths.items()))

    def _join(self, field: str) -> list[Any]:
        parts = self._parts
        if len(parts) == 1:
            return getattr(parts[0], field)  # type: ignore[no-any-return]
        return list(chain.from_iterable(getattr(p, field) for p in parts))

    def __len__(self) -> int:
        return sum(len(p.name) for p in self._parts)

    @cached_property
    def kind(self) -> list[str]:
        """Each message's kind: "event", "return", "error"..."""
        return self._join("kind")

    @cached_property
    def name(self) -> list[Optional[str]]:
        """Each event's name; None for messages that are not events."""
        return self._join("name")

    @cached_property
    def seconds(self) -> list[Optional[int]]:
        """Each event's ``timestamp.seconds`` (-1 when QEMU had no clock);
        None for messages that are not events."""
        return self._join("seconds")

    @cached_property
    def microseconds(self) -> list[Optional[int]]:
        """Each event's ``timestamp.microseconds``; None for the others."""
        return self._join("microseconds")

    @cached_property
    def offset(self) -> list[int]:
        """Each message's stream offset."""
        return self._join("offset")

    @cached_property
    def raw(self) -> list[bytes]:
        """Each message's exact bytes."""
        out: list[bytes] = []
        for p in self._parts:
            out += map(p.batch.raw, p.indices())
        return out

    def data(self) -> list[Optional[dict[str, Any]]]:
        """Each event's ``data`` member decoded ({} when absent); None for
        messages that are not events.  New dicts at each call."""
        out: list[Optional[dict[str, Any]]] = []
        for p in self._parts:
            data = p.batch.data
            out += [data(i) if k is EVENT else None
                    for i, k in zip(p.indices(), p.kind)]
        return out

    def member(self, path: Union[str, Sequence[str]],
               events: Optional[Iterable[str]] = None) -> list[Any]:
        """The value at a member path (``"data.server.host"``) of each
        message, decoded; None where the message has no such member.
        With ``events``, only events of those names are read (None for the
        other rows): the way to read typed members cheaply.  Paths the
        scanner extracts (those of the typed events) are read from its
        spans; others from the decoded message."""
        keys = self._paths.get(path) if isinstance(path, str) else None
        if keys is None:
            keys = member_path_of(path)[1]
        slot = self._schema.slot_of.get(keys)
        if slot is not None and keys[0] == "data" and len(keys) > 1 \
                and events is not None:
            return self.members_of_events([(keys, events)])[0]
        wanted = None if events is None else frozenset(events)
        out: list[Any] = []
        for p in self._parts:
            batch = p.batch
            read: Callable[[int], Any]
            if slot is not None:
                if wanted is None:  # every row: one interned column
                    out += p.column(slot, None)
                    continue
                read = partial(batch.value, slot=slot)
            else:
                read = partial(_walk_message, batch, keys=keys)
            if wanted is None:
                values = list(map(read, p.indices()))
                out += [None if v is MISSING else v for v in values]
                continue
            values = [None] * len(p.name)
            for j in self._positions(p, wanted):
                v = read(p.rows[j] if p.rows is not None else j)
                if v is not MISSING:
                    values[j] = v
            out += values
        return out

    def members_of_events(
            self, spec: Sequence[tuple[Union[str, Sequence[str]],
                                       Iterable[str]]]) -> list[list[Any]]:
        """Several member columns at once, each read only for the events
        named with it: ``[(path, event names), ...]`` -> one list per
        path, None in other rows.  Each of those events' ``data`` is
        decoded once (not once per path), which is how the typed members
        of the documented events are read."""
        n = len(self)
        out: list[list[Any]] = [[None] * n for _ in spec]
        reads: dict[str, list[tuple[int, Path, Optional[int]]]] = {}
        interned: list[tuple[int, int, frozenset[str]]] = []
        names = self._schema.names
        for k, (path, events) in enumerate(spec):
            keys = member_path_of(path)[1]
            if keys[0] != "data" or len(keys) < 2:
                raise ValueError(f"members_of_events() reads members of "
                                 f"'data', not {path!r}")
            slot = self._schema.slot_of.get(keys)
            events = frozenset(events)
            if slot is not None and events.issubset(names):
                interned.append((k, slot, events))  # read by the scanner
                continue
            for event in events:
                reads.setdefault(event, []).append((k, keys[1:], slot))
        for k, slot, events in interned:
            column = out[k] = []
            want = self._mask(events)
            for p in self._parts:
                values = p.column(slot, want)
                for j in p.slow:  # names the scanner gave no id
                    if p.name[j] in events:
                        i = j if p.rows is None else p.rows[j]
                        value = p.batch.value(i, slot)
                        values[j] = None if value is MISSING else value
                column += values
        if not reads:
            return out
        wanted = frozenset(reads)
        first = 0
        for p in self._parts:
            batch = p.batch
            names = p.name
            rows = p.rows
            for j in self._positions(p, wanted):
                i = j if rows is None else rows[j]
                todo = reads[names[j]]
                try:
                    data = batch.peek_object(i, S_DATA)
                except IntegerTooLongError:
                    data = None  # only the members holding one refuse
                if data is None:
                    for k, keys, slot in todo:
                        if slot is not None:
                            value = batch.value(i, slot)
                        else:
                            value = _walk_message(batch, i, ("data",) + keys)
                        out[k][first + j] = None if value is MISSING \
                            else value
                    continue
                for k, keys, _slot in todo:
                    value = data
                    for key in keys:
                        value = value.get(key) if type(value) is dict \
                            else None
                    out[k][first + j] = value
            first += len(names)
        return out

    def event_members(self, event: str,
                      paths: Sequence[Union[str, Sequence[str]]]
                      ) -> list[list[Any]]:
        """The member columns of one event: for each of ``paths``
        (``"data.device"``), a list with a value (None where absent) for
        each event named ``event``, in stream order; ``positions(event)``
        says which rows they are.  The compact way to read typed members:
        only that event's rows are read, each distinct value decoded once
        per decoder."""
        keys = [member_path_of(path)[1] for path in paths]
        slot_of = self._schema.slot_of
        slots = [slot_of.get(k) for k in keys]
        if event not in self._schema.names or None in slots or any(
                p.rows is not None or p.slow for p in self._parts):
            # read row by row: paths the scanner does not extract, or
            # events it gave no name id
            dense = self.members_of_events([(k, (event,)) for k in keys])
            where = self.positions(event)
            return [[column[j] for j in where] for column in dense]
        want = self._mask(frozenset((event,)))
        flat: list[Any] = []
        which = tuple(slot for slot in slots if slot is not None)
        for p in self._parts:
            flat += p.batch.rows(len(p.recs) // REC_FIELDS, which, want,
                                 False)
        m = len(which)
        return [flat[k::m] for k in range(m)]

    def positions(self, event: str) -> list[int]:
        """The rows of the events named ``event``, in order."""
        out: list[int] = []
        first = 0
        names = frozenset((event,))
        for p in self._parts:
            out += [first + j for j in self._positions(p, names)]
            first += len(p.name)
        return out

    def _mask(self, events: frozenset[str]) -> bytes:
        """A byte per event name id of the schema, 1 for ``events``."""
        masks = _tag_tables(self._schema).masks
        mask = masks.get(events)
        if mask is None:
            mask = masks[events] = bytes(
                name in events for name in self._schema.names)
        return mask

    def _positions(self, part: _Part, names: frozenset[str]) -> list[int]:
        """Positions in ``part`` of the events named in ``names``, found
        once per set of names."""
        cache = self._position_cache.setdefault(id(part), {})
        found = cache.get(names)
        if found is None:
            found = cache[names] = [j for j, n in enumerate(part.name)
                                    if n in names]
        return found

    def __getitem__(self, key: str) -> list[Any]:
        if key in BASE_COLUMNS:
            return getattr(self, key)  # type: ignore[no-any-return]
        if key == "data":
            return self.data()
        return self.member(key)

    def messages(self) -> list[Message]:
        """The same messages as objects, as ``Decoder.feed`` gives them."""
        factories = self._schema.factories
        out: list[Message] = []
        for p in self._parts:
            tags = p.tags
            for j, i in enumerate(p.indices()):
                msg = factories.build(tags[j], p.seconds[j] or 0,
                                      p.microseconds[j] or 0, p.batch, i)
                assert msg is not None  # its row was kept
                out.append(msg)
        return out

    def __repr__(self) -> str:
        return f"<Columns of {len(self)} messages>"


def _walk_message(batch: Records, i: int, keys: Path) -> Any:
    value = batch.obj(i)
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key, MISSING)
    return value


class ColumnDecoder:
    """Decode a QMP byte stream into ``Columns``, chunk by chunk.

    ``members``: member paths to offer as columns (``"data.device"``,
    ``("data", "server", "host")``).  The other options are the
    Decoder's (``events``, ``on_error``, ``backend``, ``source``, limits),
    with the same meaning: the same messages are delivered and the same
    errors raised or recorded in ``errors``.  A raised DecodeError holds
    the messages decoded before it as ``columns`` (and as objects in
    ``messages``).  Validation (``strict``) needs the objects: use
    ``Decoder``.
    """

    def __init__(self, members: Iterable[Union[str, Sequence[str]]] = (), *,
                 max_message_size: Optional[int] = None,
                 max_depth: Optional[int] = None,
                 events: Union[str, Iterable[str], None] = None,
                 on_error: Literal["raise", "skip"] = "raise",
                 backend: Optional[str] = None,
                 source: Optional[str] = None) -> None:
        options: dict[str, Any] = {"events": events, "on_error": on_error,
                                   "backend": backend, "source": source}
        if max_message_size is not None:
            options["max_message_size"] = max_message_size
        if max_depth is not None:
            options["max_depth"] = max_depth
        self._members = [member_path_of(m) for m in members]
        self._feed = _ColumnFeed(**options)

    @property
    def errors(self) -> list[DecodeError]:
        """Errors skipped (``on_error="skip"``), in stream order."""
        return self._feed.errors

    @property
    def position(self) -> int:
        """Absolute stream offset up to which input has been scanned."""
        return self._feed.position

    @property
    def backend(self) -> str:
        """The scanner backend this decoder uses."""
        return self._feed.backend

    @property
    def source(self) -> Optional[str]:
        """The name error messages start with."""
        return self._feed.source

    def _run(self, step: Callable[[], list[Message]]) -> Columns:
        feed = self._feed
        parts: list[_Part] = []
        feed.parts = parts
        try:
            early = step()
        except DecodeError as err:
            done = self._columns(parts, err.messages)
            err.columns = done  # type: ignore[attr-defined]
            err.messages = done.messages()
            raise
        finally:
            feed.parts = []
        return self._columns(parts, early)

    def _columns(self, parts: list[_Part], early: list[Message]) -> Columns:
        # ``early``: messages a Decoder step gave as objects (none: every
        # batch of this decoder becomes columns)
        assert not early, "columns decoder built message objects"
        return Columns(parts, self._feed._schema, self._members)

    def feed(self, data: BytesLike) -> Columns:
        """Scan ``data``; the messages it completes, as columns."""
        return self._run(lambda: self._feed.feed(data))

    def close(self) -> Columns:
        """End of stream: the messages still to deliver (a message cut by
        the end raises IncompleteMessageError, as ``Decoder.close``)."""
        return self._run(self._feed.close)


def iter_columns(stream: Union[Readable, Receiving], /,
                 chunk_size: int = 1 << 20,
                 members: Iterable[Union[str, Sequence[str]]] = (),
                 **options: Any) -> Iterator[Columns]:
    """Yield the Columns of each chunk read from a binary file or socket
    (empty ones skipped)."""
    decoder = ColumnDecoder(members, **options)
    read = reader(stream)
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        cols = decoder.feed(chunk)
        if len(cols):
            yield cols
    cols = decoder.close()
    if len(cols):
        yield cols


def read_columns(path: str, members: Iterable[Union[str, Sequence[str]]] = (),
                 **options: Any) -> Columns:
    """Every message of the file at ``path`` as one Columns (errors name
    the file)."""
    options.setdefault("source", path)
    members = list(members)
    with open(path, "rb") as f:
        batches = list(iter_columns(f, members=members, **options))
    if not batches:
        return ColumnDecoder(members, **options).close()
    return Columns.concat(batches)
