"""Typed events for the whole catalogue, and strict mode (both backends)."""

import json
import os
import subprocess
import sys

import pytest

import qmpfast
from qmpfast.model.catalogue import (ENUMS, EVENT_CLASSES, EVENTS, STRUCTS,
                               attr_name)
from qmpfast.model.validate import ADDED_LATER

from conftest import SEED, sample

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TS = {"seconds": 1764000000, "microseconds": 123456}


def synth(typ, key="x"):
    """A valid value of a catalogue type."""
    if typ == "str":
        return f"v-{key}"
    if typ == "int":
        return 7
    if typ == "bool":
        return True
    if typ == "number":
        return 1.5
    if typ in ENUMS:
        return sorted(ENUMS[typ])[0]
    spec = STRUCTS[typ]
    value = {k: synth(i["type"], k) for k, i in spec["members"].items()}
    if spec["kind"] == "union":
        branch = spec["branches"][0]
        value[branch["tag"]] = branch["values"][0]
        value.update(synth(branch["members_of"]))
    return value


def event_bytes(name, data=None, ts=TS):
    msg = {"timestamp": ts, "event": name}
    if data is not None:
        msg["data"] = data
    return json.dumps(msg).encode() + b"\r\n"


def decode(backend, data, **options):
    dec = qmpfast.Decoder(backend=backend, **options)
    out = dec.feed(data)
    out += dec.close()
    return out


def test_every_catalogue_event_has_its_class():
    assert len(EVENTS) == 57
    assert set(EVENT_CLASSES) == set(EVENTS)
    for name, cls in EVENT_CLASSES.items():
        assert issubclass(cls, qmpfast.Event)
        assert qmpfast.event_class(name) is cls
        assert getattr(qmpfast, cls.__name__) is cls
    assert qmpfast.event_class("BLOCK_IO_ERROR") is qmpfast.BlockIoError
    assert qmpfast.event_class("NOT_IN_ANY_QEMU") is qmpfast.Event


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_typed_attributes_of_every_event(backend, name):
    spec = EVENTS[name]["members"]
    data = {k: synth(i["type"], k) for k, i in spec.items()}
    (ev,) = decode(backend, event_bytes(name, data), strict=True)
    assert type(ev) is EVENT_CLASSES[name]
    assert ev.name == name
    assert ev.data == data
    for key, info in spec.items():
        value = getattr(ev, attr_name(key))
        if info["type"] in STRUCTS:
            assert value.to_dict() == data[key]
            assert value == data[key]
        else:
            assert value == data[key]
            assert type(value) is type(data[key])


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_absent_members_read_none(backend, name):
    (ev,) = decode(backend, event_bytes(name))
    assert ev.data == {}
    for key in EVENTS[name]["members"]:
        assert getattr(ev, attr_name(key)) is None


def test_struct_members_are_typed_objects(backend):
    data = {"netdev-id": "n0", "addr": {"type": "inet", "host": "10.0.0.1",
                                        "port": "22"}}
    (ev,) = decode(backend, event_bytes("NETDEV_STREAM_CONNECTED", data),
                   strict=True)
    assert ev.netdev_id == "n0"
    assert ev.addr.type == "inet" and ev.addr.host == "10.0.0.1"
    assert ev.addr.port == "22" and ev.addr.path is None
    data["addr"] = {"type": "unix", "path": "/run/x.sock"}
    (ev,) = decode(backend, event_bytes("NETDEV_STREAM_CONNECTED", data),
                   strict=True)
    assert ev.addr.path == "/run/x.sock" and ev.addr.host is None


def test_enum_values_are_interned_str(backend):
    data = {"device": "d", "operation": "re" + "ad", "action": "stop"}
    evs = decode(backend, event_bytes("BLOCK_IO_ERROR", data) * 2)
    assert evs[0].operation == "read"
    assert evs[0].operation is evs[1].operation is sys.intern("read")


def test_member_names_that_clash_get_an_underscore(backend):
    (ev,) = decode(backend, event_bytes(
        "RTC_CHANGE", {"offset": -3, "qom-path": "/machine/rtc"}))
    assert ev.offset == -3 and ev.qom_path == "/machine/rtc"
    (ev,) = decode(backend, event_bytes(
        "NIC_RX_FILTER_CHANGED", {"name": "net0", "path": "/p"}))
    assert ev.name == "NIC_RX_FILTER_CHANGED" and ev.name_ == "net0"
    (ev,) = decode(backend, event_bytes("MIGRATION_PASS", {"pass": 3}))
    assert ev.pass_ == 3


