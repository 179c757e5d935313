"""``python -m shoal_cli``: the ``shoal`` command, for when its script is not on PATH."""

from shoal_cli.main import main

main()
