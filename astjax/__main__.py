"""``python -m astjax``: the astjax command line (see astjax/cli.py)."""
import sys

from .cli import main

sys.exit(main())
