"""The handlers of the `host` commands, by subject; host/cli.py holds the table naming them.

Each module has `cmd_<name>(args)` handlers (their docstring is the command's --help) and
`<name>_arguments(parser)` functions; a handler raises host.errors.CommandError for an
expected failure and calls library modules (host.sync, host.history, ...) for the work."""
