"""The sync and asyncio clients against a scripted fake QMP server.

Each test runs on both backends and, through ``open_client``, on both
clients: the asyncio one is driven through a thin synchronous adapter (each
call runs the loop until its coroutine completes, so between calls the
reader task is as idle as a sync client that nobody calls).  Behaviour only
asyncio has (concurrent commands) is tested natively.
"""

import asyncio
import json
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

import qmpfast
from qmpfast import aio
from qmpfast.client import (Client, CommandError, NotQMPError,
                            QMPConnectionError, connect, parse_address)

GREETING = {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2,
                                         "major": 7},
                                "package": "Debian 1:7.2+dfsg-7+deb12u18"},
                    "capabilities": ["oob"]}}


def line(obj, pretty=False):
    if pretty:  # QEMU's pretty=on layout
        return json.dumps(obj, indent=4).replace("\n", "\r\n").encode() + \
            b"\r\n"
    return json.dumps(obj).encode() + b"\r\n"


def event(name, data=None, seconds=1700000000, micro=0, pretty=False):
    msg = {"timestamp": {"seconds": seconds, "microseconds": micro},
           "event": name}
    if data is not None:
        msg["data"] = data
    return line(msg, pretty)


def reply(cmd, value=None, pretty=False):
    return line({"return": {} if value is None else value,
                 "id": cmd["id"]}, pretty)


def error_reply(cmd, cls, desc):
    return line({"id": cmd["id"], "error": {"class": cls, "desc": desc}})


class Peer:
    """The server side of one connection."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def send(self, *chunks, bytewise=False):
        for chunk in chunks:
            if bytewise:
                for i in range(len(chunk)):
                    try:
                        self.conn.sendall(chunk[i:i + 1])
                    except (BrokenPipeError, ConnectionResetError):
                        # a message is complete at its '}': a client that
                        # has all it waited for may close before the line
                        # break that follows
                        if chunk[i:].strip():
                            raise
                        return
            else:
                self.conn.sendall(chunk)

    def command(self):
        """The next command the client sent, as a dict."""
        while b"\n" not in self.buf:
            data = self.conn.recv(4096)
            if not data:
                raise EOFError("client closed")
            self.buf += data
        text, self.buf = self.buf.split(b"\n", 1)
        return json.loads(text)

    def greet(self, pretty=False):
        self.send(line(GREETING, pretty))

    def negotiate(self, pretty=False):
        self.greet(pretty)
        cmd = self.command()
        assert cmd == {"execute": "qmp_capabilities", "id": cmd["id"]}
        self.send(reply(cmd, pretty=pretty))

    def close(self):
        self.conn.close()

    def wait_closed(self, timeout=5.0):
        """Read until the client closes the connection."""
        self.conn.settimeout(timeout)
        while self.conn.recv(4096):
            pass


class FakeServer:
    """A unix socket server running ``script(peer)`` for one connection in
    a thread; the thread's exception, if any, is raised by ``join``."""

    def __init__(self, path, script, delay=0.0, family=socket.AF_UNIX):
        self.path = path
        self.script = script
        self.delay = delay
        self.error = None
        self.peer = None
        self.listener = None
        self.address = path
        self.ready = threading.Event()
        if family == socket.AF_INET:
            self._listen(socket.AF_INET, ("127.0.0.1", 0))
            self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _listen(self, family, target):
        self.listener = socket.socket(family)
        self.listener.bind(target)
        self.listener.listen(1)
        self.ready.set()

    def _run(self):
        try:
            if self.listener is None:
                time.sleep(self.delay)
                self._listen(socket.AF_UNIX, self.path)
            self.listener.settimeout(10)
            conn, _ = self.listener.accept()
            self.peer = Peer(conn)
            self.script(self.peer)
            try:
                self.peer.wait_closed()
            except OSError:
                pass
        except BaseException as exc:  # noqa: B902 - reported by join()
            self.error = exc
        finally:
            if self.peer:
                self.peer.close()
            if self.listener:
                self.listener.close()

    def join(self):
        self.thread.join(10)
        assert not self.thread.is_alive(), "fake server still running"
        if self.error is not None:
            raise self.error


