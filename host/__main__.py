"""`python -m host`: the same as the `host` console script."""

import sys

from host.cli import main

sys.exit(main())
