# netmeter boot.py for CircuitPython (`host deploy` installs it): runs at power-up and reset.
#
# It decides who may write the CIRCUITPY drive until the next reset (docs/wiring.md):
# - running (default): the firmware, which keeps its records, checkpoint, error log and
#   link counter there; the computer sees the drive read-only.
# - maintenance (MAINTENANCE_PIN jumpered to GND, or held low by a button, at reset): the
#   computer, for `host deploy` and editing files; the firmware records nothing and says
#   so on the link (`host status`).
# It also turns on a second USB serial port for the host link, so the console keeps the
# REPL and print output. Its own output goes to boot_out.txt on the drive.
import board
import digitalio
import storage
import usb_cdc

MAINTENANCE_PIN = "A0"  # a `board` pin name; docs/wiring.md

usb_cdc.enable(console=True, data=True)

pin = digitalio.DigitalInOut(getattr(board, MAINTENANCE_PIN))
pin.switch_to_input(pull=digitalio.Pull.UP)
maintenance = not pin.value
pin.deinit()

if maintenance:
    print(
        "netmeter: maintenance mode (%s low): CIRCUITPY writable by the computer" % MAINTENANCE_PIN
    )
else:
    storage.remount("/", readonly=False)
    print("netmeter: running: CIRCUITPY writable by the firmware, read-only to the computer")
