"""``qmpfast shell`` in a real terminal: tmux runs it against a real QEMU,
keys are typed with ``send-keys`` and the screen is read with
``capture-pane``.  Completion of command and argument names, replies and
errors, an event printed while a line is half typed (sent from QEMU's
second monitor), history across sessions, Ctrl-C, Ctrl-D and ``.exit``,
and a monitor that goes away.  The line handling and completion are also
checked on their own, without a terminal.

Every wait polls the screen until what is expected shows up, with a
generous limit, so a slow machine only makes the tests slower.
"""

import itertools
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from qemu_harness import QemuProcess, QmpRaw
from test_cli import REPO, run

from qmpfast.cli.shell import reply_text
from qmpfast.cli.shell_input import (QMPCompleter, parse_line,
                                     schema_arguments, split_words)

WAIT = 30.0  # seconds: a limit for a stuck shell, not a speed check
PROMPT = "(qmp) "


@pytest.fixture(scope="module")
def vm(qemu):
    # the second monitor lets a test act on the VM while the shell holds
    # the first one
    with QemuProcess(qemu=qemu, monitors=("compact", "compact")) as vm:
        yield vm


@pytest.fixture(scope="module")
def tmux():
    path = shutil.which("tmux")
    if path is None:
        # CI sets this (it installs tmux with QEMU): there the terminal
        # tests must run
        if os.environ.get("QMPFAST_REQUIRE_QEMU", "") not in ("", "0"):
            pytest.fail("QMPFAST_REQUIRE_QEMU is set but tmux is missing")
        pytest.skip("no tmux installed (apt-get install tmux)")
    return path


_SERVERS = itertools.count()


class Terminal:
    """One tmux server of its own (its own socket), one window 200x50
    running a command; the command's exit status is printed when it
    ends, and the window stays."""

    def __init__(self, tmux, home, argv):
        self.tmux = tmux
        # a name never used before: a server killed by close() may still
        # be exiting, and a new session on its socket would fail
        self.server = f"qmpfast-shell-{os.getpid()}-{next(_SERVERS)}"
        env = dict(os.environ)
        env.pop("TMUX", None)
        env["HOME"] = str(home)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        self.env = env
        script = " ".join(_quote(a) for a in argv) + \
            '; echo "[exit $?]"; exec sleep 3600'
        self._tmux("new-session", "-d", "-x", "200", "-y", "50",
                   "sh", "-c", script)

    def _tmux(self, *args):
        done = subprocess.run(
            [self.tmux, "-L", self.server, "-f", "/dev/null", *args],
            env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, \
            f"tmux {args[0]} failed ({done.returncode}): {done.stderr}"
        return done.stdout

    def keys(self, *keys):
        """Keys as tmux names them (``Tab``, ``C-c``, ``Up``) or text."""
        self._tmux("send-keys", *keys)

    def type(self, text):
        """``text`` typed literally (no key names)."""
        self._tmux("send-keys", "-l", text)

    def screen(self):
        return [line.rstrip() for line in
                self._tmux("capture-pane", "-p").split("\n")]

    def wait(self, predicate, what):
        """The screen's lines once ``predicate(lines)`` holds."""
        deadline = time.monotonic() + WAIT
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {WAIT} s; the "
                                     "screen:\n" + "\n".join(lines))
            time.sleep(0.05)

    def wait_line(self, text):
        """The lines, once one of them is ``text``."""
        return self.wait(lambda lines: text in lines, repr(text))

    def last(self):
        """The last line that is not empty: where the cursor is."""
        return _last(self.screen())

    def wait_last(self, text):
        """Wait until the last non-empty line is ``text``."""
        return self.wait(lambda lines: _last(lines) == text,
                         f"last line {text!r}")

    def close(self):
        subprocess.run([self.tmux, "-L", self.server, "kill-server"],
                       env=self.env, capture_output=True, timeout=60)


def _last(lines):
    written = [line for line in lines if line]
    return written[-1] if written else None


def _quote(word):
    return "'" + word.replace("'", "'\"'\"'") + "'"


@pytest.fixture
def terminal(tmux, tmp_path):
    """terminal(*args) starts ``qmpfast ARGS`` in a fresh terminal."""
    opened = []

    def start(*args):
        term = Terminal(tmux, tmp_path, [sys.executable, "-m", "qmpfast",
                                         *args])
        opened.append(term)
        return term
    yield start
    for term in opened:
        term.close()


def shell(terminal, vm, tmp_path, *extra):
    """A shell on the VM's first monitor, ready for a line."""
    term = terminal("shell", vm.qmp_paths[0], "--history",
                    str(tmp_path / "history"), *extra)
    term.wait_last(PROMPT.rstrip())
    return term


def reply_after(lines, typed):
    """The line after the last line showing ``typed`` at the prompt."""
    index = len(lines) - 1 - lines[::-1].index(PROMPT + typed)
    return lines[index + 1]


