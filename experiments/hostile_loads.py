"""What a hostile checkpoint costs to refuse: each case loaded in a new process, its wall time and peak memory.

    .venv/bin/python experiments/hostile_loads.py

Every case starts from a copy of weights/so2_mnist and changes one thing; the "-hub" cases are served by the
loopback Hub of tests/hub_server.py as a repository the zoo has no record of. Two references: a process that only
imports torch, escnn and the zoo, and an ordinary load of so2_mnist. The time is the load's, after the imports;
peak memory is the child's maximum resident set (``os.wait4``), imports included.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {  # name: (change to the folder, load the exported model)
    "the imports alone (torch, escnn, zoo)": (None, False),
    "so2_mnist, an ordinary load": (lambda folder, config: None, False),
    "config.json of 50 MB": (lambda f, c: (f / "config.json").write_text('{"protocol": "' + "x" * 50_000_000 + '"}'),
                             False),
    "JSON nested 500,000 deep": (lambda f, c: (f / "config.json").write_text("[" * 500_000 + "]" * 500_000), False),
    "so2_grid_size 5,000,000": (lambda f, c: c["architecture"].update(so2_grid_size=5_000_000), False),
    "so2_grid_size 5,000,000 -hub": (lambda f, c: c["architecture"].update(so2_grid_size=5_000_000), False),
    "export layer of 300,000 channels": (lambda f, c: c["export"]["layers"][0].__setitem__(2, 300_000), True),
    "export layer of 300,000 channels -hub": (lambda f, c: c["export"]["layers"][0].__setitem__(2, 300_000), True),
    "header claiming 10^12 bytes": (lambda f, c: (f / "model.safetensors").write_bytes(struct.pack("<Q", 10 ** 12)
                                                                                        + b"{}"), False),
}

CHILD = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
import torch, escnn
from zoo import from_pretrained
start = time.perf_counter()
if {folder!r} is not None:
    try:
        if {hub!r}:
            import huggingface_hub.constants as constants
            from hub_server import HubServer
            with HubServer({{{repo!r}: (__import__("pathlib").Path({folder!r}), set())}}) as hub:
                constants.ENDPOINT = hub.url
                constants.HUGGINGFACE_CO_URL_TEMPLATE = hub.url + "/{{repo_id}}/resolve/{{revision}}/{{filename}}"
                constants.HF_HUB_CACHE = {cache!r}
                from_pretrained({repo!r}, export={export!r})
        else:
            from_pretrained({folder!r}, export={export!r})
        print("loaded")
    except (ValueError, OSError) as e:
        print(type(e).__name__ + ": " + str(e)[:150])
print(f"{{time.perf_counter() - start:.2f}}")
"""


def run_case(name: str, work: Path) -> tuple[str, float, float]:
    """(what the load said, seconds, peak MB) for one case in a new process."""
    change, export = CASES[name]
    folder = None
    if change is not None:
        folder = work / f"case{len(list(work.iterdir()))}"
        shutil.copytree(ROOT / "weights" / "so2_mnist", folder)
        config = json.loads((folder / "config.json").read_text())
        change(folder, config)
        if json.loads((ROOT / "weights" / "so2_mnist" / "config.json").read_text()) != config:
            (folder / "config.json").write_text(json.dumps(config))
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), folder=None if folder is None else str(folder),
                        hub=name.endswith("-hub"), export=export, cache=str(work / "cache"),
                        repo=f"someone/{folder.name if folder else 'none'}")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    _, status, usage = os.wait4(process.pid, 0)
    lines = process.stdout.read().splitlines()
    process.stdout.close()
    if status != 0 or not lines:
        raise RuntimeError(f"{name}: the child failed (status {status})")
    said = (lines[0] if len(lines) > 1 else "imported").replace(str(work), "…")
    return said, float(lines[-1]), usage.ru_maxrss / 1024


def main() -> None:
    print("| case | what the load said | seconds (after the imports) | peak memory (with the imports) |")
    print("| --- | --- | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            said, seconds, peak = run_case(name, Path(tmp))
            print(f"| {name} | {said} | {seconds:.2f} | {peak:,.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
