"""The C scanner alone: MB/s through cffi, and instructions per byte.

MB/s comes from one ``qmpf_scan`` call over a whole generated stream with
the Decoder's real schemas (every event delivered, and the filter job's
``events={"BLOCK_IO_ERROR"}``).  Instructions per byte come from
``valgrind --tool=callgrind`` on ``benchmarks/c/bench_scan.c`` where
valgrind is installed: a count that does not move with machine noise.

    python -m benchmarks.scanner [--size-mb 20]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time

from .streams import make_stream

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def scan_rate(stream, events=None, repeat=5):
    """Best MB/s of one qmpf_scan call over ``stream``."""
    from qmpfast.scan.cffi_backend import _tables
    from qmpfast.scan._qmpscan import ffi, lib
    from qmpfast.decoder import _schema

    schema = _schema(events)
    tables = _tables(schema)
    nw = schema.n_slots * 3
    room = len(stream) // 40 + 16
    recs = ffi.new("int64_t[]", room * 6)
    slots = ffi.new("uint32_t[]", room * nw)
    kinds = ffi.new("uint8_t[]", 1100)
    nodes = ffi.new("int32_t[]", 1100)
    partial = ffi.new("uint32_t[]", nw)
    n = ffi.new("size_t *")
    data = ffi.from_buffer("uint8_t[]", stream)
    best = float("inf")
    for _ in range(repeat):
        scanner = ffi.new("qmpf_scanner *")
        lib.qmpf_init(scanner, tables.schema, kinds, nodes, partial, 1024,
                      64 << 20, 0)
        t0 = time.perf_counter()
        lib.qmpf_scan(scanner, data, len(stream), 0, recs, slots, room, n)
        best = min(best, time.perf_counter() - t0)
    return len(stream) / best / 1e6, n[0]


def instructions_per_byte(stream):
    """Callgrind's instruction count per byte, or None without valgrind."""
    if not shutil.which("valgrind") or not shutil.which("cc"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "bench_scan")
        data = os.path.join(tmp, "stream.qmp")
        with open(data, "wb") as f:
            f.write(stream)
        subprocess.run(
            ["cc", "-O3", "-std=c99", "-I", os.path.join(ROOT, "csrc"),
             os.path.join(HERE, "c", "bench_scan.c"),
             os.path.join(ROOT, "csrc", "qmpscan.c"), "-o", exe], check=True)
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             exe, data, "1"], capture_output=True, text=True, check=True)
        refs = re.search(r"refs:\s+([\d,]+)", out.stderr)
        base = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             exe, data, "0"], capture_output=True, text=True, check=True)
        refs0 = re.search(r"refs:\s+([\d,]+)", base.stderr)
        if not refs or not refs0:
            return None
        count = int(refs.group(1).replace(",", "")) - int(
            refs0.group(1).replace(",", ""))
        return count / len(stream)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n_events = int(args.size_mb * 1e6 / 220)
    stream = make_stream(n_events=n_events, seed=args.seed)
    filt = make_stream(n_events=n_events, seed=args.seed, mix="filter")
    rate, n = scan_rate(stream)
    print(f"stream: {len(stream) / 1e6:.1f} MB, {n} messages, "
          f"{len(stream) / n:.0f} B/message")
    print(f"scanner, every event:        {rate:8.0f} MB/s")
    rate, kept = scan_rate(filt, {"BLOCK_IO_ERROR"})
    print(f"scanner, filter (1% kept):   {rate:8.0f} MB/s ({kept} kept)")
    ipb = instructions_per_byte(stream[:2_000_000])
    if ipb is None:
        print("instructions/byte: valgrind not installed")
    else:
        print(f"instructions/byte (callgrind, builtin schema): {ipb:.2f}")


if __name__ == "__main__":
    main()
