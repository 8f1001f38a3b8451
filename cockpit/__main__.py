"""`python -m cockpit ...`: what `torchrun -m cockpit train ...` and `cockpit train --nproc N` run on each rank."""

import sys

from cockpit.cli.main import main

sys.exit(main())
