"""VMState against a real QEMU: after each step, ``query-status`` decides.

Each scenario drives a QEMU (TCG, a boot sector as the guest) through the
harness's raw client, decodes every byte it received with qmpfast, and
after each step compares the tracker with a live ``query-status``: the
messages are applied up to that command's reply, so both describe the same
moment.  Guests beyond the harness's own boot sectors are a few bytes of
real-mode code each: a panic on the ISA pvpanic port, an ib700 watchdog
armed with no timeout, an ACPI S3 request after a key press.
"""

import os
import time

import pytest

import qmpfast
from qmpfast.state import VMState

from qemu_harness import QemuProcess, QmpError, QmpRaw, boot_sector, \
    vnc_handshake

# mov dx,0x505; mov al,1; out dx,al; hlt; jmp $-1   (pvpanic: "panicked")
PANIC_CODE = bytes.fromhex("BA0505 B001 EE F4 EBFD")
# mov dx,0x443; mov al,0x0F; out dx,al; hlt; jmp $-1  (ib700: fire in 0 s)
WATCHDOG_CODE = bytes.fromhex("BA4304 B00F EE F4 EBFD")
# xor ax,ax; int 16h (wait for a key); mov dx,0x604; mov ax,0x2400;
# out dx,ax (PM1a control: SLP_EN, sleep type 1 = S3); hlt; jmp $-1
SUSPEND_ON_KEY_CODE = bytes.fromhex("31C0 CD16 BA0406 B80024 EF F4 EBFD")

KEY = {"keys": [{"type": "qcode", "data": "ret"}]}

# what query-status said after each step, for the test log (pytest -s)
TRANSCRIPT = []


class Qemu(QemuProcess):
    """QemuProcess with a boot sector of our own and extra arguments."""

    def __init__(self, code=None, extra=(), **options):
        super().__init__(**options)
        self.code = code
        self.extra = list(extra)

    def build_argv(self):
        argv = super().build_argv()
        if self.code is not None:
            image = os.path.join(self.dir, "guest.img")
            with open(image, "wb") as f:
                f.write(boot_sector(self.code))
            argv += ["-drive", "if=ide,index=0,format=raw,file=" + image]
        return argv + self.extra


class Tracked:
    """A raw QMP client whose received bytes feed a VMState."""

    def __init__(self, vm, name, seed=True):
        self.vm = vm
        self.name = name
        self.qmp = QmpRaw(vm.qmp_paths[0])
        self.qmp.negotiate()
        self.state = VMState()
        self.decoder = qmpfast.Decoder()
        self.fed = 0
        self.queue = []
        self.ids = 1000
        if seed:
            value = self._query()
            self.state.seed(value)
            self._note("(start, seeded)", value["status"])

    def close(self):
        self.qmp.close()

    def _decode(self):
        new = bytes(self.qmp.log[self.fed:])
        self.fed += len(new)
        self.queue += self.decoder.feed(new)

    def _query(self):
        """query-status; every message before its reply is applied."""
        self.ids += 1
        self.qmp.command("query-status", id=self.ids)
        self._decode()
        while self.queue:
            msg = self.queue.pop(0)
            if msg.kind == "return" and msg.id == self.ids:
                return msg.value
            self.state.apply(msg)
        raise AssertionError("query-status reply not decoded")

    def _note(self, step, live):
        TRANSCRIPT.append((self.name, step, live, self.state.status))

    def do(self, step, command=None, arguments=None, wait=(), error=None,
           settle=None):
        """Run a command (if any), wait for events, then compare."""
        if command is not None:
            try:
                self.qmp.command(command, arguments)
            except QmpError as exc:
                assert error and error in str(exc), exc
            else:
                assert error is None, f"{command} should have failed"
        for name in wait:  # "MIGRATION=completed": with that status
            name, _, status = name.partition("=")
            self.qmp.wait_event(name, timeout=20, pred=lambda m: not status
                                or m["data"]["status"] == status)
        return self.check(step, settle=settle)

    def press_key(self, step, until):
        """Press a key until the guest reacts with event ``until``: keys
        sent while SeaBIOS still boots are lost, and there is no event
        saying it is done."""
        deadline = time.monotonic() + 20
        while True:
            self.qmp.command("send-key", KEY)
            try:
                self.qmp.wait_event(until, timeout=0.25)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        return self.check(step)

    def check(self, step, allow_unknown=False, settle=None):
        """Compare with query-status.  ``settle``: a status QEMU leaves
        without an event just after the one waited for (it sends MIGRATION
        "completed" before it sets postmigrate): asked again until gone."""
        live = self._query()["status"]
        deadline = time.monotonic() + 5
        while live == settle != self.state.status and \
                time.monotonic() < deadline:
            time.sleep(0.02)
            live = self._query()["status"]
        self._note(step, live)
        if allow_unknown and self.state.status == "unknown":
            return live
        assert self.state.status == live, (
            f"{self.name}, {step}: query-status says {live}, the tracker "
            f"{self.state.status}")
        return live

    def until_exit(self, step):
        """Read to the end (QEMU exits); apply everything."""
        self.qmp.read_until_eof(timeout=20)
        self._decode()
        for msg in self.queue:
            self.state.apply(msg)
        self.queue = []
        assert self.vm.wait(20) is not None
        TRANSCRIPT.append((self.name, step, "(QEMU exited)",
                           self.state.status))


