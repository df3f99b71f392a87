"""``python -m overparam``: the ``overparam`` command; without arguments it prints the usage
(every subcommand and the exit codes) and exits 0."""

import sys

from overparam.cli import main

raise SystemExit(main(None if sys.argv[1:] else ["--help"]))
