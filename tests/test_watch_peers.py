"""``qmpfast watch`` against scripted QMP peers: whatever a monitor sends,
watch reports it on that monitor's line and goes on with the others.

``FakeMonitor`` is a QMP server on a unix socket (or 127.0.0.1) that greets,
answers ``qmp_capabilities`` (or not, or with an error), sends the bytes it
was given and then closes or holds the connection.  The other
``test_watch_*`` modules use it too.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

import qmpfast

REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))

GREETING = (b'{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, '
            b'"major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n')


def event(name, data=None, seconds=1700000000, microseconds=0):
    """One compact event line as QEMU sends it."""
    message = {"timestamp": {"seconds": seconds,
                             "microseconds": microseconds}, "event": name}
    if data is not None:
        message["data"] = data
    return json.dumps(message).encode() + b"\r\n"


def nested(depth, leaf=1):
    """Text of a JSON value nested ``depth`` objects deep (no recursion)."""
    return '{"a": ' * depth + json.dumps(leaf) + "}" * depth


def deep_event(name, depth, pretty=False):
    """An event whose data is nested ``depth`` deep; with ``pretty``, one
    member a line as QEMU's ``pretty=on`` writes it."""
    if pretty:
        data = "{\n" + '"a": {\n' * depth + '"b": 1\n' + "}\n" * depth + "}"
        return (b'{\n    "timestamp": {\n        "seconds": 1700000000,\n'
                b'        "microseconds": 0\n    },\n    "event": "' +
                name.encode() + b'",\n    "data": ' + data.encode() +
                b"\n}\r\n")
    return (b'{"timestamp": {"seconds": 1700000000, "microseconds": 0}, '
            b'"event": "' + name.encode() + b'", "data": ' +
            nested(depth).encode() + b"}\r\n")


class FakeMonitor:
    """A QMP monitor serving every connection the same script.

    ``capabilities``: ``"ok"`` answers ``qmp_capabilities``, ``"error"``
    answers it with an error, ``"silent"`` never answers.  ``script``: the
    bytes sent once negotiated.  ``hold``: keep the connection open after
    the script until the client closes it (else close at once).
    """

    def __init__(self, path, script=(), *, capabilities="ok", hold=False,
                 tcp=False):
        self.script = b"".join(script)
        self.capabilities = capabilities
        self.hold = hold
        self.connections = 0
        self.lock = threading.Lock()
        self.open = []
        if tcp:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.address = path
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            with self.lock:
                self.connections += 1
                self.open.append(conn)
            threading.Thread(target=self._talk, args=(conn,),
                             daemon=True).start()

    def _talk(self, conn):
        try:
            conn.sendall(GREETING)
            line = b""
            while b"\n" not in line:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                line += chunk
            msg_id = json.loads(line.split(b"\n")[0])["id"]
            if self.capabilities == "silent":
                while conn.recv(4096):
                    pass
                return
            if self.capabilities == "error":
                conn.sendall(json.dumps({"error": {
                    "class": "CommandNotFound",
                    "desc": "The command qmp_capabilities has not been "
                            "found"}, "id": msg_id}).encode() + b"\r\n")
            else:
                conn.sendall(json.dumps({"return": {}, "id": msg_id})
                             .encode() + b"\r\n")
            conn.sendall(self.script)
            if self.hold:
                while conn.recv(4096):
                    pass
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()
        with self.lock:
            for conn in self.open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def sockdir():
    path = tempfile.mkdtemp(prefix="qfw", dir="/tmp")  # short: sun_path
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def monitors():
    """``monitors(path, script, **options)`` starts a FakeMonitor, closed
    at the end of the test."""
    made = []

    def make(path, script=(), **options):
        monitor = FakeMonitor(path, script, **options)
        made.append(monitor)
        return monitor
    yield make
    for monitor in made:
        monitor.close()


def env_for(backend):
    env = dict(os.environ)
    env.pop("QMPFAST_PUREPYTHON", None)
    env.pop("QMPFAST_REQUIRE_C", None)
    env["QMPFAST_PUREPYTHON" if backend == "python"
        else "QMPFAST_REQUIRE_C"] = "1"
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_watch(backend, *args, timeout=60):
    """``python -m qmpfast watch ARGS`` to its end: (status, stdout lines,
    stderr text)."""
    proc = subprocess.run(
        [sys.executable, "-m", "qmpfast", "watch", *args],
        capture_output=True, env=env_for(backend), cwd=REPO,
        timeout=timeout)
    return proc.returncode, proc.stdout.splitlines(), proc.stderr.decode()


# ---- no input from a peer ends watch ---------------------------------------

GOOD = [event("STOP"), event("RESUME"), event("SHUTDOWN", {
    "guest": False, "reason": "host-qmp-quit"})]


