# Board entry point: report handler errors, then build the board and the app and run it.
import micropython

# Boards report exceptions raised in interrupt handlers only with this buffer; the unix
# port (the simulated board) has no such handlers and no such function.
if hasattr(micropython, "alloc_emergency_exception_buf"):
    micropython.alloc_emergency_exception_buf(100)

from netmeter.runner import main  # noqa: E402 - the buffer must exist before anything else

main()
