"""The ``qmpfast`` command line, run as a user runs it: in a subprocess.

The backend is chosen the way a user chooses it, through the environment
(QMPFAST_PUREPYTHON=1 for the pure-Python scanner, QMPFAST_REQUIRE_C=1 to
insist on the C one).
"""

import argparse
import json
import os
import re
import subprocess
import sys

import pytest

import qmpfast

from conftest import SAMPLES, sample

REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))
COMPACT = os.path.join(SAMPLES, "qemu-7.2.qmp")
PRETTY = os.path.join(SAMPLES, "qemu-7.2-pretty.qmp")


def backend_env(backend):
    env = dict(os.environ)
    env.pop("QMPFAST_PUREPYTHON", None)
    env.pop("QMPFAST_REQUIRE_C", None)
    if backend == "python":
        env["QMPFAST_PUREPYTHON"] = "1"
    else:
        env["QMPFAST_REQUIRE_C"] = "1"
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(backend, *args, stdin=b"", module=True, cwd=None):
    if module:
        cmd = [sys.executable, "-m", "qmpfast", *args]
    else:
        cmd = [sys.executable, "-c",
               "import sys; from qmpfast.cli import main; sys.exit(main())",
               *args]
    return subprocess.run(cmd, input=stdin, capture_output=True,
                          env=backend_env(backend), cwd=cwd or REPO,
                          timeout=120)


def messages_of(data, **options):
    dec = qmpfast.Decoder(**options)
    return dec.feed(data) + dec.close()


def assert_one_line_error(proc):
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert err.startswith("qmpfast: ")
    return err


# ---- --stats ---------------------------------------------------------------

def test_stats_of_the_bundled_sample(backend):
    proc = run(backend, "parse", "--sample", "--stats")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    counts = dict(re.findall(r"^([A-Za-z_]+) +(\d+)$", out, re.M))
    assert counts == {
        "return": "14", "event": "14", "greeting": "1", "error": "1",
        "RESET": "3", "STOP": "3", "BLOCK_IO_ERROR": "2", "RESUME": "2",
        "SHUTDOWN": "1", "VNC_CONNECTED": "1", "VNC_DISCONNECTED": "1",
        "VNC_INITIALIZED": "1"}
    assert f"messages 30, events 14, bytes 3380, backend {backend}\n" in out
    assert proc.stderr == b""


STARTUP = re.compile(r"^start-up ([\d.]+) ms: import qmpfast ([\d.]+) ms, "
                     r"command line ([\d.]+) ms, first chunk ([\d.]+) ms$",
                     re.M)
THROUGHPUT = re.compile(r"^throughput: ([\d,]+) events/s, ([\d.]+) MB/s "
                        r"\((\d+) bytes after the first chunk in "
                        r"([\d.]+) ms\)$", re.M)


def _startup(out):
    """The start-up phases of a --stats output, in ms; their total first."""
    found = STARTUP.findall(out)
    assert len(found) == 1, out
    total, *phases = map(float, found[0])
    assert abs(total - sum(phases)) < 0.11  # each is rounded to 0.1 ms
    assert total > 0
    return total, phases


def test_stats_of_a_small_input_report_startup_and_no_rate(backend):
    """On the 3 kB sample a rate would measure start-up, not decoding:
    start-up is its own line and throughput points to ``qmpfast bench``."""
    proc = run(backend, "parse", "--sample", "--stats")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    total, (imported, command_line, first_chunk) = _startup(out)
    assert imported > 0 and command_line > 0
    assert "throughput: not measured, the input is too small (3380 bytes, " \
           "under 1 MiB" in out
    assert "`qmpfast bench`" in out
    assert "events/s" not in out and "MB/s" not in out
    assert not THROUGHPUT.search(out)


def _events(count):
    line = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
            b'"event": "STOP"}\r\n')
    return line, line * count


