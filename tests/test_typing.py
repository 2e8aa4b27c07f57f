"""The package is typed for real: ``mypy --strict`` passes on it, the stub of
the typed events matches the classes qmpfast builds, and a user's script
gets its misspelt event members reported.

The modules not annotated yet are listed in PENDING: each must still have
errors (an entry no longer needed fails, so the list only shrinks) and no
other module may have any.  Until client and aio leave it, the README
script may show errors only on the lines that call them.
"""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from mypy import api as mypy_api

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)

# Modules (or folders, ending in "/") still being annotated.
PENDING: set[str] = set()

# The modules annotated so far, checked on their own.
ANNOTATED = [
    "qmpfast/__init__.py", "qmpfast/errors.py", "qmpfast/decoder.py",
    "qmpfast/state.py", "qmpfast/model", "qmpfast/scan/__init__.py",
    "qmpfast/scan/cffi_backend.py", "qmpfast/scan/paths.py",
    "qmpfast/scan/values.py", "qmpfast/scan/records.py",
]

ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+): error: (?P<text>.*?)"
                   r"(?:  \[(?P<code>[a-z-]+)\])?$", re.M)


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    """Run mypy --strict from the working tree root; (exit status, report).
    One cache for the module's runs keeps them to a few seconds each."""
    cache = str(tmp_path_factory.mktemp("mypy_cache"))

    def run(*args):
        here = os.getcwd()
        os.chdir(REPO)
        recursion_limit = sys.getrecursionlimit()  # mypy raises it for good
        try:
            out, err, status = mypy_api.run(
                ["--strict", "--cache-dir", cache, "--no-color-output",
                 "--no-error-summary", "--show-absolute-path", *args])
        finally:
            sys.setrecursionlimit(recursion_limit)
            os.chdir(here)
        return status, out + err
    return run


def _errors(report):
    """[(path relative to the tree, line, text, code)] of a report."""
    found = []
    for m in ERROR.finditer(report):
        path = m["file"]
        if os.path.isabs(path) and path.startswith(REPO + os.sep):
            path = os.path.relpath(path, REPO)
        found.append((path.replace(os.sep, "/"), int(m["line"]), m["text"],
                      m["code"]))
    return found


def _pending(path):
    return any(path == p or (p.endswith("/") and path.startswith(p))
               for p in PENDING)


def test_annotated_modules_are_strict_clean(mypy):
    status, report = mypy("--follow-imports=silent", *ANNOTATED)
    assert status == 0, report


def test_catalogue_source_is_strict_clean(mypy):
    """catalogue.py itself: a check of the folder reads its stub."""
    status, report = mypy("--follow-imports=silent",
                          "qmpfast/model/catalogue.py")
    assert status == 0, report


def test_package_is_strict_clean_but_for_pending_modules(mypy):
    status, report = mypy("-p", "qmpfast")
    errors = _errors(report)
    assert status in (0, 1), report  # 2: mypy could not run
    wrong = [f"{path}:{line}: {text}" for path, line, text, _code in errors
             if not _pending(path)]
    assert not wrong, "\n".join(wrong)
    with_errors = {path for path, *_ in errors}
    done = sorted(p for p in PENDING
                  if not any(path == p or (p.endswith("/") and
                                           path.startswith(p))
                             for path in with_errors))
    assert not done, (f"{done} pass mypy --strict now: remove them from "
                      "PENDING in tests/test_typing.py")


