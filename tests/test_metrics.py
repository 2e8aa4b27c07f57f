"""``qmpfast watch --metrics``: a real Prometheus server scrapes the
exporter while a real QEMU goes through stop, cont, system_reset and a
failing disk; PromQL queries through Prometheus's HTTP API return what the
scenario produced."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

import qmpfast
from qmpfast.cli.metrics import Metrics

from qemu_harness import QemuProcess
from test_cli import backend_env

KEY = {"keys": [{"type": "qcode", "data": "ret"}]}


@pytest.fixture(scope="module")
def prometheus_binary():
    path = shutil.which("prometheus")
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("QMPFAST_REQUIRE_QEMU", "") not in ("", "0"):
            pytest.fail("CI needs prometheus and prometheus_client")
        pytest.skip("prometheus (apt-get install prometheus) and "
                    "prometheus_client (pip install prometheus_client) "
                    "are needed")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, promql):
    url = (f"http://127.0.0.1:{port}/api/v1/query?"
           + urllib.parse.urlencode({"query": promql}))
    with urllib.request.urlopen(url, timeout=10) as reply:
        body = json.load(reply)
    assert body["status"] == "success", body
    return {tuple(sorted((k, v) for k, v in r["metric"].items()
                         if k not in ("instance", "job", "vm", "__name__"))):
            float(r["value"][1]) for r in body["data"]["result"]}


def wait_for(port, promql, expected, deadline):
    """Query until Prometheus has scraped the expected values."""
    while True:
        got = query(port, promql)
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_prometheus_scrapes_the_scenario(backend, qemu, prometheus_binary,
                                         tmp_path):
    exporter, web = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: qmpfast\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter}']\n")
    prom = subprocess.Popen(
        [prometheus_binary, f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with QemuProcess(monitors=("compact", "compact"), vnc=False,
                         boot="read-on-key", failing_disk=True,
                         qemu=qemu) as vm:
            watch = subprocess.Popen(
                [sys.executable, "-m", "qmpfast", "watch", vm.qmp_paths[0],
                 "--metrics", f"127.0.0.1:{exporter}", "--reconnect"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=backend_env(backend))
            try:
                deadline = time.monotonic() + 60
                line = watch.stderr.readline()
                assert b"watching" in line, line
                assert wait_for(web, "qmp_monitor_up", {(): 1.0},
                                deadline) == {(): 1.0}
                with qmpfast.connect(vm.qmp_paths[1]) as c:
                    c.execute("stop")
                    c.execute("cont")
                    c.execute("system_reset")
                    # the guest reads the failing disk once it has a key
                    while c.execute("query-status")["status"] != "io-error":
                        assert time.monotonic() < deadline
                        c.execute("send-key", KEY)
                        c.get_event(0.1)
                events = wait_for(web, "qmp_events_total{event=~"
                                  "'STOP|RESUME|BLOCK_IO_ERROR'}", {
                                      (("event", "STOP"),): 2.0,
                                      (("event", "RESUME"),): 1.0,
                                      (("event", "BLOCK_IO_ERROR"),): 1.0},
                                  deadline)
                assert events == {(("event", "STOP"),): 2.0,
                                  (("event", "RESUME"),): 1.0,
                                  (("event", "BLOCK_IO_ERROR"),): 1.0}
                assert query(web, "qmp_block_io_errors_total") == {
                    (("action", "stop"), ("device", "ide1-hd0"),
                     ("operation", "read")): 1.0}
                assert query(web, "qmp_vm_status == 1") == {
                    (("status", "io-error"),): 1.0}
                assert query(web, "count(qmp_vm_status)") == {(): 17.0}
                resets = query(web, "qmp_resets_total")
                assert resets[(("reason", "host-qmp-system-reset"),)] == 1
                assert query(web, "qmp_decode_errors_total") == {(): 0.0}
                assert query(web, "qmp_vnc_sessions") == {(): 0.0}
                assert query(web, "process_resident_memory_bytes > 0")
                vm.close()  # QEMU gone: the monitor is down, the
                # exporter (--reconnect) still up
                assert wait_for(web, "qmp_monitor_up", {(): 0.0},
                                time.monotonic() + 30) == {(): 0.0}
            finally:
                watch.terminate()
                watch.communicate(timeout=20)
    finally:
        prom.terminate()
        prom.wait(30)


def Event(name):
    data = ', "data": {"client": {"host": "", "service": "", "family": ' \
        '"unix", "websocket": false}, "server": {"host": "", "service": ' \
        '"", "family": "unix", "websocket": false, "auth": "none"}}' \
        if name.startswith("VNC") else ""
    line = ('{"timestamp": {"seconds": 1, "microseconds": 0}, "event": '
            f'"{name}"{data}}}\n').encode()
    return qmpfast.Decoder().feed(line)[0]


def test_vnc_sessions_and_decode_errors_counted():
    m = Metrics()
    m.attached("vm", {"status": "running", "running": True})
    for name in ("VNC_CONNECTED", "VNC_CONNECTED", "VNC_DISCONNECTED",
                 "VNC_DISCONNECTED", "VNC_DISCONNECTED", "VNC_CONNECTED"):
        m.event("vm", Event(name), 2)
    m.detached("vm", 3)
    m.attached("vm", {"status": "paused", "running": False})
    m.event("vm", Event("STOP"), 1)
    families = {f.name: f for f in m.collect()}
    assert [s.value for s in families["qmp_vnc_sessions"].samples] == [1]
    assert [s.value for s in families["qmp_decode_errors"].samples] == [4]
    assert [s.value for s in families["qmp_monitor_up"].samples] == [1.0]
    assert [s.labels["status"] for s in families["qmp_vm_status"].samples
            if s.value] == ["paused"]


def test_metrics_option_refuses_a_filter(backend):
    from test_cli import run
    proc = run(backend, "watch", "/nonexistent", "--metrics", ":0",
               "--state")
    assert proc.returncode == 1
    assert b"--metrics counts every event" in proc.stderr
