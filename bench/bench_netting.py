"""Netting core inside the MicroPython VM: us per reading, us per close, peak heap at 64k."""

from benchlib import print_vm

HEAP = "72k"  # compiled from source in the VM: the compiler needs more than the run


def main():
    title = "netting core in the MicroPython VM (unix port, -X heapsize=%s)" % HEAP
    print_vm(title, "mpy_netting.py", heapsize=HEAP)


if __name__ == "__main__":
    main()
