"""Seeded generator of realistic QMP event streams.

Why a generator and not a captured log: the benchmark needs tens of
megabytes, reproducible byte for byte from a seed, with a controllable mix
of events.  The bytes imitate what a real QEMU monitor writes:

* one message per line, ended by ``\\r\\n`` (QEMU's monitor) or ``\\n``;
* ``": "`` and ``", "`` separators, no other whitespace;
* top-level keys in the order ``timestamp, event, data`` (QEMU's QDict
  emits keys in hash order, and that is the order it ends up with); the
  documentation examples use ``event, data, timestamp`` instead
  (``order="doc"``);
* ASCII only: anything else is written as an upper-case ``\\uXXXX`` escape;
* data members in a fixed order per event (for BLOCK_IO_ERROR the order
  seen in real QEMU logs).

Example::

    from qmpfast.cli.benchmark.streams import make_stream, chunks
    data = make_stream(size=20 * 2**20, seed=1)
    parts = chunks(data, 65536)   # split anywhere, mid-line included
"""

from __future__ import annotations

import json
import random
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

#: What a generator draws a message's ``data`` with (None: no data).
Data = Dict[str, Any]

__all__ = ["MIXES", "EVENTS", "make_stream", "chunks", "count_events"]

#: First ``seconds`` value of a stream (2024-11-24 10:00:00 UTC).
EPOCH = 1732442400

#: Every event name the generator can emit.
EVENTS = (
    "BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP", "RESUME",
    "VNC_CONNECTED", "VNC_INITIALIZED", "VNC_DISCONNECTED",
)

#: Named event mixes (relative weights).  ``default`` is a busy host with
#: block errors, VM state changes and VNC sessions; ``filter`` is the case a
#: filtering consumer cares about: the wanted event is about 1 % of traffic.
MIXES = {
    "default": {
        "BLOCK_IO_ERROR": 20, "RESET": 5, "SHUTDOWN": 5, "STOP": 15,
        "RESUME": 15, "VNC_CONNECTED": 14, "VNC_INITIALIZED": 13,
        "VNC_DISCONNECTED": 13,
    },
    "filter": {
        "BLOCK_IO_ERROR": 1, "RESET": 8, "SHUTDOWN": 8, "STOP": 17,
        "RESUME": 17, "VNC_CONNECTED": 17, "VNC_INITIALIZED": 16,
        "VNC_DISCONNECTED": 16,
    },
}

_DEVICES = ("virtio-disk0", "virtio-disk1", "ide0-hd0", "ide0-hd1",
            "scsi0-0-0-0", "drive-virtio-disk2")
_REASONS = ("No space left on device", "Input/output error",
            "Permission denied", "Disk quota exceeded",
            "Read-only file system")
_RESET_CAUSES = (("host-qmp-system-reset", False), ("guest-reset", True),
                 ("subsystem-reset", False), ("host-ui", False))
_SHUTDOWN_CAUSES = (("guest-shutdown", True), ("host-qmp-quit", False),
                    ("host-signal", False), ("guest-panic", True),
                    ("host-error", False))
_DNAMES = ("C=GB,O=ACME,L=London,CN=vnc-client-01",
           "C=DE,O=B\u00e4ckerei M\u00fcller GmbH,CN=kasse-3",
           "C=FR,O=Soci\u00e9t\u00e9 G\u00e9n\u00e9rale,CN=poste \"7\"",
           "C=US,O=Example Inc.,OU=ops,CN=jump-host")
_USERS = ("alice@EXAMPLE.COM", "bob", "operator@LAB.LOCAL",
          "j\u00f6rg@EXAMPLE.DE")


