"""``qmpfast.parse`` (exactly one message) and ``qmpfast.iter_messages``
(messages of a file or socket, read in chunks).  On every backend.
"""

import io
import random
import socket
import threading

import pytest

import qmpfast
from qmpfast import (DecodeError, IncompleteMessageError, MessageTooLargeError,
                     ProtocolError, Return)

from conftest import sample
from doc2010 import doc_examples


def test_parse(backend):
    msg = qmpfast.parse(b'  {"return": {}, "id": 1}\r\n', backend=backend)
    assert type(msg) is Return and msg.id == 1
    ev = qmpfast.parse(doc_examples().split(b"\n\n")[0], backend=backend)
    assert type(ev) is qmpfast.BlockIoError and ev.device == "ide0-hd1"


@pytest.mark.parametrize("data, error", [
    (b"", DecodeError),
    (b"  \r\n", DecodeError),
    (b'{"a": 1}{"b": 2}', DecodeError),
    (b'{"a": 1}\n{"b": 2}\n', DecodeError),
    (b'{"a": 1', IncompleteMessageError),
    (b'{"a": x}', DecodeError),
    (b'{"event": "STOP"}', ProtocolError),
    (b'{"a": 1}\n{"a": x}', DecodeError),
])
def test_parse_wants_exactly_one_message(backend, data, error):
    with pytest.raises(error):
        qmpfast.parse(data, backend=backend)


def test_parse_options(backend):
    raw = b'{"a": "' + b"x" * 100 + b'"}'
    with pytest.raises(MessageTooLargeError):
        qmpfast.parse(raw, max_message_size=50, backend=backend)


def test_iter_messages_on_a_file(backend, tmp_path):
    data = sample("qemu-7.2-pretty.qmp")
    path = tmp_path / "capture.qmp"
    path.write_bytes(data)
    expected = [m.to_dict() for m in qmpfast.Decoder(backend=backend)
                .feed(data)]
    assert len(expected) == 30
    with open(path, "rb") as f:
        got = list(qmpfast.iter_messages(f, chunk_size=7, backend=backend))
    assert [m.to_dict() for m in got] == expected
    with open(path, "rb", buffering=0) as f:
        got = list(qmpfast.iter_messages(f, backend=backend))
    assert [m.raw for m in got] == [m.raw for m in qmpfast.Decoder(
        backend=backend).feed(data)]
    got = list(qmpfast.iter_messages(io.BytesIO(data), chunk_size=1,
                                     backend=backend, events={"STOP"}))
    assert sum(m.kind == "event" for m in got) == 3
    assert len(got) == 19


def test_iter_messages_reports_a_cut_file(backend):
    stream = io.BytesIO(b'{"a": 1}\n{"b": ')
    it = qmpfast.iter_messages(stream, backend=backend)
    assert next(it).to_dict() == {"a": 1}
    with pytest.raises(IncompleteMessageError):
        next(it)


def test_iter_messages_on_a_socket(backend):
    data = sample("qemu-7.2.qmp")
    reader, writer = socket.socketpair()

    def write():
        try:
            rng = random.Random(7)
            i = 0
            while i < len(data):
                n = rng.randrange(1, 200)
                writer.sendall(data[i:i + n])
                i += n
        finally:
            writer.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        reader.settimeout(30)
        got = list(qmpfast.iter_messages(reader, chunk_size=64,
                                         backend=backend))
    finally:
        thread.join()
        reader.close()
        writer.close()
    assert len(got) == 30
    assert [m.raw for m in got] == data.split(b"\r\n")[:-1]
    assert got[0].kind == "greeting" and got[-1].id == 15
