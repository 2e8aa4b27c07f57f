"""End to end against a real QEMU: the clients and ``qmpfast watch``.

The scenarios are the recipes of ``qmpfast/samples/README.md`` (recorded by
``tools/record_capture.py``): a guest that reads a failing disk when it
gets a key (BLOCK_IO_ERROR, STOP), stop/cont, system_reset, a VNC
handshake, quit; and a guest that powers itself off under -no-shutdown.
Each QEMU starts in about 0.1 s; the key is sent again until the guest,
still booting, takes it, instead of sleeping a fixed second.
"""

import asyncio
import fnmatch
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import qmpfast
from qmpfast import aio
from qmpfast.client import CommandError, connect

from qemu_harness import QemuProcess, vnc_handshake

REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))
KEY = {"keys": [{"type": "qcode", "data": "ret"}]}
SEVEN = ["STOP", "BLOCK_IO_ERROR", "STOP", "RESET", "VNC_CONNECTED",
         "VNC_INITIALIZED", "VNC_DISCONNECTED", "SHUTDOWN"]


def main_vm(qemu, monitors=("compact", "pretty")):
    return QemuProcess(monitors=monitors, vnc=True, boot="read-on-key",
                       failing_disk=True, qemu=qemu)


# ---- driving QEMU, sync and asyncio ---------------------------------------

def wait_event(client, name, seen, timeout=10):
    """Read events into ``seen`` up to the first ``name``."""
    deadline = time.monotonic() + timeout
    while True:
        event = client.get_event(max(0.0, deadline - time.monotonic()))
        assert event is not None, f"no {name} event"
        seen.append(event)
        if event.name == name:
            return event


def drive_sync(client, vm):
    """The main scenario; returns every event, up to QEMU closing.

    The disk error comes before system_reset: a reset while SeaBIOS is
    still starting (QEMU started a moment ago) leaves a guest that never
    takes the key.
    """
    seen = []
    assert client.execute("stop") == {}
    wait_event(client, "STOP", seen)
    client.execute("cont")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the booted guest takes it
        client.execute("send-key", KEY)
        if client.execute("query-status")["status"] == "io-error":
            break
        time.sleep(0.02)
    wait_event(client, "STOP", seen)
    client.execute("system_reset")
    with pytest.raises(CommandError) as info:
        client.execute("no-such-command")
    assert info.value.error_class == "CommandNotFound"
    vnc_handshake(vm.vnc_path)
    wait_event(client, "VNC_DISCONNECTED", seen)
    client.execute("quit")
    return seen + list(client.events(timeout=10))


async def await_event(client, name, seen, timeout=10):
    while True:
        event = await client.get_event(timeout)
        assert event is not None, f"no {name} event"
        seen.append(event)
        if event.name == name:
            return event


async def drive_async(client, vm):
    """``drive_sync`` through the asyncio client."""
    seen = []
    assert await client.execute("stop") == {}
    await await_event(client, "STOP", seen)
    await client.execute("cont")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await client.execute("send-key", KEY)
        if (await client.execute("query-status"))["status"] == "io-error":
            break
        await asyncio.sleep(0.02)
    await await_event(client, "STOP", seen)
    await client.execute("system_reset")
    with pytest.raises(CommandError):
        await client.execute("no-such-command")
    await asyncio.get_running_loop().run_in_executor(
        None, vnc_handshake, vm.vnc_path)
    await await_event(client, "VNC_DISCONNECTED", seen)
    await client.execute("quit")
    return seen + [ev async for ev in client.events(timeout=10)]


def seven(events):
    """The events of the original QMP documentation, host RESET only
    (SeaBIOS may answer a reset with resets of its own)."""
    return [ev for ev in events if ev.name in SEVEN and not (
        ev.name == "RESET" and ev.guest)]


