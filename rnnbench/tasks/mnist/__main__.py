"""python -m rnnbench.tasks.mnist download DIR"""

import sys

from rnnbench.tasks.mnist.download import main

sys.exit(main())
