"""host/link.py: request/response against the real server in-process, and every error a
person can meet (missing port, permissions, busy port, silence, REPL echo, old firmware,
unsafe key file), each as one line."""

import os
import struct

import pytest
from test_link_server import KEY, FakeDevice

from host.link import (
    AuthError,
    DeviceError,
    KeyFileError,
    Link,
    NoFirmware,
    PortBusy,
    PortNotFound,
    PortPermissionDenied,
    ReplayError,
    VersionMismatch,
    load_key,
    new_key,
    open_serial,
)
from netmeter.link import LinkServer
from shared.crc import crc32
from shared.frame import Decoder, Frame, payload, wrap


class Loopback:
    """A transport whose far end is a LinkServer; noise and loss are switchable."""

    def __init__(self, server, noise=b"", drop_first=0):
        self.server = server
        self.noise = noise
        self.drop = drop_first
        self.pending = b""
        self.writes = 0

    def write(self, data):
        self.writes += 1
        reply = self.server.receive(data)
        if self.drop:
            self.drop -= 1
            return
        self.pending += self.noise + reply + self.noise  # print output between frames

    def read(self, n):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self):
        pass


class Echo(Loopback):
    def write(self, data):
        self.pending += data.replace(b"\n", b"\r\n") + b">>> "


def test_commands_round_trip_through_console_noise():
    device = FakeDevice(30)
    link = Link(Loopback(LinkServer(device, KEY), noise=b"debug: hello\r\n"), key=KEY)
    assert link.info()["device_id"] == "dev1"
    assert link.status()["p"] == [1, 2, 3]
    assert len(link.pull_all()) == 30
    assert link.ack(9) == 10
    assert link.set_time(1764374400000) == 1764374400000 - 5000
    link.reset_net()
    assert link.log(2) == [[98, "error 98"], [99, "error 99"]]
    assert link.trace()[1][1] == "rx"
    assert link.get_config() == {"poll_period_s": 15}


def test_lost_reply_is_retried_and_a_signed_request_runs_once():
    device = FakeDevice(5)
    transport = Loopback(LinkServer(device, KEY))
    link = Link(transport, key=KEY, timeout=0.05)
    link.info()  # learn the counter
    transport.drop = 1
    assert link.ack(2) == 3
    assert transport.writes == 3 and device.calls == [("ack", 2)]


class ShortOfMemory(FakeDevice):
    """Its store cannot give records for the first `fail` reads: MemoryError, as a board's
    fragmented heap gives."""

    def __init__(self, n_records, fail):
        super().__init__(n_records)
        self.fail = fail

    def records(self, from_seq, n):
        if self.fail:
            self.fail -= 1
            raise MemoryError("memory allocation failed, allocating 1344 bytes")
        return super().records(from_seq, n)


def test_a_read_the_board_had_no_heap_for_is_asked_again():
    transport = Loopback(LinkServer(ShortOfMemory(30, fail=2), KEY))
    link = Link(transport, key=KEY, timeout=0.05, retries=2)
    assert len(link.pull_all()) == 30  # the first page failed twice, then came
    # a batch of pipelined pages: the one that failed is asked again alone
    transport = Loopback(LinkServer(ShortOfMemory(60, fail=1), KEY))
    link = Link(transport, key=KEY, timeout=0.05)
    pages = link.pull_pages([0, 13, 26, 39])
    healthy = Link(Loopback(LinkServer(FakeDevice(60), KEY)), key=KEY).pull_pages([0, 13, 26, 39])
    assert pages == healthy and [len(p[2]) for p in pages] == [13] * 4
    assert transport.writes == 2
    # out of memory on every try: said, not retried forever
    link = Link(Loopback(LinkServer(ShortOfMemory(30, fail=99), KEY)), key=KEY, retries=2)
    with pytest.raises(DeviceError, match="failed on the device: out of memory"):
        link.pull(0)


def test_replay_error_and_wrong_key_are_clear():
    server = LinkServer(FakeDevice(), KEY)
    server.counter.store(100)
    link = Link(Loopback(server), key=KEY)
    link._counter = 50  # a host that lost its state: its counter is stale
    with pytest.raises(ReplayError, match="not above the last accepted 100"):
        link.reset_net()
    link.reset_net()  # after the refusal it asks the device and starts above it
    with pytest.raises(AuthError, match="bad tag"):
        Link(Loopback(server), key=bytes(32)).reset_net()


def test_put_config_is_validated_on_the_host_first():
    from shared.config import ConfigInvalid

    device = FakeDevice()
    link = Link(Loopback(LinkServer(device, KEY)), key=KEY)
    with pytest.raises(ConfigInvalid, match="poll_period_s = 7"):
        link.put_config({"poll_period_s": 7})
    link.put_config({"poll_period_s": 1})
    assert device.config == {"poll_period_s": 1}


def test_silence_is_no_firmware_and_echo_is_the_repl():
    class Silent(Loopback):
        def write(self, data):
            self.pending += b"MicroPython v1.2 on rp2\r\n"

    with pytest.raises(NoFirmware, match="no netmeter firmware answering.*MicroPython"):
        Link(Silent(None), timeout=0.05, retries=1).info()
    with pytest.raises(NoFirmware, match="at the REPL"):
        Link(Echo(None), timeout=0.05, retries=0).info()


def test_other_protocol_version_says_update():
    class Future(Loopback):
        def write(self, data):
            (frame,) = Decoder().feed(data)
            raw = bytearray(payload(frame.rid, 0x80, b"{}"))
            raw[0] = 2
            raw[-4:] = struct.pack("<I", crc32(bytes(raw[:-4])))
            self.pending += wrap(bytes(raw))

    with pytest.raises(VersionMismatch, match="version 2; this host speaks 1"):
        Link(Future(None), timeout=0.5).info()


def test_port_errors_are_one_line_for_people(tmp_path):
    with pytest.raises(PortNotFound, match="does not exist"):
        open_serial(str(tmp_path / "ttyACM9"))
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        first = open_serial(path)
        with pytest.raises(PortBusy, match="in use by another program"):
            open_serial(path)
        first.close()
        if os.geteuid() != 0:  # root opens anything
            os.chmod(path, 0o000)
            try:
                with pytest.raises(PortPermissionDenied, match="dialout"):
                    open_serial(path)
            finally:
                os.chmod(path, 0o620)
    finally:
        os.close(master)
        os.close(slave)


def test_key_file_must_be_private(tmp_path):
    path = tmp_path / "dev1.key"
    key = new_key(path)
    assert load_key(path) == key and (path.stat().st_mode & 0o777) == 0o600
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="readable by group or others.*chmod 600"):
        load_key(path)
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key(tmp_path / "nope.key")


def test_signed_commands_without_a_key_say_which_file_is_needed():
    link = Link(Loopback(LinkServer(FakeDevice(), KEY)))
    with pytest.raises(KeyFileError, match="link key"):
        link.ack(1)


def test_frames_from_the_host_never_hold_ctrl_c():
    transport = Loopback(LinkServer(FakeDevice(), KEY))
    sent = []
    orig = transport.write

    def spy(data):
        sent.append(data)
        orig(data)

    transport.write = spy
    link = Link(transport, key=KEY)
    link.put_config({"poll_period_s": 1, "device_id": "x"})
    link.set_time(3 << 40)
    assert sent and all(b"\x03" not in s for s in sent)
    assert all(isinstance(e, Frame) for s in sent for e in Decoder().feed(s))