@pytest.fixture
def tracked(qemu):
    opened = []

    def start(name, seed=True, **options):
        vm = Qemu(qemu=qemu, **options)
        vm.start()
        try:
            t = Tracked(vm, name, seed)
        except BaseException:
            vm.close()
            raise
        opened.append(t)
        return t

    yield start
    for t in opened:
        t.close()
        t.vm.close()


@pytest.fixture(scope="module", autouse=True)
def transcript():
    yield
    if TRANSCRIPT:
        width = max(len(f"{n}: {s}") for n, s, _l, _t in TRANSCRIPT)
        print("\nscenario: step".ljust(width + 3),
              "query-status       tracker")
        for name, step, live, mine in TRANSCRIPT:
            print(f"{name}: {step}".ljust(width + 2), f"{live:<18} {mine}")


def test_stop_cont_reset_and_vnc(tracked):
    t = tracked("basic", seed=False, vnc=True)
    t.check("start, not seeded", allow_unknown=True)
    t.do("stop", "stop", wait=["STOP"])
    t.do("stop again (no event)", "stop")
    t.do("system_reset while paused", "system_reset", wait=["RESET"])
    t.do("cont", "cont", wait=["RESUME"])
    t.do("system_reset while running", "system_reset", wait=["RESET"])
    t.do("VNC client", None)
    vnc_handshake(t.vm.vnc_path)
    t.do("VNC session over", wait=["VNC_DISCONNECTED"])
    (session,) = t.state.vnc_history
    assert session.key == ("unix", "", "") and not session.open
    assert session.server.service == t.vm.vnc_path
    assert session.connected_at <= session.initialized_at <= \
        session.disconnected_at
    assert t.state.vnc_sessions[session.key] is session
    vnc_handshake(t.vm.vnc_path)
    t.do("second VNC client", wait=["VNC_DISCONNECTED"])
    assert len(t.state.vnc_history) == 2
    assert t.state.vnc_sessions[session.key] is t.state.vnc_history[1]
    assert t.state.open_vnc_sessions == []
    t.do("stop", "stop", wait=["STOP"])
    t.qmp.send("quit")
    t.until_exit("quit while paused")
    assert t.state.status == "paused"
    assert t.state.last_shutdown.reason == "host-qmp-quit"
    assert t.state.resets[(False, "host-qmp-system-reset")] == 2


def test_failing_disk_stops_with_io_error(tracked):
    t = tracked("io-error", boot="read-on-key", failing_disk=True)
    assert t.check("running") == "running"
    assert t.press_key("key: guest reads the failing disk",
                       until="STOP") == "io-error"
    assert t.state.reason.name == "BLOCK_IO_ERROR"
    assert t.state.reason.device == "ide1-hd0"
    t.do("stop on io-error (no event)", "stop")
    t.do("cont: retried, fails again", "cont", wait=["RESUME", "STOP"])
    assert [c.status for c in t.state.changes[-2:]] == ["running",
                                                        "io-error"]
    assert t.state.io_errors[("ide1-hd0", "read")] == 2
    assert t.do("system_reset on io-error", "system_reset",
                wait=["RESET"]) == "prelaunch"


