"""Bad input at volume (fast subset; `make fuzz` runs 100,000 frames and the whole config
corpus): generated link frames against the firmware in the VM and through the simulated
board's console pty, and config files through `host config validate` and PUT_CONFIG."""

import threading

from fuzzconfig import put_config_bodies, run_corpus
from fuzzlink import FrameFuzzer, run_in_vm

# The simulated board of the link tests (its fixture is module-scoped: one board here too).
from test_link_sim_board import KEY as BOARD_KEY
from test_link_sim_board import SAFE, board  # noqa: F401

from host.link import DeviceError
from shared import linkproto as lp
from shared.frame import encode


def test_generated_frames_change_nothing_on_the_firmware_in_the_vm():
    summary = run_in_vm(3000, seed=11)
    assert summary["problem"] is None, summary["problem"]
    assert summary["batches"] == 6
    stats = summary["stats"]
    # every kind reached the server: decoded frames, drops, refusals and error replies
    assert stats["frames"] > 500 and stats["dropped"] > 500
    assert stats["refused"] > 50 and stats["errors"] > 500
    assert all(n > 100 for n in summary["kinds"].values()), summary["kinds"]
    # the signed frames with bad arguments got past the tag check (their counters were
    # spent) and were refused by the commands themselves
    assert summary["counter"] == summary["signed_counter"] > 1000


class SignedChange(FrameFuzzer):
    """Among the bad frames, one validly signed RESET_NET: a real change the check must see."""

    def frame(self):
        if self.kinds["reads"] == 50:
            self.kinds["reads"] += 1
            self.counter += 1
            body = lp.request_body(lp.RESET_NET, b"", self.key, 7, self.counter)
            return encode(7, lp.RESET_NET, body)
        return super().frame()


def test_the_vm_check_sees_a_change_made_by_a_signed_command():
    summary = run_in_vm(1000, fuzzer=SignedChange(11))
    assert summary["problem"] and summary["problem"].startswith("state changed")


def test_generated_frames_through_the_board_console_pty_change_nothing(board):  # noqa: F811
    sim, link = board
    before_info = link.info()
    before_config = link.get_config()
    before = [r.encode() for r in sim.records()]
    fuzzer = FrameFuzzer(5, key=BOARD_KEY)
    fuzzer.counter = before_info["counter"] + 1000
    port = link.transport
    # The replies are read while the frames go out: a board whose replies nobody reads
    # blocks on its console write and stops reading, as a real USB serial would.
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            port.read(4096)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        for i in range(10):
            # Not ^C (KeyboardInterrupt on a board too) nor the pty's own ^Z and ^\\.
            port.write(b"".join(fuzzer.frame() for _ in range(150)).translate(SAFE) + b"\n")
            if i % 3 == 0:
                sim.step_to(sim.now_ms + 15_000)  # the meter keeps being polled
        sim.step_to(sim.now_ms + 15_000)
    finally:
        stop.set()
        reader.join()
    port.read(1 << 20)
    assert sim.board.proc.poll() is None
    info = link.info()
    assert info["counter"] == fuzzer.counter  # signed frames arrived and were refused
    assert info["config_hash"] == before_info["config_hash"] and not info["config_pending"]
    assert link.get_config() == before_config
    assert [r.encode() for r in sim.records()][: len(before)] == before  # nothing lost
    assert info["next_seq"] == len(sim.records()) and info["first_seq"] == 0
    assert link.status()["link"]["refused"] > 20


def test_bad_configs_signed_as_put_config_leave_the_board_unchanged(board):  # noqa: F811
    sim, link = board
    before = link.info()
    config_file = (sim.dir / "config.json").read_bytes()
    refused, accepted = 0, []
    for body in put_config_bodies():
        try:
            link.request(lp.PUT_CONFIG, body)
        except DeviceError as err:
            assert err.status in (lp.E_BAD_REQUEST, lp.E_INVALID, lp.E_FAILED), err
            refused += 1
        else:
            accepted.append(body[:200])
    assert not accepted, "refused by `host config validate`, accepted by the board"
    after = link.info()
    assert refused > 20
    assert after["config_hash"] == before["config_hash"] and not after["config_pending"]
    assert (sim.dir / "config.json").read_bytes() == config_file


# Deep nesting, 5 MiB, bad bytes and mutations; the whole corpus (64 files) runs in make fuzz.
SUBSET = (
    "deep-array.json",
    "deep-object.json",
    "deep-array.toml",
    "deep-table.toml",
    "deep-dotted.toml",
    "big-string.json",
    "not-utf8.json",
    "huge-number.json",
    "huge-number.toml",
    "top-list.json",
    "mutated-0.toml",
    "mutated-1.json",
)


def test_config_corpus_through_host_config_validate_is_one_line_each():
    report = run_corpus(n_random=2, only=SUBSET)
    assert report["files"] == len(SUBSET)
    assert not report["problems"], report["line"]
