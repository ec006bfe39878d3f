# Simulated meter and board for tests and demos (CPython only).
