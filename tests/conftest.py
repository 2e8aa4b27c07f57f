"""Shared fixtures: every behavioural test runs once per backend of the pass.

CI runs the suite twice, once per backend, so ``backend`` follows the
environment the way ``import qmpfast`` does: with QMPFAST_REQUIRE_C=1 it is
"c" only (a missing C module is an error, not a skip), with
QMPFAST_PUREPYTHON=1 "python" only, and with neither every backend that
imports here.

Tests that compare the two scanners against each other name both
themselves and carry the ``both_backends`` mark: they run in the C pass and
where nothing is chosen, not again in the pure-Python pass, and are skipped
where the C module is not built.

``qemu`` gives the path of a real QEMU, skipping where none is installed
unless QMPFAST_REQUIRE_QEMU=1 (CI), where that is a failure.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qmpfast  # noqa: E402
from qmpfast.scan import available_backends  # noqa: E402

# pyarrow, pandas and dask have no builds for PyPy: the Arrow, Parquet and
# Dask tests run in the CPython passes (where CI installs those extras);
# the columnar batch itself (test_columns.py) runs everywhere.
collect_ignore = ([] if sys.implementation.name != "pypy" else
                  ["test_columns_arrow.py", "test_convert.py",
                   "test_dask_reader.py"])


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


PURE_PYTHON = _flag("QMPFAST_PUREPYTHON")
AVAILABLE = available_backends()


def _backends_of_this_pass():
    """The backends the environment asks for, as ``qmpfast.scan`` reads it."""
    if _flag("QMPFAST_REQUIRE_C"):
        if PURE_PYTHON:
            raise RuntimeError(
                "QMPFAST_REQUIRE_C and QMPFAST_PUREPYTHON are both set")
        if "c" not in AVAILABLE:
            raise RuntimeError(
                "QMPFAST_REQUIRE_C is set but the C backend is missing")
        return ["c"]
    if PURE_PYTHON:
        return ["python"]
    return AVAILABLE


BACKENDS = _backends_of_this_pass()
SAMPLES = os.path.join(os.path.dirname(qmpfast.__file__), "samples")
SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_backends: compares the C and the Python scanner "
        "(not run in the pure-Python pass; skipped without the C module)")


def pytest_collection_modifyitems(config, items):
    """Drop the comparisons from the pure-Python pass; skip them where there
    is only one backend to compare."""
    compare = [item for item in items
               if item.get_closest_marker("both_backends")]
    if not compare:
        return
    if PURE_PYTHON:
        config.hook.pytest_deselected(items=compare)
        items[:] = [item for item in items
                    if not item.get_closest_marker("both_backends")]
    elif len(AVAILABLE) < 2:
        skip = pytest.mark.skip(reason="needs the C and the Python backend "
                                       "(python setup.py build_ext --inplace)")
        for item in compare:
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Name of a backend: pass it as ``Decoder(backend=backend)``."""
    return request.param


@pytest.fixture
def decoder_factory(backend):
    """``decoder_factory(**options)`` makes a Decoder on this backend."""
    def make(**options):
        return qmpfast.Decoder(backend=backend, **options)
    return make


def sample(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def qemu():
    from qemu_harness import find_qemu
    path = find_qemu()
    if path is None:
        if os.environ.get("QMPFAST_REQUIRE_QEMU", "") not in ("", "0"):
            pytest.fail("QMPFAST_REQUIRE_QEMU is set but no QEMU is installed")
        pytest.skip("no qemu-system-x86_64 installed "
                    "(apt-get install qemu-system-x86)")
    return path