def test_stub_matches_the_built_classes():
    """stubtest imports qmpfast.model.catalogue and compares every class,
    attribute and signature the stub declares with the runtime ones."""
    pytest.importorskip("symtable", reason="mypy.stubtest needs the symtable "
                        "module, which PyPy lacks (the CPython pass runs it)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "qmpfast.model.catalogue"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


README_SCRIPT = '''\
"""Talk to QEMU and decode its messages as README.md shows."""
import asyncio

import qmpfast
import qmpfast.aio  # loaded on first use anyway; imported for the checker


def watch(path: str) -> None:
    with qmpfast.connect(path) as vm:  # client
        print(vm.greeting.version)
        status = vm.execute("query-status")
        print(status)
        for ev in vm.events(timeout=10):
            if isinstance(ev, qmpfast.BlockIoError):
                device: str = ev.device
                print(device, ev.node_name, ev.operation, ev.timestamp)


def decode(chunks: list[bytes]) -> list[str]:
    decoder = qmpfast.Decoder(events={"STOP", "BLOCK_IO_ERROR"})
    names = []
    for chunk in chunks:
        for msg in decoder.feed(chunk):
            if isinstance(msg, qmpfast.Event):
                seconds: int = msg.seconds
                data: dict[str, object] = msg.data
                print(msg.name, seconds, msg.microseconds, data)
                names.append(msg.name)
    decoder.close()
    one = qmpfast.parse(b'{"return": {}}')
    if isinstance(one, qmpfast.Return):
        print(one.value, one.raw.decode())
    elif isinstance(one, qmpfast.ErrorResponse):
        print(one.error_class + ": " + one.desc)
    return names


async def watch_async(path: str) -> None:
    async with await qmpfast.aio.connect(path) as vm:  # aio
        status = await vm.execute("query-status")
        print(status)
        async for ev in vm.events():
            print(ev)


if __name__ == "__main__":
    asyncio.run(watch_async("/run/vm1.qmp"))
    print(qmpfast.__all__, qmpfast.BACKEND, decode([]))
'''


def _script(tmp_path, text):
    path = tmp_path / "user_script.py"
    path.write_text(text)
    return str(path)


def _script_errors(report, path):
    return [(line, text, code) for p, line, text, code in _errors(report)
            if os.path.samefile(p if os.path.isabs(p) else
                                os.path.join(REPO, p), path)]


def test_readme_script_passes_strict(mypy, tmp_path):
    """Errors inside qmpfast are the other tests' business: a user's
    checker reads an installed package silently."""
    path = _script(tmp_path, README_SCRIPT)
    status, report = mypy("--follow-imports=silent", path)
    lines = README_SCRIPT.splitlines()
    wrong = []
    for line, text, _code in _script_errors(report, path):
        tag = lines[line - 1].rsplit("# ", 1)[-1]
        if not (tag in ("client", "aio") and _pending(f"qmpfast/{tag}.py")):
            wrong.append(f"line {line}: {text}")
    assert not wrong, report
    assert status in (0, 1), report


MISTAKES = '''\
import qmpfast


def show(ev: qmpfast.Event) -> None:
    if isinstance(ev, qmpfast.BlockIoError):
        print(ev.devcie)  # attr-defined: devcie
        count: int = ev.device  # assignment: str
        ev.device = "x"  # misc: read-only
        print(ev.node_name.upper())  # union-attr: None
    if isinstance(ev, qmpfast.VncConnected):
        print(ev.client.hots)  # attr-defined: hots
    stamp: str = ev.seconds  # assignment: int
    name: int = ev.name  # assignment: str
    print(qmpfast.Decoder().feed("text"))  # arg-type: str
'''


def test_misspelt_members_and_wrong_types_are_errors(mypy, tmp_path):
    """Each line marked ``# code: word`` is reported with that error code
    and a message naming the word; no other line is."""
    path = _script(tmp_path, MISTAKES)
    status, report = mypy("--follow-imports=silent", path)
    expected = {}
    for number, text in enumerate(MISTAKES.splitlines(), 1):
        if "  # " in text:
            code, word = text.rsplit("  # ", 1)[1].split(": ")
            expected[number] = (code, word)
    got = {}
    for line, text, code in _script_errors(report, path):
        got.setdefault(line, []).append((code, text))
    assert status == 1, report
    for line, (code, word) in expected.items():
        assert any(c == code and word in text
                   for c, text in got.get(line, ())), (
            f"line {line}: no {code} error naming {word!r}\n{report}")
    assert set(got) == set(expected), report


def test_devcie_error_message(mypy, tmp_path):
    path = _script(tmp_path, textwrap.dedent('''\
        import qmpfast
        for ev in qmpfast.Decoder().feed(b""):
            if isinstance(ev, qmpfast.BlockIoError):
                print(ev.device.upper(), ev.devcie)
        '''))
    status, report = mypy("--follow-imports=silent", path)
    assert _script_errors(report, path) == [
        (4, '"BlockIoError" has no attribute "devcie"; maybe "device"?',
         "attr-defined")], \
        report
