"""``python -m ecgimn``: the command line."""

import sys

from ecgimn.cli import main

sys.exit(main())
