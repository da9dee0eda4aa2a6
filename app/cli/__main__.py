"""``python -m app.cli ...`` (and ``torchrun ... -m app.cli train ...``): the command line."""

import sys

from app.cli import main

sys.exit(main())
