"""Both clients against peers that misbehave: a peer that stops reading,
error replies without an id or without their members, replies over the
size limit, duplicate replies; and arguments QEMU could not parse.

Each test runs on both backends, with the sync client and the asyncio one
(through the adapter of test_client), over a unix socket or 127.0.0.1.
"""

import asyncio
import socket
import threading

import pytest

import qmpfast
from qmpfast import aio
from qmpfast.client import CommandError, QMPConnectionError, connect
from test_client import (FakeServer, line, open_client, reply,  # noqa: F401
                         serve, sockdir)


@pytest.fixture(params=[socket.AF_UNIX, socket.AF_INET], ids=["unix", "tcp"])
def family(request):
    return request.param


def parse_error(desc="JSON parse error, stray 'N'"):
    """What QEMU sends for a line it cannot parse: an error with no id."""
    return line({"error": {"class": "GenericError", "desc": desc}})


# ---- a peer that stops reading --------------------------------------------

def test_execute_timeout_covers_sending(serve, open_client, family):
    # far more than the socket buffers hold, so the send itself blocks
    blob = "a" * (32 << 20)
    release = threading.Event()

    def script(peer):
        peer.negotiate()
        release.wait(10)  # not reading
        peer.close()

    client = open_client(serve(script, family=family).address)
    try:
        with pytest.raises(TimeoutError, match="not sent within 0.5 s"):
            client.execute("x", {"blob": blob}, timeout=0.5)
        # a command cut short cannot be taken back: the connection is gone
        assert "not sent" in str(client.closed_reason)
        with pytest.raises(QMPConnectionError):
            client.execute("y")
    finally:
        release.set()


# ---- error replies without an id ------------------------------------------

