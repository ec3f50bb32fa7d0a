"""``python -m rnnbench.diagnostics_plots DIR``: kept as an alias of
``python -m rnnbench.report gradients DIR`` (the code lives in `rnnbench.report.gradients`)."""

import sys

from .report.gradients import main

if __name__ == "__main__":
    sys.exit(main())