def _after(lines, typed):
    """``reply_after``, or "" while ``typed`` is not on the screen."""
    try:
        return reply_after(lines, typed)
    except (ValueError, IndexError):
        return ""


def _stops(lines):
    """Indexes of the lines printing a STOP event."""
    return [i for i, x in enumerate(lines) if x.endswith("  STOP")]


# ---- in a terminal ---------------------------------------------------------

def test_banner_names_qemu_and_commands(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    banner = term.screen()[0]
    assert banner.startswith(f"QEMU 7.") and vm.qmp_paths[0] in banner
    assert " commands; Tab completes, .exit or Ctrl-D leaves" in banner


def test_tab_completes_command_name_then_reply(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("query-stat")
    term.keys("Tab")  # three commands start so: a menu of them
    term.wait(lambda lines: any(x.strip() == "query-status" for x in lines)
              and any(x.strip() == "query-stats-schemas" for x in lines),
              "completion menu")
    term.type("u")
    term.keys("Tab")
    term.wait_last(PROMPT + "query-status")
    term.keys("Enter")
    # (a reply may be printed just after the next prompt is drawn: wait
    # for the reply itself)
    lines = term.wait(lambda lines: _after(lines, "query-status")
                      .startswith("{"), "the reply")
    reply = json.loads(reply_after(lines, "query-status"))
    assert reply["status"] in ("running", "paused")


def test_tab_completes_argument_names(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("qom-get pa")
    term.keys("Tab")
    term.wait_last(PROMPT + "qom-get path=")
    term.type("/machine pro")
    term.keys("Tab")
    term.wait_last(PROMPT + "qom-get path=/machine property=")
    term.type("type")
    term.keys("Enter")
    lines = term.wait_line('"pc-i440fx-7.2-machine"')
    assert reply_after(lines, "qom-get path=/machine property=type") == \
        '"pc-i440fx-7.2-machine"'


def test_json_arguments_quoted_values_and_errors(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type('qom-get {"path": "/machine", "property": "type"}')
    term.keys("Enter")
    term.wait_line('"pc-i440fx-7.2-machine"')
    term.type('human-monitor-command command-line="info version"')
    term.keys("Enter")
    lines = term.wait(lambda lines: any(x.startswith('"7.') for x in lines),
                      "version reply")
    assert reply_after(lines, 'human-monitor-command command-line="info '
                       'version"').endswith('\\r\\n"')
    term.type("device_del id=nope")
    term.keys("Enter")
    term.wait_line("DeviceNotFound: Device 'nope' not found")
    term.type("no-such-command")
    term.keys("Enter")
    term.wait_line("CommandNotFound: The command no-such-command has not "
                   "been found")
    term.type("qom-get path=[1")
    term.keys("Enter")
    term.wait_line("error: ']' missing at the end of the line")
    term.wait_last(PROMPT.rstrip())


def test_event_printed_above_a_half_typed_line(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("human-monitor-command comm")
    term.keys("Tab")
    term.wait_last(PROMPT + "human-monitor-command command-line=")
    with QmpRaw(vm.qmp_paths[1]) as other:
        other.negotiate()
        other.command("stop")
        try:
            # the event line comes above the prompt, and the line being
            # typed is still there, as typed, under it
            typed = PROMPT + "human-monitor-command command-line="
            lines = term.wait(
                lambda lines: _stops(lines) and _last(lines) == typed,
                "STOP event above the typed line")
            stop = _stops(lines)
            assert len(stop) == 1
            assert lines.index(typed) > stop[0]
            # and it goes on from where it was
            term.type('"info status"')
            term.keys("Enter")
            term.wait_line('"VM status: paused\\r\\n"')
        finally:
            other.command("cont")
    term.wait(lambda lines: any(x.endswith("  RESUME") for x in lines),
              "RESUME event")


def test_event_of_a_command_from_the_shell(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("stop")
    term.keys("Enter")
    lines = term.wait(lambda lines: "{}" in lines and
                      any(x.endswith("  STOP") for x in lines), "stop")
    term.type("cont")
    term.keys("Enter")
    term.wait(lambda lines: any(x.endswith("  RESUME") for x in lines),
              "RESUME")
    line = next(x for x in lines if x.endswith("  STOP"))
    day, clock, name = line.split()
    assert (len(day), len(clock), name) == (10, 15, "STOP")


def test_history_recalled_with_up_in_the_next_session(terminal, vm,
                                                       tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("query-name")
    term.keys("Enter")
    term.wait_line("{}")
    term.type(".exit")
    term.keys("Enter")
    term.wait_line("[exit 0]")
    term = shell(terminal, vm, tmp_path)
    term.keys("Up")
    term.wait_last(PROMPT + ".exit")
    term.keys("Up")
    term.wait_last(PROMPT + "query-name")
    term.keys("Enter")
    term.wait_line("{}")
    with open(tmp_path / "history", encoding="utf-8") as f:
        assert "+query-name\n" in f.read()


def test_ctrl_c_drops_the_line_and_ctrl_d_exits_0(terminal, vm, tmp_path):
    term = shell(terminal, vm, tmp_path)
    term.type("query-")
    term.keys("C-c")
    # a fresh, empty prompt under the dropped line
    lines = term.wait(lambda lines: _last(lines) == PROMPT.rstrip() and
                      PROMPT + "query-" in lines, "a fresh prompt")
    assert lines.index(PROMPT + "query-") == lines.index(PROMPT.rstrip()) - 1
    term.type("query-name")
    term.keys("Enter")
    term.wait_line("{}")
    term.keys("C-d")
    term.wait_line("[exit 0]")


def test_quit_is_qmps_and_the_shell_ends_with_the_vm(terminal, qemu,
                                                     tmp_path):
    with QemuProcess(qemu=qemu) as own:
        term = shell(terminal, own, tmp_path)
        term.type("quit")
        term.keys("Enter")
        lines = term.wait_line("[exit 1]")
        assert own.wait(WAIT) == 0
    ended = lines[lines.index("[exit 1]") - 1]
    assert ended.startswith("qmpfast shell: ") and "closed" in ended


def test_no_monitor_exits_2(terminal, tmp_path):
    missing = str(tmp_path / "none.sock")
    term = terminal("shell", missing, "--timeout", "0.2")
    lines = term.wait_line("[exit 2]")
    assert f"qmpfast shell: {missing}: cannot connect: No such file or " \
        "directory" in lines


def test_not_a_terminal_is_an_error(backend, vm):
    proc = run(backend, "shell", vm.qmp_paths[0], stdin=b"query-status\n")
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode() == (
        "qmpfast: shell needs a terminal; for scripts use 'qmpfast exec "
        "SOCKET COMMAND [ARGS]'\n")


# ---- without a terminal ----------------------------------------------------

def test_split_words_keeps_json_values_whole():
    assert split_words('a=1 b="x y" c=[1, {"d": "]"}]  e=f') == [
        "a=1", 'b="x y"', 'c=[1, {"d": "]"}]', "e=f"]
    assert split_words(r'a="q\" x"') == [r'a="q\" x"']
    with pytest.raises(ValueError, match="string is not closed"):
        split_words('a="x')
    with pytest.raises(ValueError, match="'}' missing"):
        split_words("a=[{")


def test_parse_line():
    assert parse_line("   ") is None
    assert parse_line("query-status") == ("query-status", None)
    assert parse_line('  qom-get path=/machine property="type" ') == (
        "qom-get", {"path": "/machine", "property": "type"})
    assert parse_line('send-key keys=[{"type": "qcode", "data": "a"}]') == (
        "send-key", {"keys": [{"type": "qcode", "data": "a"}]})
    assert parse_line('qom-get {"path": "/m", "property": "t"}') == (
        "qom-get", {"path": "/m", "property": "t"})
    assert parse_line("stop force=true n=1 s=ide0") == (
        "stop", {"force": True, "n": 1, "s": "ide0"})
    with pytest.raises(ValueError, match="'nokey' is not key=value"):
        parse_line("stop nokey")
    with pytest.raises(ValueError, match="given twice"):
        parse_line("stop a=1 a=2")


SCHEMA = [
    {"name": "qom-get", "meta-type": "command", "arg-type": "1",
     "ret-type": "any"},
    {"name": "stop", "meta-type": "command", "arg-type": "0",
     "ret-type": "0"},
    {"name": "1", "meta-type": "object",
     "members": [{"name": "path", "type": "str"},
                 {"name": "property", "type": "str"}]},
    {"name": "0", "meta-type": "object", "members": []},
    {"name": "STOP", "meta-type": "event", "arg-type": "0"},
    {"name": "str", "meta-type": "builtin", "json-type": "string"},
    "not an entry", {"meta-type": "command"},
]


def test_schema_arguments():
    assert schema_arguments(SCHEMA) == {"qom-get": ["path", "property"],
                                        "stop": []}


def _complete(text):
    completer = QMPCompleter(schema_arguments(SCHEMA))
    return [(c.text, c.start_position) for c in completer.get_completions(
        Document(text), CompleteEvent(completion_requested=True))]


def test_completion():
    assert _complete("") == [(".exit", 0), ("qom-get", 0), ("stop", 0)]
    assert _complete("qo") == [("qom-get", -2)]
    assert _complete("qom-get ") == [("path=", 0), ("property=", 0)]
    assert _complete("qom-get pr") == [("property=", -2)]
    # arguments given are not offered again, values are not completed
    assert _complete("qom-get path=/m ") == [("property=", 0)]
    assert _complete("qom-get path=/m") == []
    assert _complete('qom-get path="a b') == []
    assert _complete("qom-get {") == []
    assert _complete("nope ") == []


def test_reply_text_escapes_what_a_terminal_acts_on():
    assert reply_text({"a": "\x1b[2J\u202e\x9b", "b": [1]}) == \
        '{"a": "\\u001b[2J\\u202e\\u009b", "b": [1]}'
    assert reply_text("é") == '"é"'
