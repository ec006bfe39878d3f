"""`host log` lines say what an entry's time counts from and keep the whole detail."""

from host.commands.device import log_line as _log_line

MESSAGE = "seq 0: link does not follow seq -1 (hash chain broken)"


def test_an_entry_before_the_clock_was_set_counts_from_boot():
    line = _log_line([0, "chain", MESSAGE, 0, "boot"])
    assert line.startswith("0.000 s after boot (clock not set)") and line.endswith(MESSAGE)


def test_an_entry_with_the_clock_set_is_in_utc():
    line = _log_line([1764374400123, "timeout", "no reply", 3, "utc"])
    assert line.startswith("2025-11-29 00:00:00.123 UTC") and "(+3 repeats)" in line


def test_entries_of_older_firmware_are_told_by_size():
    assert "UTC" in _log_line([1764374400123, "timeout", "x", 0])
    assert "after boot" in _log_line([5000, "timeout", "x", 0])
