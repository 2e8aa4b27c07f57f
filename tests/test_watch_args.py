"""`qmpfast watch` refuses a --timeout that would end it at once or never."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_watch_refuses_bad_timeout(tmp_path, value):
    proc = subprocess.run(
        [sys.executable, "-m", "qmpfast", "watch", str(tmp_path / "vm.qmp"),
         f"--timeout={value}"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "not a positive number of seconds" in proc.stderr


def test_watch_warns_about_unknown_event_names(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "qmpfast", "watch", str(tmp_path / "vm.qmp"),
         "--event", "stop", "--event", "SHUTDOWN"],
        capture_output=True, text=True, timeout=60)
    assert "--event stop: not an event of QEMU's catalogue" in proc.stderr
    assert "did you mean STOP?" in proc.stderr
    assert "--event SHUTDOWN" not in proc.stderr
