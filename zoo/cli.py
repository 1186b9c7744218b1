"""Run a command-line ``main`` so that a user mistake ends in one clear line, not a traceback."""
from __future__ import annotations

import sys
from typing import Callable


def run(main: Callable[[], object]) -> None:
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"error: {e}")
