"""The host link end to end: host/link.py over the simulated board's console pty, to the
real firmware running its main loop; a fuzz storm; mpremote still stops the app after."""

import random
import time

import pytest

from host.deploy import deploy
from host.link import Link, ReplayError
from host.sim.run import Simulation
from shared import linkproto as lp
from shared.crc import crc16_modbus
from shared.frame import encode
from shared.record import decode

KEY = bytes(range(32))
CONFIG = {
    "poll_period_s": 15,
    "netting": {"sources": ["registers", "power"], "billing": "registers", "interval_min": 5},
}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    directory = tmp_path_factory.mktemp("linkboard")
    (directory / "link.key").write_text(KEY.hex())
    sim = Simulation(directory, CONFIG)  # in the board's heap (host.sim.board.BOARD_HEAP)
    sim.start()
    try:
        sim.run(31 * 60_000, 15_000)  # six closed 5-minute intervals
        link = Link.open(sim.board.device, key=KEY, timeout=2.0)
        yield sim, link
        link.close()
    finally:
        sim.stop()


def test_info_status_pull_ack_over_the_console_pty(board):
    sim, link = board
    info = link.info()
    assert info["proto"] == 1 and info["board"] == "unix_sim" and info["clock_set"]
    assert info["next_seq"] == len(sim.records()) >= 6
    status = link.status()
    assert len(status["p"]) == 3 and status["comm"]["replies"] > 0
    raw = link.pull_all()
    assert [decode(r) for r in raw] == sim.records()
    first = link.ack(1)
    assert first <= 2  # the store may keep acknowledged records until a segment is whole
    with pytest.raises(ReplayError, match="replayed or stale"):
        link._counter = 0
        link.ack(1)
    link._counter = None


SAFE = bytes.maketrans(b"\x03\x1a\x1c", b"\x04\x04\x04")


def _storm(rng, n):
    valid = [
        encode(1, lp.INFO),
        encode(2, lp.STATUS),
        encode(3, lp.PULL, lp.pull_args(0, 13)),
        encode(4, lp.ACK, lp.request_body(lp.ACK, b"\0\0\0\0", bytes(32), 4, 99)),
    ]
    for i in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            # Not ^C (KeyboardInterrupt, on a board too) nor the pty's own signal keys ^\ and
            # ^Z (SIGQUIT, SIGTSTP), which a board's USB serial does not have.
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
            yield noise.translate(SAFE)
        elif kind == 1:
            frame = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                frame[3 + rng.randrange(len(frame) - 4)] = rng.randrange(0x20, 0x7F)
            yield bytes(frame)
        elif kind == 2:
            frame = rng.choice(valid)
            yield frame[: rng.randrange(len(frame))]
        else:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
            yield encode(i & 0xFFFF, rng.randrange(256), body)


def test_ten_thousand_bad_frames_lose_nothing_and_it_keeps_answering(board):
    sim, link = board
    before = [r.encode() for r in sim.records()]
    rng = random.Random(6)
    port = link.transport
    sent = 0
    started = time.monotonic()
    frames = list(_storm(rng, 10_000))
    for i in range(0, len(frames), 200):
        port.write(b"".join(frames[i : i + 200]) + b"\n")
        sent += len(frames[i : i + 200])
        port.read(1 << 20)  # drain the error replies
        if i % 2000 == 0:
            sim.step_to(sim.now_ms + 15_000)  # and the meter keeps being polled
            assert link.info()["proto"] == 1
    assert sent == 10_000 and time.monotonic() - started < 120
    time.sleep(0.3)
    port.read(1 << 20)
    sim.step_to(sim.now_ms + 15_000)
    assert sim.board.proc.poll() is None
    info = link.info()
    assert info["next_seq"] == len(sim.records())
    seen = link.status()["link"]
    assert seen["frames"] + seen["dropped"] > 5000, seen  # the storm reached the server
    assert [r for r in link.pull_all(0)] == [r.encode() for r in sim.records()][
        -len(link.pull_all(0)) :
    ]
    assert [r.encode() for r in sim.records()][: len(before)] == before  # nothing lost


def test_mpremote_still_stops_the_app_after_link_traffic(board):
    sim, link = board
    link.info()
    link.status()
    link.close()
    deploy(sim.board.device, "unix_sim", CONFIG)  # Ctrl-C, raw REPL, file copy
    assert "KeyboardInterrupt" in bytes(sim.board.console_log).decode(errors="replace")
    sim.board.restart()
    sim.board.wait_ready()
    sim.step_to(sim.now_ms + 15_000)
    link.transport = Link.open(sim.board.device, key=KEY).transport
    assert link.info()["board"] == "unix_sim"


def test_trace_holds_whole_frames_from_a_reply_that_arrives_a_byte_at_a_time(tmp_path):
    # 1200 baud: a character is 9.2 ms, so only a stall of the relay's thread of over 23 ms
    # (not the board's loop, which may be as slow as it likes) puts a pause into a reply.
    config = dict(CONFIG, rs485={"baud": 1200})
    with Simulation(tmp_path, config) as sim:
        sim.server.faults.paced()
        sim.run(sim.now_ms + 300_000, 15_000)  # a poll of one read every 15 s
        with Link.open(sim.board.device, key=KEY, timeout=2.0) as link:
            frames = link.trace(16)
    sent = [f for d, f in sim.server.relay.frames if d in ("request", "reply")]
    # As many of the last 16 as fit in one link frame (MAX_PAYLOAD): seven or so here.
    assert len(frames) >= 6 and frames[-1][1] == "rx", frames
    assert [bytes.fromhex(f[2]) for f in frames] == sent[-len(frames) :]
    for _, direction, data in frames:
        frame = bytes.fromhex(data)
        assert crc16_modbus(frame) == 0, (direction, data)
        if direction == "rx":
            assert len(frame) == 5 + frame[2], data  # a whole read reply, however it was read
    times = [f[0] for f in frames]
    assert times == sorted(times)
    for (t_tx, _, _), (t_rx, _, _) in zip(frames[-2::-2], frames[-1::-2]):
        # Each entry has its start time: the reply's 53 bytes took 486 ms to arrive, and
        # the relay began it at once (a pty carries the request in no time).
        assert t_tx <= t_rx < t_tx + 100_000, frames
