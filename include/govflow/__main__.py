"""``python -m govflow`` is the ``govflow`` command."""

from govflow.cli import main

main()
