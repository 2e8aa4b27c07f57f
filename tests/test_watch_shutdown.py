"""``qmpfast watch`` ends cleanly: Ctrl-C exits 130 without a traceback,
--count exits 0 however the last lines arrive."""

import contextlib
import io
import os
import signal

import pytest

from qmpfast.cli import main

from test_watch_peers import (GOOD, Running, event, monitors,  # noqa: F401
                              sockdir)


def test_sigint_exits_130_quietly(backend, sockdir, monitors):
    paths = [os.path.join(sockdir, f"vm{i}.sock") for i in range(2)]
    for path in paths:
        monitors(path, GOOD, hold=True)
    running = Running(backend, *paths)
    for path in paths:
        running.expect(f"watching {path}")
    running.proc.send_signal(signal.SIGINT)
    status, lines, err = running.finish()
    assert status == 130, err
    assert len(lines) == 6
    assert sorted(err.splitlines()) == [
        f"qmpfast: watching {path} (QEMU 7.2.0)" for path in paths]


@pytest.mark.parametrize("hold", [False, True], ids=["closes", "holds"])
def test_count_ends_with_status_0_after_a_burst(sockdir, monitors, hold):
    """Both monitors send a burst (and close, or not): --count 3 ends the
    watch while a connection is being closed, every time."""
    burst = [event("STOP")] * 200
    paths = [os.path.join(sockdir, f"vm{i}.sock") for i in range(2)]
    for path in paths:
        monitors(path, burst, hold=hold)
    results = []
    for _ in range(30):
        out = io.TextIOWrapper(io.BytesIO())
        err = io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            status = main(["watch", *paths, "--count", "3"])
        results.append((status, out.buffer.getvalue().count(b"\n"),
                        "Traceback" in err.getvalue()))
    assert results == [(0, 3, False)] * 30
