"""Each pass of the suite runs each case once per backend it is for.

CI runs the suite with QMPFAST_REQUIRE_C=1 and again with
QMPFAST_PUREPYTHON=1.  The ``backend`` fixture must give only that pass's
backend (or a case runs twice on one backend and never alone on the other),
and the comparisons of the two scanners (mark ``both_backends``) must run
once, in the C pass.  A child pytest collects a small test file with this
suite's conftest as its plugin, under each environment.
"""

import os
import subprocess
import sys

import pytest

from qmpfast.scan import available_backends

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)

PROBE = '''
import pytest

def test_each(backend):
    pass

@pytest.mark.both_backends
def test_compare():
    pass
'''


def collect(tmp_path, **flags):
    """Test ids the child collects with ``flags`` as the only backend
    variables of its environment, and its summary line."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = dict(os.environ)
    env.pop("QMPFAST_REQUIRE_C", None)
    env.pop("QMPFAST_PUREPYTHON", None)
    env.update(flags)
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO, TESTS] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q",
         "-p", "no:cacheprovider", "-p", "conftest", "test_probe.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    ids = sorted(line.split("::", 1)[1] for line in lines if "::" in line)
    summary = [line for line in lines if "collected" in line]
    return ids, summary[-1]


def test_the_c_pass_runs_each_case_on_c_once(tmp_path):
    if "c" not in available_backends():
        pytest.skip("the C backend is not built here")
    ids, _ = collect(tmp_path, QMPFAST_REQUIRE_C="1")
    assert ids == ["test_compare", "test_each[c]"]


def test_the_python_pass_runs_each_case_on_python_once(tmp_path):
    ids, summary = collect(tmp_path, QMPFAST_PUREPYTHON="1")
    assert ids == ["test_each[python]"]
    assert "1 deselected" in summary


def test_without_a_choice_every_backend_runs(tmp_path):
    ids, _ = collect(tmp_path)
    assert ids == ["test_compare"] + [
        f"test_each[{name}]" for name in sorted(available_backends())]

