"""How the decoder's cost scales: each figure against its target.

    python -m benchmarks.scaling            # full sizes (650 MB for memory)
    python -m benchmarks.scaling --quick    # smaller sizes, fewer repeats
    QMPFAST_PUREPYTHON=1 python -m benchmarks.scaling --quick

Four measurements, each printed as a figure and as a ratio against its
target:

* **linearity**: ns/byte of ``Decoder.feed`` over generated streams of
  several sizes (64 KiB chunks, every event delivered); the ratio is the
  largest size's ns/byte over the smallest's (linear cost: about 1);
* **one big message**: a single message of about 10 MB decoded in one
  ``feed`` call, then fed in 4 KiB chunks; the ratio is chunked time over
  one-piece time (target at most 1.5).  Two shapes: an event whose data
  holds an array of small objects (realistic JSON, a ``query-*`` reply of
  a large host), and one whose data is one giant string;
* **memory**: peak RSS growth (``VmHWM`` of /proc/self/status, else
  ``ru_maxrss``) of a fresh interpreter decoding a 650 MB stream that is
  generated chunk by chunk as it is fed (blocks of the seeded generator,
  cycled, cut into 64 KiB chunks anywhere) and never held whole (target at
  most 64 MiB);
* **threads**: the filter job (``Decoder(events={"BLOCK_IO_ERROR"})`` on
  the "filter" mix) in one thread, then in two threads each decoding its
  own stream; the ratio is two threads' throughput over one's (target at
  least 1.6; the C scanner releases the GIL, the pure-Python one cannot).

Times are the best of ``--repeat`` runs (``time.perf_counter``), with the
garbage collector enabled; nothing here asserts, it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time

from .streams import make_stream

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

BIG_CHUNK = 4096
STREAM_CHUNK = 65536
TARGET_CHUNKED = 1.5
TARGET_RSS_MIB = 64
TARGET_THREADS = 1.6
TARGET_LINEAR = 1.25  # what "linear" is taken to allow for noise here


# ---- inputs ---------------------------------------------------------------

def big_message(size: int, shape: str, seed: int = 1) -> bytes:
    """One QMP message of about ``size`` bytes, ended by ``\\r\\n``.

    shape "objects": an event whose data holds an array of small block
    statistics objects (strings, integers, booleans, nested objects);
    "string": an event whose data holds one giant string.
    """
    rng = random.Random(seed)
    if shape == "string":
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 /-_.:"
        data = {"device": "virtio-disk0",
                "blob": "".join(rng.choices(alphabet, k=size))}
    elif shape == "objects":
        items = []
        total = 0
        while total < size:
            item = {
                "device": f"virtio-disk{rng.randrange(64)}",
                "node-name": f"#block{rng.randrange(100, 999)}",
                "stats": {"rd_bytes": rng.randrange(1 << 40),
                          "wr_bytes": rng.randrange(1 << 40),
                          "rd_operations": rng.randrange(1 << 24),
                          "idle": rng.random() < 0.5},
                "qdev": "/machine/peripheral/virtio-disk"
                        f"{rng.randrange(64)}/virtio-backend",
            }
            items.append(item)
            total += 230
        data = {"items": items}
    else:
        raise ValueError(f"unknown shape {shape!r}")
    msg = {"timestamp": {"seconds": 1732442400, "microseconds": 1},
           "event": "BLOCK_JOB_COMPLETED" if shape == "string"
           else "QUERY_BLOCKSTATS", "data": data}
    return json.dumps(msg).encode("ascii") + b"\r\n"


def stream_blocks(seed: int, mix: str | None = None, n: int = 8,
                  block: int = 1 << 20) -> list:
    """``n`` different generated streams of about ``block`` bytes each."""
    return [make_stream(size=block, seed=seed + i, mix=mix)
            for i in range(n)]


def chunked_stream(total: int, blocks: list, chunk: int = STREAM_CHUNK):
    """Yield ``chunk``-byte pieces of a ``total``-byte stream made of
    ``blocks`` in turn, cut anywhere; only one block is copied at a time."""
    sent = 0
    carry = b""
    i = 0
    while sent < total:
        data = carry + blocks[i % len(blocks)]
        i += 1
        end = len(data) - len(data) % chunk
        for j in range(0, end, chunk):
            yield data[j:j + chunk]
        sent += end
        carry = data[end:]
    if carry:
        yield carry


# ---- measurements ---------------------------------------------------------

def _best(func, repeat):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _decode(parts, **options):
    from qmpfast import Decoder
    decoder = Decoder(**options)
    n = 0
    for part in parts:
        n += len(decoder.feed(part))
    n += len(decoder.close())
    return n


def linearity(sizes_mb, repeat, seed):
    rows = []
    for mb in sizes_mb:
        data = make_stream(size=int(mb * 1e6), seed=seed)
        parts = [data[i:i + STREAM_CHUNK]
                 for i in range(0, len(data), STREAM_CHUNK)]
        t, n = _best(lambda: _decode(parts), repeat)
        rows.append((len(data), n, t * 1e9 / len(data)))
    return rows


def big_message_ratio(size, shape, repeat):
    msg = big_message(size, shape)
    parts = [msg[i:i + BIG_CHUNK] for i in range(0, len(msg), BIG_CHUNK)]
    whole, n1 = _best(lambda: _decode([msg]), repeat)
    chunked, n2 = _best(lambda: _decode(parts), repeat)
    assert n1 == n2 == 1, (n1, n2)
    return len(msg), whole, chunked


def _peak_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def _rss_child(total, seed):
    """In a fresh interpreter: decode a generated ``total``-byte stream;
    print JSON with the peak RSS before and after."""
    from qmpfast import BACKEND, Decoder
    blocks = stream_blocks(seed)
    decoder = Decoder()
    decoder.feed(blocks[0][:STREAM_CHUNK])  # imports, first allocations
    decoder = Decoder()
    before = _peak_kib()
    t0 = time.perf_counter()
    n = 0
    fed = 0
    for part in chunked_stream(total, blocks):
        fed += len(part)
        n += len(decoder.feed(part))
    n += len(decoder.close())
    elapsed = time.perf_counter() - t0
    print(json.dumps({"before_kib": before, "after_kib": _peak_kib(),
                      "bytes": fed, "messages": n, "seconds": elapsed,
                      "backend": BACKEND}))


def peak_rss(total, seed):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.scaling", "--rss-child",
         str(total), "--seed", str(seed)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def threads_ratio(size, repeat, seed):
    """(one-thread seconds for one stream, two-thread seconds for two)."""
    events = {"BLOCK_IO_ERROR"}
    streams = []
    for k in range(2):
        data = make_stream(size=size, seed=seed + k, mix="filter")
        streams.append([data[i:i + STREAM_CHUNK]
                        for i in range(0, len(data), STREAM_CHUNK)])
    one, _ = _best(lambda: _decode(streams[0], events=events), repeat)

    def two():
        barrier = threading.Barrier(3)
        done = []

        def work(parts):
            barrier.wait()
            done.append(_decode(parts, events=events))

        workers = [threading.Thread(target=work, args=(s,)) for s in streams]
        for w in workers:
            w.start()
        barrier.wait()
        t0 = time.perf_counter()
        for w in workers:
            w.join()
        return time.perf_counter() - t0

    best_two = min(two() for _ in range(repeat))
    sizes = [sum(map(len, s)) for s in streams]
    return sizes, one, best_two


def machine_threads(repeat):
    """Two threads' speedup over one on work that holds no lock (sha256
    of 32 MiB releases the GIL): the most this machine can give."""
    import hashlib
    data = bytes(32 << 20)

    def work():
        hashlib.sha256(data).digest()

    def two():
        workers = [threading.Thread(target=work) for _ in range(2)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return time.perf_counter() - t0

    one, _ = _best(work, repeat)
    return 2 * one / min(two() for _ in range(repeat))


# ---- report ---------------------------------------------------------------

def machine():
    from .run import cpu_model
    import qmpfast
    lines = [
        f"python:   {platform.python_implementation()} "
        f"{platform.python_version()} ({platform.platform()})",
        f"cpu:      {cpu_model()}, {os.cpu_count()} cpus",
        f"qmpfast:  {qmpfast.__version__}, backend {qmpfast.BACKEND} "
        f"({os.path.dirname(qmpfast.__file__)})",
    ]
    extras = []
    for name in ("cffi", "orjson"):
        try:
            module = __import__(name)
            extras.append(f"{name} {module.__version__}")
        except ImportError:
            extras.append(f"{name} not installed")
    lines.append("with:     " + ", ".join(extras))
    return lines


def _verdict(ok):
    return "ok" if ok else "MISSED"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rss-mb", type=float, default=None,
                        help="size of the memory test's stream (default "
                        "650, --quick 130)")
    parser.add_argument("--big-mb", type=float, default=10.0,
                        help="size of the single big message")
    parser.add_argument("--rss-child", type=int, default=None,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child is not None:
        _rss_child(args.rss_child, args.seed)
        return
    repeat = args.repeat or (3 if args.quick else 7)
    sizes = (0.5, 2, 8) if args.quick else (1, 4, 16, 64)
    rss_mb = args.rss_mb or (130 if args.quick else 650)
    thread_mb = 8 if args.quick else 32

    for line in machine():
        print(line)
    print()

    rows = linearity(sizes, repeat, args.seed)
    print("linearity (Decoder.feed, 64 KiB chunks, every event):")
    for size, n, nspb in rows:
        print(f"  {size / 1e6:8.1f} MB  {n:9d} messages  {nspb:6.2f} ns/byte")
    ratio = rows[-1][2] / rows[0][2]
    print(f"  ns/byte {rows[-1][0] / 1e6:.0f} MB / {rows[0][0] / 1e6:.1f} MB:"
          f" {ratio:.2f}  (target <= {TARGET_LINEAR})"
          f"  {_verdict(ratio <= TARGET_LINEAR)}")
    print()

    print(f"one {args.big_mb:g} MB message: one feed() vs "
          f"{BIG_CHUNK // 1024} KiB chunks:")
    for shape in ("objects", "string"):
        size, whole, chunked = big_message_ratio(
            int(args.big_mb * 1e6), shape, repeat)
        ratio = chunked / whole
        print(f"  {shape:8s} {size / 1e6:5.1f} MB  one piece "
              f"{whole * 1e3:7.2f} ms ({size / whole / 1e6:6.0f} MB/s)  "
              f"chunked {chunked * 1e3:7.2f} ms  ratio {ratio:5.2f}  "
              f"(target <= {TARGET_CHUNKED})  "
              f"{_verdict(ratio <= TARGET_CHUNKED)}")
    print()

    res = peak_rss(int(rss_mb * 1e6), args.seed)
    growth = (res["after_kib"] - res["before_kib"]) / 1024
    print(f"memory: {res['bytes'] / 1e6:.0f} MB stream generated on the fly, "
          f"{res['messages']} messages in {res['seconds']:.1f} s "
          f"({res['bytes'] / res['seconds'] / 1e6:.0f} MB/s)")
    print(f"  peak RSS {res['before_kib'] / 1024:.1f} -> "
          f"{res['after_kib'] / 1024:.1f} MiB: growth {growth:.1f} MiB  "
          f"ratio {growth / TARGET_RSS_MIB:.2f} of the target "
          f"(<= {TARGET_RSS_MIB} MiB)  {_verdict(growth <= TARGET_RSS_MIB)}")
    print()

    sizes2, one, two = threads_ratio(int(thread_mb * 1e6), repeat, args.seed)
    speedup = (sum(sizes2) / two) / (sizes2[0] / one)
    print('threads: filter job (events={"BLOCK_IO_ERROR"}), '
          f"{sizes2[0] / 1e6:.0f} MB per stream:")
    print(f"  one thread {sizes2[0] / one / 1e6:7.0f} MB/s, two threads "
          f"{sum(sizes2) / two / 1e6:7.0f} MB/s: ratio {speedup:.2f}  "
          f"(target >= {TARGET_THREADS})  "
          f"{_verdict(speedup >= TARGET_THREADS)}")
    print(f"  this machine's own two-thread ratio (sha256, no GIL held): "
          f"{machine_threads(repeat):.2f}")


if __name__ == "__main__":
    main()
