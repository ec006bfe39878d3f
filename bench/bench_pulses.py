"""S0 pulse handler inside the MicroPython VM: cost per edge beside a minimal handler."""

from benchlib import print_vm


def main():
    print_vm("S0 edge handler in the MicroPython VM (unix port)", "mpy_pulses.py")


if __name__ == "__main__":
    main()
