"""Start a real QEMU as a QMP peer for tests and for recording captures.

Standard library only, and deliberately independent of qmpfast: the bytes
this module records are the reference the parser is tested against, so they
must not pass through the parser on their way in.

QEMU runs with TCG and no guest operating system.  What it does is steered
with tiny disk images instead:

* a failing disk (blkdebug injects EIO on every read, ``rerror=stop``), so
  that a guest read produces ``BLOCK_IO_ERROR`` followed by ``STOP``;
* a 512-byte boot sector that powers the machine off through the PIIX4 ACPI
  port, giving ``SHUTDOWN {"guest": true, "reason": "guest-shutdown"}``;
* a 512-byte boot sector that waits for a key and then reads the second
  disk, so that a failing disk is read only when a test sends a key
  (``send-key``), not already while SeaBIOS boots.

Typical use::

    with QemuProcess(vnc=True) as vm:
        with QmpRaw(vm.qmp_paths[0]) as qmp:
            qmp.negotiate()
            qmp.command("query-status", id=1)
        vnc_handshake(vm.vnc_path)
"""

import codecs
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = [
    "find_qemu",
    "QemuProcess",
    "QmpRaw",
    "QmpError",
    "vnc_handshake",
    "boot_sector",
    "POWEROFF_CODE",
    "READ_ON_KEY_CODE",
]

# Real-mode code: mov dx,0x604; mov ax,0x2000; out dx,ax; hlt.
# 0x604 is the PM1a control register SeaBIOS maps for the PIIX4 on the "pc"
# machine; writing SLP_EN with sleep type 0 means S5, i.e. power off.
POWEROFF_CODE = bytes.fromhex("BA0406 B80020 EF F4")

# Real-mode code: wait for a key (int 16h), then read one sector (CHS 0/0/1)
# of BIOS drive 0x81 (the second hard disk SeaBIOS found) to 0000:7E00 with
# int 13h, then halt forever.  The read is the guest request that a blkdebug rule fails.
READ_ON_KEY_CODE = bytes.fromhex(
    "31C0"      # xor ax,ax
    "8EC0"      # mov es,ax
    "CD16"      # int 16h        (ah=0: wait for a key)
    "B80102"    # mov ax,0x0201  (read, 1 sector)
    "B90100"    # mov cx,0x0001  (cylinder 0, sector 1)
    "BA8100"    # mov dx,0x0081  (head 0, drive 0x81)
    "BB007E"    # mov bx,0x7e00
    "CD13"      # int 13h
    "F4"        # hlt
    "EBFD"      # jmp short (back to hlt)
)

BOOT_SECTORS = {"poweroff": POWEROFF_CODE, "read-on-key": READ_ON_KEY_CODE}

# blkdebug rule: every asynchronous read of the image fails with EIO (5).
BLKDEBUG_CONF = '[inject-error]\nevent = "read_aio"\nerrno = "5"\n'


def find_qemu():
    """Return the path of qemu-system-x86_64, or None when it is missing.

    The environment variable QMPFAST_QEMU, when set, names the binary to use,
    so that tests can be pointed at another build.
    """
    override = os.environ.get("QMPFAST_QEMU")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("qemu-system-x86_64")


def boot_sector(code):
    """Return a 512-byte MBR holding ``code``, with the 0x55 0xAA signature.

    SeaBIOS only jumps to a boot sector whose last two bytes are 55 AA.
    """
    if len(code) > 510:
        raise ValueError("boot code longer than 510 bytes")
    return code + bytes(510 - len(code)) + b"\x55\xaa"


