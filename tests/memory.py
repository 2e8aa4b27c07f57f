"""Memory held by objects, measured the same way on every interpreter.

Why not tracemalloc alone: PyPy has neither tracemalloc nor a working
``sys.getsizeof``, yet its decoder must be as frugal as on CPython.  Both
interpreters have ``gc.get_referents``, so a bound is checked as the bytes
of every object reachable from what the code under test keeps (the
decoder, the messages it returned).  Where tracemalloc exists, ``Peak``
also reports the peak of all allocations made meanwhile, which catches a
transient copy that nothing keeps.
"""

import gc
import os
import sys
import types

try:
    import tracemalloc
except ImportError:  # PyPy
    tracemalloc = None

import cffi

# shared code, and the frames an exception's traceback holds (the test's
# own, not the decoder's)
_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
         types.MethodType, types.CodeType, types.FrameType,
         types.TracebackType)
_CDATA = cffi.FFI().CData
_sizeof_cdata = cffi.FFI().sizeof
_WORD = 8


def size_of(obj):
    """Bytes of ``obj`` alone (not what it refers to): ``sys.getsizeof``
    where it works, else the size the object would have on 64-bit CPython
    (what PyPy's own layout costs is close to it and never more for the
    byte buffers the bounds are about)."""
    try:
        return sys.getsizeof(obj)
    except TypeError:
        pass
    if isinstance(obj, _CDATA):
        try:
            return 2 * _WORD + _sizeof_cdata(obj)
        except (TypeError, ValueError):  # a pointer, a function
            return 2 * _WORD
    if isinstance(obj, (bytes, bytearray)):
        return 4 * _WORD + len(obj) + 1
    if isinstance(obj, str):
        return 6 * _WORD + len(obj.encode("utf-8", "surrogatepass")) + 1
    if isinstance(obj, memoryview):  # its buffer is a referent
        return 23 * _WORD
    if isinstance(obj, (list, tuple, set, frozenset)):
        return 7 * _WORD + _WORD * len(obj)
    if isinstance(obj, dict):
        return 8 * _WORD + 3 * _WORD * len(obj)
    return 2 * _WORD + _WORD * len(gc.get_referents(obj))


def retained(objects):
    """Bytes of all objects reachable from ``objects`` (each counted once;
    classes, modules and functions are shared code, not data, and frames
    belong to whoever is running)."""
    seen = set()
    total = 0
    stack = list(objects)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += size_of(obj)
        stack.extend(referents(obj))
    return total


def referents(obj):
    """What ``obj`` refers to.  The items of lists, tuples, sets and dicts
    are read directly: PyPy stores a list of only bytes, str or int (and
    some dicts) unboxed, and ``gc.get_referents`` leaves those items out.
    A plain dict is its keys and values only: for a dict made by PyPy's
    JSON decoder, ``gc.get_referents`` lists every key of the decoder's
    shared key maps (all the keys it has seen in the process), which no
    message holds."""
    if type(obj) is dict:
        return list(obj.keys()) + list(obj.values())
    found = gc.get_referents(obj)
    if isinstance(obj, (list, tuple, set, frozenset)):
        found += list(obj)
    elif isinstance(obj, dict):
        found += list(obj.keys())
        found += list(obj.values())
    return found


class Peak:
    """The most memory a piece of code held, sampled where it says so.

    ``with Peak() as peak: ... peak.sample(decoder, out) ...``; afterwards
    ``peak.held`` is the largest reachable size sampled (every interpreter)
    and ``peak.traced`` the tracemalloc peak (None without tracemalloc).
    """

    def __init__(self):
        self.held = 0
        self.traced = None

    def sample(self, *objects):
        if tracemalloc is not None:  # the walk's own memory is not counted
            self.traced = max(self.traced or 0,
                              tracemalloc.get_traced_memory()[1])
        self.held = max(self.held, retained(objects))
        if tracemalloc is not None:
            tracemalloc.reset_peak()

    def __enter__(self):
        if tracemalloc is not None:
            tracemalloc.start()
        return self

    def __exit__(self, *exc_info):
        if tracemalloc is not None:
            try:
                self.traced = max(self.traced or 0,
                                  tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
        return False

    def below(self, limit):
        """True when every measure taken is under ``limit`` bytes."""
        return self.held < limit and (self.traced is None
                                      or self.traced < limit)


def _resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _pypy_live_heap():
    gc.collect()
    stats = gc.get_stats()._s  # the numbers (the attributes are text)
    return stats.total_arena_memory + stats.total_rawmalloced_memory


def process_bytes():
    """What the process holds, to compare before and after a long run.

    On PyPy the bytes of the live objects after a full collection, as its
    GC counts them: its resident size also grows with the machine code the
    JIT goes on writing and the room its GC keeps for the next objects.
    Elsewhere the resident size (Linux: /proc/self/statm)."""
    if sys.implementation.name == "pypy":
        return _pypy_live_heap()
    return _resident()
