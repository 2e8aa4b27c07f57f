#!/usr/bin/env python3
"""Record what a real QEMU sends on a QMP socket, byte for byte.

Each scenario starts QEMU (see tests/qemu_harness.py), drives it with a
small QMP client, and writes every byte received on the monitor socket,
greeting included, to ``qemu-MAJOR.MINOR[-suffix].qmp``.  Nothing is
re-encoded: the files are what a parser meets in the wild.

Scenarios:
  main      compact monitor: commands, an error response, stop/cont,
            system_reset, a VNC session, a disk read error (BLOCK_IO_ERROR
            with rerror=stop) and quit.
  pretty    the same scenario on a monitor with pretty=on.
  poweroff  -no-shutdown, a guest that powers itself off (SHUTDOWN
            guest-shutdown, then STOP) and quit.

Usage: tools/record_capture.py [--out-dir DIR] [SCENARIO ...]
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from qemu_harness import QemuProcess, QmpRaw, find_qemu, vnc_handshake  # noqa: E402

SCENARIOS = ["main", "pretty", "poweroff"]

# Events the main scenario must produce; checked after recording.
MAIN_EVENTS = {"BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP", "RESUME",
               "VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED"}


class Steps:
    """Numbers commands and prints what happened at each step, with times."""

    def __init__(self, qmp, verbose=True):
        self.qmp = qmp
        self.next_id = 1
        self.t0 = time.monotonic()
        self.verbose = verbose

    def say(self, text):
        if self.verbose:
            print("  %6.3fs  %s" % (time.monotonic() - self.t0, text))

    def cmd(self, execute, arguments=None, check=True):
        msg_id = self.next_id
        self.next_id += 1
        reply = self.qmp.command(execute, arguments, id=msg_id, check=check)
        self.say("%s (id %d) -> %s" % (execute, msg_id, _short(reply)))
        return reply

    def event(self, name, pred=None, timeout=10.0):
        ev = self.qmp.wait_event(name, timeout=timeout, pred=pred)
        self.say("event %s %s" % (name, json.dumps(ev.get("data", {}))))
        return ev

    def status(self, expect):
        status = self.cmd("query-status")["return"]["status"]
        if status != expect:
            raise RuntimeError("query-status: %r, expected %r"
                               % (status, expect))
        return status


def _short(msg):
    text = json.dumps(msg.get("return", msg.get("error")))
    return text if len(text) < 100 else text[:97] + "..."


def main_scenario(style, verbose=True):
    """The main scenario on one monitor of the given style; returns bytes.

    The guest boots a sector that waits for a key and then reads the
    failing disk, so the disk error happens only when the scenario asks
    for it (stop, send-key, cont).
    """
    started = time.monotonic()
    with QemuProcess(monitors=(style,), vnc=True, boot="read-on-key",
                     failing_disk=True) as vm:
        if verbose:
            print("  argv: " + " ".join(vm.argv))
        with QmpRaw(vm.qmp_paths[0]) as qmp:
            s = Steps(qmp, verbose)
            s.say("greeting " + json.dumps(qmp.greeting["QMP"]["version"]))
            s.cmd("qmp_capabilities")
            s.cmd("query-version")
            s.status("running")

            s.cmd("stop")
            s.event("STOP")
            s.status("paused")

            s.cmd("cont")
            s.event("RESUME")
            s.status("running")

            # Let SeaBIOS finish booting first: reset after its POST, it
            # answers with a hard reset of its own (a second RESET, from the
            # guest); reset during POST, it does not.
            time.sleep(max(0.0, started + 1.0 - time.monotonic()))
            s.cmd("system_reset")
            s.event("RESET", pred=lambda e: not e["data"]["guest"])
            s.event("RESET", pred=lambda e: e["data"]["guest"])
            reset_at = time.monotonic()

            s.cmd("no-such-command", check=False)
            s.status("running")

            info = vnc_handshake(vm.vnc_path)
            s.say("vnc handshake done: %s" % json.dumps(info))
            s.event("VNC_CONNECTED")
            s.event("VNC_INITIALIZED")
            s.event("VNC_DISCONNECTED")

            # The guest must be waiting for the key (SeaBIOS re-initialises
            # the keyboard while booting, dropping earlier keys); booting
            # takes well under 0.1 s with TCG.  QEMU drops input events
            # while the VM is stopped, so the key is sent to a running VM.
            time.sleep(max(0.0, reset_at + 1.0 - time.monotonic()))
            s.cmd("send-key", {"keys": [{"type": "qcode", "data": "ret"}]})
            s.event("BLOCK_IO_ERROR")
            s.event("STOP")
            s.status("io-error")
            # With rerror=stop, cont retries the failed request: it fails
            # again and the VM stops again.
            s.cmd("cont")
            s.event("RESUME")
            s.event("BLOCK_IO_ERROR")
            s.event("STOP")
            s.status("io-error")

            s.cmd("quit")
            s.event("SHUTDOWN")
            qmp.read_until_eof()
            s.say("EOF")
            vm.wait(10)
            return bytes(qmp.log)


def poweroff_scenario(verbose=True):
    """A guest powering itself off under -no-shutdown; returns bytes."""
    with QemuProcess(no_shutdown=True, paused=True, boot="poweroff") as vm:
        if verbose:
            print("  argv: " + " ".join(vm.argv))
        with QmpRaw(vm.qmp_paths[0]) as qmp:
            s = Steps(qmp, verbose)
            s.say("greeting " + json.dumps(qmp.greeting["QMP"]["version"]))
            s.cmd("qmp_capabilities")
            s.status("prelaunch")
            s.cmd("cont")
            s.event("RESUME")
            s.event("SHUTDOWN", pred=lambda e: e["data"]["guest"])
            s.event("STOP")
            s.status("shutdown")
            s.cmd("quit")
            s.event("SHUTDOWN", pred=lambda e: not e["data"]["guest"])
            qmp.read_until_eof()
            s.say("EOF")
            vm.wait(10)
            return bytes(qmp.log)


def decode_all(data):
    """Split a capture into JSON messages (works for pretty output too)."""
    text = data.decode("utf-8")
    dec = json.JSONDecoder()
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            return out
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)


def check_compact(data):
    """Each CRLF-terminated line of a compact capture is one JSON object."""
    if not data.endswith(b"\r\n"):
        raise RuntimeError("capture does not end with CRLF")
    return [json.loads(line) for line in data[:-2].split(b"\r\n")]


def summary(name, data, messages):
    events = [m["event"] for m in messages if "event" in m]
    kinds = {"greeting": sum("QMP" in m for m in messages),
             "return": sum("return" in m for m in messages),
             "error": sum("error" in m for m in messages),
             "event": len(events)}
    print("%s: %d bytes, %d messages (%s)"
          % (name, len(data), len(messages),
             ", ".join("%d %s" % (n, k) for k, n in kinds.items())))
    print("  events: " + " ".join(events))
    return set(events)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "qmpfast",
                                                      "samples"))
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="main, pretty or poweroff (default: all three)")
    args = ap.parse_args(argv)
    for scenario in args.scenarios:
        if scenario not in SCENARIOS:
            ap.error("unknown scenario %r" % scenario)
    if not find_qemu():
        sys.exit("qemu-system-x86_64 not found (apt-get install "
                 "qemu-system-x86)")
    os.makedirs(args.out_dir, exist_ok=True)
    verbose = not args.quiet
    for scenario in args.scenarios or SCENARIOS:
        print("scenario %s" % scenario)
        if scenario == "poweroff":
            data = poweroff_scenario(verbose)
            suffix = "-guest-poweroff"
        else:
            data = main_scenario("pretty" if scenario == "pretty"
                                 else "compact", verbose)
            suffix = "-pretty" if scenario == "pretty" else ""
        messages = decode_all(data)
        if scenario != "pretty":
            if check_compact(data) != messages:
                raise RuntimeError("line split and stream decode disagree")
        version = messages[0]["QMP"]["version"]["qemu"]
        name = "qemu-%d.%d%s.qmp" % (version["major"], version["minor"],
                                     suffix)
        seen = summary(name, data, messages)
        if scenario != "poweroff" and not MAIN_EVENTS <= seen:
            raise RuntimeError("missing events: %s"
                               % sorted(MAIN_EVENTS - seen))
        path = os.path.join(args.out_dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        print("  wrote " + os.path.relpath(path))


if __name__ == "__main__":
    main()
