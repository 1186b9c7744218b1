"""Learning curves: every preset trained on the first N rotated training images, N in {1,000, 3,000, 12,000}.

    python experiments/learning_curves.py run [--lanes 2] [--only c4_mnist,...] [--threads 1] [--device cuda]
    python experiments/learning_curves.py report [--update]                     # table + figure from the records
    python experiments/learning_curves.py publish    # the 12,000-image runs -> weights/<preset>-rotated-12k

``run`` trains what has no record yet: the plan below, seed 0 first and the longest runs first, ``--lanes`` runs
side by side with ``--threads`` threads each (one by default; a run alone on a 2-core CPU: ``--lanes 1 --threads 2``).
Each run is ``zoo train`` (resumable: started again, it continues from its last resume checkpoint) followed by
``zoo evaluate <checkpoint> --no-profile`` (the upright and the rotated test set); both land in one record,
``experiments/curves/<preset>-n<N>-s<seed>.json``, which is committed. A run with a record is not run again.
``report`` reads only the committed records (and, for N = 55,000, the published rotated weights' config.json).

The plan (the same schedules for every preset; the validation history in each record shows whether it had
converged): at 1,000 and 3,000 images batch 64, at 12,000 batch 128 (the published recipe's) for 20 epochs and,
as a second schedule, 36 (a run on it is named ``...-n12000-e36-s0``). Where a seed has runs on both, the one
with the better validation accuracy (never the test set) is the one in the table, the figure and the
``rotated-12k`` weights. The published recipe otherwise: AdamW, one-cycle at 3e-3, label smoothing 0.1, EMA
0.999 published, and ``zoo train``'s automatic precision, which times a step in each (the seed-0 runs at 1,000
and 3,000 images and the 20-epoch runs of c4 and d4 at 12,000 forced bfloat16, which on the Intel Xeon they
ran on was twice as slow as float32; each record says which precision it trained in).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from math import nan
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "experiments" / "curves"
RUNS = ROOT / "runs" / "curves"
PRESETS = ("trivial_mnist", "c4_mnist", "c8_mnist", "d4_mnist", "so2_mnist", "c8_wide_mnist")
# N -> its schedules, the first the default: (epochs, batch size, seeds, steps between validations)
SCHEDULES = {1000: ((50, 64, (0, 1), 375),), 3000: ((25, 64, (0, 1), 575),),
             12000: ((20, 128, (0,), 620), (36, 128, (0,), 620))}
# images per second of one thread (the published runs' records), to run the longest first
SPEED = {"trivial_mnist": 700, "c4_mnist": 260, "c8_mnist": 150, "d4_mnist": 144, "so2_mnist": 120,
         "c8_wide_mnist": 65}


def run_name(preset: str, n: int, seed: int, epochs: float | None = None) -> str:
    """``c4_mnist-n3000-s1``; a run on one of N's other schedules says its epochs: ``c4_mnist-n12000-e36-s0``."""
    if epochs is None or epochs == SCHEDULES[n][0][0]:
        return f"{preset}-n{n}-s{seed}"
    return f"{preset}-n{n}-e{epochs:g}-s{seed}"


def _name(job_or_record: dict) -> str:
    r = job_or_record
    return run_name(r["preset"], r.get("n", r.get("train_size")), r["seed"],
                    r["epochs"] if "epochs" in r else r["training"]["epochs"])


def plan(presets, seeds=None) -> list[dict]:
    """The runs, seed 0 of every preset and size first, each seed's longest runs first."""
    jobs = [{"preset": p, "n": n, "seed": s, "epochs": e, "batch": b, "val_every": v}
            for p in presets for n, schedules in SCHEDULES.items() for e, b, run_seeds, v in schedules
            for s in run_seeds if seeds is None or s in seeds]
    return sorted(jobs, key=lambda j: (j["seed"], -j["n"] * j["epochs"] / SPEED.get(j["preset"], 100)))


