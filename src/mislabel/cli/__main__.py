"""``python -m mislabel.cli``: the same as the ``mislabel`` command."""

from mislabel.cli import main

main()