def test_guest_poweroff_with_no_shutdown(tracked):
    t = tracked("poweroff -no-shutdown", boot="poweroff", no_shutdown=True,
                paused=True)
    assert t.check("prelaunch (-S)") == "prelaunch"
    assert t.do("cont: guest powers off", "cont",
                wait=["SHUTDOWN", "STOP"]) == "shutdown"
    assert t.state.reason.reason == "guest-shutdown"
    t.do("cont refused", "cont", error="Resetting the Virtual Machine")
    assert t.do("system_reset", "system_reset",
                wait=["RESET"]) == "prelaunch"
    t.do("cont: powers off again", "cont", wait=["SHUTDOWN", "STOP"])
    t.qmp.send("quit")
    t.until_exit("quit")
    assert t.state.status == "shutdown"


def test_guest_poweroff_without_no_shutdown_exits(tracked):
    t = tracked("poweroff", boot="poweroff", paused=True)
    t.qmp.send("cont")
    t.until_exit("cont: guest powers off")
    assert t.state.status == "shutdown"
    assert t.state.last_shutdown.reason == "guest-shutdown"
    assert t.state.event_counts["STOP"] == 0


def test_guest_panic_pauses(tracked):
    t = tracked("panic=pause", code=PANIC_CODE, paused=True,
                extra=["-device", "pvpanic", "-action", "panic=pause"])
    assert t.do("cont: guest panics", "cont",
                wait=["GUEST_PANICKED", "STOP"]) == "guest-panicked"
    assert t.state.reason.action == "pause"
    assert t.do("cont", "cont", wait=["RESUME"]) == "running"


def test_guest_panic_powers_off(tracked):
    t = tracked("panic=shutdown", code=PANIC_CODE, paused=True,
                extra=["-device", "pvpanic"])
    t.qmp.send("cont")
    t.until_exit("cont: guest panics")
    assert t.state.status == "shutdown"
    assert t.state.reason.reason == "guest-panic"


def test_watchdog_pauses(tracked):
    t = tracked("watchdog=pause", code=WATCHDOG_CODE, paused=True,
                extra=["-device", "ib700", "-action", "watchdog=pause"])
    assert t.do("cont: watchdog fires", "cont",
                wait=["WATCHDOG", "STOP"]) == "watchdog"
    assert t.state.reason.name == "WATCHDOG"
    t.do("cont", "cont", wait=["RESUME"])
    t.do("stop", "stop", wait=["STOP"])
    assert t.do("system_reset", "system_reset",
                wait=["RESET"]) == "prelaunch"


def test_suspend_and_wakeup(tracked):
    t = tracked("suspend", code=SUSPEND_ON_KEY_CODE, paused=True)
    t.do("cont", "cont", wait=["RESUME"])
    assert t.press_key("key: guest enters S3", until="SUSPEND") == \
        "suspended"
    t.do("stop while suspended", "stop")
    assert t.do("system_wakeup", "system_wakeup",
                wait=["WAKEUP"]) == "running"
    t.press_key("key: S3 again", until="SUSPEND")
    assert t.do("system_reset while suspended", "system_reset",
                wait=["RESET"]) == "prelaunch"


def test_migration_source_and_destination(tracked, tmp_path):
    stream = tmp_path / "vm.migration"
    src = tracked("migration source")
    src.do("events capability", "migrate-set-capabilities", {
        "capabilities": [{"capability": "events", "state": True}]})
    assert src.do("migrate", "migrate", {"uri": f"exec:cat > {stream}"},
                  wait=["STOP", "MIGRATION=completed"],
                  settle="finish-migrate") == "postmigrate"
    assert src.state.changes[-2].status == "finish-migrate"
    assert src.do("cont", "cont", wait=["RESUME"]) == "running"
    assert src.do("migration fails", "migrate", {"uri": "exec:false"},
                  wait=["MIGRATION=failed"]) == "running"

    dst = tracked("migration destination", paused=True,
                  extra=["-incoming", "defer"])
    assert dst.check("waiting (-incoming defer -S)") == "inmigrate"
    dst.do("events capability", "migrate-set-capabilities", {
        "capabilities": [{"capability": "events", "state": True}]})
    assert dst.do("migrate-incoming", "migrate-incoming",
                  {"uri": f"exec:cat {stream}"},
                  wait=["MIGRATION=completed"]) == "paused"
    assert dst.do("cont", "cont", wait=["RESUME"]) == "running"
