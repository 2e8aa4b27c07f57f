"""Shared fixtures: every behavioural test runs on both backends.

``backend`` is parametrized over the scanners that import here ("c" and
"python"); with QMPFAST_REQUIRE_C=1 a missing C module is an error, not a
skip.  ``qemu`` gives the path of a real QEMU, skipping where none is
installed unless QMPFAST_REQUIRE_QEMU=1 (CI), where that is a failure.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qmpfast  # noqa: E402
from qmpfast.scan import available_backends  # noqa: E402

BACKENDS = available_backends()
if os.environ.get("QMPFAST_REQUIRE_C") and "c" not in BACKENDS:
    raise RuntimeError("QMPFAST_REQUIRE_C is set but the C backend is missing")

SAMPLES = os.path.join(os.path.dirname(qmpfast.__file__), "samples")
SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


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
