"""``python -m job``: the container's entrypoint (default command ``run``)."""

import sys

from job.cli import main

sys.exit(main())
