"""VMState: the run state QEMU would report, and the VNC sessions.

Every transition is checked step by step on both backends: after each event
the tracker's status must be what ``query-status`` answers at that moment.
The expected statuses come from QEMU's ``runstate.c``/``cpus.c`` and were
checked against QEMU 7.2 (see ``test_state_live.py``, which repeats the
ones a TCG guest can produce); the recorded captures are checked against
the ``query-status`` replies interleaved in them.
"""

import datetime
import json
import os
import subprocess
import sys

import pytest

import qmpfast
from qmpfast.state import StatusChange, VMState, VncSession

from conftest import SAMPLES, sample

UTC = datetime.timezone.utc
T0 = 1700000000


# ---- helpers ---------------------------------------------------------------

def encode(steps, start=T0):
    """Event lines for ``steps``: a name or a (name, data) pair each."""
    lines = []
    for i, step in enumerate(steps):
        name, data = step if isinstance(step, tuple) else (step, None)
        obj = {"timestamp": {"seconds": start + i, "microseconds": 250},
               "event": name}
        if data is not None:
            obj["data"] = data
        lines.append(json.dumps(obj).encode() + b"\r\n")
    return b"".join(lines)


def events(decoder_factory, steps):
    return decoder_factory().feed(encode(steps))


def status_reply(status):
    return {"status": status, "singlestep": False,
            "running": status == "running"}


def io_error(action="stop", device="virtio0", operation="write"):
    return ("BLOCK_IO_ERROR", {
        "device": device, "node-name": "#block123", "operation": operation,
        "action": action, "nospace": False, "reason": "Input/output error",
        "qom-path": "/machine/peripheral/disk0"})


def shutdown(reason="guest-shutdown"):
    return ("SHUTDOWN", {"guest": reason.startswith("guest"),
                         "reason": reason})


def reset(reason="host-qmp-system-reset"):
    return ("RESET", {"guest": reason.startswith("guest"), "reason": reason})


def panicked(action):
    return ("GUEST_PANICKED", {"action": action})


def watchdog(action):
    return ("WATCHDOG", {"action": action})


def migration(status):
    return ("MIGRATION", {"status": status})


# ---- transitions -----------------------------------------------------------

