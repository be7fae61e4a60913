"""``python -m nervosum`` is the same as the ``nervosum`` command."""

from nervosum.cli import main

main()
