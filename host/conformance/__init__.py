"""The conformance suite: scenarios with the simulated meter's truth, runs on the simulated
board (simulated.py) or a real one (hardware.py), the checks (checks.py), a report."""
