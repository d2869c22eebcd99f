"""``python -m gafit.cli``: the ``gafit`` command."""

import sys

from gafit.cli import main

sys.exit(main())
