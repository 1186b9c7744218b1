"""``python -m zoo.cli <command> ...``: the same as the ``zoo`` console script."""
from . import main

main()
