"""The README's table of what each recipe change bought, on the validation split, from the runs' records:

    .venv/bin/python experiments/recipes.py [--update]
    .venv/bin/python experiments/recipes.py --record runs/c4-r3-28/out c4-ls-ema-28ep   # after a training run

Each record in experiments/records/ is the config.json of one training run (its preset, final validation accuracy
and training recipe, with the validation curve where the run recorded it), kept so that ablations that publish
no checkpoint stay on record. ``--record FOLDER NAME`` writes one from a checkpoint folder; a new record also
needs its row in ``ROWS``. ``--update`` writes the table into README.md (block ``recipes``).
"""
import argparse
import json
from pathlib import Path

from zoo.files import read_config, write_text
from zoo.dev.docs import publish
from zoo.training import trained_on

RUNS = Path(__file__).resolve().parent / "records"
# (record, what changed against the row before it of the same preset)
ROWS = [
    ("trivial-round1-10ep", "round 1 (published until round 3)"),
    ("trivial-ls-ema-10ep", "+ label smoothing 0.1, EMA"),
    ("trivial-ls-ema-10ep-seed1", "the same, seed 1"),
    ("trivial-ls-ema-40ep", "40 epochs (published)"),
    ("c4-round1-10ep", "round 1 (published until round 3)"),
    ("c4-ema-28ep", "28 epochs, EMA"),
    ("c4-ls-ema-28ep", "+ label smoothing 0.1 (published)"),
    ("c4-ls-ema-28ep-lr6e-3", "the same, peak learning rate 6e-3 (not 3e-3)"),
    ("c8-round2-5.5ep", "round 2 (published until round 3)"),
    ("c8-ls-ema-24ep", "24 epochs, label smoothing, EMA (published)"),
    ("c8-wide-ls-ema-24ep", "the same at 1.5 times the widths (published until round 5)"),
    ("c8-wide-gpu-54ep", "54 epochs, on a GPU"),
    ("c8-wide-gpu-54ep-seed1", "the same, seed 1"),
    ("c8-wide-gpu-54ep-wd1e-2", "54 epochs, weight decay 0.01 (not 1e-4)"),
    ("c8-wide-gpu-54ep-lr6e-3", "54 epochs, peak learning rate 6e-3 (not 3e-3; published until round 6)"),
    ("c8-wide-gpu-36ep-lr6e-3", "round 6: 36 epochs, peak lr 6e-3"),
    ("c8-wide-gpu-36ep-lr6e-3-jitter", "+ random shifts up to 2 pixels and scales 0.9 to 1.1"),
    ("c8-wide2x-gpu-36ep-lr6e-3", "36 epochs, peak lr 6e-3, 2 times c8's widths (not 1.5)"),
    ("c8-wide2x-gpu-36ep-lr6e-3-jitter", "+ random shifts and scales"),
    ("c8-wide2x-gpu-36ep-lr6e-3-jitter-seed1", "the same, seed 1"),
    ("c8-wide3x-gpu-36ep-lr6e-3-jitter", "3 times c8's widths, random shifts and scales"),
    ("c8-wide-gpu-24ep-lr6e-3-seed2", "24 epochs, peak lr 6e-3, seed 2"),
    ("c8-wide-gpu-24ep-lr6e-3-seed3", "the same, seed 3"),
    ("c8-wide-gpu-24ep-lr6e-3-seed4", "the same, seed 4"),
    ("c8-wide-gpu-24ep-lr6e-3-seed5", "the same, seed 5"),
    ("c8-wide-gpu-24ep-lr6e-3-seed6", "the same, seed 6"),
    ("c8-wide-gpu-24ep-lr6e-3-seed7", "the same, seed 7 (published)"),
    ("d4-round2-4.5ep", "round 2 (published until round 3)"),
    ("d4-ls-ema-22ep", "22 epochs, label smoothing, EMA (published)"),
    ("so2-round2-4ep", "round 2 (published until round 3)"),
    ("so2-ls-ema-13ep", "13 epochs, label smoothing, EMA (published)"),
]


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def row(record: dict, change: str) -> str:
    t = record["training"]
    averaging = t.get("weight_average", "none")  # e.g. "EMA(decay=0.999), published"
    ema = averaging != "none"
    decay = averaging.split("decay=")[1].split(")")[0] if ema else "-"
    last = t["val_history_raw"][-1][1] if ema else record["metrics"]["val_accuracy"]
    average = record["metrics"]["val_accuracy"] if ema else None
    smoothing = t.get("loss", "label_smoothing=0.0").split("label_smoothing=")[1].rstrip(")")
    return (f"| {record['preset']} | {change} | {t['epochs']:g} | {smoothing} | {decay} | "
            f"{t['seed']} | {pct(last)} | {pct(average)} | {t['wall_time_min']:.0f} min | {trained_on(t)} |")


def table() -> str:
    lines = ["| preset | run | epochs | label smoothing | EMA decay | seed | last weights | moving average | "
             "train time | trained on |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, change in ROWS:  # a row whose record is missing is an error, not a silently shorter table
        lines.append(row(json.loads((RUNS / f"{name}.json").read_text()), change))
    return "\n".join(lines)


def record(folder: str | Path, name: str, into: Path = RUNS) -> Path:
    """Write the record ``<into>/<name>.json`` of the training run whose checkpoint folder is ``folder``."""
    config = read_config(folder)
    kept = {"preset": config["preset"], "weights_tag": config["weights_tag"],
            "widths": config["architecture"]["widths"],
            "metrics": {"val_accuracy": config["metrics"]["val_accuracy"]}, "training": config["training"]}
    path = into / f"{name}.json"
    write_text(path, json.dumps(kept, indent=2) + "\n")
    return path


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--update", action="store_true", help="write the table into README.md")
    p.add_argument("--record", nargs=2, metavar=("FOLDER", "NAME"),
                   help="write experiments/records/NAME.json from the checkpoint folder FOLDER, then print the table")
    args = p.parse_args()
    if args.record:
        print(f"wrote {record(*args.record)}")
    publish("recipes", table(), args.update)
