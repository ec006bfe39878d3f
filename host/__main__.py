"""`python -m host`: the same as the `host` console script."""

import sys

from host.interrupt import quiet_until_running

quiet_until_running()  # before the imports below: a Ctrl-C now exits with one line

from host.cli import main  # noqa: E402

sys.exit(main())
