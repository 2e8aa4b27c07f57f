"""repr() of a message never raises, however deep its values nest."""

import sys

import pytest

import qmpfast

DEPTH = 1000  # within the default max_depth of 1024


def _nested(depth):
    return b"[" * depth + b"]" * depth


@pytest.fixture
def shallow_stack():
    """A recursion limit that a repr DEPTH levels deep surely exceeds,
    whatever other tests left it at (decoding such values raises the limit
    for itself, so only the repr meets it)."""
    frame, frames = sys._getframe(), 0
    while frame is not None:
        frame, frames = frame.f_back, frames + 1
    old = sys.getrecursionlimit()
    # a tenth of DEPTH: PyPy's repr of nested lists counts less against the
    # limit per level than CPython's
    sys.setrecursionlimit(frames + DEPTH // 10)
    try:
        value = []
        for _ in range(DEPTH):
            value = [value]
        with pytest.raises(RecursionError):  # what the repr meets
            repr(value)
        yield
    finally:
        sys.setrecursionlimit(old)


def test_repr_of_deep_return(backend, shallow_stack):
    msg = qmpfast.parse(b'{"return": ' + _nested(DEPTH) + b'}',
                        backend=backend)
    text = repr(msg)
    assert text.startswith("<Return") and "nested too deep" in text


def test_repr_of_deep_typed_event(backend, shallow_stack):
    raw = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
           b'"event": "SHUTDOWN", "data": {"guest": true, "reason": '
           + _nested(DEPTH) + b'}}')
    msg = qmpfast.parse(raw, backend=backend)
    text = repr(msg)
    assert text.startswith("<Shutdown") and "nested too deep" in text
