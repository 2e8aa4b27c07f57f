"""Typed event classes and their attributes.

Every catalogued event decodes to its own class, whose attributes read the
members of ``data`` (None when absent, the value as sent whatever its
type); events outside the catalogue are plain ``Event``.  The seven
documented events are checked in the shape today's QEMU sends.  On every
backend.
"""

import json

import pytest

import qmpfast
from qmpfast import Event

from decoding import ts, event_bytes, decode


def _modern(name, data):
    return {"timestamp": ts(1795563461, 50009), "event": name, "data": data}


MODERN = [
    _modern("BLOCK_IO_ERROR", {
        "qom-path": "/machine/peripheral/virtio-disk0/virtio-backend",
        "device": "", "node-name": "disk0-fmt", "operation": "write",
        "action": "report", "nospace": True,
        "reason": "No space left on device"}),
    _modern("RESET", {"guest": True, "reason": "guest-reset"}),
    _modern("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"}),
    {"timestamp": ts(1795563461, 50107), "event": "STOP"},
    _modern("VNC_CONNECTED", {
        "server": {"auth": "none", "family": "unix",
                   "service": "/run/vnc.sock", "host": "",
                   "websocket": False},
        "client": {"family": "unix", "service": "", "host": "",
                   "websocket": False}}),
    _modern("VNC_INITIALIZED", {
        "server": {"auth": "vencrypt+x509+sasl", "family": "vsock",
                   "service": "5900", "host": "2", "websocket": True},
        "client": {"family": "vsock", "service": "1234", "host": "3",
                   "websocket": True, "x509_dname": "CN=client,O=Example",
                   "sasl_username": "alice"}}),
    _modern("VNC_DISCONNECTED", {
        "server": {"auth": "none", "family": "ipv6", "service": "5901",
                   "host": "::", "websocket": False},
        "client": {"family": "ipv6", "service": "40000", "host": "::1",
                   "websocket": False, "x509_dname": "CN=\u00e9",
                   "sasl_username": "bob"}}),
]


@pytest.mark.parametrize("layout", ["compact", "pretty"])
def test_modern_typed_attributes(decoder_factory, layout):
    indent = 4 if layout == "pretty" else None
    data = b"\r\n".join(json.dumps(m, indent=indent).encode()
                        for m in MODERN) + b"\r\n"
    bio, reset, shutdown, stop, conn, init, disc = decode(decoder_factory,
                                                          data)
    assert type(bio) is qmpfast.BlockIoError
    assert bio.qom_path == "/machine/peripheral/virtio-disk0/virtio-backend"
    assert bio.device == ""
    assert bio.node_name == "disk0-fmt"
    assert bio.operation == "write"
    assert bio.action == "report"
    assert bio.nospace is True
    assert bio.reason == "No space left on device"
    assert (reset.guest, reset.reason) == (True, "guest-reset")
    assert (shutdown.guest, shutdown.reason) == (False, "host-qmp-quit")
    assert type(stop) is qmpfast.Stop and stop.data == {}
    assert conn.server.family == "unix"
    assert conn.server.service == "/run/vnc.sock"
    assert conn.server.host == "" and conn.server.auth == "none"
    assert conn.server.websocket is False
    assert conn.client.family == "unix" and conn.client.host == ""
    assert conn.client.websocket is False
    assert conn.client.sasl_username is None
    assert init.server.family == "vsock" and init.server.host == "2"
    assert init.server.websocket is True
    assert init.server.auth == "vencrypt+x509+sasl"
    assert init.client.x509_dname == "CN=client,O=Example"
    assert init.client.sasl_username == "alice"
    assert init.client.service == "1234"
    assert disc.server.family == "ipv6" and disc.server.host == "::"
    assert disc.client.host == "::1"
    assert disc.client.x509_dname == "CN=\u00e9"
    assert disc.client.sasl_username == "bob"
    for msg, obj in zip((bio, reset, shutdown, stop, conn, init, disc),
                        MODERN):
        assert msg.to_dict() == obj
        assert msg.data == obj.get("data", {})
        if "server" in msg.data:
            assert msg.server.to_dict() == obj["data"]["server"]
            assert msg.client == obj["data"]["client"]


def test_typed_attributes_of_unusual_values(decoder_factory):
    raw = event_bytes("BLOCK_IO_ERROR", {"device": None, "operation": 5,
                                         "action": ["x"],
                                         "nospace": "maybe"})
    (ev,) = decode(decoder_factory, raw)
    assert ev.device is None
    assert ev.operation == 5
    assert ev.action == ["x"]
    assert ev.nospace == "maybe"
    assert ev.reason is None
    (ev,) = decode(decoder_factory, event_bytes("VNC_CONNECTED", {}))
    assert ev.server is None and ev.client is None


def test_other_catalogue_events_have_typed_attributes(decoder_factory):
    raw = event_bytes("RESUME", None)
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.Resume
    raw = event_bytes("DEVICE_DELETED", {"device": "virtio-disk0",
                                         "path": "/machine/peripheral/x"})
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.event_class("DEVICE_DELETED")
    assert ev.device == "virtio-disk0"
    assert ev.path == "/machine/peripheral/x"


def test_event_class():
    assert qmpfast.event_class("STOP") is qmpfast.Stop
    assert qmpfast.event_class("BLOCK_IO_ERROR") is qmpfast.BlockIoError
    assert qmpfast.event_class("VNC_CONNECTED") is qmpfast.VncConnected
    assert qmpfast.event_class("NO_SUCH_EVENT") is Event
    assert qmpfast.event_class("stop") is Event
    for name in ("BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP",
                 "VNC_CONNECTED", "VNC_DISCONNECTED", "VNC_INITIALIZED"):
        cls = qmpfast.event_class(name)
        assert issubclass(cls, Event) and cls is not Event
    assert len(qmpfast.EVENT_CLASSES) > 7


def test_every_catalogue_event_decodes_to_its_class(decoder_factory):
    names = sorted(qmpfast.EVENT_CLASSES)
    data = b"\n".join(event_bytes(n, None) for n in names) + b"\n"
    data += event_bytes("NOT_A_QEMU_EVENT", {"x": 1})
    msgs = decode(decoder_factory, data)
    assert [m.name for m in msgs] == names + ["NOT_A_QEMU_EVENT"]
    for msg in msgs:
        assert type(msg) is qmpfast.event_class(msg.name)
    assert type(msgs[-1]) is Event
    assert msgs[-1].data == {"x": 1}
