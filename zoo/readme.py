"""Write generated tables into README.md between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` markers."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_between_markers(text: str, key: str, content: str) -> str:
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {begin} ... {end} block to update")
    return pattern.sub(lambda _: f"{begin}\n{content}\n{end}", text)


def update_readme(key: str, content: str, path: Path = README) -> None:
    """Replace the block ``key`` of ``path`` (the repository's README.md) with ``content``."""
    path.write_text(replace_between_markers(path.read_text(), key, content))


def publish(key: str, table: str, update: bool) -> None:
    """Print a command's table; with ``update`` also write it into the README block ``key``."""
    print(table)
    if update:
        update_readme(key, table)