def train_command(job: dict, data_root: str, run_dir: Path, device: str = "cpu", threads: int = 1) -> list[str]:
    preset = job["preset"]
    return [str(ROOT / ".venv/bin/zoo"), "train", preset, "--data-root", data_root, "--train-size", str(job["n"]),
            "--epochs", str(job["epochs"]), "--batch-size", str(job["batch"]), "--seed", str(job["seed"]),
            "--label-smoothing", "0.1", "--ema", "0.999", "--threads", str(threads), "--no-progress",
            "--val-every", str(job["val_every"]), "--checkpoint-every", "100", "--device", device,
            "--run-dir", str(run_dir), "--out", str(run_dir / "out")]


def run_job(job: dict, data_root: str, device: str = "cpu", threads: int = 1) -> str:
    name = _name(job)
    record, run_dir = RECORDS / f"{name}.json", RUNS / name
    if record.is_file():
        return f"{name}: recorded already"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}
    started = time.time()
    with open(run_dir / "log.txt", "a") as log:
        if not (run_dir / "out" / "config.json").is_file():
            command = train_command(job, data_root, run_dir, device, threads)
            if (run_dir / "resume.safetensors").is_file():
                command.append("--resume")
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=True, cwd=ROOT)
        subprocess.run([str(ROOT / ".venv/bin/zoo"), "evaluate", str(run_dir / "out"), "--data-root", data_root,
                        "--no-profile", "--threads", str(threads), "--json", str(run_dir / "eval.json")],
                       stdout=log, stderr=subprocess.STDOUT, env=env, check=True, cwd=ROOT)
    config = json.loads((run_dir / "out" / "config.json").read_text())
    metrics = next(iter(json.loads((run_dir / "eval.json").read_text()).values()))
    RECORDS.mkdir(parents=True, exist_ok=True)
    result = {"preset": job["preset"], "train_size": job["n"], "seed": job["seed"],
              "val_accuracy": config["training"]["val_history"][-1][1],
              "test_rotated_accuracy": metrics["test_rotated_accuracy"],
              "test_upright_accuracy": metrics["test_upright_accuracy"],
              "num_params": config["num_params"], "training": config["training"]}
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(record)
    return (f"{name}: rotated test {100 * result['test_rotated_accuracy']:.2f}%, validation "
            f"{100 * result['val_accuracy']:.2f}%, {(time.time() - started) / 60:.1f} min")


def run(args) -> None:
    jobs = plan(args.only.split(",") if args.only else PRESETS,
                [int(s) for s in args.seeds.split(",")] if args.seeds else None)
    if args.jobs:  # these runs, in this order
        by_name = {_name(j): j for j in jobs}
        unknown = [name for name in args.jobs.split(",") if name not in by_name]
        if unknown:
            raise SystemExit(f"not in the plan: {', '.join(unknown)}")
        jobs = [by_name[name] for name in args.jobs.split(",")]
    print(f"{len(jobs)} runs, {args.lanes} at a time", flush=True)
    with ThreadPoolExecutor(args.lanes) as pool:
        for line in pool.map(lambda j: _safe(j, args.data_root, args.device, args.threads), jobs):
            print(line, flush=True)


def _safe(job: dict, data_root: str, device: str, threads: int) -> str:
    try:
        return run_job(job, data_root, device, threads)
    except subprocess.CalledProcessError as e:
        return f"{_name(job)}: FAILED ({e}); see its log.txt"


def load_records() -> dict[tuple[str, int], list[dict]]:
    """The committed records by (preset, N), seeds in order; N = 55,000 from the published rotated weights."""
    from zoo.records import find_record

    found: dict[tuple[str, int], list[dict]] = {}
    for path in sorted(RECORDS.glob("*.json")):
        r = json.loads(path.read_text())
        found.setdefault((r["preset"], r["train_size"]), []).append(r)
    for preset in {p for p, _ in found}:
        record = find_record(preset, "rotated")
        if record is not None:
            found[(preset, 55000)] = [{"preset": preset, "train_size": 55000, "seed": 0, **record.metrics}]
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in found.items()}


def chosen(found: dict) -> dict[tuple[str, int], list[dict]]:
    """Per (preset, N), one run per seed: where a seed has runs on several schedules, the best on validation."""
    out = {}
    for key, runs in found.items():
        best: dict[int, dict] = {}
        for r in runs:
            if r["seed"] not in best or r["val_accuracy"] > best[r["seed"]]["val_accuracy"]:
                best[r["seed"]] = r
        out[key] = [best[s] for s in sorted(best)]
    return out


