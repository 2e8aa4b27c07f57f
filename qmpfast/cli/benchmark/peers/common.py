"""Job bodies shared by the peers that turn each message into a dict.

Why shared: stdlib json, orjson, untyped msgspec and qemu.qmp all end up
with a mapping per message, so the per-message work is written once and
every one of them does exactly the same reads.  Each peer only supplies
``batches(chunks)``: a generator yielding, per chunk, the list of messages
completed by that chunk (a partial line at the end of a chunk is carried
over to the next one, as any real reader must).

Checksums (tuples of ints) are defined here too, with a plain reference
computation the runner compares every peer against.
"""

from __future__ import annotations

import json
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Tuple)

BLOCK_IO_ERROR = "BLOCK_IO_ERROR"

#: What a job returns: a checksum, so that no work can be skipped.
Checksum = Tuple[int, ...]
#: A job: the chunks of a stream in, its checksum out.
Job = Callable[[List[bytes]], Checksum]
#: The messages completed by each chunk, as mappings.
Batches = Callable[[Iterable[bytes]], Iterator[List[Any]]]


def split_lines(chunks: Iterable[bytes],
                decode: Callable[[bytes], Any]) -> Iterator[List[Any]]:
    """Yield ``[decode(line) ...]`` for the complete lines of each chunk.

    The idiom a careful user writes: prepend the carried tail, split on
    newline, keep the last piece (the incomplete line) for next time.
    ``\\r`` before the newline is JSON whitespace, so it is left in place.
    """
    tail = b""
    for chunk in chunks:
        lines = (tail + chunk).split(b"\n")
        tail = lines.pop()
        yield [decode(line) for line in lines]
    if tail.strip():
        yield [decode(tail)]


def dict_jobs(batches: Batches) -> Dict[str, Job]:
    """Build the full/route/filter jobs over ``batches(chunks)``."""

    def full(chunks: Iterable[bytes]) -> Checksum:
        n = sec = usec = nlen = nkeys = 0
        for msgs in batches(chunks):
            for m in msgs:
                ts = m["timestamp"]
                n += 1
                sec += ts["seconds"]
                usec += ts["microseconds"]
                nlen += len(m["event"])
                data = m.get("data")
                if data:
                    nkeys += len(data)
        return (n, sec, usec, nlen, nkeys)

    def route(chunks: Iterable[bytes]) -> Checksum:
        n = sec = usec = nlen = 0
        for msgs in batches(chunks):
            for m in msgs:
                ts = m["timestamp"]
                n += 1
                sec += ts["seconds"]
                usec += ts["microseconds"]
                nlen += len(m["event"])
        return (n, sec, usec, nlen)

    def filter_(chunks: Iterable[bytes]) -> Checksum:
        n = sec = nkeys = 0
        for msgs in batches(chunks):
            for m in msgs:
                if m["event"] == BLOCK_IO_ERROR:
                    n += 1
                    sec += m["timestamp"]["seconds"]
                    nkeys += len(m["data"])
        return (n, sec, nkeys)

    return {"full": full, "route": route, "filter": filter_}


def typed_fields(name: str, d: Mapping[str, Any]) -> int:
    """Reference value of the typed job's per-event field sum.

    Strings count their length, a true bool counts 1, an absent optional
    counts 0.  Typed peers compute the same from attributes.
    """
    if name == BLOCK_IO_ERROR:
        t = (len(d["device"]) + len(d["operation"]) + len(d["action"])
             + len(d["reason"]) + len(d["qom-path"]))
        t += len(d.get("node-name") or "") + bool(d.get("nospace"))
        return t
    if name in ("RESET", "SHUTDOWN"):
        return int(d["guest"]) + len(d["reason"])
    if name.startswith("VNC_"):
        s, c = d["server"], d["client"]
        t = (len(s["host"]) + len(s["service"]) + len(s["family"])
             + len(s.get("auth") or "") + s["websocket"]
             + len(c["host"]) + len(c["service"]) + len(c["family"])
             + c["websocket"])
        if name != "VNC_CONNECTED":
            t += len(c.get("x509_dname") or "") + len(c.get("sasl_username") or "")
        return int(t)
    return 0


def reference(job: str, stream: bytes) -> Checksum:
    """The checksum every peer must return for ``job`` on ``stream``."""
    msgs = [json.loads(line) for line in stream.splitlines() if line.strip()]
    if job == "typed":
        n = sec = usec = nlen = fields = 0
        for m in msgs:
            n += 1
            sec += m["timestamp"]["seconds"]
            usec += m["timestamp"]["microseconds"]
            nlen += len(m["event"])
            fields += typed_fields(m["event"], m.get("data") or {})
        return (n, sec, usec, nlen, fields)
    if job in ("scan", "parquet"):
        return (len(msgs),)
    jobs = dict_jobs(lambda chunks: iter([msgs]))
    return jobs[job]([])