def test_stats_rate_from_one_mib_on(backend, tmp_path):
    line, _ = _events(0)
    just_under = (1 << 20) // len(line)        # events in less than 1 MiB
    for count, measured in ((just_under, False), (just_under + 1, True)):
        data = line * count
        assert (len(data) >= 1 << 20) == measured
        path = tmp_path / "stops.qmp"
        path.write_bytes(data)
        proc = run(backend, "parse", "--stats", str(path))
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.decode()
        _startup(out)
        rate = THROUGHPUT.findall(out)
        if not measured:
            assert not rate and "too small" in out, out
            continue
        assert "too small" not in out and len(rate) == 1, out
        events_s, mb_s, after_first, ms = rate[0]
        # the first chunk is start-up: the rate is over the rest
        assert int(after_first) == len(data) - (1 << 16)
        events_after = int(after_first) // len(line) + 1  # one cut in two
        assert float(mb_s) == pytest.approx(
            int(after_first) / float(ms) / 1e3, rel=0.02, abs=0.1)
        assert int(events_s.replace(",", "")) == pytest.approx(
            events_after / float(ms) * 1e3, rel=0.02)


def test_import_is_timed_by_two_clock_reads():
    assert qmpfast._IMPORT_STARTED <= qmpfast._IMPORT_DONE
    assert "_IMPORT_STARTED" not in qmpfast.__all__


def test_stats_count_what_the_decoder_sees(backend, tmp_path):
    data = sample("qemu-7.2-guest-poweroff.qmp") + sample("qemu-7.2.qmp")
    path = tmp_path / "two.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", "--stats", str(path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    msgs = messages_of(data)
    events = [m for m in msgs if m.kind == "event"]
    assert f"messages {len(msgs)}, events {len(events)}, " \
           f"bytes {len(data)}," in out
    assert re.search(r"^SHUTDOWN +3$", out, re.M)
    assert re.search(r"^return +19$", out, re.M)


def test_stats_with_an_event_filter(backend):
    proc = run(backend, "parse", "--sample", "--stats", "--event", "STOP")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "messages 19, events 3, bytes 3380," in out
    assert re.search(r"^STOP +3$", out, re.M)
    assert "RESET" not in out


# ---- one JSON line per message ---------------------------------------------

def test_parse_compact_file(backend):
    proc = run(backend, "parse", COMPACT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    lines = proc.stdout.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 30
    # compact input: each line is the message's exact bytes
    assert lines == [m.raw for m in messages_of(sample("qemu-7.2.qmp"))]


def test_parse_pretty_file_gives_one_line_per_message(backend):
    proc = run(backend, "parse", PRETTY)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode("utf-8").splitlines()
    msgs = messages_of(sample("qemu-7.2-pretty.qmp"))
    assert len(lines) == len(msgs) == 30
    assert [json.loads(line) for line in lines] == [m.to_dict()
                                                    for m in msgs]
    assert all("\r" not in line for line in lines)


def test_parse_keeps_unicode(backend, tmp_path):
    data = ('{"return": "caf\u00e9 \U0001F600", "id": 1}\r\n'
            '{\r\n    "return": "\\u00e9t\\u00e9",\r\n    "id": 2\r\n}\r\n'
            ).encode()
    path = tmp_path / "u.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"return": "caf\u00e9 \U0001F600", "id": 1},
        {"return": "\u00e9t\u00e9", "id": 2}]


def test_parse_several_files_and_sample(backend):
    proc = run(backend, "parse", "--sample", PRETTY, COMPACT)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 90


def test_event_option(backend):
    proc = run(backend, "parse", "--event", "STOP", "--event", "RESET",
               COMPACT)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 22
    assert [o["event"] for o in objs if "event" in o] == [
        "STOP", "RESET", "RESET", "RESET", "STOP", "STOP"]
    assert sum("return" in o for o in objs) == 14
    assert sum("error" in o for o in objs) == 1
    assert sum("QMP" in o for o in objs) == 1


def test_event_option_with_an_unknown_name(backend):
    data = (b'{"event": "MY_EVENT", "timestamp": {"seconds": 1, '
            b'"microseconds": 2}}\r\n' + sample("qemu-7.2.qmp"))
    proc = run(backend, "parse", "--event", "MY_EVENT", stdin=data)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["event"] for o in objs if "event" in o] == ["MY_EVENT"]
    assert len(objs) == 17