def check_seven(events, vm):
    got = seven(events)
    assert [ev.name for ev in got] == SEVEN
    stop, io_error, io_stop, reset, connected, initialized, disconnected, \
        shutdown = got
    now = time.time()
    for ev in got:
        assert isinstance(ev, qmpfast.event_class(ev.name))
        assert abs(ev.timestamp - now) < 120
        assert ev.datetime is not None
    assert isinstance(stop, qmpfast.Stop) and stop.data == {}
    assert (reset.guest, reset.reason) == (False, "host-qmp-system-reset")
    for ev in (connected, initialized, disconnected):
        assert isinstance(ev.server, qmpfast.VncInfo)
        assert (ev.server.family, ev.server.auth, ev.server.service,
                ev.server.host, ev.server.websocket) == (
            "unix", "none", vm.vnc_path, "", False)
        assert (ev.client.family, ev.client.host, ev.client.service,
                ev.client.websocket) == ("unix", "", "", False)
    assert initialized.client.sasl_username is None
    assert initialized.client.x509_dname is None
    assert isinstance(io_error, qmpfast.BlockIoError)
    assert (io_error.device, io_error.operation, io_error.action,
            io_error.nospace, io_error.reason) == (
        "ide1-hd0", "read", "stop", False, "Input/output error")
    assert io_error.node_name.startswith("#block")
    assert io_stop.name == "STOP" and io_stop.timestamp >= io_error.timestamp
    assert isinstance(shutdown, qmpfast.Shutdown)
    assert (shutdown.guest, shutdown.reason) == (False, "host-qmp-quit")


def check_pretty(compact, pretty):
    """The pretty=on monitor got the same events, spread over lines."""
    assert [ev.to_dict() for ev in pretty] == [ev.to_dict() for ev in compact]
    assert all(b"\r\n    " in ev.raw for ev in pretty)
    assert [type(ev) for ev in pretty] == [type(ev) for ev in compact]


# ---- the clients ------------------------------------------------------------

def test_sync_client_sees_the_seven_events(qemu, backend):
    with main_vm(qemu) as vm:
        listener = connect(vm.qmp_paths[1], backend=backend)  # never read
        with connect(vm.qmp_paths[0], backend=backend) as client:
            assert client.greeting.version["qemu"]["major"] >= 7
            events = drive_sync(client, vm)
            assert "closed by peer" in str(client.closed_reason)
        with listener:
            pretty = list(listener.events(timeout=10))
            assert listener.dropped == 0
    check_seven(events, vm)
    check_seven(pretty, vm)
    check_pretty(events, pretty)


def test_async_client_sees_the_seven_events(qemu, backend):
    async def main(vm):
        listener = await aio.connect(vm.qmp_paths[1], backend=backend)
        async with aio.connect(vm.qmp_paths[0], backend=backend) as client:
            assert isinstance(client.greeting, qmpfast.Greeting)
            events = await drive_async(client, vm)
        async with listener:
            pretty = [ev async for ev in listener.events(timeout=10)]
        return events, pretty

    with main_vm(qemu) as vm:
        events, pretty = asyncio.run(main(vm))
    check_seven(events, vm)
    check_seven(pretty, vm)
    check_pretty(events, pretty)


def test_guest_poweroff(qemu, backend):
    with QemuProcess(no_shutdown=True, paused=True, boot="poweroff",
                     qemu=qemu) as vm:
        with connect(vm.qmp_paths[0], backend=backend,
                     events={"SHUTDOWN", "STOP"}) as client:
            assert client.execute("query-status")["status"] == "prelaunch"
            client.execute("cont")
            shutdown = client.get_event(10)
            assert (shutdown.guest, shutdown.reason) == (True,
                                                         "guest-shutdown")
            assert client.get_event(10).name == "STOP"
            assert client.execute("query-status")["status"] == "shutdown"


