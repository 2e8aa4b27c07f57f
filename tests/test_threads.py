"""One Decoder fed from two threads: refused with a clear error, never a
corrupted scanner (the C scan runs without the GIL)."""

import os
import subprocess
import sys
import threading

import pytest

import qmpfast

EVENT = (b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": '
         b'"BLOCK_IO_ERROR", "data": {"device": "disk0", "operation": '
         b'"read", "action": "report"}}\r\n')
REPO = os.path.dirname(os.path.dirname(os.path.abspath(qmpfast.__file__)))


def test_a_second_thread_is_refused_while_one_feeds(decoder_factory):
    dec = decoder_factory()
    big = EVENT * 200_000  # long enough to still be scanning below
    started = threading.Event()
    result = {}

    def first():
        started.set()
        result["n"] = len(dec.feed(big))

    thread = threading.Thread(target=first)
    thread.start()
    started.wait()
    while not dec._busy.locked() and thread.is_alive():
        pass
    if thread.is_alive():
        with pytest.raises(RuntimeError, match="another thread"):
            dec.feed(EVENT)
        with pytest.raises(RuntimeError, match="another thread"):
            dec.close()
    thread.join()
    assert result["n"] == 200_000
    # the decoder is intact and usable afterwards
    assert [m.name for m in dec.feed(EVENT)] == ["BLOCK_IO_ERROR"]
    assert dec.close() == []


STRESS = r"""
import sys, threading
import qmpfast
EVENT = %r
dec = qmpfast.Decoder(backend=sys.argv[1], on_error="skip")
chunk = EVENT * 2000 + b'{"a": [1, 2, {"b": "' + b"x" * 50000 + b'"}]}\n'
counts = {"ok": 0, "refused": 0}
lock = threading.Lock()
def run():
    for _ in range(150):
        try:
            out = dec.feed(chunk[:len(chunk) // 2])
            out += dec.feed(chunk[len(chunk) // 2:])
            for m in out:
                m.raw
            with lock:
                counts["ok"] += 1
        except RuntimeError:
            with lock:
                counts["refused"] += 1
threads = [threading.Thread(target=run) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(counts["ok"], counts["refused"])
""" % (EVENT,)


def test_two_threads_hammering_one_decoder_never_crash(backend):
    proc = subprocess.run([sys.executable, "-c", STRESS, backend],
                          capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ok, refused = map(int, proc.stdout.split())
    assert ok + refused == 300
