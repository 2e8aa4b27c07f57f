"""``qmpfast watch --metrics HOST:PORT``: a Prometheus exporter.

The watch feeds every event of every monitor to ``Metrics``; Prometheus
scrapes ``http://HOST:PORT/metrics``, served by prometheus_client in a
thread.  The series are built at scrape time from what was counted
(under a lock: the watch's loop writes while the server thread reads):

* ``qmp_events_total{vm,event}``
* ``qmp_block_io_errors_total{vm,device,operation,action}``
* ``qmp_vm_status{vm,status}``: 1 for the current run status (as
  ``qmpfast.VMState`` follows it from the events, seeded by
  ``query-status``), 0 for every other status QEMU knows
* ``qmp_resets_total{vm,reason}``
* ``qmp_vnc_sessions{vm}``: VNC clients connected and not yet gone
* ``qmp_monitor_up{vm}``: 1 while the monitor is connected
* ``qmp_decode_errors_total{vm}``: undecodable messages skipped

and prometheus_client's own ``process_*`` and ``python_*`` series for the
exporter itself.  ``vm`` is the monitor's address as given to watch.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Iterator

from ..model.messages import Event
from ..state import VMState
from .errors import CLIError

# QEMU's RunState values, plus the tracker's "unknown" before it is seeded
STATUSES = ("debug", "inmigrate", "internal-error", "io-error", "paused",
            "postmigrate", "prelaunch", "finish-migrate", "restore-vm",
            "running", "save-vm", "shutdown", "suspended", "watchdog",
            "guest-panicked", "colo", "unknown")


class _VM:
    def __init__(self) -> None:
        self.state = VMState()
        self.events: Counter[str] = Counter()
        self.io_errors: Counter[tuple[str, str, str]] = Counter()
        self.resets: Counter[str] = Counter()
        self.vnc = 0
        self.up = False
        self.decode_errors = 0
        self.client_errors = 0  # decode errors of the current connection


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class Metrics:
    """What the exporter knows, per VM; also the prometheus collector."""

    def __init__(self) -> None:
        self._vms: dict[str, _VM] = {}
        self._lock = threading.Lock()

    def _vm(self, address: str) -> _VM:
        vm = self._vms.get(address)
        if vm is None:
            vm = self._vms[address] = _VM()
        return vm

    def attached(self, address: str, query_status: Any) -> None:
        """A monitor is connected; ``query_status`` its status now."""
        with self._lock:
            vm = self._vm(address)
            vm.up = True
            vm.client_errors = 0
            vm.state.seed(query_status)

    def detached(self, address: str, decode_errors: int) -> None:
        with self._lock:
            vm = self._vm(address)
            vm.up = False
            self._errors(vm, decode_errors)

    def event(self, address: str, event: Event, decode_errors: int) -> None:
        with self._lock:
            vm = self._vm(address)
            self._errors(vm, decode_errors)
            name = event.name
            vm.events[name] += 1
            data = event.data if isinstance(event.data, dict) else {}
            if name == "BLOCK_IO_ERROR":
                vm.io_errors[(_text(data.get("device") or
                                    data.get("node-name")),
                              _text(data.get("operation")),
                              _text(data.get("action")))] += 1
            elif name == "RESET":
                vm.resets[_text(data.get("reason"))] += 1
            elif name == "VNC_CONNECTED":
                vm.vnc += 1
            elif name == "VNC_DISCONNECTED":
                vm.vnc = max(vm.vnc - 1, 0)
            vm.state.apply(event)

    @staticmethod
    def _errors(vm: _VM, decode_errors: int) -> None:
        if decode_errors > vm.client_errors:
            vm.decode_errors += decode_errors - vm.client_errors
            vm.client_errors = decode_errors

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (CounterMetricFamily,
                                            GaugeMetricFamily)
        events = CounterMetricFamily(
            "qmp_events", "QMP events received, by name",
            labels=["vm", "event"])
        io_errors = CounterMetricFamily(
            "qmp_block_io_errors", "BLOCK_IO_ERROR events",
            labels=["vm", "device", "operation", "action"])
        status = GaugeMetricFamily(
            "qmp_vm_status", "1 for the VM's current run status",
            labels=["vm", "status"])
        resets = CounterMetricFamily(
            "qmp_resets", "RESET events, by reason", labels=["vm", "reason"])
        vnc = GaugeMetricFamily("qmp_vnc_sessions", "open VNC sessions",
                                labels=["vm"])
        up = GaugeMetricFamily("qmp_monitor_up",
                               "1 while the QMP monitor is connected",
                               labels=["vm"])
        errors = CounterMetricFamily(
            "qmp_decode_errors", "undecodable QMP messages skipped",
            labels=["vm"])
        with self._lock:
            for address, vm in sorted(self._vms.items()):
                for name, count in sorted(vm.events.items()):
                    events.add_metric([address, name], count)
                for key, count in sorted(vm.io_errors.items()):
                    io_errors.add_metric([address, *key], count)
                current = vm.state.status
                for name in STATUSES + (
                        () if current in STATUSES else (current,)):
                    status.add_metric([address, name],
                                      float(name == current))
                for reason, count in sorted(vm.resets.items()):
                    resets.add_metric([address, reason], count)
                vnc.add_metric([address], vm.vnc)
                up.add_metric([address], float(vm.up))
                errors.add_metric([address], vm.decode_errors)
        yield from (events, io_errors, status, resets, vnc, up, errors)


def start_exporter(where: str) -> Metrics:
    """Serve the metrics at ``HOST:PORT`` (``:PORT``: every address) in a
    thread; CLIError when prometheus_client is missing or the port
    cannot be bound."""
    host, sep, port = where.rpartition(":")
    if not sep or not port.isdigit():
        raise CLIError(f"--metrics {where!r}: not HOST:PORT")
    try:
        from prometheus_client import REGISTRY, start_http_server
    except ImportError:
        raise CLIError("--metrics needs prometheus_client "
                       "(pip install 'qmpfast[metrics]')") from None
    metrics = Metrics()
    REGISTRY.register(metrics)
    try:
        start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    except OSError as exc:
        raise CLIError(f"--metrics {where}: {exc.strerror or exc}") from None
    return metrics