# ---- standard input ---------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("-",)], ids=["no-file", "dash"])
def test_stdin(backend, args):
    data = sample("qemu-7.2-pretty.qmp")
    proc = run(backend, "parse", *args, stdin=data)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        m.to_dict() for m in messages_of(data)]


def test_stdin_stats(backend):
    proc = run(backend, "parse", "--stats", stdin=sample("qemu-7.2.qmp"))
    assert proc.returncode == 0, proc.stderr
    assert "messages 30, events 14, bytes 3380," in proc.stdout.decode()


def test_python_m_is_the_command(backend):
    for args in (("parse", COMPACT), ("parse", "--sample", "--event",
                                      "SHUTDOWN"),
                 ("parse", "/nonexistent/x.qmp"), ("--version",)):
        as_module = run(backend, *args)
        as_main = run(backend, *args, module=False)
        assert as_module.returncode == as_main.returncode
        assert as_module.stdout == as_main.stdout
        assert as_module.stderr == as_main.stderr
    version = run(backend, "--version")
    assert version.returncode == 0
    text = (version.stdout + version.stderr).decode()
    assert qmpfast.__version__ in text and f"backend {backend}" in text


# ---- errors ------------------------------------------------------------------

def test_bad_input_is_one_line_with_file_and_offset(backend, tmp_path):
    data = b'{"a": 1}\r\n{"b": 2}\r\n{"c": x}\r\n{"d": 4}\r\n'
    path = tmp_path / "bad.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", str(path))
    err = assert_one_line_error(proc)
    assert str(path) in err
    assert "byte 20" in err  # where the bad message begins
    assert "byte 26" in err  # the offending byte


def test_bad_input_after_good_messages_prints_them_first(backend, tmp_path):
    data = b'{"a": 1}\r\n{"b": 2}\r\n{"c": x}\r\n{"d": 4}\r\n'
    path = tmp_path / "bad.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", str(path))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [b'{"a": 1}', b'{"b": 2}']


def test_bad_input_far_into_a_large_file(backend, tmp_path):
    good = sample("qemu-7.2.qmp") * 40  # more than one read of the CLI
    data = good + b'{"event": "STOP", "timestamp": {"seconds": 1.5, ' \
                  b'"microseconds": 0}}\r\n'
    path = tmp_path / "big.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", "--stats", str(path))
    err = assert_one_line_error(proc)
    assert str(path) in err
    assert f"byte {len(good)}" in err


def test_cut_stream_on_stdin(backend):
    proc = run(backend, "parse", stdin=b'{"a": 1}\r\n{"b": [1,')
    err = assert_one_line_error(proc)
    assert "<stdin>" in err and "byte 10" in err
    assert proc.stdout == b'{"a": 1}\n'


def test_garbage_on_stdin(backend):
    proc = run(backend, "parse", stdin=b"\xff\xfe\x00garbage")
    err = assert_one_line_error(proc)
    assert "<stdin>" in err and "byte 0" in err


def test_missing_file(backend, tmp_path):
    path = tmp_path / "missing.qmp"
    proc = run(backend, "parse", str(path))
    err = assert_one_line_error(proc)
    assert str(path) in err
    assert proc.stdout == b""


def test_directory_instead_of_a_file(backend, tmp_path):
    proc = run(backend, "parse", str(tmp_path))
    err = assert_one_line_error(proc)
    assert str(tmp_path) in err


def test_skip_errors(backend, tmp_path):
    data = b'{"a": 1}\r\n{"b": x}\r\n{"error": {}}\r\n{"d": 4}\r\n'
    path = tmp_path / "bad.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", "--skip-errors", str(path))
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [b'{"a": 1}', b'{"d": 4}']
    err = proc.stderr.decode().splitlines()
    assert len(err) == 2
    assert all(str(path) in line for line in err)
    assert "byte 10" in err[0] and "byte 20" in err[1]
    assert "Traceback" not in proc.stderr.decode()


