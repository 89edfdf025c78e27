"""``python -m lossevo.cli``: the command line."""

import sys

from lossevo.cli import main

sys.exit(main())
