"""The benchmark's stream without repeated values: the same events as the
usual stream, with every device, node, path, host and port unique."""

import json

import pytest

from benchmarks.streams import make_stream


def _messages(values):
    data = make_stream(n_events=3000, seed=3, values=values)
    return [json.loads(line) for line in data.splitlines()]


def _values(messages):
    found = []
    for m in messages:
        data = m.get("data", {})
        for key in ("device", "node-name", "qom-path"):
            if data.get(key):
                found.append(data[key])
        for side in ("server", "client"):
            address = data.get(side)
            if address and address["family"] != "unix":
                found += [address["host"], address["service"]]
    return found


def test_unique_stream_repeats_no_device_host_or_port():
    found = _values(_messages("unique"))
    assert len(found) > 3000
    assert len(set(found)) == len(found)
    assert len(set(_values(_messages("repeat")))) < len(found) // 2


def test_unique_stream_has_the_same_events_and_shapes():
    same, unique = _messages("repeat"), _messages("unique")
    assert [(m["event"], m["timestamp"]) for m in same] == \
        [(m["event"], m["timestamp"]) for m in unique]
    assert [sorted(m.get("data", {})) for m in same] == \
        [sorted(m.get("data", {})) for m in unique]


def test_values_must_be_known():
    with pytest.raises(ValueError, match="values"):
        make_stream(n_events=1, values="fresh")