# (id, status before (seeded), [(event, status after), ...])
TRANSITIONS = [
    ("stop", "running", [("STOP", "paused")]),
    ("stop-cont", "running", [("STOP", "paused"), ("RESUME", "running")]),
    ("cont-from-prelaunch", "prelaunch", [("RESUME", "running")]),
    ("io-error", "running", [(io_error(), "running"), ("STOP", "io-error")]),
    ("io-error-report-only", "running",
     [(io_error("report"), "running"), (io_error("ignore"), "running"),
      ("STOP", "paused")]),
    # cont on an io-error VM retries the request, which fails again
    ("io-error-cont-retries", "io-error",
     [("RESUME", "running"), (io_error(), "running"), ("STOP", "io-error")]),
    # cont while the stop is still pending: QEMU sends STOP and RESUME
    ("io-error-stop-resume-pair", "running",
     [(io_error(), "running"), ("STOP", "io-error"), ("RESUME", "running")]),
    # a stop asked for while not running changes nothing, sends no STOP
    ("io-error-while-paused", "paused",
     [(io_error(), "paused"), ("RESUME", "running"), ("STOP", "paused")]),
    ("last-stop-request-wins", "running",
     [(io_error(), "running"), (watchdog("pause"), "running"),
      ("STOP", "watchdog")]),
    ("guest-poweroff-no-shutdown", "running",
     [(shutdown(), "shutdown"), ("STOP", "shutdown")]),
    ("guest-poweroff-exits", "running", [(shutdown(), "shutdown")]),
    ("quit-while-io-error", "io-error",
     [(shutdown("host-qmp-quit"), "io-error")]),
    ("quit-while-prelaunch", "prelaunch",
     [(shutdown("host-qmp-quit"), "prelaunch")]),
    ("shutdown-reset-cont", "shutdown",
     [(reset(), "prelaunch"), ("RESUME", "running")]),
    ("reboot-as-shutdown", "running",
     [(shutdown("guest-reset"), "shutdown"), ("STOP", "shutdown")]),
    ("panic-pause", "running",
     [(panicked("pause"), "running"), ("STOP", "guest-panicked"),
      ("RESUME", "running")]),
    ("panic-poweroff", "running",
     [(panicked("poweroff"), "running"), (shutdown("guest-panic"),
                                          "shutdown")]),
    ("panic-poweroff-stop-first", "running",
     [(panicked("poweroff"), "running"), ("STOP", "guest-panicked"),
      (shutdown("guest-panic"), "guest-panicked")]),
    ("panic-run", "running",
     [(panicked("run"), "running"), ("STOP", "paused")]),
    ("crashloaded", "running",
     [(("GUEST_CRASHLOADED", {"action": "run"}), "running"),
      ("STOP", "paused")]),
    ("watchdog-pause", "running",
     [(watchdog("pause"), "running"), ("STOP", "watchdog"),
      (reset("host-qmp-system-reset"), "prelaunch")]),
    ("watchdog-reset", "running",
     [(watchdog("reset"), "running"), (reset("guest-reset"), "running"),
      ("STOP", "paused")]),
    ("watchdog-debug", "running",
     [(watchdog("debug"), "running"), ("STOP", "paused")]),
    ("suspend-wakeup", "running",
     [("SUSPEND", "suspended"), ("WAKEUP", "running")]),
    ("reset-running", "running",
     [(reset(), "running"), (reset("guest-reset"), "running")]),
    ("reset-paused", "paused", [(reset(), "prelaunch")]),
    ("reset-io-error", "io-error", [(reset(), "prelaunch")]),
    ("reset-suspended", "suspended", [(reset(), "prelaunch")]),
    ("reset-prelaunch", "prelaunch", [(reset(), "prelaunch")]),
    ("reset-inmigrate", "inmigrate", [(reset(), "inmigrate")]),
    ("reset-guest-panicked", "guest-panicked", [(reset(), "prelaunch")]),
    # QEMU >= 9.0: stop and cont of a suspended VM
    ("stop-suspended", "suspended",
     [("STOP", "paused"), ("RESUME", "suspended"), ("WAKEUP", "running")]),
    ("stop-suspended-reset", "suspended",
     [("STOP", "paused"), (reset(), "prelaunch"), ("RESUME", "running")]),
    ("migrate-running", "running",
     [(migration("setup"), "running"), (migration("active"), "running"),
      ("STOP", "finish-migrate"), (migration("completed"), "postmigrate"),
      ("RESUME", "running")]),
    ("migrate-paused", "paused",
     [(migration("setup"), "paused"), (migration("active"), "paused"),
      (migration("completed"), "postmigrate")]),
    ("migrate-fails-early", "running",
     [(migration("setup"), "running"), (migration("active"), "running"),
      (migration("failed"), "running"), ("STOP", "paused")]),
    ("migrate-fails-late", "running",
     [(migration("active"), "running"), ("STOP", "finish-migrate"),
      (migration("failed"), "postmigrate"), ("RESUME", "running")]),
    ("migrate-cancelled-stopped", "running",
     [(migration("active"), "running"), ("STOP", "finish-migrate"),
      (migration("cancelled"), "postmigrate")]),
    ("incoming", "inmigrate",
     [(migration("setup"), "inmigrate"), (migration("active"), "inmigrate"),
      (migration("completed"), "paused")]),
    ("incoming-autostart", "inmigrate",
     [(migration("active"), "inmigrate"), ("RESUME", "running"),
      (migration("completed"), "running")]),
    ("unknown-stop", "unknown", [("STOP", "paused")]),
    ("unknown-resume", "unknown", [("RESUME", "running")]),
    ("unknown-reset", "unknown", [(reset(), "unknown")]),
    ("unknown-io-error", "unknown", [(io_error(), "unknown"),
                                     ("STOP", "io-error")]),
    ("unknown-shutdown", "unknown",
     [(shutdown(), "unknown"), ("STOP", "shutdown")]),
    ("unknown-quit", "unknown", [(shutdown("host-qmp-quit"), "unknown")]),
    ("unknown-suspend", "unknown", [("SUSPEND", "suspended")]),
    ("unrelated-events", "running",
     [("POWERDOWN", "running"), ("SUSPEND_DISK", "running"),
      (("DEVICE_DELETED", {"path": "/machine/peripheral/x"}), "running"),
      (("FUTURE_EVENT", {"x": 1}), "running")]),
]


