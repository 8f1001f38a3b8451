"""`python -m cockpit.cli ...`: the same as `cockpit ...` (the tests start real processes this way)."""

import sys

from cockpit.cli.main import main

sys.exit(main())
