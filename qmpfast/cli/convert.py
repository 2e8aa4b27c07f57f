"""``qmpfast convert``: QMP logs to one Parquet file, a row per message.

The columns are ``qmpfast.arrow``'s, with ``source`` naming the input
each row came from.  The output appears only when every input was read:
a bad message stops the conversion with one line naming the file and the
byte offset (``--on-error skip`` drops bad messages instead and counts
them).  Large inputs on a terminal get a progress bar (tqdm or rich when
installed, else a plain one).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import IO, Any, BinaryIO, Iterator, Optional, Tuple

from ..columns import ColumnDecoder
from ..errors import DecodeError
from .errors import CLIError

CHUNK = 1 << 20
# rows gathered before a row group is written
ROW_GROUP = 1 << 16
# inputs larger than this get a progress bar (on a terminal)
PROGRESS_BYTES = 8 << 20


def _inputs(paths: list[str]) -> Iterator[Tuple[str, BinaryIO]]:
    for path in paths:
        if path == "-":
            yield "<stdin>", sys.stdin.buffer
            continue
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise CLIError(f"{path}: {exc.strerror}") from exc
        with stream:
            yield path, stream


class Progress:
    """Bytes read of one input, drawn by tqdm, rich or a plain bar."""

    def __init__(self, name: str, stream: IO[bytes],
                 enabled: Optional[bool] = None) -> None:
        try:
            size = os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = 0
        if enabled is None:
            enabled = size > PROGRESS_BYTES and sys.stderr.isatty()
        self.size = size
        self.name = name
        self.bar: Any = None
        self.kind = "off"
        self.last = 0.0
        self.done_bytes = 0
        if not enabled:
            return
        try:
            tqdm = importlib.import_module("tqdm").tqdm
            self.bar = tqdm(total=size or None, unit="B", unit_scale=True,
                            desc=name[-30:], file=sys.stderr, leave=False)
            self.kind = "tqdm"
            return
        except ImportError:
            pass
        try:
            rich = importlib.import_module("rich.progress")
            self.bar = rich.Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(name[-30:], total=size or None)
            self.kind = "rich"
            return
        except ImportError:
            pass
        self.kind = "plain"

    def update(self, done: int) -> None:
        step = done - self.done_bytes
        self.done_bytes = done
        if self.kind == "tqdm":
            self.bar.update(step)
        elif self.kind == "rich":
            self.bar.update(self.task, completed=done)
        elif self.kind == "plain":
            now = time.monotonic()
            if now - self.last < 0.1:
                return
            self.last = now
            frac = min(1.0, done / self.size) if self.size else 0.0
            bar = "#" * int(frac * 30)
            sys.stderr.write(f"\r{self.name[-30:]} [{bar:<30}] {frac:6.1%}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.kind == "tqdm":
            self.bar.close()
        elif self.kind == "rich":
            self.bar.stop()
        elif self.kind == "plain":
            sys.stderr.write("\r" + " " * 72 + "\r")
            sys.stderr.flush()


def convert(paths: list[str], out: str, events: Optional[list[str]] = None,
            on_error: str = "raise", progress: Optional[bool] = None
            ) -> Tuple[int, list[DecodeError]]:
    """Write the messages of ``paths`` to the Parquet file ``out``;
    returns (rows, errors skipped).  ``progress``: None for a bar on large
    inputs on a terminal only."""
    try:
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")
        from ..arrow import record_batch, schema
    except ImportError as exc:
        raise CLIError("convert needs pyarrow: pip install "
                       f"'qmpfast[arrow]' ({exc})") from exc
    partial = f"{out}.partial-{os.getpid()}"
    rows = 0
    skipped: list[DecodeError] = []
    try:
        writer = pq.ParquetWriter(partial, schema(source=True))
    except OSError as exc:
        raise CLIError(f"{out}: {exc}") from exc
    pending: list[Any] = []
    pending_rows = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            writer.write_table(pa.Table.from_batches(pending))
        pending, pending_rows = [], 0

    try:
        for name, stream in _inputs(paths):
            decoder = ColumnDecoder(events=events or None, source=name,
                                    on_error="skip" if on_error == "skip"
                                    else "raise")
            bar = Progress(name, stream, progress)
            total = 0
            try:
                while True:
                    chunk = stream.read(CHUNK)
                    if chunk:
                        total += len(chunk)
                        cols = decoder.feed(chunk)
                        bar.update(total)
                    else:
                        cols = decoder.close()
                    if len(cols):
                        pending.append(record_batch(cols, source=name))
                        pending_rows += len(cols)
                        rows += len(cols)
                        if pending_rows >= ROW_GROUP:
                            flush()
                    if not chunk:
                        break
            except DecodeError as exc:
                raise CLIError(str(exc)) from exc
            finally:
                bar.close()
            skipped += decoder.errors
        flush()
        writer.close()
        os.replace(partial, out)
    except BaseException:
        writer.close()
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    return rows, skipped


def cmd_convert(args: argparse.Namespace) -> int:
    rows, skipped = convert(args.files, args.output, args.event,
                            args.on_error,
                            None if args.progress else False)
    if skipped:
        sys.stderr.write(
            f"qmpfast: skipped {len(skipped)} bad message"
            f"{'s' if len(skipped) != 1 else ''} (first: {skipped[0]})\n")
    sys.stderr.write(f"qmpfast: wrote {rows} rows to {args.output}\n")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "convert", help="convert QMP logs to a Parquet file",
        description="Write every message of the QMP logs FILE... (- for "
                    "standard input) to one Parquet file, a row per "
                    "message, with typed columns for the documented events.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="OUT.parquet")
    p.add_argument("--event", action="append", metavar="NAME",
                   help="keep only events of this name (repeatable); other "
                        "messages are kept")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="skip: drop bad messages, count them, go on")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar, even on a terminal")
    p.set_defaults(func=cmd_convert)