def test_repr_is_short_and_useful(backend):
    data = {"device": "disk0", "operation": "read", "action": "stop",
            "reason": "x", "node-name": "n"}
    ts = {"seconds": 1795514400, "microseconds": 123456}
    (ev,) = decode(backend, event_bytes("BLOCK_IO_ERROR", data, ts))
    assert repr(ev) == ("<BlockIoError device='disk0' operation='read' "
                        "action='stop' at 2026-11-24T10:00:00.123456Z>")
    (ev,) = decode(backend, event_bytes("NEW_EVENT", {}, ts))
    assert repr(ev) == "<Event NEW_EVENT at 2026-11-24T10:00:00.123456Z>"


def test_events_compare_equal_when_their_messages_are(backend):
    a = decode(backend, event_bytes("STOP"))[0]
    b = decode(backend, b'{"event":"STOP","timestamp":{"microseconds":'
               b'123456,"seconds":1764000000}}')[0]
    c = decode(backend, event_bytes("STOP", ts={"seconds": 1,
                                                "microseconds": 2}))[0]
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a.to_dict() == json.loads(a.raw)


# ---- strict mode -----------------------------------------------------------

def test_strict_accepts_the_2010_documentation(backend):
    with open(os.path.join(SEED, "qmp-events-2010.txt"), "rb") as f:
        doc = f.read()
    dec = qmpfast.Decoder(backend=backend, strict=True)
    events = dec.feed(doc) + dec.close()
    assert len(events) == 7
    assert {e.name for e in events} >= {"BLOCK_IO_ERROR", "RESET",
                                        "SHUTDOWN", "VNC_CONNECTED",
                                        "VNC_DISCONNECTED", "VNC_INITIALIZED"}


@pytest.mark.parametrize("capture", ["qemu-7.2.qmp", "qemu-7.2-pretty.qmp",
                                     "qemu-7.2-guest-poweroff.qmp"])
def test_strict_accepts_real_qemu_7_2(backend, capture):
    dec = qmpfast.Decoder(backend=backend, strict=True)
    messages = dec.feed(sample(capture)) + dec.close()
    events = [m for m in messages if isinstance(m, qmpfast.Event)]
    assert events and dec.errors == []
    bio = [e for e in events if e.name == "BLOCK_IO_ERROR"]
    for e in bio:  # QEMU 7.2 sends no qom-path
        assert e.qom_path is None and e.reason == "Input/output error"


def test_strict_accepts_modern_qemu_shapes(backend):
    vnc = {"server": {"auth": "none", "family": "vsock", "service": "5900",
                      "host": "2", "websocket": False},
           "client": {"family": "unix", "service": "", "host": "",
                      "websocket": True, "sasl_username": "u"}}
    data = {"device": "", "node-name": "#block1", "operation": "write",
            "action": "report", "nospace": True, "reason": "No space",
            "qom-path": "/machine/peripheral/virtio0/virtio-backend",
            "added-in-2030": [1, 2]}
    stream = (event_bytes("VNC_INITIALIZED", vnc)
              + event_bytes("BLOCK_IO_ERROR", data)
              + event_bytes("RESET", {"guest": True, "reason": "guest-reset"})
              + event_bytes("SHUTDOWN", {"guest": False,
                                         "reason": "host-signal"})
              + event_bytes("SOME_FUTURE_EVENT", {"anything": 1}))
    out = decode(backend, stream, strict=True)
    assert [e.name for e in out] == ["VNC_INITIALIZED", "BLOCK_IO_ERROR",
                                     "RESET", "SHUTDOWN", "SOME_FUTURE_EVENT"]
    assert out[0].server.family == "vsock" and out[0].client.websocket
    assert out[1].nospace is True and out[1].node_name == "#block1"


VNC_OK = {"server": {"host": "0.0.0.0", "service": "5901", "family": "ipv4",
                     "auth": "sasl"},
          "client": {"host": "127.0.0.1", "service": "58425",
                     "family": "ipv4"}}