@pytest.mark.parametrize("seed,steps", [case[1:] for case in TRANSITIONS],
                         ids=[case[0] for case in TRANSITIONS])
def test_transition(decoder_factory, seed, steps):
    state = VMState()
    if seed != "unknown":
        state.seed(status_reply(seed))
    messages = events(decoder_factory, [event for event, _ in steps])
    for i, (msg, (_, expected)) in enumerate(zip(messages, steps)):
        before = state.status
        change = state.apply(msg)
        assert state.status == expected, f"after step {i} ({msg.name})"
        if before == expected:
            assert change is None
        else:
            assert isinstance(change, StatusChange)
            assert (change.previous, change.status) == (before, expected)
            assert change.event.name == msg.name
            assert change.time == msg.datetime
            assert change.reason is state.reason
            assert state.since == msg.datetime


@pytest.mark.parametrize("steps,status,reason", [
    (["STOP"], "paused", None),
    ([io_error(), "STOP"], "io-error", "BLOCK_IO_ERROR"),
    ([shutdown(), "STOP"], "shutdown", "SHUTDOWN"),
    ([panicked("pause"), "STOP"], "guest-panicked", "GUEST_PANICKED"),
    ([watchdog("pause"), "STOP"], "watchdog", "WATCHDOG"),
    (["SUSPEND"], "suspended", "SUSPEND"),
    (["STOP", reset()], "prelaunch", "RESET"),
    ([migration("active"), "STOP"], "finish-migrate", "MIGRATION"),
    ([migration("active"), "STOP", migration("completed")], "postmigrate",
     "MIGRATION"),
    ([io_error(), "STOP", "RESUME"], "running", None),
])
def test_reason(decoder_factory, steps, status, reason):
    state = VMState()
    state.seed(status_reply("running"))
    for msg in events(decoder_factory, steps):
        state.apply(msg)
    assert state.status == status
    assert (state.reason.name if state.reason else None) == reason


def test_reason_carries_the_event_data(decoder_factory):
    state = VMState()
    state.seed(status_reply("running"))
    changes = [state.apply(m) for m in events(
        decoder_factory, [io_error(device="ide1-hd0", operation="read"),
                          "STOP"])]
    assert changes[0] is None
    change = changes[1]
    assert change.event.name == "STOP"
    assert change.reason.device == "ide1-hd0"
    assert change.reason.operation == "read"
    assert change.reason.action == "stop"
    assert change.time == datetime.datetime.fromtimestamp(T0 + 1, UTC) + \
        datetime.timedelta(microseconds=250)
    assert str(change) == ("running -> io-error (STOP after BLOCK_IO_ERROR "
                           "ide1-hd0 read: Input/output error)")
    assert "2023-11-14T22:13:21.000250Z" in repr(change)


def test_shutdown_changes_status_and_absorbs_its_stop(decoder_factory):
    state = VMState()
    state.seed(status_reply("running"))
    first, second = [state.apply(m) for m in events(
        decoder_factory, [shutdown(), "STOP"])]
    assert (first.previous, first.status) == ("running", "shutdown")
    assert first.reason.name == first.event.name == "SHUTDOWN"
    assert first.reason.guest is True and first.reason.reason == \
        "guest-shutdown"
    assert second is None
    assert state.last_shutdown.reason == "guest-shutdown"


def test_kept_events_do_not_hold_the_chunk(decoder_factory):
    # reasons are re-decoded from their own bytes: a long-lived tracker does
    # not keep every 64 KiB chunk a status change came in
    padding = encode([("DEVICE_DELETED", {"path": "x" * 5000})] * 10)
    data = padding + encode([io_error(), "STOP"], start=T0 + 100)
    state = VMState()
    state.seed(status_reply("running"))
    for msg in decoder_factory().feed(data):
        state.apply(msg)
    assert state.status == "io-error"
    assert len(state.reason.raw) < 400
    assert state.reason.stream_offset == 0


def test_non_events_are_ignored(decoder_factory):
    data = (b'{"QMP": {"version": {}, "capabilities": []}}\r\n'
            b'{"return": {"status": "paused", "running": false}, "id": 1}\r\n'
            b'{"error": {"class": "GenericError", "desc": "x"}}\r\n'
            b'{"execute": "stop"}\r\n' + encode(["STOP"]))
    state = VMState()
    results = [state.apply(m) for m in decoder_factory().feed(data)]
    assert results[:4] == [None] * 4
    assert state.status == "paused"
    assert state.event_counts == {"STOP": 1}