def _capture_with_a_terminal_stderr(backend, path):
    """Run ``qmpfast parse --stats PATH`` with stderr on a pseudo-terminal;
    return (exit status, what the terminal got)."""
    import pty
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qmpfast", "parse", "--stats", str(path)],
            stdout=subprocess.DEVNULL, stderr=slave, env=backend_env(backend),
            cwd=REPO)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        return proc.wait(timeout=120), seen
    finally:
        os.close(master)


def test_progress_bar_on_a_terminal_only(backend, tmp_path):
    line = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
            b'"event": "STOP"}\r\n')
    path = tmp_path / "big.qmp"
    path.write_bytes(line * ((12 << 20) // len(line)))
    status, seen = _capture_with_a_terminal_stderr(backend, path)
    assert status == 0
    assert b"big.qmp [" in seen and b"%" in seen
    proc = run(backend, "parse", "--stats", str(path))  # stderr is a pipe
    assert proc.returncode == 0 and proc.stderr == b""


def test_bench_prints_the_comparison_table(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "qmpfast", "bench", "--size-mb", "0.05",
         "--repeat", "1", "--jobs", "route", "filter", "--peers",
         "stdlib-json", "qmpfast", "--json", str(out)],
        capture_output=True, cwd=REPO, timeout=300,
        env=backend_env(qmpfast.BACKEND))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "## route" in text and "## filter" in text
    rows = [line.split() for line in text.splitlines()
            if line.startswith(("qmpfast-", "stdlib-json"))
            and line.split()[1].isdigit()]  # table rows: name, ns/event...
    names = {row[0] for row in rows}
    assert {"stdlib-json", f"qmpfast-{qmpfast.BACKEND}"} <= names
    assert names <= {"stdlib-json", "qmpfast-c", "qmpfast-python"}
    assert all(row[-1] == "ok" for row in rows)  # same checksum as json
    results = json.loads(out.read_text())
    assert {"machine", "results"} <= set(results) and results["results"]


def test_parse_pretty_message_nested_1000_deep(backend, tmp_path):
    """Within the decoder's depth limit, yet deeper than ``json.dumps``
    goes: still one line, no traceback."""
    depth = 1000
    data = ("{\n" + '    "return": {\n' * depth + '"k": "a b"\n' +
            "}\n" * depth + ',\n    "id": 1\n}\n').encode()
    path = tmp_path / "deep.qmp"
    path.write_bytes(data)
    proc = run(backend, "parse", str(path))
    assert proc.returncode == 0, proc.stderr[-300:]
    assert proc.stdout == (b'{"return": ' + b'{"return": ' * (depth - 1) +
                           b'{"k": "a b"' + b"}" * depth + b', "id": 1}\n')


def test_each_subcommand_module_gives_the_listed_help_line():
    """The full parser (``qmpfast --help``) and the one that imports only
    the command run list the same subcommands with the same help."""
    from qmpfast.cli import SUBCOMMANDS, build_parser

    def helps(parser):
        action = next(a for a in parser._actions
                      if isinstance(a, argparse._SubParsersAction))
        return {c.dest: c.help for c in action._choices_actions}

    assert helps(build_parser()) == SUBCOMMANDS
    for name in SUBCOMMANDS:
        assert helps(build_parser(name)) == SUBCOMMANDS


def test_a_command_imports_only_its_own_module():
    """``qmpfast parse`` pays for neither asyncio nor prompt_toolkit nor
    the benchmark harness (they belong to other commands)."""
    code = ("import sys; from qmpfast.cli import main; "
            "main(['parse', '--sample', '--stats']); "
            "print(sorted(m for m in ('asyncio', 'prompt_toolkit', "
            "'qmpfast.cli.watch', 'qmpfast.cli.benchmark', "
            "'qmpfast.cli.shell', 'qmpfast.cli.parse') "
            "if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "['qmpfast.cli.parse']"
