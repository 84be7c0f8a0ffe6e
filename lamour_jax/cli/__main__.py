"""`python -m lamour_jax.cli ...`: the `lamour` command."""

import sys

from lamour_jax.cli import main

sys.exit(main())