def test_seed(decoder_factory):
    state = VMState()
    assert state.status == "unknown" and state.reason is None
    reply = decoder_factory().feed(
        b'{"return": {"status": "io-error", "singlestep": false, '
        b'"running": false}, "id": 3}\r\n')[0]
    change = state.seed(reply)  # the Return message or its value
    assert (change.previous, change.status) == ("unknown", "io-error")
    assert change.event is None and change.time is None
    assert str(change) == "unknown -> io-error (query-status)"
    assert state.seed(reply.value) is None
    # a seed drops a stop request from before it
    for msg in events(decoder_factory, [io_error()]):
        state.apply(msg)
    state.seed(status_reply("running"))
    for msg in events(decoder_factory, ["STOP"]):
        state.apply(msg)
    assert state.status == "paused"


def test_counters(decoder_factory):
    state = VMState()
    for msg in events(decoder_factory, [
            io_error(device="ide1-hd0", operation="read"), "STOP",
            io_error(device="ide1-hd0", operation="read"),
            io_error("report", device="virtio1", operation="write"),
            reset(), reset("guest-reset"), reset("guest-reset"), "RESUME"]):
        state.apply(msg)
    assert state.event_counts == {"BLOCK_IO_ERROR": 3, "STOP": 1,
                                  "RESET": 3, "RESUME": 1}
    assert state.io_errors == {("ide1-hd0", "read"): 2,
                               ("virtio1", "write"): 1}
    assert state.resets == {(False, "host-qmp-system-reset"): 1,
                            (True, "guest-reset"): 2}


# ---- VNC sessions ----------------------------------------------------------

UNIX_SERVER = {"auth": "none", "family": "unix", "service": "/run/vnc.sock",
               "host": "", "websocket": False}
UNIX_CLIENT = {"family": "unix", "service": "", "host": "",
               "websocket": False}
TCP_SERVER = {"auth": "vencrypt+x509+sasl", "family": "ipv4",
              "service": "5901", "host": "0.0.0.0", "websocket": False}


def vnc(name, client, server=UNIX_SERVER):
    return ("VNC_" + name, {"server": server, "client": client})


def apply_all(decoder_factory, steps):
    state = VMState()
    for msg in events(decoder_factory, steps):
        state.apply(msg)
    return state


def test_vnc_session_over_unix_socket(decoder_factory):
    state = apply_all(decoder_factory, [
        vnc("CONNECTED", UNIX_CLIENT), vnc("INITIALIZED", UNIX_CLIENT),
        vnc("DISCONNECTED", UNIX_CLIENT)])
    assert list(state.vnc_sessions) == [("unix", "", "")]
    session = state.vnc_sessions[("unix", "", "")]
    assert isinstance(session, VncSession)
    assert state.vnc_history == [session]
    assert state.open_vnc_sessions == []
    assert not session.open
    assert session.key == ("unix", "", "")
    assert session.client.family == "unix"
    assert session.server.service == "/run/vnc.sock"
    assert session.auth == "none"
    assert session.sasl_username is None and session.x509_dname is None
    base = datetime.datetime.fromtimestamp(T0, UTC) + datetime.timedelta(
        microseconds=250)
    assert session.connected_at == base
    assert session.initialized_at == base + datetime.timedelta(seconds=1)
    assert session.disconnected_at == base + datetime.timedelta(seconds=2)
    assert session.duration == datetime.timedelta(seconds=2)
    assert state.status == "unknown"  # VNC says nothing about the run state


def test_vnc_reconnect_on_same_address_is_a_new_session(decoder_factory):
    state = apply_all(decoder_factory, [
        vnc("CONNECTED", UNIX_CLIENT), vnc("INITIALIZED", UNIX_CLIENT),
        vnc("DISCONNECTED", UNIX_CLIENT), vnc("CONNECTED", UNIX_CLIENT),
        vnc("INITIALIZED", UNIX_CLIENT)])
    first, second = state.vnc_history
    assert state.vnc_sessions == {("unix", "", ""): second}
    assert not first.open and second.open
    assert state.open_vnc_sessions == [second]
    assert second.duration is None
    assert second.connected_at - first.connected_at == \
        datetime.timedelta(seconds=3)


