"""Write generated tables into the documentation between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` markers.

Each block lives in exactly one of the checkout's documents, README.md or docs/*.md; the commands that write a
block (``--update``) find it there.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..files import write_text

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout
README = ROOT / "README.md"


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and the pages under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def replace_between_markers(text: str, key: str, content: str) -> str:
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {begin} ... {end} block to update")
    return pattern.sub(lambda _: f"{begin}\n{content}\n{end}", text)


def document_with(key: str, root: Path = ROOT) -> Path:
    """The one document that holds the block ``key``."""
    found = [path for path in documents(root) if f"<!-- BEGIN {key} -->" in path.read_text()]
    if len(found) != 1:
        raise ValueError(f"the block {key!r} must be in exactly one of README.md and docs/*.md, found in "
                         f"{[str(p.relative_to(root)) for p in found] or 'none'}")
    return found[0]


def update_readme(key: str, content: str, path: Path | None = None) -> Path:
    """Replace the block ``key`` of ``path`` (default: the document that holds it) with ``content``; a reader sees
    the old document or the new one, never half of one."""
    path = path or document_with(key)
    write_text(path, replace_between_markers(path.read_text(), key, content))
    return path


def publish(key: str, table: str, update: bool) -> None:
    """Print a command's table; with ``update`` also write it into the documentation's block ``key``."""
    print(table)
    if update:
        update_readme(key, table)
