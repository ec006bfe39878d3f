"""The conformance suite: scenarios with the simulated meter's truth, a runner, a report."""
