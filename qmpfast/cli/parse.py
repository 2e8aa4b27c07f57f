"""``qmpfast parse``: decodes QMP captures: one JSON line per message, or with
``--stats`` a table of what the stream holds and how fast it decoded.
Errors are one line naming the file and byte offset, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from typing import (IO, TYPE_CHECKING, Any, BinaryIO, Callable, Iterator,
                    List, Optional, Sequence, Tuple, cast)

from ..decoder import Decoder
from ..errors import DecodeError
from ..scan import BACKEND
from .errors import CLIError

if TYPE_CHECKING:
    from ..model.messages import Event, Message
    from ..state import VMState

OnMessage = Callable[[Sequence["Message"]], None]

SAMPLES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples")
SAMPLE = os.path.join(SAMPLES, "qemu-7.2.qmp")
CHUNK = 1 << 16
#: Below this much input, --stats gives no rate: start-up would dominate it.
MIN_THROUGHPUT_BYTES = 1 << 20


def _open_inputs(args: argparse.Namespace) -> Iterator[Tuple[str, BinaryIO]]:
    if args.sample:
        yield SAMPLE, open(SAMPLE, "rb")
    for path in args.files:
        if path == "-":
            yield "<stdin>", sys.stdin.buffer
            continue
        try:
            yield path, open(path, "rb")
        except OSError as exc:
            raise CLIError(f"{path}: {exc.strerror}") from exc
    if not args.files and not args.sample:
        yield "<stdin>", sys.stdin.buffer


def _line(msg: "Message") -> bytes:
    raw: bytes = msg.raw
    if b"\n" in raw or b"\r" in raw:  # pretty=on output: one line per message
        return one_line(raw)
    return raw


_SPACE = re.compile(rb'"(?:[^"\\]|\\.)*"|[ \t\r\n]+|[,:]')


def one_line(raw: bytes) -> bytes:
    """A JSON text on one line: whitespace between tokens dropped, one
    space after each ``,`` and ``:`` (as ``json.dumps`` writes).  Strings
    are left byte for byte, and however deep the value, nothing recurses."""
    def token(match: "re.Match[bytes]") -> bytes:
        text = match.group()
        if text[:1] == b'"':
            return text
        if text in (b",", b":"):
            return text + b" "
        return b""
    return _SPACE.sub(token, raw)


def _decode_file(name: str, stream: BinaryIO, args: argparse.Namespace,
                 on_message: OnMessage,
                 on_chunk: Optional[Callable[[int], None]] = None,
                 ) -> Tuple[int, List[Any]]:
    """Feed one input through a Decoder; returns (bytes, errors).
    ``on_chunk(size)`` is called after each chunk is decoded."""
    decoder = Decoder(events=args.event or None, source=name,
                      on_error="skip" if args.skip_errors else "raise")
    total = 0
    progress = _Progress(name, stream) if args.progress else None
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            total += len(chunk)
            on_message(decoder.feed(chunk))
            if on_chunk is not None:
                on_chunk(len(chunk))
            if progress:
                progress.update(total)
        on_message(decoder.close())
    except DecodeError as exc:
        on_message(exc.messages)  # what came before the error still counts
        raise CLIError(str(exc)) from exc
    finally:
        if progress:
            progress.done()
    return total, decoder.errors


class _Progress:
    """A progress bar on stderr for large files on a terminal."""

    def __init__(self, name: str, stream: IO[bytes]) -> None:
        self.name = name
        try:
            self.size = os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            self.size = 0
        self.enabled = self.size > (8 << 20) and sys.stderr.isatty()
        self.last = 0.0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        frac = min(1.0, done / self.size)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.name[-30:]} [{bar:<30}] {frac:6.1%}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 72 + "\r")
            sys.stderr.flush()


def cmd_parse(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    kinds: Counter[str] = Counter()
    names: Counter[str] = Counter()
    total_bytes = 0
    errors: List[Any] = []
    timing = _Timing(kinds, getattr(args, "started", None))

    if args.stats:
        def on_message(messages: Sequence["Message"]) -> None:
            for msg in messages:
                kinds[msg.kind] += 1
                if msg.kind == "event":
                    names[cast("Event", msg).name] += 1
    elif args.summary:
        from ..model.messages import Return
        from ..state import VMState
        states: List[Tuple[str, VMState]] = []

        def on_message(messages: Sequence["Message"]) -> None:
            state = states[-1][1]
            for msg in messages:
                if (isinstance(msg, Return) and isinstance(msg.value, dict)
                        and "status" in msg.value and "running" in msg.value
                        and state.status == "unknown"):
                    state.seed(msg)  # a query-status reply: the live state
                state.apply(msg)
    else:
        def on_message(messages: Sequence["Message"]) -> None:
            if messages:
                out.write(b"".join(_line(m) + b"\n" for m in messages))

    for name, stream in _open_inputs(args):
        if args.summary:
            states.append((name, VMState()))
        try:
            size, errs = _decode_file(
                name, stream, args, on_message,
                timing.chunk if args.stats else None)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        total_bytes += size
        errors += errs
    timing.finished = time.perf_counter()

    if args.stats:
        _print_stats(kinds, names, total_bytes, timing)
    elif args.summary:
        for number, (name, state) in enumerate(states):
            if len(states) > 1:
                sys.stdout.write(f"{'' if number == 0 else chr(10)}"
                                 f"== {name}\n")
            sys.stdout.write(state.summary())
    for err in errors:
        sys.stderr.write(f"qmpfast: skipped: {err}\n")
    out.flush()
    return 0


class _Timing:
    """When each phase of a ``--stats`` run ended, so that start-up is
    reported apart from throughput: on a small capture, the import, the
    command line and the first chunk (first use of the scanner, first
    file read) take far longer than the decoding, and a rate over the
    whole run would measure them instead."""

    def __init__(self, kinds: "Counter[str]",
                 main_started: Optional[float]) -> None:
        self.kinds = kinds
        self.main_started = main_started   # None: cmd_parse called directly
        self.started = time.perf_counter()  # decoding begins
        self.first_chunk: Optional[float] = None  # when it was decoded
        self.first_bytes = 0
        self.first_events = 0
        self.finished = self.started

    def chunk(self, size: int) -> None:
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
            self.first_bytes = size
            self.first_events = self.kinds.get("event", 0)

    def startup(self) -> str:
        """The start-up line: each phase in ms, those known."""
        import qmpfast
        phases = []
        begun = getattr(qmpfast, "_IMPORT_STARTED", None)
        imported = getattr(qmpfast, "_IMPORT_DONE", None)
        if begun is not None and imported is not None:
            phases.append(("import qmpfast", imported - begun))
        if self.main_started is not None:
            phases.append(("command line", self.started - self.main_started))
        first = self.finished if self.first_chunk is None \
            else self.first_chunk
        phases.append(("first chunk", first - self.started))
        total = sum(t for _, t in phases)
        return (f"start-up {total * 1e3:.1f} ms: " + ", ".join(
            f"{name} {t * 1e3:.1f} ms" for name, t in phases))


def _print_stats(kinds: Counter[str], names: Counter[str],
                 total_bytes: int, timing: _Timing) -> None:
    w = sys.stdout.write
    n_events = kinds.get("event", 0)
    n_all = sum(kinds.values())
    w(f"{'kind':<24} {'count':>10}\n")
    for kind, count in kinds.most_common():
        w(f"{kind:<24} {count:>10}\n")
    if names:
        w(f"\n{'event':<24} {'count':>10}\n")
        for name, count in sorted(names.items(), key=lambda x: (-x[1], x[0])):
            w(f"{name:<24} {count:>10}\n")
    w(f"\nmessages {n_all}, events {n_events}, bytes {total_bytes}, "
      f"backend {BACKEND}\n")
    w(timing.startup() + "\n")
    if total_bytes < MIN_THROUGHPUT_BYTES:
        w(f"throughput: not measured, the input is too small "
          f"({total_bytes} bytes, under {MIN_THROUGHPUT_BYTES >> 20} MiB: "
          f"start-up would dominate); run `qmpfast bench` for throughput\n")
        return
    # after the first chunk: the decoding alone (1 MiB is 16 chunks, so
    # there is one)
    assert timing.first_chunk is not None
    elapsed = timing.finished - timing.first_chunk
    size = total_bytes - timing.first_bytes
    events = n_events - timing.first_events
    if elapsed <= 0:
        elapsed = 1e-9
    w(f"throughput: {events / elapsed:,.0f} events/s, "
      f"{size / elapsed / 1e6:.1f} MB/s ({size} bytes after the first "
      f"chunk in {elapsed * 1e3:.2f} ms)\n")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "parse", help="decode QMP captures",
        description="Decode QMP streams: one JSON line per "
        "message (standard input when no FILE).")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--sample", action="store_true",
                   help="read the bundled capture of a real QEMU 7.2")
    p.add_argument("--event", action="append", metavar="NAME",
                   help="keep only these events (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stats", action="store_true",
                      help="print counts per kind and event, start-up "
                      "time, and speed (on 1 MiB of input or more)")
    mode.add_argument("--summary", action="store_true",
                      help="print the VM status timeline and VNC sessions")
    p.add_argument("--skip-errors", action="store_true",
                   help="skip bad messages (reported on stderr) instead of "
                   "stopping at the first")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on a terminal")
    p.set_defaults(func=cmd_parse)
