"""The C scanner alone: MB/s through cffi, and instructions per byte.

MB/s comes from one ``qmpf_scan`` call over a whole generated stream with
the Decoder's real schemas (every event delivered, and the filter job's
``events={"BLOCK_IO_ERROR"}``), and over a stream of events carrying long
strings, on each code path of the scanner (scalar, and the SIMD one this
CPU runs).  ``--write DIR`` saves the three streams for
benchmarks/c/bench_scan.c.  Instructions per byte come from
``valgrind --tool=callgrind`` on ``benchmarks/c/bench_scan.c`` where
valgrind is installed: a count that does not move with machine noise.

    python -m benchmarks.scanner [--size-mb 20] [--write DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from .streams import make_stream

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def long_strings_stream(size: int, length: int = 16384) -> bytes:
    """QEMU-shaped events whose data carries one string of ``length``
    ASCII bytes (a guest panic message, a long device path): where the
    string loop is all the work."""
    text = ("guest message: " * (length // 15 + 1))[:length]
    parts, total, i = [], 0, 0
    while total < size:
        line = ('{"timestamp": {"seconds": %d, "microseconds": %d}, '
                '"event": "GUEST_PANICKED", "data": {"action": "pause", '
                '"info": {"type": "s390", "reason": %s}}}\r\n'
                % (1732442400 + i, i % 1000000, json.dumps(text))).encode()
        parts.append(line)
        total += len(line)
        i += 1
    return b"".join(parts)


def scan_rate(stream, events=None, repeat=5, simd=None):
    """Median MB/s of one qmpf_scan call over ``stream`` and the number
    of records; ``simd`` a code path (QMPF_SIMD_*), default the scanner's
    own choice."""
    from qmpfast.decoder import _schema
    from qmpfast.scan.cffi_backend import Scanner

    schema = _schema(events)
    room = len(stream) // 40 + 16
    # the binding's own scanner; one untimed scan first touches its output
    # arrays, so that each timed call is one qmpf_scan over the stream
    scanner = Scanner(schema, 64 << 20, 1024, simd=simd)
    scanner.scan_count(stream, 0, room)
    times = []
    n = 0
    for _ in range(repeat):
        scanner.restart(0)
        t0 = time.perf_counter()
        _status, n, _keep = scanner.scan_count(stream, 0, room)
        times.append(time.perf_counter() - t0)
    times.sort()
    return len(stream) / times[len(times) // 2] / 1e6, n


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
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", metavar="DIR",
                        help="save the streams as DIR/{route,filter,"
                        "long}.qmp")
    args = parser.parse_args(argv)
    from qmpfast.scan._qmpscan import lib

    n_events = int(args.size_mb * 1e6 / 220)
    stream = make_stream(n_events=n_events, seed=args.seed)
    filt = make_stream(n_events=n_events, seed=args.seed, mix="filter")
    longs = long_strings_stream(int(args.size_mb * 1e6))
    if args.write:
        os.makedirs(args.write, exist_ok=True)
        for name, data in (("route", stream), ("filter", filt),
                           ("long", longs)):
            with open(os.path.join(args.write, name + ".qmp"), "wb") as f:
                f.write(data)
    paths = [("scalar", lib.QMPF_SIMD_SCALAR)]
    best = lib.qmpf_simd_default()
    names = {lib.QMPF_SIMD_SSE2: "sse2", lib.QMPF_SIMD_AVX2: "avx2",
             lib.QMPF_SIMD_NEON: "neon"}
    if best in names:
        paths.append((names[best], best))
    print(f"stream: {len(stream) / 1e6:.1f} MB, {stream.count(10)} "
          f"messages, {len(stream) / stream.count(10):.0f} B/message")
    for label, data, events in (("every event", stream, None),
                                ("filter (1% kept)", filt,
                                 {"BLOCK_IO_ERROR"}),
                                ("long strings", longs, None)):
        lines = data.count(10)
        for name, simd in paths:
            rate, n = scan_rate(data, events, args.repeat, simd)
            print(f"scanner, {label:17} {name:6}: {rate:8.0f} MB/s, "
                  f"{len(data) / rate * 1e3 / lines:8.1f} ns/message "
                  f"({n} records)")
    ipb = instructions_per_byte(stream[:2_000_000])
    if ipb is None:
        print("instructions/byte: valgrind not installed")
    else:
        print(f"instructions/byte (callgrind, builtin schema): {ipb:.2f}")


if __name__ == "__main__":
    main()
