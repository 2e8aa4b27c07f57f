"""``qmpfast exec`` against a real QEMU: the reply on stdout and status 0,
QEMU's error class and description and status 1, one line and status 2
when the command cannot be run; ARGS as a JSON object or key=value."""

import json
import os
import socket
import tempfile
import threading

import pytest

from qemu_harness import QemuProcess
from test_cli import run

from qmpfast.cli.exec import parse_arguments


@pytest.fixture(scope="module")
def vm(qemu):
    with QemuProcess(qemu=qemu) as vm:
        yield vm


def qexec(backend, vm, *args):
    proc = run(backend, "exec", vm.qmp_paths[0], *args)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_reply_printed_as_json(backend, vm):
    status, out, err = qexec(backend, vm, "query-status")
    assert (status, err) == (0, "")
    assert out.endswith("\n") and out.count("\n") == 1
    assert json.loads(out)["status"] in ("running", "paused")


def test_key_value_arguments_are_json_or_strings(backend, vm):
    status, out, err = qexec(backend, vm, "human-monitor-command",
                             "command-line=info version")
    assert status == 0, err
    assert json.loads(out).startswith("7.")
    status, out, err = qexec(backend, vm, "qom-get", "path=/machine",
                             "property=type")
    assert status == 0 and json.loads(out).startswith("pc-")


def test_json_object_arguments(backend, vm):
    status, out, err = qexec(backend, vm, "qom-get",
                             '{"path": "/machine", "property": "type"}')
    assert status == 0, err
    assert json.loads(out).startswith("pc-")


def test_stop_then_status_paused(backend, vm):
    assert qexec(backend, vm, "stop")[:2] == (0, "{}\n")
    status, out, _ = qexec(backend, vm, "query-status", "--pretty")
    assert status == 0 and "\n  " in out
    assert json.loads(out)["status"] == "paused"
    assert qexec(backend, vm, "cont")[:2] == (0, "{}\n")


def test_error_reply_exits_1_with_class_and_desc(backend, vm):
    assert qexec(backend, vm, "no-such-command") == (
        1, "", "CommandNotFound: The command no-such-command has not been "
        "found\n")
    status, out, err = qexec(backend, vm, "device_del", "id=nope")
    assert (status, out) == (1, "")
    assert err == "DeviceNotFound: Device 'nope' not found\n"


def test_wrong_argument_type_is_qemus_error(backend, vm):
    status, out, err = qexec(backend, vm, "qom-get", "path=1",
                             "property=type")
    assert status == 1 and err.startswith("GenericError: ")


def test_oob(backend, vm):
    status, out, err = qexec(backend, vm, "query-yank", "--oob")
    assert status == 0, err
    assert {"type": "chardev", "id": "mon0"} in json.loads(out)
    status, out, err = qexec(backend, vm, "query-status", "--oob")
    assert (status, err) == (
        1, "GenericError: The command query-status does not support OOB\n")


def test_no_monitor_exits_2_with_one_line(backend):
    missing = os.path.join(tempfile.gettempdir(), "qmpfast-none.sock")
    proc = run(backend, "exec", missing, "query-status", "--timeout", "0.2")
    err = proc.stderr.decode()
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert err == (f"qmpfast exec: {missing}: cannot connect: No such file "
                   "or directory\n")


def test_not_qmp_exits_2(backend, tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen()

        def serve():
            conn, _ = server.accept()
            conn.sendall(b"SSH-2.0-OpenSSH\r\n")
            conn.close()
        threading.Thread(target=serve, daemon=True).start()
        proc = run(backend, "exec", path, "query-status")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert err.startswith(f"qmpfast exec: {path}: not a QMP peer")


@pytest.mark.parametrize("args", [["{bad"], ["[1]"], ["nokey"], ["=1"],
                                  ["a=1", "a=2"]])
def test_bad_args_exit_2_before_connecting(backend, args):
    proc = run(backend, "exec", "/nonexistent/socket", "query-status", *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and err.count("\n") == 1
    assert err.startswith("qmpfast exec: ") and "connect" not in err


def test_parse_arguments():
    assert parse_arguments([]) is None
    assert parse_arguments(['{"a": [1]}']) == {"a": [1]}
    assert parse_arguments(["a=1", "b=true", "c=x y", 'd="1"', "e=[1,2]",
                            "f=a=b"]) == {
        "a": 1, "b": True, "c": "x y", "d": "1", "e": [1, 2], "f": "a=b"}
    with pytest.raises(ValueError, match="'nokey' is not key=value"):
        parse_arguments(["nokey"])
