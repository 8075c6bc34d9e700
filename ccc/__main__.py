"""``python -m ccc`` is the ``ccc`` command."""

from ccc.cli.entry import main

main()