def test_vnc_user_names_arrive_after_authentication(decoder_factory):
    client = {"family": "ipv4", "host": "192.0.2.7", "service": "40022",
              "websocket": False}
    authed = dict(client, sasl_username="alice",
                  x509_dname="C=GB,O=Example,CN=alice")
    state = apply_all(decoder_factory, [
        vnc("CONNECTED", client, TCP_SERVER)])
    session = state.vnc_sessions[("ipv4", "192.0.2.7", "40022")]
    assert session.sasl_username is None  # not known before authentication
    assert session.open and session.initialized_at is None
    for msg in events(decoder_factory, [vnc("INITIALIZED", authed,
                                            TCP_SERVER)]):
        state.apply(msg)
    assert session.sasl_username == "alice"
    assert session.x509_dname == "C=GB,O=Example,CN=alice"
    assert session.auth == "vencrypt+x509+sasl"
    assert len(state.vnc_history) == 1


def test_vnc_concurrent_clients_and_partial_sessions(decoder_factory):
    other = {"family": "ipv6", "host": "::1", "service": "50000",
             "websocket": True}
    state = apply_all(decoder_factory, [
        vnc("INITIALIZED", other),           # connected before we watched
        vnc("CONNECTED", UNIX_CLIENT), vnc("CONNECTED", UNIX_CLIENT),
        vnc("INITIALIZED", UNIX_CLIENT), vnc("INITIALIZED", UNIX_CLIENT),
        vnc("DISCONNECTED", UNIX_CLIENT),
        vnc("DISCONNECTED", {"family": "ipv4", "host": "192.0.2.9",
                             "service": "1", "websocket": False})])
    first_seen, a, b, orphan = state.vnc_history
    assert first_seen.connected_at is None and first_seen.open
    assert first_seen.duration is None
    assert a.initialized and b.initialized
    assert not a.open and b.open          # the oldest one goes first
    assert not orphan.open and orphan.duration is None
    assert state.open_vnc_sessions == [first_seen, b]
    assert state.vnc_sessions[("unix", "", "")] is b
    assert "[::1]:50000 (websocket)" in state.summary()


# ---- the recorded captures -------------------------------------------------

def _is_status_reply(msg):
    if msg.kind != "return":
        return False
    value = msg.value
    return isinstance(value, dict) and "status" in value and \
        "running" in value


def replay(messages, seed=True):
    """Apply a capture; check each query-status reply against the tracker.

    Returns [(status replied, tracker status)] for each reply after the
    seed; with ``seed`` the first reply seeds the tracker.
    """
    state = VMState()
    pairs = []
    for msg in messages:
        if _is_status_reply(msg):
            if seed and not pairs and state.status == "unknown":
                state.seed(msg)
                pairs.append((msg.value["status"], "(seed)"))
            else:
                pairs.append((msg.value["status"], state.status))
        else:
            state.apply(msg)
    return state, pairs


CAPTURE_REPLIES = {
    # query-status replies in the capture, in order (README.md)
    "qemu-7.2.qmp": ["running", "paused", "running", "running", "io-error",
                     "io-error"],
    "qemu-7.2-pretty.qmp": ["running", "paused", "running", "running",
                            "io-error", "io-error"],
    "qemu-7.2-guest-poweroff.qmp": ["prelaunch", "shutdown"],
}


@pytest.mark.parametrize("name", sorted(CAPTURE_REPLIES))
@pytest.mark.parametrize("piece", [None, 7])
def test_capture_matches_query_status(decoder_factory, name, piece):
    data = sample(name)
    decoder = decoder_factory()
    if piece is None:
        messages = decoder.feed(data)
    else:
        messages = [m for i in range(0, len(data), piece)
                    for m in decoder.feed(data[i:i + piece])]
    state, pairs = replay(messages)
    assert [live for live, _ in pairs] == CAPTURE_REPLIES[name]
    for i, (live, tracked) in enumerate(pairs[1:], 1):
        assert tracked == live, f"{name}: query-status reply {i}"


@pytest.mark.parametrize("name", sorted(CAPTURE_REPLIES))
def test_capture_without_seed(decoder_factory, name):
    # unseeded, the tracker is "unknown" only until the first event that
    # decides the status, and right from then on
    state, pairs = replay(decoder_factory().feed(sample(name)), seed=False)
    decided = [(live, tracked) for live, tracked in pairs
               if tracked != "unknown"]
    assert decided and all(live == tracked for live, tracked in decided)
    assert pairs[0][1] == "unknown"


