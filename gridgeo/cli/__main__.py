"""``python -m gridgeo.cli``: the ``gridgeo`` command."""

import sys

from . import main

sys.exit(main())
