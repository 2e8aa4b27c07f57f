"""``qmpfast watch --reconnect`` never gives up on a monitor, and says
what it is waiting for; without it, a wrong address fails at once."""

import os

from qmpfast.cli import main
from qmpfast.cli import watch

from test_watch_peers import (GOOD, Running, monitors,  # noqa: F401
                              run_watch, sockdir)


def test_an_error_answer_to_qmp_capabilities_is_retried(
        backend, sockdir, monitors):
    path = os.path.join(sockdir, "vm.sock")
    monitor = monitors(path, capabilities="error")
    status, lines, err = run_watch(backend, path, "--reconnect",
                                   "--timeout", "2")
    assert status == 0, err
    assert lines == []
    assert monitor.connections >= 2  # tried again
    # noted once, however many times it was tried
    assert err == (f"qmpfast: {path}: qmp_capabilities: CommandNotFound: "
                   "The command qmp_capabilities has not been found; "
                   "retrying\n")


def test_no_answer_to_qmp_capabilities_is_retried(
        sockdir, monitors, monkeypatch, capfd):
    path = os.path.join(sockdir, "vm.sock")
    monitor = monitors(path, capabilities="silent")
    monkeypatch.setattr(watch, "REPLY_TIMEOUT", 0.2, raising=False)
    status = main(["watch", path, "--reconnect", "--timeout", "3"])
    out, err = capfd.readouterr()
    assert status == 0, err
    assert out == ""
    assert monitor.connections >= 2
    assert err == (f"qmpfast: {path}: no reply to qmp_capabilities (id 1); "
                   "retrying\n")


def test_a_monitor_closing_at_once_is_not_a_flood(backend, sockdir,
                                                  monitors):
    """A peer that negotiates and hangs up, again and again: noted once,
    retried with a growing delay."""
    path = os.path.join(sockdir, "vm.sock")
    monitor = monitors(path)  # no events, closes after negotiating
    status, lines, err = run_watch(backend, path, "--reconnect",
                                   "--timeout", "2")
    assert status == 0, err
    assert 2 <= monitor.connections <= 10, monitor.connections
    assert err.splitlines() == [
        f"qmpfast: watching {path} (QEMU 7.2.0)",
        f"qmpfast: {path}: connection closed by peer; reconnecting"]


def test_reconnect_says_it_waits_for_a_missing_socket(backend, sockdir):
    path = os.path.join(sockdir, "later.sock")
    status, lines, err = run_watch(backend, path, "--reconnect",
                                   "--timeout", "1")
    assert status == 0 and lines == [], err
    assert err == f"qmpfast: {path}: no such socket yet; waiting for it\n"


def test_reconnect_follows_a_socket_that_appears(backend, sockdir, monitors):
    path = os.path.join(sockdir, "later.sock")
    running = Running(backend, path, "--reconnect", "--count", "3",
                      "--timeout", "60")
    running.expect("waiting for it")
    monitors(path, GOOD, hold=True)
    status, lines, err = running.finish()
    assert status == 0, err
    assert len(lines) == 3
    assert err.splitlines() == [
        f"qmpfast: {path}: no such socket yet; waiting for it",
        f"qmpfast: watching {path} (QEMU 7.2.0)"]


def test_a_mistyped_path_is_one_line_and_nothing_is_watched(
        backend, sockdir, monitors):
    good = os.path.join(sockdir, "vm.sock")
    typo = os.path.join(sockdir, "vn.sock")
    monitors(good, GOOD, hold=True)
    status, lines, err = run_watch(backend, good, typo)
    assert status == 1
    assert lines == []
    assert err == f"qmpfast: {typo}: cannot connect: No such file or " \
                  "directory\n"
