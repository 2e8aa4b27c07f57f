"""Building and decoding QMP byte streams, for the decoder's tests.

``decode`` runs a whole stream through a Decoder made by the
``decoder_factory`` fixture; ``describe`` lists everything a message says,
so that two decodings (two chunkings, two backends) compare field by field.
"""

import json

import qmpfast
from qmpfast import (Command, DecodeError, ErrorResponse, Event, Greeting,
                     IncompleteMessageError, Return)


def ts(seconds=1, microseconds=2):
    return {"seconds": seconds, "microseconds": microseconds}


def event_bytes(name, data=None, seconds=1700000000, microseconds=123456):
    obj = {"timestamp": ts(seconds, microseconds), "event": name}
    if data is not None:
        obj["data"] = data
    return json.dumps(obj).encode()


def chunks_of(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def decode(factory, data, pieces=None, **options):
    """All messages of ``data`` fed as ``pieces`` (default: one piece)."""
    dec = factory(**options)
    out = []
    for piece in (pieces if pieces is not None else [data]):
        out += dec.feed(piece)
    out += dec.close()
    return out


def describe(msg):
    """Everything a message says, for comparing decodings."""
    d = {"type": type(msg).__name__, "kind": msg.kind, "raw": msg.raw,
         "offset": msg.stream_offset, "dict": msg.to_dict()}
    if isinstance(msg, Event):
        d.update(name=msg.name, seconds=msg.seconds,
                 microseconds=msg.microseconds, data=msg.data)
        for attr in getattr(type(msg), "members", {}):
            value = getattr(msg, attr)
            if isinstance(value, qmpfast.VncInfo):
                value = ("vnc", value.to_dict(), value.host, value.service,
                         value.family, value.auth, value.websocket,
                         value.x509_dname, value.sasl_username)
            d[attr] = value
    elif isinstance(msg, Return):
        d.update(value=msg.value, id=msg.id)
    elif isinstance(msg, ErrorResponse):
        d.update(error_class=msg.error_class, desc=msg.desc, id=msg.id)
    elif isinstance(msg, Greeting):
        d.update(version=msg.version, capabilities=msg.capabilities)
    elif isinstance(msg, Command):
        d.update(command=msg.command, arguments=msg.arguments, id=msg.id,
                 oob=msg.oob)
    return d


def feed_through_errors(dec, pieces):
    """Feed everything, collecting messages and errors, as a reader that
    goes on after each DecodeError would."""
    messages, errors = [], []
    for piece in pieces:
        try:
            messages += dec.feed(piece)
        except DecodeError as exc:
            messages += exc.messages
            errors.append(exc)
    for _ in range(100):
        try:
            messages += dec.close()
            break
        except IncompleteMessageError as exc:
            messages += exc.messages
            errors.append(exc)
            break
        except DecodeError as exc:
            messages += exc.messages
            errors.append(exc)
    return messages, errors