def test_id_less_error_fails_the_command(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.command()
        # QEMU answers one line it cannot parse with one error per token
        # it skips; none carries an id
        peer.send(parse_error(), parse_error("JSON parse error, "
                                             "expecting value"))
        peer.send(reply(peer.command(), "next"))

    client = open_client(serve(script).address)
    with pytest.raises(CommandError) as info:
        client.execute("bad", timeout=3)
    err = info.value
    assert (err.error_class, err.desc, err.command) == (
        "GenericError", "JSON parse error, stray 'N'", "bad")
    # the errors that followed belonged to the same line, not to "next"
    assert client.execute("next") == "next"


def test_async_id_less_error_fails_the_oldest_command(serve, backend):
    def script(peer):
        peer.negotiate()
        first, second = peer.command(), peer.command()
        # two errors for the first command's line: the second must not
        # fail the second command, which QEMU goes on to run
        peer.send(parse_error(), parse_error("JSON parse error, expecting "
                                             "value"), reply(second, "second"))

    async def main(address):
        async with aio.connect(address, backend=backend,
                               timeout=3) as client:
            results = await asyncio.gather(client.execute("first"),
                                           client.execute("second"),
                                           return_exceptions=True)
            assert isinstance(results[0], CommandError)
            assert results[0].command == "first"
            assert results[1] == "second"

    asyncio.run(main(serve(script).address))


def test_sync_id_less_error_fails_the_oldest_command(serve, backend):
    sent = threading.Event()

    def script(peer):
        peer.negotiate()
        first = peer.command()
        sent.set()
        second = peer.command()
        assert (first["execute"], second["execute"]) == ("first", "second")
        peer.send(parse_error(), parse_error("JSON parse error, expecting "
                                             "value"), reply(second, "second"))

    with connect(serve(script).address, backend=backend,
                 timeout=3) as client:
        results = {}

        def run(name):
            try:
                results[name] = client.execute(name)
            except CommandError as exc:
                results[name] = exc

        threads = [threading.Thread(target=run, args=(name,))
                   for name in ("first", "second")]
        threads[0].start()
        assert sent.wait(5)  # "first" is the older command
        threads[1].start()
        for thread in threads:
            thread.join(10)
        assert isinstance(results["first"], CommandError)
        assert results["first"].command == "first"
        assert results["second"] == "second"


@pytest.mark.parametrize("arguments, named", [
    ({"path": "\ud800"},
     r"^bad: argument 'path' holds '\\ud800', a lone surrogate"),
    ({"opts": {"ids": [1, "a\udfffb"]}},
     r"^bad: argument 'opts'\['ids'\]\[1\] holds '\\udfff'"),
    ({"k\udc80": 1}, r"^bad: argument name 'k\\udc80' holds"),
    ({"o": {"k\udc80": 1}}, r"^bad: a key in argument 'o' holds"),
    ({"n": float("nan")}, r"^bad: argument 'n' is nan, which JSON"),
    ({"n": [float("-inf")]}, r"^bad: argument 'n'\[0\] is -inf"),
], ids=["surrogate", "nested", "name", "key", "nan", "inf"])
def test_unencodable_arguments_are_refused(serve, open_client, arguments,
                                           named):
    def script(peer):
        peer.negotiate()
        cmd = peer.command()  # the first command the peer sees
        peer.send(reply(cmd, cmd["execute"]))

    client = open_client(serve(script).address)
    with pytest.raises(ValueError, match=named):
        client.execute("bad", arguments)
    assert client.execute("good") == "good"


# ---- error replies without their members ----------------------------------

@pytest.mark.parametrize("error, expected", [
    ({"class": "GenericError"}, ("GenericError", None)),
    ({"desc": "it broke"}, (None, "it broke")),
    ({"class": 5, "desc": ["x"]}, (None, None)),
    ("it broke", (None, None)),
    ({}, (None, None)),
], ids=["no-desc", "no-class", "not-strings", "not-object", "empty"])
@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
def test_malformed_error_reply_raises_command_error(serve, open_client,
                                                    error, expected, pretty):
    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        peer.send(line({"id": cmd["id"], "error": error}, pretty))
        peer.send(reply(peer.command(), "next"))

    client = open_client(serve(script).address)
    with pytest.raises(CommandError) as info:
        client.execute("x", timeout=3)
    err = info.value
    assert (err.error_class, err.desc, err.id, err.command) == (
        *expected, 2, "x")
    assert client.decode_errors == 1
    assert client.execute("next") == "next"


def test_malformed_id_less_error_fails_the_command(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.command()
        peer.send(line({"error": {"class": "GenericError"}}))

    client = open_client(serve(script).address)
    with pytest.raises(CommandError) as info:
        client.execute("x", timeout=3)
    assert (info.value.error_class, info.value.desc) == ("GenericError",
                                                         None)


# ---- replies over the size limit ------------------------------------------

def test_oversize_reply_fails_its_command(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.send(reply(peer.command(), "x" * 10000))
        peer.send(reply(peer.command(), "small"))

    client = open_client(serve(script).address, max_message_size=4096)
    with pytest.raises(qmpfast.MessageTooLargeError,
                       match="exceeds the limit of 4096 bytes"):
        client.execute("big", timeout=3)
    assert client.execute("next") == "small"


def test_oversize_reply_at_the_default_limit(serve, backend, family):
    # QEMU's own input limit is the default; a reply one byte longer
    size = qmpfast.DEFAULT_MAX_MESSAGE_SIZE

    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        head = b'{"id": %d, "return": "' % cmd["id"]
        try:
            peer.send(head + b"x" * (size + 1 - len(head) - 2) + b'"}\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on the reply at the limit

    with connect(serve(script, family=family).address, backend=backend,
                 timeout=30) as client:
        with pytest.raises(qmpfast.MessageTooLargeError):
            client.execute("big")


# ---- duplicate replies ----------------------------------------------------

@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_first_of_duplicate_replies_wins(serve, open_client, bytewise):
    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        peer.send(reply(cmd, "first"), reply(cmd, "second"),
                  bytewise=bytewise)
        cmd = peer.command()
        peer.send(reply(cmd, "next") + reply(cmd, "again"))

    client = open_client(serve(script).address)
    assert client.execute("x") == "first"
    assert client.execute("y") == "next"
