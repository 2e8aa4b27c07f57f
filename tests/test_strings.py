"""Escapes and Unicode in names, keys and values.

An escaped event name or key is the same name or key as its plain
spelling (so it picks the same class and typed members); strings of any
code point decode as ``json.loads`` decodes them.  On every backend.
"""

import json

import pytest

import qmpfast
from qmpfast import Return

from decoding import ts, decode


@pytest.mark.parametrize("name_json, name", [
    (r'"ST\u004fP"', "STOP"),
    (r'"\u0053\u0054\u004F\u0050"', "STOP"),
    (r'"BLOCK\u005fIO_ERROR"', "BLOCK_IO_ERROR"),
    (r'"MY\u005fEVENT"', "MY_EVENT"),
    (r'"caf\u00e9"', "caf\u00e9"),
    ('"caf\u00e9"', "caf\u00e9"),
    (r'"\ud83d\ude00 \"q\" \\ \/"', "\U0001F600 \"q\" \\ /"),
])
def test_escaped_event_names(decoder_factory, name_json, name):
    raw = ('{"event": ' + name_json + ', "timestamp": {"seconds": 1, '
           '"microseconds": 2}, "data": {"device": "ide0"}}').encode()
    (ev,) = decode(decoder_factory, raw)
    assert ev.name == name
    assert type(ev) is qmpfast.event_class(name)
    assert ev.to_dict()["event"] == name
    if name == "BLOCK_IO_ERROR":
        assert type(ev) is qmpfast.BlockIoError
        assert ev.device == "ide0"


def test_escaped_keys(decoder_factory):
    raw = (b'{"\\u0065vent": "BLOCK_IO_ERROR", "t\\u0069mestamp": '
           b'{"s\\u0065conds": 10, "micro\\u0073econds": 20}, '
           b'"d\\u0061ta": {"dev\\u0069ce": "ide0\\u002dhd1", '
           b'"op\\u0065ration": "r\\u0065ad", "action": "stop"}}')
    (ev,) = decode(decoder_factory, raw)
    assert type(ev) is qmpfast.BlockIoError
    assert (ev.seconds, ev.microseconds) == (10, 20)
    assert ev.device == "ide0-hd1"
    assert ev.operation == "read"
    assert ev.action == "stop"
    (ret,) = decode(decoder_factory, b'{"r\\u0065turn": 5, "\\u0069d": 1}')
    assert type(ret) is Return and ret.value == 5 and ret.id == 1


def test_unicode_extremes(decoder_factory):
    raw = ('{"return": ["\x7f", "\u0080", "\u07ff", "\u0800", "\uffff", '
           '"\U00010000", "\U0010ffff", "\\u0000\\uffff\\udbff\\udfff"]}'
           ).encode("utf-8")
    (msg,) = decode(decoder_factory, raw)
    assert msg.value == ["\x7f", "\u0080", "\u07ff", "\u0800", "\uffff",
                         "\U00010000", "\U0010ffff",
                         "\u0000\uffff\U0010ffff"]
    assert msg.to_dict() == json.loads(raw)


def test_unicode_values(decoder_factory):
    obj = {"timestamp": ts(), "event": "BLOCK_IO_ERROR", "data": {
        "device": "disque-\u00e9\u20ac\U0001F600", "operation": "write",
        "action": "report", "reason": "Aucun espace \u00e0 \"gauche\"\n"}}
    for ascii_only in (True, False):
        raw = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8")
        (ev,) = decode(decoder_factory, raw)
        assert ev.device == "disque-\u00e9\u20ac\U0001F600"
        assert ev.reason == "Aucun espace \u00e0 \"gauche\"\n"
        assert ev.to_dict() == obj
        assert ev.raw == raw
