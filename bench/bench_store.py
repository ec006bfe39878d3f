"""Record store inside the MicroPython VM: append cost, boot recovery over a year of records
under a 128 KB heap, and flash writes per day on littlefs with the implied flash lifetime."""

import os
import tempfile

from benchlib import figures, run_vm

FLASH_BYTES = 1 << 20  # 1 MB of flash
CYCLES = 100_000  # erase cycles per block


def vm(*args, heapsize=None):
    proc = run_vm("mpy_store.py", *args, heapsize=heapsize, what="benchmark phase " + args[0])
    return figures(proc.stdout)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "records")
        a = vm("append", root)
        r = vm("recover", root, heapsize="128k")
    d = vm("day", heapsize="8M")
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
    print("Flash writes per simulated day, littlefs on a 1 MB RAM device (4 KB blocks):")
    print("  96 records (15 min), hourly ack, 300-byte checkpoint written atomically every 60 s")
    print("  and at every interval close (1536 checkpoints/day)")
    print(
        "  bytes the code writes:             %9d in %d write calls"
        % (d["day_app_bytes"], d["day_write_calls"])
    )
    print("  bytes littlefs programs:           %9d" % d["day_flash_programmed"])
    erased = d["day_erases"] * d["block"]
    print("  blocks littlefs erases:            %9d (%d bytes)" % (d["day_erases"], erased))
    endurance = FLASH_BYTES * CYCLES
    years = endurance / erased / 365.25
    print(
        "Flash lifetime on 1 MB of %d-cycle flash, wear spread evenly over every block"
        " (littlefs wear-levelling overhead and the firmware's own files ignored):" % CYCLES
    )
    print(
        "  by erases:   %.3g erase-bytes / %d per day = %.0f days = %.1f years"
        % (endurance, erased, endurance / erased, years)
    )
    print("  by programmed bytes: %.1f years" % (endurance / d["day_flash_programmed"] / 365.25))
    store_erased = d["store_only_erases"] * d["block"]
    print(
        "  the store alone (no checkpoints): %d erases/day, %.0f years"
        % (d["store_only_erases"], endurance / store_erased / 365.25)
    )


if __name__ == "__main__":
    main()
