"""Columns as Arrow record batches (``pyarrow``, the ``arrow`` extra).

An Arrow batch is what Parquet files, Polars, DuckDB and Dask read
without a copy, so a QMP log becomes a table in one step.  Columns:

``source`` (optional, dictionary-encoded), ``offset`` (int64), ``kind`` and
``name`` (dictionary-encoded strings; ``name`` null for non-events),
``timestamp`` (``timestamp[us, tz=UTC]``; null for non-events, for QEMU's
-1/-1 "no clock" and for values out of range), ``raw`` (binary, the exact
message), ``data`` (the event's ``data`` as compact JSON text; null for
non-events), then one typed nullable column per member of the seven
documented events (``device``, ``reason``, ``guest``, ``server_host``...),
filled for those events only; a value of another JSON type than the
catalogue's is null there (``data`` and ``raw`` still hold it).
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Optional, Sequence

from .columns import Columns
from .model.catalogue import DOCUMENTED, EVENTS, STRUCTS, VNC_INFO_MEMBERS

__all__ = ["TYPED_COLUMNS", "schema", "record_batch", "empty_batch"]

# by name, so that type checking does not depend on which pyarrow (or
# stubs) is installed; ImportError here without it
pa: Any = importlib.import_module("pyarrow")
pc: Any = importlib.import_module("pyarrow.compute")

_VNC_STRUCTS = ("VncServerInfo", "VncBasicInfo", "VncClientInfo")


def _struct_member_type(member: str) -> str:
    for struct in _VNC_STRUCTS:
        info = STRUCTS[struct]["members"].get(member)
        if info is not None:
            return str(info["type"])
    for base in STRUCTS["VncServerInfo"].get("base", ()):
        info = STRUCTS[base]["members"].get(member)
        if info is not None:
            return str(info["type"])
    return "str"


def _typed_columns() -> tuple[tuple[str, tuple[str, ...], str,
                                    frozenset[str]], ...]:
    """(column, member path, "bool" or "str", events having it), from the
    catalogue: members of structs as ``<member>_<key>``."""
    found: dict[str, tuple[tuple[str, ...], str, set[str]]] = {}
    for event in DOCUMENTED:
        for member, info in EVENTS[event]["members"].items():
            entries: list[tuple[str, tuple[str, ...], str]]
            if info["type"] in _VNC_STRUCTS:
                entries = [(f"{member}_{key}", ("data", member, key),
                            _struct_member_type(key))
                           for key in VNC_INFO_MEMBERS]
            else:
                entries = [(member.replace("-", "_"), ("data", member),
                            str(info["type"]))]
            for column, path, typ in entries:
                kind = "bool" if typ == "bool" else "str"
                entry = found.setdefault(column, (path, kind, set()))
                entry[2].add(event)
    return tuple((column, path, kind, frozenset(events))
                 for column, (path, kind, events) in found.items())


TYPED_COLUMNS = _typed_columns()
"""(column, member path, "bool" or "str", the events that have it)."""

_DICT = pa.dictionary(pa.int32(), pa.string())
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_ARROW_TYPES = {"bool": pa.bool_(), "str": pa.string()}
_PY_TYPES: dict[str, type] = {"bool": bool, "str": str}


def schema(source: bool = False, typed: bool = True) -> Any:
    """The Arrow schema of ``record_batch`` (with a ``source`` column or
    not, with the typed member columns or not)."""
    fields = [pa.field("source", _DICT)] if source else []
    fields += [pa.field("offset", pa.int64(), nullable=False),
               pa.field("kind", _DICT, nullable=False),
               pa.field("name", _DICT),
               pa.field("timestamp", _TIMESTAMP),
               pa.field("raw", pa.binary(), nullable=False),
               pa.field("data", pa.string())]
    if typed:
        fields += [pa.field(column, _ARROW_TYPES[kind])
                   for column, _path, kind, _events in TYPED_COLUMNS]
    return pa.schema(fields)


try:
    import orjson as _orjson  # type: ignore[import-not-found,unused-ignore]

    def _json_text(value: Any) -> Any:
        try:
            return _orjson.dumps(value)
        except TypeError:  # integers beyond 64 bits
            return _std_json_text(value)
except ImportError:  # pragma: no cover - depends on what is installed
    def _json_text(value: Any) -> Any:
        return _std_json_text(value)


def _std_json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _timestamps(seconds: Sequence[Optional[int]],
                micros: Sequence[Optional[int]]) -> Any:
    """Microseconds since the epoch, null for non-events, -1/-1 and values
    beyond the int64 range."""
    try:
        sec = pa.array(seconds, pa.int64())
        usec = pa.array(micros, pa.int64())
        total = pc.add_checked(pc.multiply_checked(sec, 1_000_000), usec)
    except (pa.ArrowInvalid, OverflowError):
        total = pa.array([_micros(s, u) for s, u in zip(seconds, micros)],
                         pa.int64())
    else:
        no_clock = pc.and_(pc.equal(sec, -1), pc.equal(usec, -1))
        total = pc.if_else(no_clock, None, total)
    return total.cast(_TIMESTAMP)


def _micros(seconds: Optional[int], micros: Optional[int]) -> Optional[int]:
    if seconds is None or micros is None or (seconds == micros == -1):
        return None
    total = seconds * 1_000_000 + micros
    return total if -(1 << 63) <= total < 1 << 63 else None


def _typed(values: list[Any], kind: str) -> Any:
    """A typed column; values of another type become null."""
    try:
        return pa.array(values, _ARROW_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        want = _PY_TYPES[kind]
        return pa.array([v if type(v) is want else None for v in values],
                        _ARROW_TYPES[kind])


def record_batch(columns: Columns, source: Optional[str] = None,
                 typed: bool = True) -> Any:
    """``columns`` as a ``pyarrow.RecordBatch`` of ``schema(source is not
    None, typed)``."""
    n = len(columns)
    arrays = []
    if source is not None:
        arrays.append(pa.DictionaryArray.from_arrays(
            pa.array([0] * n, pa.int32()), pa.array([source], pa.string())))
    names = columns.name
    arrays += [pa.array(columns.offset, pa.int64()),
               pa.array(columns.kind, pa.string()).dictionary_encode(),
               pa.array(names, pa.string()).dictionary_encode(),
               _timestamps(columns.seconds, columns.microseconds),
               pa.array(columns.raw, pa.binary()),
               pa.array([None if d is None else _json_text(d)
                         for d in columns.data()], pa.string())]
    if typed:
        values = columns.members_of_events(
            [(path, events) for _c, path, _k, events in TYPED_COLUMNS])
        arrays += [_typed(column, kind) for column, (_c, _p, kind, _e)
                   in zip(values, TYPED_COLUMNS)]
    return pa.RecordBatch.from_arrays(
        arrays, schema=schema(source is not None, typed))


def empty_batch(source: bool = False, typed: bool = True) -> Any:
    """A RecordBatch of no rows, of the same schema."""
    return pa.RecordBatch.from_pylist([], schema=schema(source, typed))