def _mean(runs: list[dict], key: str = "test_rotated_accuracy") -> float:
    return 100 * sum(r[key] for r in runs) / len(runs)


def _cell(runs: list[dict] | None) -> str:
    if not runs:
        return "-"
    if len(runs) == 1:
        return f"{_mean(runs):.2f}%"
    spread = 100 * (max(r["test_rotated_accuracy"] for r in runs) - min(r["test_rotated_accuracy"] for r in runs))
    return f"{_mean(runs):.2f}% ±{spread / 2:.2f}"


def tables(found: dict) -> tuple[str, str]:
    """The README's table (accuracy, and the lead over the plain CNN; the runs chosen on validation) and the
    docs' table (every run; a star marks the chosen one where a seed has several)."""
    from zoo.training import trained_on

    every, found = found, chosen(found)
    sizes = sorted({n for _, n in found})
    presets = [p for p in PRESETS if any((p, n) in found for n in sizes)]
    head = "| model | " + " | ".join(f"N = {n:,}" for n in sizes) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in sizes) + " |"
    rows = [head, rule]
    for p in presets:
        rows.append(f"| {p} | " + " | ".join(_cell(found.get((p, n))) for n in sizes) + " |")
    base = {n: found.get(("trivial_mnist", n)) for n in sizes}
    for p in presets:
        if p == "trivial_mnist":
            continue
        rows.append(f"| {p} minus plain CNN | " + " | ".join(
            f"{_mean(found[(p, n)]) - _mean(base[n]):+.2f}" if found.get((p, n)) and base[n] else "-"
            for n in sizes) + " |")
    detail = ["| model | N | seed | epochs | steps | validation | rotated test | upright test | precision "
              "| train time |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for p in presets:
        for n in sizes:
            for r in sorted(every.get((p, n), []), key=lambda r: (r["seed"], r.get("training", {}).get("epochs"))):
                t = r.get("training")
                if t is None:  # the published 55,000-image weights: in the README's results table
                    continue
                several = sum(q["seed"] == r["seed"] for q in every[(p, n)]) > 1
                star = " *" if several and any(r is q for q in found[(p, n)]) else ""
                detail.append(f"| {p} | {n:,} | {r['seed']} | {t['epochs']:g} | {t['steps']:,} | "
                              f"{100 * r['val_accuracy']:.2f}%{star} | {100 * r['test_rotated_accuracy']:.2f}% | "
                              f"{100 * r['test_upright_accuracy']:.2f}% | "
                              f"{'bf16' if t['bf16_autocast'] else 'fp32'} | {t['wall_time_min']:.1f} min on "
                              f"{trained_on(t)} |")
    if any("% * |" in line for line in detail):
        detail.append("\n\\* chosen on validation among the seed's schedules: the run in the README's table, the "
                      "figure and, at 12,000 images, the `rotated-12k` weights.")
    return "\n".join(rows), "\n".join(detail)


def plot(found: dict, out: Path) -> None:
    """Left: rotated-test accuracy against N (log scale), a line per preset through the mean of its seeds, a dot
    per seed. Right: each equivariant preset's lead over the plain CNN, in points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from zoo.dev.figures import save_figure, style_budget_axes

    found = chosen(found)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    base = {n: _mean(runs) for (p, n), runs in found.items() if p == "trivial_mnist"}
    every_size = sorted({n for _, n in found})
    for p in PRESETS:
        sizes = sorted(n for q, n in found if q == p)
        if not sizes:
            continue
        # nan where a preset has no run of a size: the line breaks there rather than drawing a point it lacks
        line, = left.plot(every_size, [_mean(found[(p, n)]) if (p, n) in found else nan for n in every_size],
                          marker="o", label=p)
        for n in sizes:
            left.scatter([n] * len(found[(p, n)]), [100 * r["test_rotated_accuracy"] for r in found[(p, n)]],
                         s=12, color=line.get_color(), alpha=0.6)
        if p != "trivial_mnist" and any(n in base for n in sizes):
            right.plot(every_size, [_mean(found[(p, n)]) - base[n] if (p, n) in found and n in base else nan
                                    for n in every_size], marker="o", label=p, color=line.get_color())
    style_budget_axes(left, right, [1000, 3000, 12000, 55000], ["1,000", "3,000", "12,000", "55,000"])
    left.set_title("Accuracy (line: mean of seeds; dots: seeds)", fontsize=10)
    right.set_title("What the symmetry is worth", fontsize=10)
    save_figure(fig, out)


def report(args) -> None:
    missing = [_name(job) for job in plan(PRESETS) if not (RECORDS / f"{_name(job)}.json").is_file()]
    if args.update and missing:  # the published tables show the whole plan
        raise SystemExit(f"--update publishes the whole plan, and {len(missing)} of its runs have no record yet "
                         f"({', '.join(missing)}): run them first (learning_curves.py run), then report --update")
    found = load_records()
    summary, detail = tables(found)
    print(summary, detail, sep="\n\n")
    plot(found, ROOT / "figures" / "learning-curves.png")
    print("wrote figures/learning-curves.png")
    if args.update:
        from zoo.dev.docs import update_readme

        update_readme("curves", summary)
        update_readme("curves-runs", detail)
        print("updated the curves blocks of README.md and docs/training.md")


def publish(args) -> None:
    """The 12,000-image runs as the ``rotated-12k`` weights: of each preset's recorded seed-0 runs, the one chosen
    on validation; its checkpoint, tagged so, saved again (the same tensors; config.json, self-check and card
    rewritten) into weights/<preset>-rotated-12k. A folder that holds the chosen run already (the same training
    record) is left byte for byte; one that holds another run is replaced only with ``--overwrite``."""
    from zoo.checkpoint import load_checkpoint, save_checkpoint
    from zoo.files import CONFIG_NAME, read_config
    from zoo.registry import weights_folder

    found = chosen(load_records())
    presets = args.presets.split(",") if args.presets else [p for p in PRESETS if (p, 12000) in found]
    writes = []  # every target is checked before any is written
    for preset in presets:
        runs = [r for r in found.get((preset, 12000), []) if r["seed"] == 0]
        if not runs:
            raise SystemExit(f"no record of {run_name(preset, 12000, 0)}: run it first")
        target = weights_folder(preset, "rotated-12k")
        if (target / CONFIG_NAME).is_file():
            if read_config(target).get("training") == runs[0]["training"]:
                print(f"{target} holds {_name(runs[0])} already; left as it is")
                continue
            if not args.overwrite:
                raise SystemExit(f"{target} holds another run than {_name(runs[0])}; pass --overwrite to replace it")
        writes.append((Path(args.runs) / _name(runs[0]) / "out", target))
    for source, target in writes:
        model = load_checkpoint(source)
        model.meta = model.meta.replace(weights_tag="rotated-12k")
        save_checkpoint(model, target)
        print(f"{source} -> {target}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--lanes", type=int, default=2)
    r.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    r.add_argument("--only", default=None, help="comma-separated presets")
    r.add_argument("--seeds", default=None, help="comma-separated seeds (default: the plan's)")
    r.add_argument("--jobs", default=None, help="comma-separated run names (e.g. c4_mnist-n1000-s0), in this order")
    r.add_argument("--data-root", default=os.environ.get("DATA", str(ROOT.parent / "shared" / "data")))
    r.add_argument("--device", default="cpu", help="where zoo train runs: cpu, or cuda on a GPU machine (the "
                   "record says which; evaluation stays on the CPU)")
    r = sub.add_parser("report")
    r.add_argument("--update", action="store_true", help="write the tables into README.md and docs/training.md")
    r = sub.add_parser("publish", help="the 12,000-image runs as the rotated-12k weights")
    r.add_argument("--presets", default=None, help="comma-separated (default: every preset with a 12,000-image record)")
    r.add_argument("--overwrite", action="store_true", help="replace published rotated-12k weights that hold another "
                   "run than the chosen one")
    r.add_argument("--runs", default=str(RUNS), help="the folder of the runs (default: runs/curves)")
    args = p.parse_args(argv)
    {"run": run, "report": report, "publish": publish}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
