"""``python -m ltvkit.cli``: the ``ltv`` command."""

from ltvkit.cli import main

main()