class QemuProcess:
    """A QEMU process in its own temporary directory; a context manager.

    Parameters:
      monitors:    one entry per QMP monitor, each "compact" or "pretty"
                   ("pretty" adds ``pretty=on``).  Their unix socket paths
                   are ``qmp_paths`` in the same order.
      vnc:         also listen for VNC on a unix socket (``vnc_path``).
      no_shutdown: pass ``-no-shutdown`` (a guest power-off stops the VM
                   instead of ending QEMU).
      paused:      pass ``-S`` (do not run the guest until ``cont``).
      boot:        None, "poweroff" or "read-on-key": a healthy boot disk
                   (first IDE disk) holding that boot sector.
      failing_disk: add a raw disk behind blkdebug whose every read fails
                   with EIO, attached with ``rerror=stop``.  Without a boot
                   disk it is the only disk (ide0-hd0), so SeaBIOS's boot
                   read of it fails as soon as the guest runs; with one it
                   is ide1-hd0 (BIOS drive 0x81), read only by "read-on-key".
      memory:      guest RAM in MiB.
      timeout:     seconds to wait for the sockets to accept.
      qemu:        the binary to run (default: ``find_qemu()``).

    On exit QEMU is killed (if still running) and the directory removed.
    """

    def __init__(self, monitors=("compact",), vnc=False, no_shutdown=False,
                 paused=False, boot=None, failing_disk=False, memory=32,
                 timeout=20.0, qemu=None):
        self.qemu = qemu or find_qemu()
        if not self.qemu:
            raise FileNotFoundError("qemu-system-x86_64 not found")
        if boot is not None and boot not in BOOT_SECTORS:
            raise ValueError("unknown boot sector %r" % (boot,))
        for style in monitors:
            if style not in ("compact", "pretty"):
                raise ValueError("unknown monitor style %r" % (style,))
        self.monitors = tuple(monitors)
        self.vnc = vnc
        self.no_shutdown = no_shutdown
        self.paused = paused
        self.boot = boot
        self.failing_disk = failing_disk
        self.memory = memory
        self.timeout = timeout
        self.dir = None
        self.proc = None
        self.qmp_paths = []
        self.vnc_path = None
        self.argv = None

    # -- life cycle --------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _tempdir(self):
        # sun_path holds at most 107 bytes, so avoid a long TMPDIR.
        base = tempfile.gettempdir()
        if len(base) > 60:
            base = "/tmp"
        return tempfile.mkdtemp(prefix="qmpfast-qemu-", dir=base)

    def build_argv(self):
        """Write the disk images and return the QEMU command line."""
        d = self.dir
        argv = [self.qemu,
                "-machine", "pc,accel=tcg",
                "-m", str(self.memory),
                "-display", "none",
                "-nodefaults",
                "-no-user-config"]
        for i, style in enumerate(self.monitors):
            path = os.path.join(d, "qmp%d.sock" % i)
            self.qmp_paths.append(path)
            mon = "chardev=mon%d,mode=control" % i
            if style == "pretty":
                mon += ",pretty=on"
            argv += ["-chardev",
                     "socket,id=mon%d,path=%s,server=on,wait=off" % (i, path),
                     "-mon", mon]
        if self.vnc:
            self.vnc_path = os.path.join(d, "vnc.sock")
            argv += ["-vnc", "unix:" + self.vnc_path]
        if self.boot:
            img = os.path.join(d, "boot.img")
            with open(img, "wb") as f:
                f.write(boot_sector(BOOT_SECTORS[self.boot]))
            argv += ["-drive", "if=ide,index=0,format=raw,file=" + img]
        if self.failing_disk:
            img = os.path.join(d, "failing.img")
            conf = os.path.join(d, "blkdebug.conf")
            with open(img, "wb") as f:
                f.write(bytes(8 * 512))
            with open(conf, "w") as f:
                f.write(BLKDEBUG_CONF)
            # With a boot disk, use the master of the second IDE bus
            # (ide1-hd0), not the slave of the first: QEMU 7.2 aborts on
            # an assertion (retry_unit == unit in ide_handle_rw_error) when
            # a PIO read error on a slave disk hits rerror=stop.
            index = 2 if self.boot else 0
            argv += ["-drive", "if=ide,index=%d,format=raw,rerror=stop,"
                     "file=blkdebug:%s:%s" % (index, conf, img)]
        if self.no_shutdown:
            argv.append("-no-shutdown")
        if self.paused:
            argv.append("-S")
        return argv

    def start(self):
        self.dir = self._tempdir()
        try:
            self.argv = self.build_argv()
            self._log = open(os.path.join(self.dir, "qemu.log"), "wb")
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                stderr=subprocess.STDOUT)
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self):
        """Wait until every socket exists and QEMU serves the monitors.

        QEMU creates all listening sockets before it enters its main loop,
        so a monitor that answers with its greeting proves the others
        (and the VNC socket) are ready too.  Each monitor is probed by
        reading its greeting and disconnecting; a monitor serves one client
        at a time and greets the next one afresh, so this is invisible to
        later clients.  The VNC socket is only checked for existence: a
        probe connection would make QEMU emit VNC events.
        """
        deadline = time.monotonic() + self.timeout
        paths = list(self.qmp_paths) + ([self.vnc_path] if self.vnc else [])
        for path in paths:
            while not os.path.exists(path):
                self._check_alive(deadline)
                time.sleep(0.02)
        for path in self.qmp_paths:
            while True:
                self._check_alive(deadline)
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.settimeout(max(0.1, deadline - time.monotonic()))
                        s.connect(path)
                        if s.recv(1):
                            break
                except OSError:
                    pass
                time.sleep(0.05)

    def _check_alive(self, deadline):
        if self.proc.poll() is not None:
            raise RuntimeError("QEMU exited with status %s:\n%s"
                               % (self.proc.returncode, self.output()))
        if time.monotonic() > deadline:
            raise TimeoutError("QEMU sockets not ready:\n" + self.output())

    def output(self):
        """QEMU's stdout and stderr so far (for error messages)."""
        try:
            with open(os.path.join(self.dir, "qemu.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def wait(self, timeout=None):
        """Wait for QEMU to exit by itself (e.g. after ``quit``)."""
        return self.proc.wait(timeout)

    def close(self):
        """Kill QEMU if it still runs and remove the temporary directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class QmpError(Exception):
    """A QMP command answered with an ``error`` member."""

    def __init__(self, response):
        super().__init__(response["error"].get("desc", response["error"]))
        self.response = response


class QmpRaw:
    """A minimal QMP client on a unix socket that records every byte.

    ``log`` holds all bytes received from QEMU, exactly as they arrived,
    greeting included.  Messages are split with ``json.JSONDecoder.
    raw_decode`` instead of by lines because a ``pretty=on`` monitor
    spreads one message over many lines.  ``messages`` is the decoded
    sequence, in order.
    """

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.log = bytearray()
        self.messages = []
        self.greeting = None
        self._buf = ""
        self._pending = []      # decoded but not yet consumed
        self._decoder = json.JSONDecoder()
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._eof = False
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.greeting = self._next(timeout)
        if not isinstance(self.greeting, dict) or "QMP" not in self.greeting:
            raise RuntimeError("not a QMP greeting: %r" % (self.greeting,))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.sock.close()

    # -- reading -----------------------------------------------------------

    def _fill(self, deadline):
        """Read once from the socket; return False on EOF or timeout."""
        if self._eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            # QMP reads its input a byte at a time; if QEMU exits (quit)
            # before reading the newline after the last command, Linux
            # reports ECONNRESET instead of EOF.  Everything QEMU sent has
            # been read by then (queued data is returned before the error).
            data = b""
        if not data:
            self._eof = True
            return False
        self.log += data
        # An incremental decoder copes with a UTF-8 sequence split by recv.
        self._buf += self._utf8.decode(data)
        while True:
            stripped = self._buf.lstrip()
            if not stripped:
                self._buf = ""
                break
            try:
                obj, end = self._decoder.raw_decode(stripped)
            except json.JSONDecodeError:
                self._buf = stripped
                break
            self._buf = stripped[end:]
            self.messages.append(obj)
            self._pending.append(obj)
        return True

    def _next(self, timeout):
        """Return the next unconsumed message, or None on timeout/EOF."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            if not self._fill(deadline):
                return None
        return self._pending.pop(0)

    # -- commands ----------------------------------------------------------

    def send(self, execute, arguments=None, id=None):
        """Send one command (compact JSON, newline-terminated)."""
        msg = {"execute": execute}
        if arguments is not None:
            msg["arguments"] = arguments
        if id is not None:
            msg["id"] = id
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def command(self, execute, arguments=None, id=None, check=True,
                timeout=None):
        """Send a command and return its response message.

        Events read while waiting stay queued for ``wait_event``.  With
        ``check`` an error response raises QmpError.
        """
        self.send(execute, arguments, id)
        deadline = time.monotonic() + (timeout or self.timeout)
        skipped = []
        try:
            while True:
                msg = self._next(max(0.0, deadline - time.monotonic()))
                if msg is None:
                    raise TimeoutError("no response to %s" % execute)
                if ("return" in msg or "error" in msg) and \
                        msg.get("id") == id:
                    break
                skipped.append(msg)
        finally:
            self._pending[:0] = skipped
        if check and "error" in msg:
            raise QmpError(msg)
        return msg

    def negotiate(self):
        """Leave capabilities negotiation mode (``qmp_capabilities``)."""
        return self.command("qmp_capabilities")

    def wait_event(self, name, timeout=None, pred=None):
        """Return the next event called ``name`` (optionally matching
        ``pred(event)``), or raise TimeoutError.  Other messages read on
        the way stay queued."""
        deadline = time.monotonic() + (timeout or self.timeout)
        for i, msg in enumerate(self._pending):
            if msg.get("event") == name and (pred is None or pred(msg)):
                return self._pending.pop(i)
        while True:
            before = len(self._pending)
            if not self._fill(deadline):
                raise TimeoutError("no %s event" % name)
            for i in range(before, len(self._pending)):
                msg = self._pending[i]
                if msg.get("event") == name and (pred is None or pred(msg)):
                    return self._pending.pop(i)

    def events(self):
        """Return and forget the queued events (and other messages)."""
        out, self._pending = self._pending, []
        return out

    def read_until_eof(self, timeout=None):
        """Read until QEMU closes the connection (after ``quit``)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._fill(deadline):
            pass
        if not self._eof:
            raise TimeoutError("QEMU did not close the monitor")
        return self.events()


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("VNC server closed the connection")
        data += chunk
    return data


def vnc_handshake(path, timeout=10.0):
    """Connect to QEMU's VNC unix socket, do the RFB 3.8 handshake with
    security type None, and disconnect.

    QEMU emits VNC_CONNECTED on connect, VNC_INITIALIZED once it has read
    ClientInit, and VNC_DISCONNECTED when it sees the close.  Returns the
    ServerInit fields (width, height, name).
    """
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(path)
        version = _recv_exact(s, 12)
        if version != b"RFB 003.008\n":
            raise RuntimeError("unexpected RFB version %r" % version)
        s.sendall(version)
        count = _recv_exact(s, 1)[0]
        if count == 0:
            length = int.from_bytes(_recv_exact(s, 4), "big")
            raise RuntimeError(_recv_exact(s, length).decode())
        types = _recv_exact(s, count)
        if 1 not in types:
            raise RuntimeError("security type None not offered: %r" % types)
        s.sendall(b"\x01")
        if _recv_exact(s, 4) != b"\0\0\0\0":
            raise RuntimeError("VNC security handshake failed")
        s.sendall(b"\x01")                      # ClientInit, shared
        head = _recv_exact(s, 24)               # w, h, pixel format, len
        width = int.from_bytes(head[0:2], "big")
        height = int.from_bytes(head[2:4], "big")
        name = _recv_exact(s, int.from_bytes(head[20:24], "big"))
    return {"width": width, "height": height,
            "name": name.decode("utf-8", "replace")}
