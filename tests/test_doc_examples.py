"""The seven event examples of the 2010 QMP documentation decode as printed.

``tests/data/qmp-events-2010.txt`` holds them as the page shows them
(QEMU commit d74c7dfd1b63, "QMP: Revamp the qmp-events.txt file": multi-line
JSON, one blank line between); the reference for their meaning is
``json.loads``.  Every decoding test runs on each backend the
``backend`` fixture gives.
"""

import datetime
import json

import pytest

import qmpfast

from decoding import decode
from doc2010 import doc_examples, VNC_SERVER_2010, DOC_2010

UTC = datetime.timezone.utc


def test_doc_examples_are_multiline_json():
    texts = doc_examples().decode().split("\n\n")
    assert len(texts) == 7
    for text, (name, _s, _u, _d) in zip(texts, DOC_2010):
        assert "\n" in text.strip()
        assert json.loads(text)["event"] == name


def test_doc_examples_decode(decoder_factory):
    data = doc_examples()
    msgs = decode(decoder_factory, data)
    assert [type(m) for m in msgs] == [
        qmpfast.BlockIoError, qmpfast.Reset, qmpfast.Shutdown,
        qmpfast.Shutdown, qmpfast.VncConnected, qmpfast.VncDisconnected,
        qmpfast.VncInitialized]
    texts = data.split(b"\n\n")
    for msg, text, (name, seconds, micros, body) in zip(msgs, texts,
                                                        DOC_2010):
        assert msg.kind == "event"
        assert msg.name == name
        assert msg.seconds == seconds and msg.microseconds == micros
        assert msg.data == body
        assert msg.raw == text.strip()
        assert b"\n" in msg.raw
        assert msg.to_dict() == json.loads(text)
        assert data[msg.stream_offset:].startswith(msg.raw)


def test_doc_examples_typed_attributes(decoder_factory):
    bio, reset, shut, shut2, conn, disc, init = decode(
        decoder_factory, doc_examples())
    assert (bio.device, bio.operation, bio.action) == (
        "ide0-hd1", "write", "stop")
    # members later QEMUs added are absent in 2010
    assert bio.node_name is None and bio.reason is None
    assert bio.qom_path is None and bio.nospace is None
    for ev in (reset, shut, shut2):
        assert ev.guest is None and ev.reason is None
    for ev in (conn, disc, init):
        assert isinstance(ev.server, qmpfast.VncInfo)
        assert ev.server.host == "0.0.0.0"
        assert ev.server.service == "5901"
        assert ev.server.family == "ipv4"
        assert ev.server.auth == "sasl"
        assert ev.server.websocket is None
        assert ev.server == VNC_SERVER_2010
        assert ev.client.host == "127.0.0.1"
        assert ev.client.family == "ipv4"
        assert ev.client.websocket is None
        assert ev.client.x509_dname is None
        assert ev.client.auth is None
    assert conn.client.service == "58425"
    assert conn.client.sasl_username is None
    assert disc.client.sasl_username == "luiz"
    assert init.client.service == "46089"
    assert init.client.sasl_username == "luiz"
    assert conn.client.to_dict() == DOC_2010[4][3]["client"]


def test_doc_examples_datetime(decoder_factory):
    msgs = decode(decoder_factory, doc_examples())
    bio = msgs[0]
    assert bio.datetime == datetime.datetime(2010, 2, 1, 17, 10, 30, 450486,
                                             tzinfo=UTC)
    for msg, (_n, seconds, micros, _d) in zip(msgs, DOC_2010):
        assert msg.timestamp == pytest.approx(seconds + micros / 1e6)
        assert msg.datetime == datetime.datetime.fromtimestamp(
            seconds, UTC).replace(microsecond=micros)
