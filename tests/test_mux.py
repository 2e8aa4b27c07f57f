"""``qmpfast mux`` against a real QEMU, run as a user runs it: a qemu.qmp
QMPClient, qmpfast's sync and asyncio clients, a raw socket and
``qmpfast watch`` all on the mux at once, each seeing every event and only
its own replies; a client that stops reading; the VM going away, with and
without --reconnect; what a client may send wrong."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from qemu.qmp import QMPClient

import qmpfast
from qmpfast import aio

from qemu_harness import QemuProcess, QmpRaw
from test_cli import backend_env

EVENTS = ["STOP", "RESUME", "RESET"]


class MuxProcess:
    """``qmpfast mux`` in a subprocess, serving ``listen``."""

    def __init__(self, backend, upstream, listen, *options):
        self.listen = listen
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmpfast", "mux", upstream,
             "--listen", listen, *options],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=backend_env(backend))
        deadline = time.monotonic() + 20
        while not os.path.exists(listen):
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "mux did not listen"
            time.sleep(0.02)

    def finish(self, timeout=20):
        """(exit status, stderr lines) once the mux has exited."""
        status = self.proc.wait(timeout)
        return status, self.proc.stderr.read().decode().splitlines()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


def replies_of(chunks):
    """The replies in the bytes a qmpfast client logged as received."""
    data = b"".join(chunks)
    return [m for m in map(json.loads, data.split(b"\r\n")[:-1])
            if "return" in m or "error" in m]


def test_every_client_sees_every_event_and_only_its_replies(backend, qemu):
    with QemuProcess(qemu=qemu) as vm:
        listen = os.path.join(vm.dir, "mux.sock")
        mux = MuxProcess(backend, vm.qmp_paths[0], listen)
        try:
            watch = subprocess.Popen(
                [sys.executable, "-m", "qmpfast", "watch", listen,
                 "--count", "3"], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=backend_env(backend))
            sync_in, aio_in = [], []
            sync = qmpfast.connect(
                listen, backend=backend,
                traffic=lambda w, d: w == "<" and sync_in.append(d))
            raw = QmpRaw(listen)
            assert raw.greeting["QMP"]["capabilities"] == []
            assert raw.greeting["QMP"]["version"]["qemu"]["major"] >= 2
            raw.negotiate()
            # the same ids as the qmpfast clients use, and one of its own
            assert raw.command("query-version", id=2)["return"]["qemu"]
            assert raw.command("query-name", id="x")["return"] == {}

            async def other_clients():
                qq = QMPClient("mux-test")
                await qq.connect(listen)
                a = await aio.connect(
                    listen, backend=backend,
                    traffic=lambda w, d: w == "<" and aio_in.append(d))
                seen = {"qemu.qmp": [], "aio": [], "sync": []}
                assert (await qq.execute("query-status"))["status"] in (
                    "running", "paused")
                assert set(await a.execute("query-kvm")) == {
                    "enabled", "present"}
                # qmpfast watch is connected once it has said so
                line = await asyncio.to_thread(watch.stderr.readline)
                assert b"watching" in line, line

                async def collect(name, events):
                    async for event in events:
                        seen[name].append(event)
                        if len(seen[name]) == 3:
                            return
                waiting = [
                    asyncio.create_task(collect(
                        "qemu.qmp", (e["event"] async for e in qq.events))),
                    asyncio.create_task(collect(
                        "aio", (e.name async for e in a.events())))]
                await asyncio.sleep(0.1)
                # commands from four clients interleaved
                for command in ("stop", "cont", "system_reset"):
                    await asyncio.to_thread(sync.execute, command)
                    await qq.execute("query-status")
                    await a.execute("query-name")
                    raw.command("query-kvm", id=1)
                await asyncio.wait_for(asyncio.gather(*waiting), 20)
                seen["sync"] = [sync.get_event(10).name for _ in range(3)]
                await qq.disconnect()
                await a.close()
                return seen

            seen = asyncio.run(other_clients())
            assert seen == {"qemu.qmp": EVENTS, "aio": EVENTS,
                            "sync": EVENTS}
            assert [m["event"] for m in raw.events() if "event" in m] == (
                EVENTS)
            out, err = watch.communicate(timeout=20)
            assert watch.returncode == 0, err
            assert [json.loads(line)["event"]
                    for line in out.splitlines()] == EVENTS
            # replies: exactly one per command sent, with its own id
            assert [(m.get("id"), "return" in m)
                    for m in replies_of(sync_in)] == [
                (i, True) for i in range(1, 5)]
            assert [m["id"] for m in replies_of(aio_in)] == list(range(1, 6))
            assert [m.get("id") for m in raw.messages[1:]
                    if "return" in m or "error" in m] == [
                None, 2, "x", 1, 1, 1]
            sync.execute("quit")
            sync.close()
            assert raw.read_until_eof(20) is not None  # closed for it too
            raw.close()
            status, lines = mux.finish()
            assert status == 0, lines
            assert not os.path.exists(listen)
            assert "Traceback" not in "\n".join(lines)
        finally:
            mux.kill()


def test_a_client_that_stops_reading_costs_the_others_nothing(backend,
                                                              qemu):
    rounds = 600
    with QemuProcess(qemu=qemu) as vm:
        listen = os.path.join(vm.dir, "mux.sock")
        mux = MuxProcess(backend, vm.qmp_paths[0], listen,
                         "--max-queue", "8")
        try:
            hung = socket.socket(socket.AF_UNIX)
            hung.connect(listen)
            hung.sendall(b'{"execute": "qmp_capabilities"}\n')
            with qmpfast.connect(listen, backend=backend) as c:
                listener = c.listen(["STOP", "RESUME"],
                                    max_queue=4 * rounds)
                for _ in range(rounds):
                    c.execute("stop")
                    c.execute("cont")
                names = [listener.get(10).name for _ in range(2 * rounds)]
                assert names == ["STOP", "RESUME"] * rounds
                assert listener.dropped == 0 and c.dropped == 0
                hung.close()
                # the mux notices the hung client is gone
                while c.execute("query-name") != {}:
                    pass
                c.execute("quit")
            status, lines = mux.finish()
            assert status == 0
            notes = [line for line in lines if "client 1:" in line]
            assert notes[0] == (
                "qmpfast mux: client 1: not reading; its queue is full (8),"
                " dropping its oldest events")
            dropped = int(notes[-1].split(", ")[1].split()[0])
            assert 0 < dropped < 2 * rounds
            assert notes[-1].endswith(f"disconnected, {dropped} event(s) "
                                      "dropped")
            assert not any("client 2:" in line and "dropped" in line
                           for line in lines)
        finally:
            mux.kill()


def test_reconnect_keeps_the_socket_and_attaches_again(backend, qemu,
                                                       tmp_path):
    upstream = str(tmp_path / "vm.sock")
    listen = str(tmp_path / "mux.sock")
    with QemuProcess(qemu=qemu) as first:
        os.symlink(first.qmp_paths[0], upstream)
        mux = MuxProcess(backend, upstream, listen, "--reconnect")
        try:
            with qmpfast.connect(listen, backend=backend) as c:
                assert c.execute("query-name") == {}
                c.execute("quit")
                with pytest.raises(qmpfast.QMPConnectionError):
                    for _ in range(100):  # the mux closes this connection
                        try:
                            c.execute("query-name", timeout=10)
                        except qmpfast.CommandError as exc:
                            # sent while the VM was going away: answered
                            # by the mux, before it closes the client
                            assert "monitor is gone" in str(exc)
            os.unlink(upstream)
            assert os.path.exists(listen)
            # a client arriving while the VM is away waits for it
            result = {}

            def early():
                with qmpfast.connect(listen, backend=backend) as e:
                    result["status"] = e.execute("query-status")["status"]
            thread = threading.Thread(target=early)
            thread.start()
            with QemuProcess(qemu=qemu, paused=True) as second:
                os.symlink(second.qmp_paths[0], upstream)
                thread.join(30)
                assert result == {"status": "prelaunch"}
                with qmpfast.connect(listen, backend=backend) as c:
                    c.execute("cont")
                    assert c.get_event(10).name == "RESUME"
                assert mux.proc.poll() is None
        finally:
            mux.proc.terminate()
            status, lines = mux.finish()
            mux.kill()
    assert sum("attached to" in line for line in lines) == 2
    assert any("monitor gone" in line for line in lines)


@pytest.mark.parametrize("line, reply", [
    (b'[1]', {"error": {"class": "GenericError",
                        "desc": "QMP input must be a JSON object"}}),
    (b'{"id": 5}', {"error": {"class": "GenericError", "desc":
                    "QMP input lacks member 'execute'"}, "id": 5}),
    (b'{"execute": 1}', {"error": {"class": "GenericError", "desc":
                         "QMP input member 'execute' must be a string"}}),
    (b'{"execute": "query-name", "arguments": []}', {"error": {
        "class": "GenericError",
        "desc": "QMP input member 'arguments' must be an object"}}),
    (b'{"execute": "qmp_capabilities", "id": [1]}', {"error": {
        "class": "CommandNotFound", "desc": "Capabilities negotiation is "
        "already complete, command ignored"}, "id": [1]}),
    (b'{"exec-oob": "query-yank", "id": 1}', {"error": {
        "class": "GenericError", "desc": "QMP input member 'exec-oob' is "
        "unexpected: out-of-band execution is not offered by this "
        "monitor"}, "id": 1}),
    (b'{"execute": "query-name", "arguments": {"x": NaN}, "id": 1}',
     {"error": {"class": "GenericError", "desc": "JSON parse error"}}),
    (b'{"execute": "nope", "id": 1}', {"error": {
        "class": "CommandNotFound",
        "desc": "The command nope has not been found"}, "id": 1}),
])
def test_what_a_client_sends_wrong_is_answered(backend, qemu, line, reply):
    with QemuProcess(qemu=qemu) as vm:
        listen = os.path.join(vm.dir, "mux.sock")
        mux = MuxProcess(backend, vm.qmp_paths[0], listen)
        try:
            with QmpRaw(listen) as raw:
                raw.negotiate()
                raw.sock.sendall(line + b"\n")
                raw.send("query-name", id="after")
                got = [raw._next(10), raw._next(10)]
            assert got == [reply, {"return": {}, "id": "after"}]
        finally:
            mux.kill()
