"""``python -m lossevo``: the command line."""

import sys

from lossevo.cli import main

sys.exit(main())
