"""Allow `python -m dsctl`."""

import sys

from dsctl.cli import main

sys.exit(main())