def _block_io_error(rng: random.Random) -> Data:
    reason = rng.choice(_REASONS)
    data: Data = {"device": "" if rng.random() < 0.3 else rng.choice(_DEVICES)}
    if rng.random() < 0.3:
        data["nospace"] = reason == "No space left on device"
    if rng.random() < 0.9:
        data["node-name"] = (f"libvirt-{rng.randrange(1, 9)}-format"
                             if rng.random() < 0.5
                             else f"#block{rng.randrange(100, 999)}")
    data["qom-path"] = (
        f"/machine/peripheral/virtio-disk{rng.randrange(4)}/virtio-backend"
        if rng.random() < 0.7
        else f"/machine/unattached/device[{rng.randrange(40)}]")
    data["reason"] = reason
    data["operation"] = rng.choice(("read", "write"))
    data["action"] = rng.choice(("ignore", "report", "stop"))
    return data


def _cause(rng: random.Random,
           causes: Sequence[Tuple[str, bool]]) -> Data:
    reason, guest = rng.choice(causes)
    return {"guest": guest, "reason": reason}


def _address(rng: random.Random, family: str, server: bool) -> Data:
    if family == "unix":
        # A client of a unix socket has no name of its own.
        path = f"/run/qemu/vm{rng.randrange(64)}-vnc.sock" if server else ""
        return {"host": "", "service": path}
    if server:
        host = ("0.0.0.0" if family == "ipv4" else "::") if rng.random() < 0.5 \
            else ("127.0.0.1" if family == "ipv4" else "::1")
        return {"host": host, "service": str(5900 + rng.randrange(32))}
    if family == "ipv4":
        host = f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    else:
        host = f"fe80::{rng.randrange(65536):x}:{rng.randrange(65536):x}"
    return {"host": host, "service": str(rng.randrange(32768, 61000))}


def _vnc(rng: random.Random, name: str) -> Data:
    family = rng.choices(("ipv4", "ipv6", "unix"), (70, 20, 10))[0]
    websocket = rng.random() < 0.1
    auth = rng.choices(("none", "vnc", "sasl", "vencrypt"), (70, 10, 10, 10))[0]
    server = _address(rng, family, True)
    server.update(family=family, websocket=websocket, auth=auth)
    client = _address(rng, family, False)
    client.update(family=family, websocket=websocket)
    if name != "VNC_CONNECTED":
        if auth == "vencrypt" or rng.random() < 0.05:
            client["x509_dname"] = rng.choice(_DNAMES)
        if auth == "sasl" or rng.random() < 0.05:
            client["sasl_username"] = rng.choice(_USERS)
    return {"server": server, "client": client}


_DATA: Dict[str, Optional[Callable[[random.Random], Data]]] = {
    "BLOCK_IO_ERROR": _block_io_error,
    "RESET": lambda rng: _cause(rng, _RESET_CAUSES),
    "SHUTDOWN": lambda rng: _cause(rng, _SHUTDOWN_CAUSES),
    "STOP": None,
    "RESUME": None,
    "VNC_CONNECTED": lambda rng: _vnc(rng, "VNC_CONNECTED"),
    "VNC_INITIALIZED": lambda rng: _vnc(rng, "VNC_INITIALIZED"),
    "VNC_DISCONNECTED": lambda rng: _vnc(rng, "VNC_DISCONNECTED"),
}


def _unique(data: Data, n: int) -> Data:
    """``data`` with every device, node, path, host and port made unique
    to message ``n``: the stream where no member value repeats, so that
    nothing a parser caches is ever found again."""
    if "device" in data:
        if data["device"]:
            data["device"] = f"drive-virtio-disk{n}"
        if "node-name" in data:
            data["node-name"] = f"#block{n}"
        data["qom-path"] = f"/machine/peripheral/virtio-disk{n}/virtio-backend"
    for side, k in (("server", 2 * n), ("client", 2 * n + 1)):
        address = data.get(side)
        if address is None:
            continue
        family = address["family"]
        if family == "unix":
            if address["service"]:
                address["service"] = f"/run/qemu/vm{n}-vnc.sock"
            continue
        if family == "ipv4":
            address["host"] = f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}"
        else:
            address["host"] = f"fe80::{k >> 16:x}:{k & 65535:x}"
        address["service"] = str(1024 + k)
    return data


