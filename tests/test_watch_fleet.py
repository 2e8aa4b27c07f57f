"""``qmpfast watch 'DIR/*.sock'`` follows a fleet: a stale socket is noted
and skipped, sockets that appear later are followed."""

import os
import socket

import pytest

from test_watch_peers import (GOOD, Running, event, monitors,  # noqa: F401
                              run_watch, sockdir)


def stale_socket(path):
    """A socket file nobody listens on (a VM that died)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.close()


def test_a_stale_socket_is_skipped(backend, sockdir, monitors):
    good = os.path.join(sockdir, "a.sock")
    stale = os.path.join(sockdir, "b.sock")
    monitors(good, GOOD)  # three events, then it closes
    stale_socket(stale)
    status, lines, err = run_watch(backend, os.path.join(sockdir, "*.sock"))
    assert status == 0, err
    assert len(lines) == 3
    assert sorted(err.splitlines()) == sorted([
        f"qmpfast: {stale}: cannot connect: Connection refused; skipped",
        f"qmpfast: watching {good} (QEMU 7.2.0)",
        f"qmpfast: {good}: connection closed by peer"])


def test_only_stale_sockets_is_an_error(backend, sockdir):
    stale = os.path.join(sockdir, "b.sock")
    stale_socket(stale)
    pattern = os.path.join(sockdir, "*.sock")
    status, lines, err = run_watch(backend, pattern)
    assert status == 1 and lines == []
    assert err.splitlines() == [
        f"qmpfast: {stale}: cannot connect: Connection refused; skipped",
        f"qmpfast: {pattern}: no QMP monitor answered"]


@pytest.mark.parametrize("with_stale", [False, True],
                         ids=["fresh", "with-stale"])
def test_new_sockets_are_followed(backend, sockdir, monitors, with_stale):
    pattern = os.path.join(sockdir, "*.sock")
    first = os.path.join(sockdir, "a.sock")
    stale = os.path.join(sockdir, "s.sock")
    later = os.path.join(sockdir, "b.sock")
    monitors(first, [event("STOP")], hold=True)
    notes = [f"qmpfast: watching {first} (QEMU 7.2.0)",
             f"qmpfast: watching {later} (QEMU 7.2.0)"]
    if with_stale:
        stale_socket(stale)
        notes.append(f"qmpfast: {stale}: cannot connect: Connection "
                     "refused; retrying")  # once, however often tried
    running = Running(backend, pattern, "--reconnect", "--count", "4",
                      "--timeout", "30")
    running.expect(f"watching {first}")
    if with_stale:
        running.expect(f"{stale}: cannot connect")
    monitors(later, GOOD, hold=True)
    status, lines, err = running.finish()
    assert status == 0, err
    assert len(lines) == 4
    assert sorted(err.splitlines()) == sorted(notes)


def test_a_pattern_waits_for_its_first_socket(backend, sockdir, monitors):
    pattern = os.path.join(sockdir, "*.sock")
    path = os.path.join(sockdir, "a.sock")
    running = Running(backend, pattern, "--reconnect", "--count", "3",
                      "--timeout", "60")
    running.expect("no socket matches yet; waiting for one")
    monitors(path, GOOD, hold=True)
    status, lines, err = running.finish()
    assert status == 0, err
    assert len(lines) == 3
    assert err.splitlines() == [
        f"qmpfast: {pattern}: no socket matches yet; waiting for one",
        f"qmpfast: watching {path} (QEMU 7.2.0)"]