@pytest.fixture
def sockdir():
    # sun_path holds 107 bytes: pytest's tmp_path can be longer
    path = tempfile.mkdtemp(prefix="qf", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def serve(sockdir):
    """``serve(script, **options)`` starts a FakeServer; all are joined
    (and their errors raised) at the end of the test."""
    servers = []

    def start(script, **options):
        server = FakeServer(os.path.join(sockdir, "qmp.sock"), script,
                            **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.join()


class AsyncAdapter:
    """An aio.Client driven synchronously, one coroutine at a time."""

    def __init__(self, loop, client):
        self.loop = loop
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def execute(self, *args, **kwargs):
        return self.run(self.client.execute(*args, **kwargs))

    def get_event(self, timeout=None):
        return self.run(self.client.get_event(timeout))

    def events(self, timeout=None):
        async def collect():
            return [ev async for ev in self.client.events(timeout)]
        return iter(self.run(collect()))

    def close(self):
        self.run(self.client.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture(params=["sync", "async"])
def open_client(request, backend):
    """``open_client(address, **options)`` connects with the sync client or
    the adapted asyncio one, on the test's backend."""
    loop = asyncio.new_event_loop() if request.param == "async" else None
    clients = []

    def open_(address, **options):
        options.setdefault("backend", backend)
        options.setdefault("timeout", 5.0)
        if loop is None:
            client = connect(address, **options)
        else:
            client = AsyncAdapter(loop, loop.run_until_complete(
                aio.connect(address, **options)))
        clients.append(client)
        return client

    open_.mode = request.param
    yield open_
    for client in clients:
        client.close()
    if loop is not None:
        loop.close()


def names(events):
    return [ev.name for ev in events]


# ---- connecting and commands ---------------------------------------------

def test_greeting_negotiation_and_ids(serve, open_client):
    seen = []

    def script(peer):
        peer.negotiate()
        for value in ({"status": "running", "running": True}, 7):
            cmd = peer.command()
            seen.append(cmd)
            peer.send(reply(cmd, value))

    server = serve(script)
    client = open_client(server.address)
    assert isinstance(client.greeting, qmpfast.Greeting)
    assert client.greeting.version["qemu"]["major"] == 7
    assert client.greeting.capabilities == ["oob"]
    assert client.execute("query-status") == {"status": "running",
                                              "running": True}
    assert client.execute("x", {"n": [1, "é"]}) == 7
    client.close()
    server.join()
    assert seen == [{"execute": "query-status", "id": 2},
                    {"execute": "x", "arguments": {"n": [1, "é"]}, "id": 3}]


def test_error_reply_raises_command_error(serve, open_client):
    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        peer.send(error_reply(cmd, "CommandNotFound",
                              "The command nope has not been found"))
        peer.send(reply(peer.command(), 1))

    client = open_client(serve(script).address)
    with pytest.raises(CommandError) as info:
        client.execute("nope")
    err = info.value
    assert isinstance(err, qmpfast.QMPError)
    assert (err.error_class, err.desc, err.id, err.command) == (
        "CommandNotFound", "The command nope has not been found", 2, "nope")
    assert "CommandNotFound" in str(err) and "nope" in str(err)
    assert client.execute("next") == 1  # the connection goes on


def test_events_around_the_greeting_and_negotiation(serve, open_client):
    # QEMU greets first and sends no events before negotiation, but a
    # collector must lose nothing if a peer does.
    def script(peer):
        peer.send(event("EARLY", micro=1))
        peer.greet()
        peer.send(event("AFTER_GREETING", micro=2))
        cmd = peer.command()
        peer.send(event("BEFORE_REPLY", micro=3), reply(cmd),
                  event("AFTER_REPLY", micro=4))

    client = open_client(serve(script).address)
    got = [client.get_event(5) for _ in range(4)]
    assert names(got) == ["EARLY", "AFTER_GREETING", "BEFORE_REPLY",
                          "AFTER_REPLY"]
    assert [ev.microseconds for ev in got] == [1, 2, 3, 4]
    assert client.get_event(0.05) is None


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
def test_events_between_command_and_reply(serve, open_client, bytewise,
                                          pretty):
    def script(peer):
        peer.negotiate(pretty)
        cmd = peer.command()
        peer.send(event("STOP", pretty=pretty),
                  event("BLOCK_IO_ERROR", {"device": "ide1-hd0",
                                           "operation": "read",
                                           "action": "stop"}, pretty=pretty),
                  reply(cmd, {"status": "io-error"}, pretty),
                  event("RESUME", pretty=pretty), bytewise=bytewise)

    client = open_client(serve(script).address)
    assert client.execute("query-status") == {"status": "io-error"}
    got = [client.get_event(5) for _ in range(3)]
    assert names(got) == ["STOP", "BLOCK_IO_ERROR", "RESUME"]
    assert got[1].device == "ide1-hd0" and got[1].action == "stop"
    assert isinstance(got[1], qmpfast.BlockIoError)


def test_replies_interleaved_with_events(serve, open_client):
    def script(peer):
        peer.negotiate()
        for i in range(5):
            cmd = peer.command()
            peer.send(event("E%d" % i, micro=2 * i), reply(cmd, i),
                      event("E%d" % i, micro=2 * i + 1))

    client = open_client(serve(script).address)
    assert [client.execute("c%d" % i) for i in range(5)] == list(range(5))
    got = [client.get_event(5) for _ in range(10)]
    assert [ev.microseconds for ev in got] == list(range(10))


def test_stray_replies_are_ignored(serve, open_client):
    # replies to ids nobody waits for (a command that timed out, a peer's
    # mistake) and replies without an id never satisfy another command
    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        peer.send(line({"return": "stray", "id": 999}),
                  line({"return": "no id"}),
                  line({"return": "odd id", "id": [cmd["id"]]}),
                  reply(cmd, "mine"))

    client = open_client(serve(script).address)
    assert client.execute("x") == "mine"


def test_command_timeout_then_late_reply(serve, open_client):
    def script(peer):
        peer.negotiate()
        late = peer.command()
        cmd = peer.command()
        peer.send(reply(late, "late"), reply(cmd, "on time"))

    client = open_client(serve(script).address)
    with pytest.raises(TimeoutError):
        client.execute("slow", timeout=0.1)
    assert client.execute("fast") == "on time"


def test_events_filter(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.send(event("RESUME"), event("STOP"), event("RESET",
                                                        {"guest": True}))
        peer.close()

    client = open_client(serve(script).address, events={"STOP", "RESET"})
    assert names(client.events()) == ["STOP", "RESET"]


# ---- the bounded queue ----------------------------------------------------

def test_slow_reader_drops_oldest_and_replies_still_arrive(serve,
                                                           open_client):
    # far more than the socket buffers hold: the server blocks in sendall
    # unless the client reads while it waits for its reply
    total = 20000

    def script(peer):
        peer.negotiate()
        cmd = peer.command()
        peer.send(b"".join(event("E", micro=i % 1000000, seconds=i)
                           for i in range(total)))
        peer.send(reply(cmd, "done"))
        peer.send(reply(peer.command(), "again"))

    client = open_client(serve(script).address, max_queue=5)
    assert client.execute("x", timeout=10) == "done"
    assert client.dropped == total - 5
    assert client.execute("y") == "again"
    got = [client.get_event(1) for _ in range(5)]
    assert [ev.seconds for ev in got] == list(range(total - 5, total))
    assert client.get_event(0.01) is None


def test_max_queue_must_be_positive(serve, open_client):
    server = serve(lambda peer: None)
    with pytest.raises(ValueError):
        open_client(server.address, max_queue=0)


# ---- connection life ------------------------------------------------------

def test_late_listener_is_retried(serve, open_client):
    def script(peer):
        peer.negotiate()

    started = time.monotonic()
    client = open_client(serve(script, delay=0.3).address,
                         connect_timeout=5)
    assert time.monotonic() - started >= 0.3
    assert client.greeting is not None


def test_missing_socket_fails_after_connect_timeout(sockdir, open_client):
    path = os.path.join(sockdir, "none.sock")
    started = time.monotonic()
    with pytest.raises(QMPConnectionError) as info:
        open_client(path, connect_timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.2 < elapsed < 2
    assert str(info.value).startswith(path + ": cannot connect")
    assert not isinstance(info.value, NotQMPError)


def test_refusing_socket(sockdir, open_client):
    path = os.path.join(sockdir, "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # a socket file nobody listens on: ECONNREFUSED
    try:
        with pytest.raises(QMPConnectionError, match="refused"):
            open_client(path, connect_timeout=0)
    finally:
        stale.close()


def test_tcp_address(open_client):
    def script(peer):
        peer.negotiate()
        peer.send(reply(peer.command(), "tcp"))

    server = FakeServer(None, script, family=socket.AF_INET)
    client = open_client(server.address)
    assert client.execute("x") == "tcp"
    client.close()
    server.join()


def test_peer_closing_ends_events_and_fails_commands(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.send(event("SHUTDOWN", {"guest": False,
                                     "reason": "host-qmp-quit"}))
        peer.close()

    client = open_client(serve(script).address)
    assert names(client.events()) == ["SHUTDOWN"]
    with pytest.raises(QMPConnectionError, match="closed by peer"):
        client.execute("x")
    with pytest.raises(QMPConnectionError):
        client.get_event(1)
    assert "closed by peer" in str(client.closed_reason)


def test_context_manager_closes(serve, open_client):
    closed = threading.Event()

    def script(peer):
        peer.negotiate()
        peer.wait_closed()
        closed.set()

    with open_client(serve(script).address) as client:
        assert client.closed_reason is None
    assert closed.wait(5)
    assert client.closed_reason is not None
    with pytest.raises(QMPConnectionError):
        client.execute("x")


def test_garbage_after_greeting_is_skipped(serve, open_client):
    def script(peer):
        peer.negotiate()
        peer.send(event("A"), b"}garbage{\r\n", event("B"))
        peer.close()

    client = open_client(serve(script).address)
    assert names(client.events()) == ["A", "B"]
    assert client.decode_errors == 1


@pytest.mark.parametrize("sent, expected", [
    (b"RFB 003.008\n", "not a QMP peer: invalid JSON"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not a QMP peer: invalid JSON"),
    (b'{"hello": "world"}\r\n', 'instead of a greeting'),
    (line({"return": {}, "id": 1}), 'instead of a greeting'),
    (b"", "closed by peer before sending a greeting"),
    (b'{"QMP": {"version"', "closed by peer before sending a greeting"),
    (None, "no QMP greeting within 0.3 s"),
], ids=["vnc", "ssh", "json", "reply", "closed", "cut", "silent"])
def test_not_a_qmp_peer(serve, open_client, sent, expected):
    def script(peer):
        if sent is None:
            peer.wait_closed()  # silent until the client gives up
            return
        peer.send(sent)
        peer.close()

    server = serve(script)
    with pytest.raises(NotQMPError) as info:
        open_client(server.address, timeout=0.3)
    assert expected in str(info.value)
    assert str(info.value).startswith(server.address + ": ")
    assert isinstance(info.value, qmpfast.QMPError)
    assert isinstance(info.value, ConnectionError)


def test_parse_address():
    assert parse_address("/run/vm.qmp") == ("unix", "/run/vm.qmp")
    assert parse_address("vm.qmp") == ("unix", "vm.qmp")
    assert parse_address("localhost:4444") == ("tcp", ("localhost", 4444))
    assert parse_address("[::1]:4444") == ("tcp", ("::1", 4444))
    assert parse_address("./vm:4444") == ("unix", "./vm:4444")
    assert parse_address("/tmp/a:1") == ("unix", "/tmp/a:1")


# ---- sharing the sync client between threads -----------------------------

def test_sync_client_shared_by_threads(serve, backend):
    def script(peer):
        peer.negotiate()
        cmds = [peer.command() for _ in range(3)]
        for cmd in reversed(cmds):
            peer.send(event("E"), reply(cmd, cmd["execute"]))

    with connect(serve(script).address, backend=backend,
                 timeout=5) as client:
        assert isinstance(client, Client)
        results = {}
        got = []
        reader = threading.Thread(
            target=lambda: got.extend(client.get_event(5) for _ in range(3)))
        reader.start()
        workers = [threading.Thread(
            target=lambda n=n: results.update({n: client.execute(n)}))
            for n in ("a", "b", "c")]
        for w in workers:
            w.start()
        for w in workers + [reader]:
            w.join(10)
        assert results == {"a": "a", "b": "b", "c": "c"}
        assert names(got) == ["E", "E", "E"]


def test_sync_close_wakes_a_waiting_reader(serve, backend):
    def script(peer):
        peer.negotiate()

    client = connect(serve(script).address, backend=backend)
    errors = []

    def wait():
        try:
            client.get_event()
        except QMPConnectionError as exc:
            errors.append(exc)

    reader = threading.Thread(target=wait)
    reader.start()
    time.sleep(0.1)
    client.close()
    reader.join(5)
    assert not reader.is_alive() and len(errors) == 1


# ---- asyncio only ---------------------------------------------------------

def test_async_concurrent_commands_answered_out_of_order(serve, backend):
    def script(peer):
        peer.negotiate()
        cmds = [peer.command() for _ in range(4)]
        for cmd in reversed(cmds):
            peer.send(event("E", {"for": cmd["execute"]}),
                      reply(cmd, cmd["execute"].upper()))

    async def main(address):
        async with aio.connect(address, backend=backend,
                               timeout=5) as client:
            assert isinstance(client, aio.Client)
            results = await asyncio.gather(
                *(client.execute(n) for n in "abcd"))
            assert results == ["A", "B", "C", "D"]
            got = [await client.get_event(1) for _ in range(4)]
            assert [ev.data["for"] for ev in got] == ["d", "c", "b", "a"]

    asyncio.run(main(serve(script).address))


def test_async_slow_consumer_does_not_block_commands(serve, backend):
    def script(peer):
        peer.negotiate()
        for i in range(20):
            cmd = peer.command()
            peer.send(b"".join(event("E", seconds=i, micro=j)
                               for j in range(100)), reply(cmd, i))

    async def main(address):
        async with await aio.connect(address, backend=backend,
                                     max_queue=10, timeout=5) as client:
            consumed = []

            async def slow():
                async for ev in client.events(timeout=0.5):
                    consumed.append(ev)
                    await asyncio.sleep(0.01)

            consumer = asyncio.ensure_future(slow())
            results = [await client.execute("c") for _ in range(20)]
            assert results == list(range(20))
            await consumer
            assert client.dropped > 0
            assert client.dropped + len(consumed) == 2000
            stamps = [(ev.seconds, ev.microseconds) for ev in consumed]
            assert stamps == sorted(stamps)  # dropped oldest, kept order

    asyncio.run(main(serve(script).address))


def test_async_close_fails_pending_commands(serve, backend):
    def script(peer):
        peer.negotiate()
        peer.command()  # never answered

    async def main(address):
        client = await aio.connect(address, backend=backend)
        pending = asyncio.ensure_future(client.execute("hang"))
        await asyncio.sleep(0.05)
        await client.close()
        with pytest.raises(QMPConnectionError):
            await pending

    asyncio.run(main(serve(script).address))


def test_async_connect_is_a_coroutine(serve, backend):
    # await it, use it in async with, or schedule it like any coroutine
    def script(peer):
        peer.negotiate()
        peer.send(reply(peer.command(), "ok"))

    async def main(address):
        task = asyncio.ensure_future(asyncio.wait_for(
            aio.connect(address, backend=backend), 5))
        async with await task as client:
            assert await client.execute("x") == "ok"

    asyncio.run(main(serve(script).address))