REJECTED = [
    ("VNC_CONNECTED", {**VNC_OK, "server": {**VNC_OK["server"],
                                            "family": "ipx"}},
     "$.data.server.family", "ipx"),
    ("VNC_CONNECTED", {"server": VNC_OK["server"]}, "$.data.client",
     "missing"),
    ("VNC_DISCONNECTED", {**VNC_OK, "client": {**VNC_OK["client"],
                                               "websocket": "no"}},
     "$.data.client.websocket", "boolean"),
    ("VNC_INITIALIZED", {**VNC_OK, "client": {"host": "h", "family": "ipv4"}},
     "$.data.client.service", "missing"),
    ("BLOCK_IO_ERROR", {"device": "d", "action": "stop"},
     "$.data.operation", "missing"),
    ("BLOCK_IO_ERROR", {"device": "d", "operation": "erase",
                        "action": "stop"}, "$.data.operation", "erase"),
    ("BLOCK_IO_ERROR", {"device": 5, "operation": "read", "action": "stop"},
     "$.data.device", "string"),
    ("BLOCK_IO_ERROR", {"device": "d", "operation": "read", "action": "stop",
                        "nospace": 1}, "$.data.nospace", "boolean"),
    ("SHUTDOWN", {"guest": "yes", "reason": "host-qmp-quit"},
     "$.data.guest", "boolean"),
    ("RESET", {"guest": True, "reason": "because"}, "$.data.reason",
     "ShutdownCause"),
    ("WATCHDOG", {}, "$.data.action", "missing"),
    ("RTC_CHANGE", {"offset": True}, "$.data.offset", "integer"),
    ("NETDEV_STREAM_CONNECTED", {"netdev-id": "n", "addr": {"type": "inet"}},
     "$.data.addr.host", "missing"),
    ("BLOCK_IO_ERROR", [1], "$.data", "object"),
]


@pytest.mark.parametrize("name,data,path,word", REJECTED)
def test_strict_rejects_with_the_exact_path(backend, name, data, path, word):
    stream = event_bytes(name, data)
    with pytest.raises(qmpfast.ValidationError) as info:
        decode(backend, stream, strict=True)
    err = info.value
    assert err.path == path
    assert path in str(err) and word in str(err)
    assert isinstance(err, qmpfast.DecodeError) and err.offset == 0
    # non-strict mode never rejects a well-formed event
    (ev,) = decode(backend, stream)
    assert ev.name == name


def test_strict_errors_skip_like_decode_errors(backend):
    bad = event_bytes("BLOCK_IO_ERROR", {"device": "d", "action": "stop"})
    good = event_bytes("STOP")
    dec = qmpfast.Decoder(backend=backend, strict=True, on_error="skip")
    out = dec.feed(good + bad + good) + dec.close()
    assert [e.name for e in out] == ["STOP", "STOP"]
    (err,) = dec.errors
    assert isinstance(err, qmpfast.ValidationError)
    assert err.offset == len(good) and err.path == "$.data.operation"


def test_added_later_members_are_real_catalogue_members():
    for owner, members in ADDED_LATER.items():
        spec = EVENTS.get(owner) or STRUCTS[owner]
        assert members <= set(spec["members"])


# ---- generated files ---------------------------------------------------------

def test_stubs_and_reference_page_are_in_sync():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gen_catalogue.py"),
         "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(os.path.join(ROOT, "docs", "events.md")) as f:
        page = f.read()
    for cls in EVENT_CLASSES.values():
        assert f"`{cls.__name__}`" in page


def test_type_checkers_know_the_attribute_types(tmp_path):
    mypy = pytest.importorskip("mypy.api", reason="mypy is not installed")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import qmpfast\n"
        "def f(msg: qmpfast.Message) -> None:\n"
        "    if isinstance(msg, qmpfast.BlockIoError):\n"
        "        reveal_type(msg.device)\n"
        "        reveal_type(msg.nospace)\n"
        "    if isinstance(msg, qmpfast.VncConnected):\n"
        "        reveal_type(msg.client.host)\n")
    env_path = os.environ.get("MYPYPATH")
    os.environ["MYPYPATH"] = ROOT
    # mypy raises the recursion limit for good; deep-nesting tests after
    # this one need the interpreter's own (PyPy overflows its C stack
    # before a limit of 16384 Python frames)
    recursion_limit = sys.getrecursionlimit()
    try:
        out, err, _status = mypy.run(["--no-incremental",
                                      "--cache-dir", str(tmp_path / "c"),
                                      str(probe)])
    finally:
        sys.setrecursionlimit(recursion_limit)
        if env_path is None:
            del os.environ["MYPYPATH"]
        else:
            os.environ["MYPYPATH"] = env_path
    assert 'Revealed type is "builtins.str"' in out or \
        'Revealed type is "str"' in out, out + err
    assert "bool | None" in out or "Union[builtins.bool, None]" in out, out


# ---- the documented events' members, read together and kept ----------------

PAD = "p" * 5000  # beyond what Batch.peek_object decodes whole (2048 bytes)


