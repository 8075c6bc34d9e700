"""``python -m ccc`` is the ``ccc`` command."""

from ccc.cli.main import main

main()