# json.dumps writes "\u00e4"; QEMU writes "\u00E4".  Escaped backslashes are
# matched first so that a literal backslash followed by "u" is left alone.
_ESCAPE = re.compile(r"\\\\|\\u[0-9a-f]{4}")


def _upper_escapes(text: str) -> str:
    if "\\u" not in text:
        return text
    return _ESCAPE.sub(lambda m: m.group(0) if m.group(0) == "\\\\"
                       else "\\u" + m.group(0)[2:].upper(), text)


def _message(name: str, seconds: int, micro: int, data: Optional[Data],
             order: str) -> str:
    ts = {"seconds": seconds, "microseconds": micro}
    msg: Dict[str, Any]
    if order == "qemu":
        msg = {"timestamp": ts, "event": name}
        if data is not None:
            msg["data"] = data
    else:
        msg = {"event": name}
        if data is not None:
            msg["data"] = data
        msg["timestamp"] = ts
    return _upper_escapes(json.dumps(msg))


def make_stream(n_events: Optional[int] = None, seed: int = 0,
                order: str = "qemu",
                mix: Union[Dict[str, int], str, None] = None,
                size: Optional[int] = None, sep: str = "\r\n",
                values: str = "repeat") -> bytes:
    """Return a QMP event stream as bytes.

    n_events: number of messages; size: stop once the stream has at least
    this many bytes (give one or the other; default 10 000 events).
    order: "qemu" (timestamp, event, data) or "doc" (event, data, timestamp).
    mix: a name from ``MIXES`` or a dict {event name: weight}; default
    ``MIXES["default"]``.  sep: "\\r\\n" (QEMU) or "\\n".  values:
    "repeat" (devices, hosts and ports drawn from small sets, as in real
    streams) or "unique" (the same stream with every device, node, path,
    host and port unique to its message).
    The same arguments always give the same bytes.
    """
    if order not in ("qemu", "doc"):
        raise ValueError(f"order must be 'qemu' or 'doc', not {order!r}")
    if values not in ("repeat", "unique"):
        raise ValueError(f"values must be 'repeat' or 'unique', not {values!r}")
    if sep not in ("\r\n", "\n"):
        raise ValueError("sep must be '\\r\\n' or '\\n'")
    if isinstance(mix, str):
        mix = MIXES[mix]
    mix = mix or MIXES["default"]
    unknown = set(mix) - set(EVENTS)
    if unknown:
        raise ValueError(f"unknown events in mix: {sorted(unknown)}")
    if n_events is None and size is None:
        n_events = 10_000
    names, weights = list(mix), list(mix.values())
    rng = random.Random(seed)
    seconds, micro, total, count = EPOCH, 0, 0, 0
    parts: List[str] = []
    while (n_events is None or count < n_events) and \
            (size is None or total < size):
        step = rng.choices((0, 1, 2, 7), (60, 25, 10, 5))[0]
        if step or micro >= 990_000:      # time only moves forward
            seconds += step or 1
            micro = rng.randrange(500_000)
        else:
            micro += rng.randrange(1, 10_000)
        name = rng.choices(names, weights)[0]
        make_data = _DATA[name]
        data = make_data(rng) if make_data else None
        if data is not None and values == "unique":
            data = _unique(data, count)
        line = _message(name, seconds, micro, data, order)
        parts.append(line)
        total += len(line) + len(sep)
        count += 1
    return (sep.join(parts) + sep).encode("ascii") if parts else b""


def chunks(stream: bytes, size: int = 65536) -> List[bytes]:
    """Split ``stream`` into ``size``-byte pieces, ignoring message
    boundaries, as reads from a socket would."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def count_events(stream: bytes, name: Optional[str] = None) -> int:
    """Number of messages in ``stream`` (of event ``name`` if given)."""
    if name is None:
        return stream.count(b"\n")
    return stream.count(b'"event": "%s"' % name.encode())