def documented_shapes(name, pad):
    """Data of ``name`` in the shapes its members can take: every member,
    nulls, arrays and objects where strings belong, escapes, integers beyond
    64 bits, no data and data that is not an object; with ``pad`` an extra
    member makes each object too large to be decoded whole."""
    spec = EVENTS[name]["members"]
    full = {k: synth(i["type"], k) for k, i in spec.items()}
    odd = {}
    for n, key in enumerate(spec):
        odd[key] = (None, ["a", {"b": 1}], {"c": [2]}, "\u00e9\\\"\u2603",
                    10 ** 30, -1.5e300, True)[n % 7]
    shapes = [full, odd, {}, None, [1, 2], "data"]
    if name.startswith("VNC_"):
        info = {"host": None, "service": ["x"], "family": "ipv6",
                "auth": "sasl", "websocket": 2 ** 70, "x509_dname": "C=\u00c4",
                "sasl_username": {"u": 1}, "extra": [3]}
        shapes.append({"server": info, "client": dict(info, family="vsock")})
        shapes.append({"server": 5, "client": []})
    if pad:
        for shape in shapes:
            if isinstance(shape, dict):
                shape["zz-pad"] = pad
                for value in shape.values():
                    if isinstance(value, dict):
                        value["zz-pad"] = pad
    return shapes


@pytest.mark.parametrize("pad", ["", PAD], ids=["small", "large"])
@pytest.mark.parametrize("name", qmpfast.model.catalogue.DOCUMENTED)
def test_documented_members_equal_json_loads(backend, name, pad):
    vnc_members = qmpfast.model.catalogue.VNC_INFO_MEMBERS
    for data in documented_shapes(name, pad):
        raw = event_bytes(name, data)
        (ev,) = decode(backend, raw)
        want = json.loads(raw).get("data")
        for attr, (key, typ, _opt) in type(ev).members.items():
            value = getattr(ev, attr)
            expected = want.get(key) if isinstance(want, dict) else None
            if isinstance(expected, dict) and typ.startswith("Vnc"):
                assert isinstance(value, qmpfast.VncInfo)
                assert value.to_dict() == expected
                for member in vnc_members:
                    got = getattr(value, member)
                    assert got == expected.get(member)
                    assert type(got) is type(expected.get(member))
                    if member in ("family", "auth") and type(got) is str:
                        assert got is sys.intern(got)
            else:
                assert value == expected
                assert type(value) is type(expected)
                if typ in ENUMS and type(value) is str:
                    assert value is sys.intern(value)
            assert getattr(ev, attr) is value  # kept: the same object
            if isinstance(value, (dict, list)):
                assert value is not ev.data.get(key)  # not shared
        # reading members leaves data and the whole message intact
        assert ev.data == (want if want is not None else {})
        assert ev.to_dict() == json.loads(raw)


def test_members_are_read_only_when_asked(backend):
    data = {k: synth(i["type"], k)
            for k, i in EVENTS["BLOCK_IO_ERROR"]["members"].items()}
    evs = decode(backend, event_bytes("BLOCK_IO_ERROR", data) * 2)
    for ev in evs:
        assert ev.seconds and ev.name
        assert "device" not in vars(ev)  # nothing decoded or kept yet
    assert evs[0].device == data["device"]
    assert "node_name" in vars(evs[0])  # all members read at once
    assert "device" not in vars(evs[1])
    assert evs[1].data == data and "device" not in vars(evs[1])


def test_building_messages_runs_no_python_code_per_message(backend):
    """A batch of messages is built by C builtins (``tuple.__new__`` over
    zipped record fields): the Python calls made by ``feed`` do not grow
    with the number of messages, and a member read again runs no Python
    code."""
    import sys
    one = event_bytes("BLOCK_IO_ERROR", {"device": "d", "operation": "read",
                                         "action": "report"})
    mixed = (one + b'{"return": {}, "id": 1}\r\n'
             + event_bytes("STOP", None))

    package = os.path.dirname(qmpfast.__file__)  # not the collector's
    scanner = os.path.join(package, "scan", "")

    def calls(count, times=0):
        dec = qmpfast.Decoder(backend=backend)
        dec.feed(mixed)  # first sight of each tag
        seen = []

        def profile(frame, event, arg):
            # the building of messages, not the scanning (the pure-Python
            # scanner is Python code per message by nature)
            name = frame.f_code.co_filename
            if event == "call" and package in name and scanner not in name:
                seen.append(frame.f_code)
        sys.setprofile(profile)
        try:
            out = dec.feed(mixed * count)
            for m in out:
                if m.kind == "event" and m.name == "BLOCK_IO_ERROR":
                    for _ in range(times):
                        m.device, m.action, m.data, m.operation
        finally:
            sys.setprofile(None)
        return len(seen)

    assert calls(10) == calls(100)
    assert calls(100, 1) == calls(100, 3) > calls(100)
