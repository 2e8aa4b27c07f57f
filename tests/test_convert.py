"""``qmpfast convert``: logs (files and standard input) to one Parquet file
holding what the Arrow batches hold; --event; a bad message is one line
naming the file and byte offset and leaves no output; --on-error skip
counts; the progress bar draws and clears."""

import io
import os
import sys

import pyarrow.parquet as pq
import pytest

import qmpfast
from qmpfast.cli import main
from qmpfast.cli.convert import Progress

from conftest import SAMPLES

SAMPLE = os.path.join(SAMPLES, "qemu-7.2.qmp")
BAD = (b'{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}\n'
       b'{"return": [1,,2]}\n'
       b'{"event": "RESUME", "timestamp": {"seconds": 3, "microseconds": 4}}'
       b'\n')


class _Stdin:
    def __init__(self, data):
        self.buffer = io.BytesIO(data)


def _messages(data):
    dec = qmpfast.Decoder(on_error="skip")
    return dec.feed(data) + dec.close()


def test_files_and_stdin(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.parquet"
    data = open(SAMPLE, "rb").read()
    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    assert main(["convert", SAMPLE, "-", "-o", str(out)]) == 0
    table = pq.read_table(out)
    n = len(_messages(data))
    assert table.num_rows == 2 * n
    assert table.column("source").to_pylist() == [SAMPLE] * n + [
        "<stdin>"] * n
    assert table.column("raw").to_pylist()[:n] == [
        m.raw for m in _messages(data)]
    assert "device" in table.column_names
    assert f"wrote {2 * n} rows" in capsys.readouterr().err


def test_event_filter(tmp_path):
    out = tmp_path / "out.parquet"
    assert main(["convert", SAMPLE, "--event", "STOP", "--event", "RESET",
                 "-o", str(out)]) == 0
    names = pq.read_table(out).column("name").to_pylist()
    assert {n for n in names if n} == {"STOP", "RESET"}
    assert None in names  # replies are kept


def test_bad_input_is_one_line_and_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.qmp"
    bad.write_bytes(BAD)
    out = tmp_path / "out.parquet"
    assert main(["convert", SAMPLE, str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"qmpfast: {bad}: invalid JSON at byte 80")
    assert "in the message at byte 66" in err
    assert os.listdir(tmp_path) == ["bad.qmp"]


def test_skip_counts(tmp_path, capsys):
    bad = tmp_path / "bad.qmp"
    bad.write_bytes(BAD + BAD)
    out = tmp_path / "out.parquet"
    assert main(["convert", str(bad), "--on-error", "skip",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 bad messages" in err and "byte 66" in err
    assert pq.read_table(out).column("name").to_pylist() == [
        "STOP", "RESUME"] * 2


def test_missing_input(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "nope"), "-o",
                 str(tmp_path / "o.parquet")]) == 1
    assert "nope: No such file" in capsys.readouterr().err


def test_plain_progress_bar(tmp_path, monkeypatch, capsys):
    import importlib

    def no_bars(name, real=importlib.import_module):
        if name.startswith(("tqdm", "rich")):
            raise ImportError(name)
        return real(name)
    monkeypatch.setattr(importlib, "import_module", no_bars)
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    with open(path, "rb") as f:
        bar = Progress("f", f, enabled=True)
        assert bar.kind == "plain"
        bar.update(500)
        bar.close()
    err = capsys.readouterr().err
    assert "[###############               ]  50.0%" in err
    with open(path, "rb") as f:
        assert Progress("f", f).kind == "off"  # small, not a terminal
