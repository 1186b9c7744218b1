"""Time a pretrained load as a user meets it, for the checkout at ROOT (default: this one), every preset:

    .venv/bin/python experiments/load_time.py [ROOT]

cold: a new process runs torch.hub.load(ROOT, name, source="local") and predicts one image (median of 3), for the
escnn model and for export=True; self-check: the in-process time of the probe comparison that every load runs.
Run it on an older checkout (git worktree add /tmp/old <commit>) to compare load times across formats.
"""
import sys
import time
from pathlib import Path

from zoo.cli.bench import cold_start, first_prediction_code

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
NAMES = ["c4_mnist", "c8_mnist", "d4_mnist", "so2_mnist", "trivial_mnist"]


def cold(name: str, export: bool, repeats: int = 3) -> float:
    return cold_start(first_prediction_code(name, export, ROOT), repeats, cwd=ROOT)


def self_check_time(name: str) -> str:
    if ROOT != Path(__file__).resolve().parent.parent or not (ROOT / "zoo" / "probes.py").is_file():
        return "n/a"  # measured in this process, so only for this checkout
    from zoo import create_model
    from zoo.probes import self_check

    model = create_model(name, pretrained=True)
    t = time.perf_counter()
    self_check(model, model.meta.to_dict(), name, 1)
    return f"{time.perf_counter() - t:.3f}"


print(f"checkout {ROOT}")
print("| model | cold escnn (s) | cold export (s) | self-check in process (s) |\n| --- | --- | --- | --- |")
for name in NAMES:
    print(f"| {name} | {cold(name, False):.2f} | {cold(name, True):.2f} | {self_check_time(name)} |", flush=True)
