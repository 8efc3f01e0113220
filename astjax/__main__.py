"""``python -m astjax``: the astjax command line (see astjax/aot/cli.py)."""
import sys

from astjax.aot.cli import main

sys.exit(main())
