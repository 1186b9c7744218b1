"""Maintainer tools for a git checkout; they do not ship in the wheel (pyproject.toml lists the packages that do).

- ``docs``: the generated tables in README.md and docs/*.md (what the commands' ``--update`` writes);
- ``browser``: the demo app driven in headless Chromium through Selenium (its browser test and benchmark).
"""
