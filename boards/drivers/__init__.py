# Drivers that turn a board's peripherals into the duck-typed parts the main loop uses.
