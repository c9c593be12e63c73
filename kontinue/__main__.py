"""`python -m kontinue` runs the CLI."""

import sys

from kontinue.cli import main

sys.exit(main())
