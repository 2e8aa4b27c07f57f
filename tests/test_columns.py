"""ColumnDecoder delivers what Decoder delivers, as columns: the same
messages (kind, name, timestamp, offset, bytes, members), the same errors
at the same offsets, the same ``on_error`` and ``events=`` behaviour, on
every stream of the test data and on streams built to hit each error."""

import glob
import json
import os

import pytest

import qmpfast
from qmpfast import DecodeError, IncompleteMessageError
from qmpfast.columns import ColumnDecoder, Columns, read_columns

from conftest import SAMPLES, SEED
from decoding import chunks_of, event_bytes

MEMBERS = ["data.device", "data.server.host", "data.client.websocket",
           "data.reason", "data.guest", "return", "id", "data.no.such"]

BIG = "9" * 5000  # more digits than the interpreter converts

BAD_STREAMS = {
    "junk between messages": event_bytes("STOP") + b"\r\nxyz\r\n"
    + event_bytes("RESUME") + b"\r\n",
    "cut at the end": event_bytes("STOP") + b"\r\n{\"event\": \"RES",
    "bad json": b'{"return": {}}\n{"return": [1,,2]}\n'
    + event_bytes("RESET", {"guest": True, "reason": "host-ui"}) + b"\n",
    "event without timestamp": b'{"event": "STOP"}\n{"return": 1}\n',
    "timestamp too long": event_bytes("STOP") + b"\n"
    + b'{"event": "STOP", "timestamp": {"seconds": ' + BIG.encode()
    + b', "microseconds": 1}}\n' + event_bytes("RESUME") + b"\n",
    "timestamp too long, then junk": b'{"event": "STOP", "timestamp": '
    b'{"seconds": ' + BIG.encode() + b', "microseconds": 1}}\n'
    + event_bytes("RESUME") + b"\n}junk\n" + event_bytes("STOP") + b"\n",
    "timestamp beyond 64 bits": b'{"event": "STOP", "timestamp": '
    b'{"seconds": 123456789012345678901234, "microseconds": 5}}\n',
    "long event name": event_bytes("X" * 300) + b"\n"
    + event_bytes("STOP") + b"\n",
    "no clock": event_bytes("STOP", seconds=-1, microseconds=-1) + b"\n",
    "greeting and replies": b'{"QMP": {"version": {}, "capabilities": []}}\n'
    b'{"execute": "qmp_capabilities", "id": 1}\n{"return": {}, "id": 1}\n'
    b'{"error": {"class": "GenericError", "desc": "no"}, "id": 2}\n'
    b'{"other": 1}\n',
}


def _streams():
    paths = sorted(glob.glob(os.path.join(SAMPLES, "*.qmp"))
                   + glob.glob(os.path.join(SEED, "*")))
    found = {os.path.basename(p): open(p, "rb").read() for p in paths}
    assert len(found) >= 4
    found.update(BAD_STREAMS)
    return found


STREAMS = _streams()


def _walk(obj, path):
    for key in path.split("."):
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _rows_of_objects(messages):
    rows = []
    for m in messages:
        event = isinstance(m, qmpfast.Event)
        d = m.to_dict()
        rows.append({
            "kind": m.kind, "name": m.name if event else None,
            "seconds": m.seconds if event else None,
            "microseconds": m.microseconds if event else None,
            "offset": m.stream_offset, "raw": m.raw,
            "data": m.data if event else None,
            **{p: _walk(d, p) for p in MEMBERS}})
    return rows


def _rows_of_columns(cols):
    names = ["kind", "name", "seconds", "microseconds", "offset", "raw",
             "data"] + MEMBERS
    values = [cols[n] for n in names]
    assert all(len(v) == len(cols) for v in values)
    return [dict(zip(names, row)) for row in zip(*values)]


def _run(make, pieces):
    """(messages, errors as (type, offset, position, text)) of a whole
    stream, going on after each raised error."""
    dec = make()
    got, errors = [], []

    def step(call):
        try:
            got.append(call())
        except DecodeError as exc:
            got.append(getattr(exc, "columns", exc.messages))
            errors.append(exc)
            return False
        return True

    for piece in pieces:
        step(lambda: dec.feed(piece))
    for _ in range(50):
        if step(dec.close) or isinstance(errors[-1], IncompleteMessageError):
            break
    described = [(type(e).__name__, e.offset, e.position, str(e))
                 for e in errors + list(dec.errors)]
    return got, described


def _both(backend, data, size, **options):
    pieces = chunks_of(data, size) if size else [data]
    objects, obj_errors = _run(
        lambda: qmpfast.Decoder(backend=backend, **options), pieces)
    columns, col_errors = _run(
        lambda: ColumnDecoder(MEMBERS, backend=backend, **options), pieces)
    flat = [m for batch in objects for m in batch]
    assert all(isinstance(c, Columns) for c in columns)
    return (_rows_of_objects(flat), obj_errors,
            _rows_of_columns(Columns.concat(columns)), col_errors)


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("size", [0, 1, 7, 64])
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_columns_equal_objects(backend, name, size, on_error):
    objects, obj_errors, columns, col_errors = _both(
        backend, STREAMS[name], size, on_error=on_error)
    assert columns == objects
    assert col_errors == obj_errors


