"""``python -m shared.cli``: the ``shoal`` command, for when its script is not on PATH."""

from shared.cli.main import main

main()
