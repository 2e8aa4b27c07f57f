"""Which kind of message an object is, and the fields of each kind.

The reserved members decide the class (event, then return, error, greeting,
command; anything else is a plain Message), only at the top level; the
reference for the values is ``json.loads``.  On every backend.
"""

import json

import pytest

import qmpfast
from qmpfast import Command, ErrorResponse, Greeting, Message, Return

from conftest import sample
from decoding import decode


EV = '"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}'


RET = '"return": {"r": 1}'


ERR = '"error": {"class": "GenericError", "desc": "d"}'


QMP = '"QMP": {"version": {}, "capabilities": []}'


EXE = '"execute": "query-status"'


OOB = '"exec-oob": "migrate-pause"'


@pytest.mark.parametrize("members, cls, kind", [
    ([EV, RET, ERR, QMP, EXE], qmpfast.Stop, "event"),
    ([EXE, QMP, ERR, RET, EV], qmpfast.Stop, "event"),
    ([RET, ERR, QMP, EXE], Return, "return"),
    ([EXE, QMP, ERR, RET], Return, "return"),
    ([ERR, QMP, EXE], ErrorResponse, "error"),
    ([OOB, QMP, ERR], ErrorResponse, "error"),
    ([QMP, EXE], Greeting, "greeting"),
    ([OOB, QMP], Greeting, "greeting"),
    ([EXE], Command, "command"),
    ([OOB], Command, "command"),
    (['"id": 3', EXE, '"arguments": {"a": 1}'], Command, "command"),
    (['"foo": 1'], Message, "message"),
    ([], Message, "message"),
    (['"data": {"event": "STOP"}', '"id": 1'], Message, "message"),
    (['"return": {"event": "STOP", "error": {}}'], Return, "return"),
    (['"x": {"QMP": {}, "execute": "a"}'], Message, "message"),
])
def test_kind_precedence(decoder_factory, members, cls, kind):
    raw = ("{" + ", ".join(members) + "}").encode()
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is cls
    assert msg.kind == kind
    assert isinstance(msg, Message)
    assert msg.raw == raw
    assert msg.to_dict() == json.loads(raw)


@pytest.mark.parametrize("value", [b"null", b"false", b"0", b'""', b"[]",
                                   b'"text"', b"[1, {}]", b"{}", b"-1.5e3"])
def test_return_of_any_value(decoder_factory, value):
    raw = b'{"return": ' + value + b"}"
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is Return
    assert msg.value == json.loads(value)
    assert msg.id is None


def test_return_fields(decoder_factory):
    raw = (b'{"return": {"status": "running", "singlestep": false, '
           b'"running": true}, "id": {"tag": ["x", 7]}}')
    (msg,) = decode(decoder_factory, raw)
    assert msg.value == {"status": "running", "singlestep": False,
                         "running": True}
    assert msg.id == {"tag": ["x", 7]}
    (msg,) = decode(decoder_factory, b'{"id": "a\\"b", "return": []}')
    assert msg.id == 'a"b' and msg.value == []


def test_error_response_fields(decoder_factory):
    raw = (b'{"id": 9, "error": {"class": "CommandNotFound", '
           b'"desc": "The command no-such-command has not been found"}}')
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is ErrorResponse and msg.kind == "error"
    assert msg.error_class == "CommandNotFound"
    assert msg.desc == "The command no-such-command has not been found"
    assert msg.id == 9
    (msg,) = decode(decoder_factory,
                    b'{"error": {"desc": "caf\\u00e9 \xe2\x82\xac", '
                    b'"class": "Generic\\u0045rror", "extra": [1]}}')
    assert msg.error_class == "GenericError"
    assert msg.desc == "caf\u00e9 \u20ac"
    assert msg.id is None


def test_greeting_fields(decoder_factory):
    raw = sample("qemu-7.2.qmp").split(b"\r\n", 1)[0]
    (msg,) = decode(decoder_factory, raw)
    assert type(msg) is Greeting and msg.kind == "greeting"
    assert msg.version == {"qemu": {"micro": 22, "minor": 2, "major": 7},
                           "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}
    assert msg.capabilities == ["oob"]


def test_command_fields(decoder_factory):
    (msg,) = decode(decoder_factory,
                    b'{"execute": "send-key", "arguments": {"keys": '
                    b'[{"type": "qcode", "data": "ret"}]}, "id": 11}')
    assert type(msg) is Command and msg.kind == "command"
    assert msg.command == "send-key"
    assert msg.arguments == {"keys": [{"type": "qcode", "data": "ret"}]}
    assert msg.id == 11
    assert msg.oob is False
    (msg,) = decode(decoder_factory,
                    b'{"exec-oob": "migrate-pause", "id": "oob-1"}')
    assert msg.command == "migrate-pause"
    assert msg.oob is True
    assert msg.arguments == {}
    assert msg.id == "oob-1"
