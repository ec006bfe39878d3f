"""Record store inside the MicroPython VM: append cost, boot recovery over a year of records
under a 128 KB heap, and the firmware's flash wear on a Pico's littlefs (erases and
programs per day) with the implied flash lifetime."""

import os
import tempfile

from benchlib import figures, run_vm

from host.deploy import stage

CYCLES = 100_000  # erase cycles per block of the Pico's flash (W25Q16JV: 100,000 minimum)
BLOCK = 4096
# (what runs, poll_s, host_s, fail_s, reject_s): a host signs an ACK every host_s; a poll
# fails every fail_s and S0 bounces are rejected every reject_s (0: never).
WEAR_CASES = [
    ("healthy meter, host syncing hourly", 1, 3600, 0, 0),
    ("S0 bounces rejected all day", 1, 3600, 0, 1),
    ("meter silent and bounces all day", 1, 3600, 1, 1),
]
# Issue 13: a Pico (MicroPython 1.28 rp2, emulated flash) in 2.13 h: 300 erases, 1,068
# programs, with the S0 limit tests (bounces rejected), a deploy and 13 power cuts.
PICO_HOURS, PICO_ERASES, PICO_PROGRAMS, PICO_CUTS = 2.13, 300, 1068, 13


def vm(*args, heapsize=None):
    proc = run_vm("mpy_store.py", *args, heapsize=heapsize, what="benchmark phase " + args[0])
    return figures(proc.stdout)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "records")
        a = vm("append", root)
        r = vm("recover", root, heapsize="128k")
        staged = stage(os.path.join(tmp, "staged"), "armv6m")
        wear = [(case, vm("rp2day", staged, *args, heapsize="8M")) for case, *args in WEAR_CASES]
    print("Record store in the MicroPython VM (unix port; a board's flash is slower)")
    print(
        "  append, unix-port filesystem:      %6.0f us/record (%d bytes allocated per append)"
        % (a["append_us"], a["append_alloc_bytes"])
    )
    print("  stream records():                  %6.1f us/record" % a["records_us"])
    print(
        "  boot recovery, a year stored:      %6.1f ms for %d records in %d segments"
        " (open: scan, tail check, chain across the tail), under -X heapsize=128k"
        % (r["recover_ms"], r["records"], r["segments"])
    )
    print("  store object after open:           %6d bytes of heap" % r["store_heap_bytes"])
    print("  full verify of the year:           %6.0f ms" % r["verify_ms"])
    flash_wear(wear)


def flash_wear(wear):
    first = wear[0][1]
    blocks = 352
    print(
        "Flash wear of the firmware on a Pico: littlefs as MicroPython's rp2 port mounts it"
        " (%d blocks of 4 KB = 1408 KB, progsize=256), the real App polling every 1 s"
        " (checkpoint every 60 s and at each 15-minute close, atomic writes, error log),"
        " after a deploy; the third simulated day:" % blocks
    )
    print("  %-45s %9s %10s %10s" % ("", "erases/d", "programs/d", "KB prog/d"))
    for case, d in wear:
        print(
            "  %-45s %9d %10d %10d"
            % (case, d["rp2_erases"], d["rp2_programs"], d["rp2_programmed"] / 1024)
        )
    print(
        "  a deploy: %d erases, %d programs; a boot (power cut): %.1f erases, %.1f programs;"
        " checkpoint %d bytes"
        % (
            first["rp2_deploy_erases"],
            first["rp2_deploy_programs"],
            first["rp2_boot_erases"],
            first["rp2_boot_programs"],
            first["rp2_checkpoint_bytes"],
        )
    )
    pico = wear[1][1]
    hours = PICO_HOURS / 24
    erases = pico["rp2_erases"] * hours
    programs = pico["rp2_programs"] * hours
    extra_e = first["rp2_deploy_erases"] + PICO_CUTS * first["rp2_boot_erases"]
    extra_p = first["rp2_deploy_programs"] + PICO_CUTS * first["rp2_boot_programs"]
    print(
        "  against the Pico's %.2f h (%d erases, %d programs = %d and %d a day): the bounces"
        " case (an error log entry a minute, as the Pico's S0 limit tests make) gives %.0f"
        " erases and %.0f programs in %.2f h, %.0f and %.0f with a deploy and %d boots"
        % (
            PICO_HOURS,
            PICO_ERASES,
            PICO_PROGRAMS,
            PICO_ERASES / hours,
            PICO_PROGRAMS / hours,
            erases,
            programs,
            PICO_HOURS,
            erases + extra_e,
            programs + extra_p,
            PICO_CUTS,
        )
    )
    # Lifetime: littlefs levels wear dynamically over the blocks it allocates, i.e. all but
    # the ones holding files that never change (the firmware, main.py, config, key).
    static = first["rp2_used_blocks"]
    segment_blocks = -(-first["rp2_segment_records"] * first["rp2_record_bytes"] // BLOCK)
    segments = -(-first["rp2_capacity"] // first["rp2_segment_records"]) + 1
    full_store = segments * segment_blocks
    pool = blocks - static
    tight = pool - full_store
    print(
        "Lifetime of the 1408 KB littlefs at %d erase cycles a block: %d blocks are in use"
        " after the deploy, files that never change; wear spreads over the other %d"
        " (record segments are freed as they are dropped), or, at the worst, over the %d"
        " still free with the store full (%d records: %d blocks):"
        % (CYCLES, static, pool, tight, first["rp2_capacity"], full_store)
    )
    for case, d in wear:
        per_day = d["rp2_erases"]
        print(
            "  %-45s %5.0f years (%.0f with only the free blocks)"
            % (case, pool * CYCLES / per_day / 365.25, tight * CYCLES / per_day / 365.25)
        )


if __name__ == "__main__":
    main()