def test_main_capture_state(decoder_factory):
    state, _ = replay(decoder_factory().feed(sample("qemu-7.2.qmp")))
    assert state.status == "io-error"
    assert state.reason.name == "BLOCK_IO_ERROR"
    assert state.reason.device == "ide1-hd0"
    assert [(c.previous, c.status) for c in state.changes] == [
        ("unknown", "running"), ("running", "paused"),
        ("paused", "running"), ("running", "io-error"),
        ("io-error", "running"), ("running", "io-error")]
    assert state.last_shutdown.reason == "host-qmp-quit"
    assert state.io_errors == {("ide1-hd0", "read"): 2}
    assert state.resets == {(False, "host-qmp-system-reset"): 1,
                            (True, "guest-reset"): 2}
    assert sum(state.event_counts.values()) == 14
    (session,) = state.vnc_history
    assert session.key == ("unix", "", "")
    assert not session.open and session.auth == "none"
    assert session.duration == datetime.timedelta(microseconds=80071)


def test_poweroff_capture_state(decoder_factory):
    state, _ = replay(decoder_factory().feed(
        sample("qemu-7.2-guest-poweroff.qmp")))
    assert state.status == "shutdown"
    assert state.reason.reason == "guest-shutdown" and state.reason.guest
    assert state.last_shutdown.reason == "host-qmp-quit"


# ---- the summary -----------------------------------------------------------

def _iso(seconds, micros):
    when = datetime.datetime.fromtimestamp(seconds, UTC).replace(
        microsecond=micros)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_summary_of_main_capture(decoder_factory):
    state = VMState()
    for msg in decoder_factory().feed(sample("qemu-7.2.qmp")):
        state.apply(msg)
    text = state.summary()
    lines = text.splitlines()
    assert lines[0] == "VM status, times in UTC (14 events)"
    io_line = next(line for line in lines
                   if _iso(1795563461, 50107) in line)
    assert io_line.split()[1:4] == ["running", "->", "io-error"]
    assert io_line.endswith("STOP after BLOCK_IO_ERROR ide1-hd0 read: "
                            "Input/output error")
    assert any(line.startswith(f"  {_iso(1795563461, 51200)}  io-error")
               and line.endswith("SHUTDOWN host-qmp-quit by the host: "
                                 "QEMU exits") for line in lines)
    assert "I/O errors: ide1-hd0 read x2" in lines
    assert ("Resets: guest-reset by the guest x2, host-qmp-system-reset by "
            "the host x1") in lines
    assert "VNC sessions: 1 (none open)" in lines
    row = lines[-1].split()
    assert row[:3] == ["unix", "socket", _iso(1795563460, 49083)]
    assert row[3:] == ["+0.8", "ms", "+80.1", "ms", "80.1", "ms", "none",
                       "-"]
    # the columns line up
    header = lines[-2]
    assert header.index("connected") == lines[-1].index("2026")


def test_summary_of_empty_state():
    text = VMState().summary()
    assert "no status change" in text
    assert "last status: unknown" in text
    assert "VNC sessions: none" in text


def test_summary_of_long_timeline_is_cut_in_the_middle(decoder_factory):
    state = VMState()
    for msg in events(decoder_factory, ["STOP", "RESUME"] * 200):
        state.apply(msg)
    lines = state.summary().splitlines()
    assert len(state.changes) == 400
    assert any("350 more" in line for line in lines)
    assert len(lines) < 70


@pytest.mark.parametrize("name", sorted(CAPTURE_REPLIES))
def test_cli_summary(name):
    path = os.path.join(SAMPLES, name)
    root = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-m", "qmpfast", "parse",
                          "--summary", path], capture_output=True, env=env,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    expected = VMState()
    for msg in qmpfast.Decoder().feed(sample(name)):
        # the CLI starts from the capture's first query-status reply
        if (isinstance(msg, qmpfast.Return) and expected.status == "unknown"
                and isinstance(msg.value, dict) and "running" in msg.value):
            expected.seed(msg)
        expected.apply(msg)
    assert run.stdout.decode() == expected.summary()
    assert "unknown ->" not in run.stdout.decode().splitlines()[2]
    assert run.stdout.startswith(b"VM status, times in UTC")
