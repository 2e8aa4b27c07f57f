"""Message objects as values: equality, hash, repr, pickle, ``to_dict``.

Messages with the same members are equal whatever their layout; ``repr``
says what a message is; pickling keeps everything; ``to_dict`` gives a new
dict every time; a message outlives the decoder that made it.  On every
backend.
"""

import json
import pickle

from qmpfast import Event, Return

from conftest import sample
from decoding import event_bytes, chunks_of, decode
from doc2010 import doc_examples


def test_to_dict_is_a_new_dict_for_every_kind(decoder_factory):
    data = sample("qemu-7.2.qmp")
    for msg in decode(decoder_factory, data):
        first = msg.to_dict()
        first.clear()
        assert msg.to_dict() == json.loads(msg.raw)
        if isinstance(msg, Return) and isinstance(msg.value, dict):
            msg.value["mutated"] = True
            assert "mutated" not in msg.to_dict()["return"]
            assert "mutated" not in msg.value


def test_equality_and_hash(decoder_factory):
    data = sample("qemu-7.2.qmp")
    first = decode(decoder_factory, data)
    second = decode(decoder_factory, data, chunks_of(data, 11))
    assert first == second
    assert [hash(m) for m in first] == [hash(m) for m in second]
    assert len(set(first)) == len(set(m.raw for m in first))
    assert first[1] != first[5]  # {"return": {}, "id": 1} vs id 4
    assert first[1] != first[2]
    assert first[0] != first[1]
    assert first[1] != first[1].to_dict()
    assert not (first[1] == first[1].raw)


def test_equality_across_layouts_and_kinds(decoder_factory):
    compact = decode(decoder_factory, sample("qemu-7.2.qmp"))
    pretty = decode(decoder_factory, sample("qemu-7.2-pretty.qmp"))
    assert [m.kind for m in compact] == [m.kind for m in pretty]
    # a separate recording: same members, different timestamps
    assert compact[0] == pretty[0]  # the greeting
    assert compact[1] == pretty[1]  # {"return": {}, "id": 1}
    assert hash(compact[1]) == hash(pretty[1])
    a = decode(decoder_factory, b'{"x": 1, "y": 2}')[0]
    b = decode(decoder_factory, b'{ "y" : 2 , "x" : 1 }')[0]
    assert a == b and hash(a) == hash(b)
    msg = decode(decoder_factory, b'{"x": 1}')[0]
    ret = decode(decoder_factory, b'{"return": 1}')[0]
    ret2 = decode(decoder_factory, b'{"return": 2}')[0]
    assert msg != ret and ret != ret2


def test_repr(decoder_factory):
    msgs = decode(decoder_factory, sample("qemu-7.2.qmp") + doc_examples() +
                  b'{"execute": "cont", "id": 16}{"x": "\xc3\xa9"}')
    texts = [repr(m) for m in msgs]
    for msg, text in zip(msgs, texts):
        assert text.startswith("<" + type(msg).__name__)
        assert isinstance(text, str)
    assert "7.2.22" in texts[0]
    assert "id=1" in texts[1]
    assert texts[4].startswith("<Stop at 2026-")
    assert "CommandNotFound" in texts[14]
    assert "ide1-hd0" in texts[20]
    assert "no time" in repr(decode(decoder_factory,
                                    event_bytes("STOP", None, -1, -1))[0])
    assert "'cont'" in texts[-2]
    assert "\u00e9" in texts[-1]


def test_pickle_round_trip(decoder_factory):
    msgs = decode(decoder_factory, sample("qemu-7.2.qmp") + doc_examples() +
                  b'{"execute": "cont"}{"other": [1]}')
    kinds = set()
    for msg in msgs:
        again = pickle.loads(pickle.dumps(msg))
        assert type(again) is type(msg)
        assert again == msg
        assert again.raw == msg.raw
        assert again.to_dict() == msg.to_dict()
        if isinstance(msg, Event):
            assert (again.name, again.seconds, again.microseconds) == (
                msg.name, msg.seconds, msg.microseconds)
        kinds.add(msg.kind)
    assert kinds == {"greeting", "return", "error", "event", "command",
                     "message"}
    bio = pickle.loads(pickle.dumps(msgs[30]))
    assert bio.device == "ide0-hd1" and bio.action == "stop"


def test_lazy_message_survives_its_decoder(decoder_factory):
    dec = decoder_factory()
    msgs = dec.feed(doc_examples())
    del dec
    assert msgs[4].server.auth == "sasl"
    assert msgs[6].client.service == "46089"
