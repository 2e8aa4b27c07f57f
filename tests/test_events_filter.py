"""The ``events=`` filter of the Decoder.

Only the named events are delivered (matched exactly, whether or not the
catalogue knows the name, after unescaping); every other kind of message
always is; chunking changes nothing.  On every backend.
"""

import qmpfast
from qmpfast import Event

from conftest import sample
from decoding import event_bytes, chunks_of, decode, describe
from doc2010 import doc_examples


def test_escaped_event_name_passes_the_filter(decoder_factory):
    data = (b'{"event": "ST\\u004fP", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}}\n'
            b'{"event": "RES\\u0055ME", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}}\n')
    msgs = decode(decoder_factory, data, events={"STOP"})
    assert [m.name for m in msgs] == ["STOP"]
    assert type(msgs[0]) is qmpfast.Stop


def test_events_filter(decoder_factory):
    data = sample("qemu-7.2.qmp")
    all_msgs = decode(decoder_factory, data)
    kept = decode(decoder_factory, data, events={"STOP", "RESET"})
    expected = [m for m in all_msgs
                if m.kind != "event" or m.name in ("STOP", "RESET")]
    assert [describe(m) for m in kept] == [describe(m) for m in expected]
    assert sum(m.kind == "event" for m in kept) == 6
    assert sum(m.kind != "event" for m in kept) == 16


def test_events_filter_with_names_not_in_the_catalogue(decoder_factory):
    data = b"".join([
        event_bytes("MY_EVENT", {"a": 1}), b"\n",
        event_bytes("OTHER_NEW_EVENT", None), b"\n",
        event_bytes("STOP", None), b"\n",
        b'{"return": {}}\n',
    ])
    msgs = decode(decoder_factory, data, events=["MY_EVENT"])
    assert [m.kind for m in msgs] == ["event", "return"]
    assert msgs[0].name == "MY_EVENT" and type(msgs[0]) is Event
    assert msgs[0].data == {"a": 1}
    msgs = decode(decoder_factory, data, events="STOP")
    assert [getattr(m, "name", m.kind) for m in msgs] == ["STOP", "return"]


def test_events_filter_empty_keeps_only_non_events(decoder_factory):
    data = sample("qemu-7.2.qmp")
    msgs = decode(decoder_factory, data, events=())
    assert len(msgs) == 16
    assert all(m.kind != "event" for m in msgs)


def test_events_filter_on_chunked_input(decoder_factory):
    data = sample("qemu-7.2.qmp") + doc_examples()
    whole = decode(decoder_factory, data, events={"SHUTDOWN", "VNC_CONNECTED"})
    pieces = decode(decoder_factory, data, chunks_of(data, 3),
                    events={"SHUTDOWN", "VNC_CONNECTED"})
    assert [describe(m) for m in pieces] == [describe(m) for m in whole]
    assert [m.name for m in whole if m.kind == "event"] == [
        "VNC_CONNECTED", "SHUTDOWN", "SHUTDOWN", "SHUTDOWN", "VNC_CONNECTED"]


def test_events_filter_with_a_long_event_name(decoder_factory):
    """A name longer than anything QEMU uses is still matched exactly."""
    long_name = "X_" + "LONG" * 50
    other = "X_" + "LONG" * 49 + "LONF"
    data = (event_bytes(long_name, {"n": 1}) + b"\n" +
            event_bytes(other, {"n": 2}) + b"\n")
    msgs = decode(decoder_factory, data)
    assert [m.name for m in msgs] == [long_name, other]
    msgs = decode(decoder_factory, data, events={long_name})
    assert [m.name for m in msgs] == [long_name]
    assert msgs[0].data == {"n": 1}
