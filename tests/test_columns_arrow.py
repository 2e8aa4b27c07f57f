"""Columns as an Arrow RecordBatch: the documented schema, values equal to
what the message objects say, nulls where the schema promises them, and
DuckDB reading the batch as a table."""

import datetime as dt
import json

import pyarrow as pa
import pytest

import qmpfast
from qmpfast.arrow import TYPED_COLUMNS, empty_batch, record_batch, schema
from qmpfast.columns import ColumnDecoder, Columns

from test_columns import BAD_STREAMS, STREAMS


def _batch(backend, data, **options):
    dec = ColumnDecoder(backend=backend, on_error="skip")
    first = dec.feed(data)
    try:
        last = dec.close()
    except qmpfast.IncompleteMessageError as exc:  # after the rest
        last = exc.columns
    cols = Columns.concat([first, last])
    return record_batch(cols, **options), cols


def _objects(backend, data):
    dec = qmpfast.Decoder(backend=backend, on_error="skip")
    first = dec.feed(data)
    try:
        return first + dec.close()
    except qmpfast.IncompleteMessageError as exc:
        return first + exc.messages


def test_schema():
    s = schema(source=True)
    assert s.field("name").type == pa.dictionary(pa.int32(), pa.string())
    assert s.field("kind").type == pa.dictionary(pa.int32(), pa.string())
    assert s.field("source").type == pa.dictionary(pa.int32(), pa.string())
    assert s.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert s.field("raw").type == pa.binary()
    assert s.field("data").type == pa.string()
    assert s.field("offset").type == pa.int64()
    typed = {f.name: f.type for f in s if f.name in
             {c for c, _p, _k, _e in TYPED_COLUMNS}}
    assert typed["device"] == typed["reason"] == pa.string()
    assert typed["guest"] == typed["server_websocket"] == pa.bool_()
    assert {"device", "operation", "action", "node_name", "reason", "guest",
            "server_host", "client_host", "qom_path", "nospace",
            "client_sasl_username"} <= set(typed)
    assert all(s.field(name).nullable for name in typed)
    assert "source" not in schema().names
    assert schema(typed=False).names == [
        "offset", "kind", "name", "timestamp", "raw", "data"]
    assert empty_batch().num_rows == 0


def _typed_value(msg, column, path):
    """What the typed event object says for a typed column."""
    if msg.name not in {e for c, _p, _k, events in TYPED_COLUMNS
                        if c == column for e in events}:
        return None
    value = msg.to_dict()
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_values_equal_the_objects(backend, name):
    batch, _cols = _batch(backend, STREAMS[name], source="vm1.log")
    rows = batch.to_pylist()
    messages = _objects(backend, STREAMS[name])
    assert len(rows) == len(messages)
    for row, msg in zip(rows, messages):
        event = isinstance(msg, qmpfast.Event)
        assert row["source"] == "vm1.log"
        assert row["offset"] == msg.stream_offset
        assert row["kind"] == msg.kind
        assert row["raw"] == msg.raw
        assert row["name"] == (msg.name if event else None)
        if event and -(1 << 62) < msg.seconds < (1 << 62):
            assert row["timestamp"] == msg.datetime
        else:
            assert row["timestamp"] is None
        if event:
            assert json.loads(row["data"]) == msg.data
        else:
            assert row["data"] is None
        for column, path, kind, _events in TYPED_COLUMNS:
            want = _typed_value(msg, column, path) if event else None
            if not isinstance(want, {"str": str, "bool": bool}[kind]):
                want = None
            assert row[column] == want, (column, msg)


def test_typed_values_are_filled(backend):
    batch, _ = _batch(backend, STREAMS["qemu-7.2.qmp"])
    rows = [r for r in batch.to_pylist() if r["name"] == "BLOCK_IO_ERROR"]
    assert rows and all(r["device"] is not None for r in rows)
    assert {r["operation"] for r in rows} <= {"read", "write"}
    vnc = [r for r in batch.to_pylist()
           if (r["name"] or "").startswith("VNC_")]
    assert vnc and all(isinstance(r["server_websocket"], bool) for r in vnc)


def test_nulls_for_no_clock_wrong_types_and_other_events(backend):
    data = (b'{"event": "STOP", "timestamp": {"seconds": -1, '
            b'"microseconds": -1}}\n'
            b'{"event": "BLOCK_IO_ERROR", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}, "data": {"device": 5, "operation": "read",'
            b' "guest": "yes"}}\n'
            b'{"event": "BLOCK_JOB_ERROR", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}, "data": {"device": "d0"}}\n'
            + BAD_STREAMS["timestamp beyond 64 bits"])
    rows = _batch(backend, data)[0].to_pylist()
    assert rows[0]["timestamp"] is None and rows[0]["name"] == "STOP"
    assert rows[1]["timestamp"] == dt.datetime(
        1970, 1, 1, 0, 0, 1, 2, tzinfo=dt.timezone.utc)
    assert rows[1]["device"] is None and rows[1]["operation"] == "read"
    assert rows[1]["guest"] is None  # not a BLOCK_IO_ERROR member
    assert rows[2]["device"] is None  # not a documented event
    assert json.loads(rows[2]["data"]) == {"device": "d0"}
    assert rows[3]["timestamp"] is None


def test_duckdb_reads_the_batch(backend):
    import duckdb  # the README's example
    batch, _ = _batch(backend, STREAMS["qemu-7.2.qmp"])
    events = pa.Table.from_batches([batch])
    got = duckdb.sql("select name, count(*) as n from events where kind = "
                     "'event' group by name order by n desc, name").fetchall()
    names = [m.name for m in _objects(backend, STREAMS["qemu-7.2.qmp"])
             if isinstance(m, qmpfast.Event)]
    assert dict(got) == {n: names.count(n) for n in set(names)}