def bad_events(kind):
    if kind == "list-data":
        return [event("X", [1])]
    if kind == "deep-data":
        return [deep_event("X", 1000)]
    return [deep_event("X", 1000, pretty=True)]


@pytest.mark.parametrize("fmt,kind", [
    ("text", "list-data"), ("json", "list-data"),
    ("text", "deep-data"), ("json", "deep-data"),
    ("text", "deep-pretty"), ("json", "deep-pretty")])
def test_a_bad_event_ends_neither_watch_nor_its_monitor(
        backend, sockdir, monitors, fmt, kind):
    good = os.path.join(sockdir, "good.sock")
    bad = os.path.join(sockdir, "bad.sock")
    monitors(good, GOOD)
    monitors(bad, bad_events(kind) + [event("STOP")])
    status, lines, err = run_watch(backend, "--format", fmt, good, bad)
    assert "Traceback" not in err, err
    assert status == 0, err
    text = [line.decode() for line in lines]
    good_lines = [t for t in text if good in t]
    bad_lines = [t for t in text if bad in t]
    assert len(good_lines) == 3 and len(bad_lines) == 2, text
    assert all(bad in line for line in err.splitlines()
               if "cannot print" in line)
    if fmt == "json":
        assert [json.loads(t)["event"] for t in good_lines] == [
            "STOP", "RESUME", "SHUTDOWN"]
        assert json.loads(bad_lines[1])["event"] == "STOP"
        source = ', "source": ' + json.dumps(bad) + "}"
        if kind == "list-data":
            assert json.loads(bad_lines[0])["data"] == [1]
        else:  # too deep for json.loads: compare the text
            raw = bad_events(kind)[0].decode().rstrip()
            assert re.sub(r"\s", "", bad_lines[0]) == re.sub(
                r"\s", "", raw[:-1] + source)
    else:
        assert [t.split()[3] for t in good_lines] == [
            "STOP", "RESUME", "SHUTDOWN"]
        assert [t.split()[3] for t in bad_lines] == ["X", "STOP"]
        if kind == "list-data":
            assert bad_lines[0].endswith("  data=[1]")


class Running:
    """``python -m qmpfast watch ARGS`` in the background, its stderr read
    line by line as it comes."""

    def __init__(self, backend, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qmpfast", "watch", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env_for(backend), cwd=REPO)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.decode())
                self.cond.notify_all()

    def expect(self, text, timeout=30):
        """Wait until a stderr line holds ``text``."""
        with self.cond:
            if not self.cond.wait_for(
                    lambda: any(text in line for line in self.lines),
                    timeout):
                raise AssertionError(f"no {text!r} on stderr: {self.lines}")

    def finish(self, timeout=60):
        """(exit status, stdout lines, stderr) once it has ended."""
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            out = self.proc.stdout.read()  # stderr is the reader's
            self.proc.wait()
        finally:
            timer.cancel()
        self.reader.join(10)
        return self.proc.returncode, out.splitlines(), "".join(self.lines)


# ---- control characters from a peer -----------------------------------------

FORGED = "STOP\n2024-01-01 00:00:00.000000  other.sock        SHUTDOWN"
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def test_text_escapes_control_characters_from_the_peer(
        backend, sockdir, monitors):
    good = os.path.join(sockdir, "good.sock")
    bad = os.path.join(sockdir, "b\x1b[2Jad.sock")  # a label too
    monitors(good, GOOD)
    monitors(bad, [
        event(FORGED),
        event("BEL\x07", {"bare": "a\x1b[31mb", "quoted": "x y\x07\x9b",
                          "sep": "l\u2028r", "key\x1b": 1,
                          "nested": {"k\n": "v"}}),
        event("STOP")])
    status, lines, err = run_watch(
        backend, "--format", "text", os.path.join(sockdir, "*.sock"))
    assert status == 0, err
    text = [line.decode() for line in lines]
    assert len(text) == 6, text  # the forged line is no line of its own
    for line in text + err.splitlines():
        assert not UNSAFE.search(line), repr(line)
    label = "b\\x1b[2Jad.sock"
    bad_lines = [t for t in text if label in t]
    assert len(bad_lines) == 3, text
    assert "STOP\\n2024-01-01 00:00:00.000000  other.sock" in bad_lines[0]
    assert bad_lines[1].split()[3] == "BEL\\x07"
    assert 'bare="a\\u001b[31mb"' in bad_lines[1]  # quoted, as JSON
    assert 'quoted="x y\\u0007\\u009b"' in bad_lines[1]
    assert 'sep="l\\u2028r"' in bad_lines[1]
    assert "key\\x1b=1" in bad_lines[1]
    assert "nested.k\\n=v" in bad_lines[1]
    assert label in err and "\x1b" not in err  # notices too
