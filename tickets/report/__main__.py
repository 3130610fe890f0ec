"""`python -m tickets.report`: see tickets.report.cli."""

import sys

from tickets.report import main

sys.exit(main())