@pytest.mark.parametrize("name", sorted(STREAMS))
@pytest.mark.parametrize("long_name", ["X" * 300, "Y" * 300],
                         ids=["long-kept", "long-dropped"])
def test_columns_equal_objects_filtered(backend, name, long_name):
    keep = {"STOP", "VNC_CONNECTED", long_name, "SHUTDOWN"}
    objects, obj_errors, columns, col_errors = _both(
        backend, STREAMS[name], 5, events=keep, on_error="skip")
    assert columns == objects
    assert col_errors == obj_errors
    assert all(n in keep for n in (r["name"] for r in columns) if n)
    if name == "long event name":
        assert ("X" * 300 in [r["name"] for r in columns]) == (
            long_name == "X" * 300)


def test_stream_data_is_not_trivial(backend):
    """The streams above hold every kind, errors and typed members."""
    rows, errors = [], []
    for data in STREAMS.values():
        _o, _e, cols, errs = _both(backend, data, 0, on_error="skip")
        rows += cols
        errors += errs
    assert {r["kind"] for r in rows} == {
        "event", "return", "error", "greeting", "command", "message"}
    assert any(r["data.server.host"] for r in rows)
    assert any(r["data.device"] for r in rows)
    assert {e[0] for e in errors} >= {
        "DecodeError", "ProtocolError", "IncompleteMessageError",
        "IntegerTooLongError"}


def test_raised_error_holds_the_columns_before_it(backend):
    data = BAD_STREAMS["bad json"]
    dec = ColumnDecoder(backend=backend)
    with pytest.raises(DecodeError) as info:
        dec.feed(data)
    assert info.value.columns.kind == ["return"]
    assert [m.raw for m in info.value.messages] == [b'{"return": {}}']
    rest = dec.close()
    assert rest.name == ["RESET"]
    assert rest.member("data.reason") == ["host-ui"]


def test_timestamp_columns_and_no_clock(backend):
    dec = ColumnDecoder(backend=backend)
    cols = dec.feed(BAD_STREAMS["no clock"] + BAD_STREAMS[
        "timestamp beyond 64 bits"] + b'{"return": 3}\n')
    assert cols.seconds == [-1, 123456789012345678901234, None]
    assert cols.microseconds == [-1, 5, None]
    assert cols.name == ["STOP", "STOP", None]
    assert cols.kind == ["event", "event", "return"]
    assert cols.member("return") == [None, None, 3]


def test_member_paths_given_as_keys_and_bad_paths(backend):
    data = json.dumps({"event": "X", "timestamp": {"seconds": 1,
                       "microseconds": 2}, "data": {"a.b": {"c": 5}}})
    dec = ColumnDecoder([("data", "a.b", "c")], backend=backend)
    cols = dec.feed(data.encode() + b"\n")
    assert cols.members == ("data.a.b.c",)
    assert cols["data.a.b.c"] == [5]
    with pytest.raises(ValueError, match="member path"):
        ColumnDecoder(["data..x"])


def test_read_columns_names_the_file(tmp_path, backend):
    path = tmp_path / "log.qmp"
    path.write_bytes(BAD_STREAMS["junk between messages"])
    with pytest.raises(DecodeError) as info:
        read_columns(str(path), backend=backend)
    assert str(info.value).startswith(str(path) + ": ")
    cols = read_columns(str(path), backend=backend, on_error="skip")
    assert cols.name == ["STOP", "RESUME"]


TYPED_PATHS = {
    "BLOCK_IO_ERROR": ["data.device", "data.operation", "data.action",
                       "data.reason", "data.nospace", "data.node-name"],
    "RESET": ["data.guest", "data.reason"],
    "VNC_INITIALIZED": ["data.server.host", "data.client.service",
                        "data.client.websocket", "data.client.x509_dname"],
    "STOP": ["data.device"],
    "SOME_FUTURE_EVENT": ["data.device", "data.not.extracted"],
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_event_members_are_the_rows_of_that_event(backend, name):
    """``event_members`` gives the same values as the dense columns, for
    the rows of that event only, in order; events the catalogue does not
    know and paths the scanner does not extract included."""
    data = event_bytes("SOME_FUTURE_EVENT", {
        "device": "d", "not": {"extracted": 5}}) + b"\n" + STREAMS[name]
    dec = ColumnDecoder(backend=backend, on_error="skip")
    cols = dec.feed(data)
    objects = [m for m in qmpfast.Decoder(backend=backend,
                                          on_error="skip").feed(data)]
    for event, paths in TYPED_PATHS.items():
        got = cols.event_members(event, paths)
        assert len(got) == len(paths)
        where = cols.positions(event)
        assert [cols.name[j] for j in where] == [event] * len(where)
        assert len(where) == sum(
            getattr(m, "name", None) == event for m in objects)
        for path, values in zip(paths, got):
            assert values == [_walk(objects[j].to_dict(), path)
                              for j in where], (event, path)
    assert cols.event_members("SOME_FUTURE_EVENT", ["data.not.extracted"]
                              ) == [[5]]
