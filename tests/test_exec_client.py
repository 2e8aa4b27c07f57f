"""The clients' exec-oob, filtered event listeners and traffic log, on
both clients against a real QEMU, and the sans-IO parts alone."""

import asyncio

import pytest

import qmpfast
from qmpfast import aio
from qmpfast.errors import CommandError, QMPError
from qmpfast.protocol import Listener, command_bytes

from qemu_harness import QemuProcess


@pytest.fixture(scope="module")
def vm(qemu):
    with QemuProcess(qemu=qemu) as vm:
        yield vm


YANK = {"type": "chardev", "id": "mon0"}


def test_oob_sync(backend, vm):
    with qmpfast.connect(vm.qmp_paths[0], oob=True, backend=backend) as c:
        assert c.greeting.capabilities == ["oob"] and c.oob
        assert YANK in c.execute_oob("query-yank")
        with pytest.raises(CommandError, match="does not support OOB"):
            c.execute_oob("query-status")
        assert c.execute("query-status")["status"]  # in-band still works


def test_oob_needs_negotiation(backend, vm):
    with qmpfast.connect(vm.qmp_paths[0], backend=backend) as c:
        assert not c.oob
        with pytest.raises(QMPError, match="oob was not negotiated"):
            c.execute_oob("query-yank")


def test_oob_aio(backend, vm):
    async def main():
        async with aio.connect(vm.qmp_paths[0], oob=True,
                               backend=backend) as c:
            assert c.oob
            assert YANK in await c.execute_oob("query-yank")
        async with aio.connect(vm.qmp_paths[0], backend=backend) as c:
            with pytest.raises(QMPError, match="oob was not negotiated"):
                await c.execute_oob("query-yank")
    asyncio.run(main())


def test_listeners_sync(backend, vm):
    with qmpfast.connect(vm.qmp_paths[0], backend=backend) as c:
        stops = c.listen(["STOP"], max_queue=1)
        both = c.listen(["STOP", "RESUME"])
        every = c.listen()
        for _ in range(2):
            c.execute("stop")
            c.execute("cont")
        # each queue has its own events and its own drops
        assert stops.get(5).name == "STOP"
        assert stops.get(0) is None and stops.dropped == 1
        assert [both.get(5).name for _ in range(4)] == [
            "STOP", "RESUME", "STOP", "RESUME"]
        assert both.dropped == 0
        assert [every.get(5).name for _ in range(4)] == [
            "STOP", "RESUME", "STOP", "RESUME"]
        # the main queue is untouched by the listeners' reads
        assert [c.get_event(5).name for _ in range(4)] == [
            "STOP", "RESUME", "STOP", "RESUME"]
        stops.close()
        c.execute("stop")
        c.execute("cont")
        assert stops.get(0) is None
        assert both.get(5).name == "STOP"


def test_listener_reads_to_the_end(backend, qemu):
    with QemuProcess(qemu=qemu) as vm:
        with qmpfast.connect(vm.qmp_paths[0], backend=backend) as c:
            listener = c.listen(["SHUTDOWN"])
            c.execute("quit")
            assert [e.name for e in listener] == ["SHUTDOWN"]


def test_listeners_aio(backend, vm):
    async def main():
        async with aio.connect(vm.qmp_paths[0], backend=backend) as c:
            resumes = c.listen(["RESUME"], max_queue=1)
            stops = c.listen(["STOP"])
            waiting = asyncio.create_task(stops.get(5))
            await asyncio.sleep(0)
            for _ in range(2):
                await c.execute("stop")
                await c.execute("cont")
            assert (await waiting).name == "STOP"
            assert (await stops.get(5)).name == "STOP"
            assert await stops.get(0) is None
            assert (await resumes.get(5)).name == "RESUME"
            assert resumes.dropped == 1 and stops.dropped == 0
            assert await resumes.get(0) is None
    asyncio.run(main())


def test_traffic_log_sync(backend, vm):
    log = []
    with qmpfast.connect(vm.qmp_paths[0], backend=backend,
                         traffic=lambda way, data: log.append((way, data))
                         ) as c:
        c.execute("query-name")
    assert log[0][0] == "<" and log[0][1].startswith(b'{"QMP": ')
    assert log[1] == (">", b'{"execute": "qmp_capabilities", "id": 1}\n')
    assert log[2] == ("<", b'{"return": {}, "id": 1}\r\n')
    assert log[3] == (">", b'{"execute": "query-name", "id": 2}\n')
    assert log[4] == ("<", b'{"return": {}, "id": 2}\r\n')


def test_traffic_log_aio(backend, vm):
    log = []

    async def main():
        async with aio.connect(vm.qmp_paths[0], backend=backend, oob=True,
                               traffic=lambda w, d: log.append((w, d))) as c:
            await c.execute_oob("query-yank")
    asyncio.run(main())
    assert log[1] == (">", b'{"execute": "qmp_capabilities", "arguments": '
                      b'{"enable": ["oob"]}, "id": 1}\n')
    assert log[3] == (">", b'{"exec-oob": "query-yank", "id": 2}\n')
    assert log[4][1].startswith(b'{"return": [')


def test_command_bytes_oob():
    assert command_bytes("x", {"a": 1}, 7, oob=True) == (
        b'{"exec-oob": "x", "arguments": {"a": 1}, "id": 7}\n')
    with pytest.raises(ValueError, match="argument 'a' is nan"):
        command_bytes("x", {"a": float("nan")}, 7, oob=True)


def test_listener_bounds_and_names():
    with pytest.raises(ValueError):
        Listener(max_queue=0)
    with pytest.raises(TypeError, match="not the string 'STOP'"):
        Listener("STOP")
