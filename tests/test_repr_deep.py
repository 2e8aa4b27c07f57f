"""repr() of a message never raises, however deep its values nest."""

import qmpfast

DEPTH = 1000  # within the default max_depth of 1024


def _nested(depth):
    return b"[" * depth + b"]" * depth


def test_repr_of_deep_return(backend):
    msg = qmpfast.parse(b'{"return": ' + _nested(DEPTH) + b'}',
                        backend=backend)
    text = repr(msg)
    assert text.startswith("<Return") and "nested too deep" in text


def test_repr_of_deep_typed_event(backend):
    raw = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, '
           b'"event": "SHUTDOWN", "data": {"guest": true, "reason": '
           + _nested(DEPTH) + b'}}')
    msg = qmpfast.parse(raw, backend=backend)
    text = repr(msg)
    assert text.startswith("<Shutdown") and "nested too deep" in text