def test_small_queue_against_qemu(qemu, backend):
    # a collector that never reads: the oldest events go, commands work
    with QemuProcess(qemu=qemu) as vm:
        with connect(vm.qmp_paths[0], backend=backend,
                     max_queue=3) as client:
            for _ in range(10):
                client.execute("stop")
                client.execute("cont")
            assert client.dropped == 17
            assert [client.get_event(1).name for _ in range(3)] == [
                "RESUME", "STOP", "RESUME"]


# ---- qmpfast watch ----------------------------------------------------------

def watch_env(backend):
    env = dict(os.environ)
    env.pop("QMPFAST_PUREPYTHON", None)
    env.pop("QMPFAST_REQUIRE_C", None)
    env["QMPFAST_PUREPYTHON" if backend == "python"
        else "QMPFAST_REQUIRE_C"] = "1"
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Watch:
    """``python -m qmpfast watch ...`` in the background."""

    def __init__(self, backend, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmpfast", "watch", "--timeout", "60",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=watch_env(backend), cwd=REPO)
        self.notices = queue.Queue()
        self.stderr = []
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            text = line.decode()
            self.stderr.append(text)
            self.notices.put(text)

    def expect(self, pattern, timeout=20):
        """Wait for a stderr line matching the glob ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.notices.get(
                    timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} on stderr; got "
                                     f"{self.stderr}") from None
            if fnmatch.fnmatch(line.rstrip("\n"), pattern):
                return line

    def expect_all(self, patterns, timeout=20):
        """Wait until each glob of ``patterns`` has matched a stderr line,
        in whatever order they come (peers are connected concurrently)."""
        deadline = time.monotonic() + timeout
        waiting = list(patterns)
        while waiting:
            try:
                line = self.notices.get(
                    timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {waiting!r} on stderr; got "
                                     f"{self.stderr}") from None
            waiting = [p for p in waiting
                       if not fnmatch.fnmatch(line.rstrip("\n"), p)]

    def finish(self, timeout=30):
        """(exit status, stdout lines, stderr) once it has ended."""
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            out = self.proc.stdout.read()  # stderr is the reader's
            self.proc.wait()
        finally:
            timer.cancel()
        self.reader.join(5)
        return self.proc.returncode, out.splitlines(), "".join(self.stderr)


def run_watch(backend, *args):
    return subprocess.run(
        [sys.executable, "-m", "qmpfast", "watch", *args],
        capture_output=True, env=watch_env(backend), cwd=REPO, timeout=60)


@pytest.fixture
def sockdir():
    path = tempfile.mkdtemp(prefix="qfw", dir="/tmp")  # short: sun_path
    yield path
    shutil.rmtree(path, ignore_errors=True)


def drive_and_quit(path, vm, backend="c"):
    """stop, cont, a VNC session, quit; returns the events seen."""
    with connect(path, backend=backend) as client:
        seen = []
        client.execute("stop")
        client.execute("cont")
        if vm.vnc:
            vnc_handshake(vm.vnc_path)
            wait_event(client, "VNC_DISCONNECTED", seen)
        client.execute("quit")
        return seen + list(client.events(timeout=10))


def test_watch_json_is_what_qemu_sent(qemu, backend):
    with QemuProcess(monitors=("compact", "compact"), vnc=True,
                     qemu=qemu) as vm:
        watch = Watch(backend, vm.qmp_paths[1])
        watch.expect(f"qmpfast: watching {vm.qmp_paths[1]} (QEMU 7.*)")
        events = drive_and_quit(vm.qmp_paths[0], vm, backend)
        status, lines, err = watch.finish()
    assert status == 0, err
    assert [ev.name for ev in events] == [
        "STOP", "RESUME", "VNC_CONNECTED", "VNC_INITIALIZED",
        "VNC_DISCONNECTED", "SHUTDOWN"]
    assert lines == [ev.raw for ev in events]  # byte for byte
    assert err.endswith(f"qmpfast: {vm.qmp_paths[1]}: connection closed "
                        "by peer\n")
    assert "Traceback" not in err


def test_watch_pretty_monitor_gives_one_line_per_event(qemu, backend):
    with QemuProcess(monitors=("compact", "pretty"), qemu=qemu) as vm:
        watch = Watch(backend, vm.qmp_paths[1], "--count", "3")
        watch.expect("qmpfast: watching *")
        with connect(vm.qmp_paths[0], backend=backend) as client:
            for command in ("stop", "cont", "system_reset"):
                client.execute(command)
            status, lines, err = watch.finish()
            events = [client.get_event(5) for _ in range(3)]
    assert status == 0, err
    assert [json.loads(line) for line in lines] == [
        ev.to_dict() for ev in events]
    assert lines[2].startswith(b'{"timestamp": {"seconds": ')
    assert lines[2].endswith(b'"event": "RESET", "data": {"guest": false, '
                             b'"reason": "host-qmp-system-reset"}}')


def test_watch_text(qemu, backend):
    with main_vm(qemu, monitors=("compact", "compact")) as vm:
        watch = Watch(backend, vm.qmp_paths[1], "--format", "text",
                      "--event", "BLOCK_IO_ERROR", "--event", "SHUTDOWN",
                      "--event", "VNC_CONNECTED")
        watch.expect("qmpfast: watching *")
        with connect(vm.qmp_paths[0], backend=backend) as client:
            vnc_handshake(vm.vnc_path)
            drive_sync(client, vm)
        status, lines, err = watch.finish()
    assert status == 0, err
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}  "
    text = [line.decode() for line in lines]
    assert re.fullmatch(stamp + r"VNC_CONNECTED     client\.family=unix "
                        r'client\.service="" client\.host="" '
                        r"client\.websocket=false server\.auth=none "
                        r"server\.family=unix server\.service=\S+ "
                        r'server\.host="" server\.websocket=false', text[0])
    assert re.fullmatch(stamp + r"BLOCK_IO_ERROR    action=stop "
                        r"device=ide1-hd0 node_name=#block\d+ nospace=false "
                        r'operation=read reason="Input/output error"',
                        text[1])
    # drive_sync made a second VNC session
    assert text[2].split("  ")[1] == "VNC_CONNECTED"
    assert re.fullmatch(stamp + r"SHUTDOWN          guest=false "
                        r"reason=host-qmp-quit", text[3])
    assert len(text) == 4


@pytest.mark.parametrize("how", ["paths", "glob"])
def test_watch_two_qemus_at_once(qemu, backend, sockdir, how):
    with QemuProcess(monitors=("compact", "compact"), qemu=qemu) as a, \
            QemuProcess(monitors=("compact", "compact"), qemu=qemu) as b:
        names = [os.path.join(sockdir, "vm-a.sock"),
                 os.path.join(sockdir, "vm-b.sock")]
        os.symlink(a.qmp_paths[1], names[0])
        os.symlink(b.qmp_paths[1], names[1])
        args = names if how == "paths" else [
            os.path.join(sockdir, "vm-*.sock")]
        watch = Watch(backend, "--count", "6", *args)
        watch.expect_all(f"qmpfast: watching {name} *" for name in names)
        seen = {}
        for name, vm in ((names[0], a), (names[1], b)):
            with connect(vm.qmp_paths[0], backend=backend) as client:
                for command in ("stop", "cont", "stop"):
                    client.execute(command)
                seen[name] = [client.get_event(5) for _ in range(3)]
        status, lines, err = watch.finish()
    assert status == 0, err
    assert len(lines) == 6
    by_source = {name: [] for name in names}
    for line in lines:
        obj = json.loads(line)
        assert list(obj)[-1] == "source"  # QEMU's members first, in order
        by_source[obj["source"]].append(line)
    for name in names:
        assert by_source[name] == [
            ev.raw[:-1] + b', "source": ' + json.dumps(name).encode() + b"}"
            for ev in seen[name]]


def test_watch_state(qemu, backend):
    with QemuProcess(monitors=("compact", "compact"), no_shutdown=True,
                     paused=True, boot="poweroff", qemu=qemu) as vm:
        watch = Watch(backend, vm.qmp_paths[1], "--state")
        watch.expect("qmpfast: watching *")
        with connect(vm.qmp_paths[0], backend=backend) as client:
            client.execute("cont")
            wait_event(client, "STOP", [])
            client.execute("quit")
            status, lines, err = watch.finish()
    assert status == 0, err
    changes = [json.loads(line) for line in lines]
    assert [(c["previous"], c["status"], c["event"]) for c in changes] == [
        ("unknown", "prelaunch", None),
        ("prelaunch", "running", "RESUME"),
        ("running", "shutdown", "SHUTDOWN")]
    assert changes[2]["reason"]["data"] == {"guest": True,
                                            "reason": "guest-shutdown"}


def test_watch_reconnects(qemu, backend, sockdir):
    link = os.path.join(sockdir, "vm.sock")
    with QemuProcess(monitors=("compact", "compact"), qemu=qemu) as a:
        os.symlink(a.qmp_paths[1], link)
        watch = Watch(backend, link, "--reconnect", "--count", "2",
                      "--event", "STOP")
        watch.expect(f"qmpfast: watching {link} *")
        with connect(a.qmp_paths[0], backend=backend) as client:
            client.execute("stop")
            client.execute("quit")
            list(client.events(timeout=10))
        watch.expect(f"qmpfast: {link}: connection closed by peer; "
                     "reconnecting")
    with QemuProcess(monitors=("compact", "compact"), qemu=qemu) as b:
        os.symlink(b.qmp_paths[1], link + ".new")
        os.replace(link + ".new", link)
        watch.expect(f"qmpfast: watching {link} *")
        with connect(b.qmp_paths[0], backend=backend) as client:
            client.execute("stop")
            status, lines, err = watch.finish()
    assert status == 0, err
    assert [json.loads(line)["event"] for line in lines] == ["STOP", "STOP"]


def assert_one_line_error(proc, *expected):
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert proc.stdout == b""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == len(expected), err
    for line, text in zip(err.splitlines(), expected):
        assert line.startswith("qmpfast: ") and text in line, err


def test_watch_errors(qemu, backend, sockdir):
    missing = os.path.join(sockdir, "none.sock")
    assert_one_line_error(
        run_watch(backend, missing),
        f"{missing}: cannot connect: No such file or directory")
    pattern = os.path.join(sockdir, "*.sock")
    assert_one_line_error(run_watch(backend, pattern),
                          f"{pattern}: no socket matches")
    with QemuProcess(vnc=True, qemu=qemu) as vm:
        # a VNC server answers with "RFB 003.008\n"
        assert_one_line_error(run_watch(backend, vm.vnc_path),
                              f"{vm.vnc_path}: not a QMP peer: invalid JSON")
        # one good monitor and a missing one: nothing is watched
        assert_one_line_error(
            run_watch(backend, vm.qmp_paths[0], missing, "--timeout", "5"),
            f"{missing}: cannot connect")
    proc = run_watch(backend, missing, "--count", "0")
    assert proc.returncode == 2 and b"positive integer" in proc.stderr


def test_watch_reconnect_keeps_trying(qemu, backend):
    with QemuProcess(vnc=True, qemu=qemu) as vm:
        proc = run_watch(backend, vm.vnc_path, "--reconnect", "--timeout",
                         "1")
    err = proc.stderr.decode()
    assert proc.returncode == 0 and proc.stdout == b"", err
    # noted once, however many times it was retried
    assert err.startswith(f"qmpfast: {vm.vnc_path}: not a QMP peer: "
                          "invalid JSON")
    assert err.count("\n") == 1 and err.endswith("; retrying\n")
