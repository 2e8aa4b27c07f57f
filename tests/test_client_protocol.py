"""The protocol core shared by the clients, without any socket.

``qmpfast.protocol`` must stay free of I/O so that both clients can share
it, and the clients must not lean on each other.
"""

import ast
import os

import pytest

import qmpfast
from qmpfast.errors import CommandError, NotQMPError
from qmpfast.protocol import Backoff, Inbox, command_bytes, result
from test_client import GREETING, line

PACKAGE = os.path.dirname(qmpfast.__file__)


def imports(module):
    """The modules ``qmpfast/<module>.py`` imports, relative ones with
    their dots."""
    with open(os.path.join(PACKAGE, module + ".py")) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_protocol_does_no_io():
    assert not imports("protocol") & {"socket", "selectors", "asyncio",
                                      "threading", "select", ".client",
                                      ".aio"}


@pytest.mark.parametrize("module, other", [("client", ".aio"),
                                           ("aio", ".client")])
def test_clients_do_not_import_each_other(module, other):
    assert other not in imports(module)
    assert ".protocol" in imports(module)


def test_inbox_settles_each_command_once(backend):
    inbox = Inbox("peer", backend=backend)
    assert inbox.feed(line(GREETING)) == []
    first, second = inbox.next_id(), inbox.next_id()
    inbox.expect(first, "a")
    inbox.expect(second, "b")
    settled = inbox.feed(
        line({"return": 1, "id": second}) + line({"return": 2, "id": second})
        + line({"error": {"class": "GenericError", "desc": "JSON parse "
                          "error"}}))
    assert [(i, type(o).__name__) for i, o in settled] == [
        (second, "Return"), (first, "CommandError")]
    assert result(settled[0][1]) == 1
    with pytest.raises(CommandError, match="a: GenericError: JSON parse"):
        result(settled[1][1])
    inbox.expect(inbox.next_id(), "c")
    inbox.forget(3)
    assert inbox.feed(line({"return": 3, "id": 3})) == []


def test_command_bytes():
    assert command_bytes("x", {"s": "é"}, 7) == (
        b'{"execute": "x", "arguments": {"s": "\\u00e9"}, "id": 7}\n')
    # a backslash before "ud" is not a surrogate escape
    assert command_bytes("x", {"s": "\\ud800"}, 1).startswith(b'{"execute"')
    with pytest.raises(TypeError, match="argument 's' is a set"):
        command_bytes("x", {"s": {1}}, 1)


def test_backoff_stops_at_the_deadline():
    backoff = Backoff(1.0, now=100.0)
    assert backoff.next_delay(100.0) == 0.01
    assert backoff.next_delay(100.5) == 0.02
    assert backoff.next_delay(100.99) == pytest.approx(0.01)
    assert backoff.next_delay(101.0) is None
    forever = Backoff(None, now=0.0)
    assert [forever.next_delay(1e9) for _ in range(7)] == [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]


WIRE = line(GREETING)


@pytest.mark.parametrize("garbage", [b"hello\n", b"\x00\xff garbage\r\n",
                                     b'{"a": }\n'])
@pytest.mark.parametrize("cut", ["one piece", "garbage apart", "bytewise"])
def test_garbage_before_the_greeting_is_refused_however_cut(garbage, cut,
                                                            backend):
    """Not QMP, whether the garbage came alone or with the greeting."""
    stream = garbage + WIRE
    if cut == "one piece":
        chunks = [stream]
    elif cut == "garbage apart":
        chunks = [garbage, WIRE]
    else:
        chunks = [stream[i:i + 1] for i in range(len(stream))]
    inbox = Inbox("vm", backend=backend)
    with pytest.raises(NotQMPError, match="not a QMP peer"):
        for chunk in chunks:
            inbox.feed(chunk)


def test_a_greeting_alone_is_accepted_however_cut(backend):
    for size in (1, 7, len(WIRE)):
        inbox = Inbox("vm", backend=backend)
        for i in range(0, len(WIRE), size):
            inbox.feed(WIRE[i:i + size])
        assert inbox.greeting is not None
        assert inbox.greeting.raw == WIRE.strip()
