"""Rotated Fashion-MNIST by label budget: what pretrained symmetry buys a new task.

    python experiments/finetune_fashion.py recipe [--lanes 2] [--variants base,head10]  # the recipe check
    python experiments/finetune_fashion.py run [--lanes 2] [--threads 1] [--only c8_mnist,...] [--sizes 100,300]
                                               [--seeds 0] [--modes finetune,scratch] [--device cuda]
                                               [--epochs 15] [--runs DIR] [--records DIR]
    python experiments/finetune_fashion.py report [--update]    # tables + figure from the committed records
    python experiments/finetune_fashion.py publish [--overwrite] [--epochs 15]  # the all-image runs as weights="fashion"

Data: Debian's dataset-fashion-mnist (``--data-root``, default /usr/share/datasets/fashion-mnist), never
downloaded. Every run is ``zoo finetune <preset> --dataset FashionMNIST`` on the first N of the training images
left after holding out 1,000 for validation (both drawn by the run's seed), each rotated by a fresh random angle
whenever it is seen, the validation images at fixed angles; the test set is the 10,000 test images rotated as
the MNIST protocol rotates them (zoo/data.py; the recipe runs also measure them upright). Three modes
(``zoo finetune --mode``): ``finetune`` (from the preset's MNIST weights), ``scratch`` (the same network from
random weights, the same budget) and ``probe`` (the MNIST backbone frozen, a new linear head; at N = 1,000 only).

The plan, the same for every preset and mode (``SCHEDULES``: epochs and batch size per N, about 100 steps at
100 and 300 images, 150 at 1,000), two seeds below 3,000 images and one above. Each mode keeps ``zoo finetune``'s
defaults (learning rate per mode, and the recipe chosen by ``recipe``). ``run`` trains what has no record yet,
the cheapest runs first, ``--lanes`` at a time with ``--threads`` each; a run interrupted is continued from its
resume checkpoint (``zoo finetune --resume``) when started again. A finished run leaves one record,
``experiments/fashion/<preset>-<mode>-n<N>-s<seed>.json``, which is committed; ``report`` reads only those.

``recipe`` is the check behind ``zoo finetune``'s defaults: ``RECIPES`` (explicit flags, so a variant keeps its
meaning when the defaults change) fine-tuned from c8_mnist and trivial_mnist at N = 1,000, seed 0; the choice is
made on validation accuracy only (records in experiments/fashion/recipe/). A variant that wins becomes the
default of ``zoo finetune`` (zoo/cli/finetune.py), and the grid's runs after it use it.

``publish`` makes the ``fashion`` weights tag from the all-image fine-tuning runs (``finetune``, N = ``ALL``, seed 0):
each finished run's checkpoint becomes ``weights/<preset>-fashion`` (config.json's ``weights_tag`` "fashion", its
parent, class names, metrics and protocol kept), loaded and self-checked before it takes its place, its model card
written; then zoo/records.py is regenerated. A folder that holds weights is replaced only with ``--overwrite``.
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
sys.path.insert(0, str(ROOT))
from zoo.cli.common import positive_int  # noqa: E402  (the checkout's zoo, before any installed)
RECORDS = ROOT / "experiments" / "fashion"
RECIPE_RECORDS = RECORDS / "recipe"
SCHEDULE_RECORDS = RECORDS / "schedule"  # runs with --epochs other than the plan's: candidates, not the table's
RUNS = ROOT / "runs" / "fashion"
FIGURE = ROOT / "figures" / "fashion-budget.png"
DATA_ROOT = "/usr/share/datasets/fashion-mnist"
PRESETS = ("trivial_mnist", "c4_mnist", "c8_mnist", "d4_mnist", "so2_mnist", "c8_wide_mnist")
MODES = ("finetune", "scratch", "probe")
VAL_SIZE = 1000
ALL = 60000 - VAL_SIZE  # "all": every training image not held out for validation
# N -> (epochs, batch size, seeds): about 100 steps at 100 and 300 images, 150 at 1,000, 460 at 3,000, 2,300 on
# all images
SCHEDULES = {100: (34, 32, (0, 1)), 300: (11, 32, (0, 1)), 1000: (10, 64, (0, 1)), 3000: (10, 64, (0,)),
             ALL: (5, 128, (0,))}
PROBE_SIZES = (1000,)
VAL_EVERY = 150
# training images per second of one thread on the 2-core AMD EPYC (Zen 5), to run the cheapest first
SPEED = {"trivial_mnist": 575, "c4_mnist": 213, "c8_mnist": 123, "d4_mnist": 118, "so2_mnist": 98,
         "c8_wide_mnist": 53}
RECIPE_PRESETS, RECIPE_SIZE, RECIPE_EPOCHS, RECIPE_BATCH = ("c8_mnist", "trivial_mnist"), 1000, 20, 64
# The recipe check's variants: name -> zoo finetune flags (mode finetune, 20 epochs of batch 64: 300 steps).
# "base" is the earlier default.
RECIPES = {
    "base": ["--lr", "1e-3", "--head-lr", "1e-3", "--ema", "0"],
    "head10": ["--lr", "1e-3", "--head-lr", "1e-2", "--ema", "0"],
    "head10-ema": ["--lr", "1e-3", "--head-lr", "1e-2", "--ema", "0.99"],
}


def run_name(job: dict) -> str:
    """``c8_mnist-finetune-n1000-s0``; a recipe variant adds its name: ``c8_mnist-finetune-n1000-s0-head10``; a
    run with another number of epochs than the plan's adds it: ``c8_mnist-finetune-n59000-s0-e20``."""
    name = f"{job['preset']}-{job['mode']}-n{job['n']}-s{job['seed']}"
    if job.get("recipe"):
        return f"{name}-{job['recipe']}"
    return f"{name}-e{job['epochs']}" if job.get("schedule") else name


def record_path(job: dict, records: Path = RECORDS) -> Path:
    """Where a finished job's record goes under ``records``: recipe variants and schedule candidates apart."""
    folder = (records / RECIPE_RECORDS.name if job.get("recipe") else
              records / SCHEDULE_RECORDS.name if job.get("schedule") else records)
    return folder / f"{run_name(job)}.json"


def plan(presets=PRESETS, sizes=None, seeds=None, modes=MODES, epochs: int | None = None) -> list[dict]:
    """The label-budget runs, cheapest first (so a partial grid is whole at the small budgets). ``epochs`` other
    than the plan's makes schedule candidates: named and recorded apart (``SCHEDULE_RECORDS``), not in the table."""
    jobs = []
    for n, (planned, batch, run_seeds) in SCHEDULES.items():
        for mode in modes:
            if (mode == "probe" and n not in PROBE_SIZES) or (sizes is not None and n not in sizes):
                continue
            other = epochs is not None and epochs != planned
            jobs += [{"preset": p, "mode": mode, "n": n, "seed": s, "epochs": epochs if other else planned,
                      "batch": batch, **({"schedule": True} if other else {})}
                     for p in presets for s in run_seeds if seeds is None or s in seeds]
    return sorted(jobs, key=lambda j: (j["seed"], _cost(j)))


def recipe_plan(variants=tuple(RECIPES)) -> list[dict]:
    return [{"preset": p, "mode": "finetune", "n": RECIPE_SIZE, "seed": 0, "epochs": RECIPE_EPOCHS,
             "batch": RECIPE_BATCH, "recipe": v} for v in variants for p in RECIPE_PRESETS]


def _cost(job: dict) -> float:
    """Seconds of one thread, roughly: the training images seen, and the 10,000 rotated test images (about 2.7
    times faster per image in evaluation)."""
    epochs = job["epochs"]
    return (epochs * (job["n"] // job["batch"]) * job["batch"] + 10000 / 2.7) / SPEED.get(job["preset"], 100)


def finetune_command(job: dict, data_root: str, run_dir: Path, threads: int = 1, device: str = "cpu") -> list[str]:
    command = [sys.executable, "-m", "zoo.cli", "finetune", job["preset"], "--dataset", "FashionMNIST",
               "--data-root", data_root, "--mode", job["mode"], "--train-size", str(job["n"]),
               "--val-size", str(VAL_SIZE), "--epochs", str(job["epochs"]), "--batch-size", str(job["batch"]),
               "--seed", str(job["seed"]), "--threads", str(threads), "--no-bf16", "--no-progress",
               "--val-every", str(VAL_EVERY), "--checkpoint-every", "50", "--run-dir", str(run_dir),
               "--out", str(run_dir / "out"), "--device", device]
    # the grid measures the rotated test set alone: training rotates every image, so upright accuracy follows it
    # (the recipe runs measure both)
    return command + RECIPES[job["recipe"]] if job.get("recipe") else command + ["--test", "rotated"]


def run_job(job: dict, data_root: str, threads: int = 1, device: str = "cpu", runs: Path = RUNS,
            records: Path = RECORDS) -> str:
    """Train one job (or continue it from its resume checkpoint) and write its record; a recorded job is skipped."""
    name = run_name(job)
    record = record_path(job, records)
    if record.is_file():
        return f"{name}: recorded already"
    run_dir = runs / name
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": str(threads)}
    started = time.time()
    if not (run_dir / "out" / "config.json").is_file():
        command = finetune_command(job, data_root, run_dir, threads, device)
        if (run_dir / "resume.safetensors").is_file():
            command.append("--resume")
        with open(run_dir / "log.txt", "a") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=True, cwd=ROOT)
    config = json.loads((run_dir / "out" / "config.json").read_text())
    metrics = config["metrics"]
    result = {"preset": job["preset"], "mode": job["mode"], "train_size": job["n"], "seed": job["seed"],
              **({"recipe": job["recipe"]} if job.get("recipe") else {}),
              **{k: metrics[k] for k in ("val_accuracy", "test_rotated_accuracy", "test_upright_accuracy")
                 if k in metrics},
              "num_params": config["num_params"], "training": config["training"]}
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(record)
    return (f"{name}: validation {100 * result['val_accuracy']:.2f}%, rotated test "
            f"{100 * result['test_rotated_accuracy']:.2f}%, {(time.time() - started) / 60:.1f} min")


def _run_all(jobs: list[dict], args) -> None:
    print(f"{len(jobs)} runs, {args.lanes} at a time", flush=True)

    def safe(job):
        try:
            return run_job(job, args.data_root, args.threads, args.device, args.runs, args.records)
        except subprocess.CalledProcessError as e:
            return f"{run_name(job)}: FAILED ({e}); see its log.txt"

    with ThreadPoolExecutor(args.lanes) as pool:
        for line in pool.map(safe, jobs):
            print(line, flush=True)


def _split(text: str | None, convert=str):
    return None if text is None else [convert(v) for v in text.split(",")]


def run(args) -> None:
    _run_all(plan(_split(args.only) or PRESETS, _split(args.sizes, int), _split(args.seeds, int),
                  _split(args.modes) or MODES, args.epochs), args)


def recipe(args) -> None:
    unknown = [v for v in _split(args.variants) or () if v not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(RECIPES)}")
    _run_all(recipe_plan(_split(args.variants) or tuple(RECIPES)), args)
    print(recipe_table(load(args.records / RECIPE_RECORDS.name)))


def load(folder: Path = RECORDS) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _pct(runs: list[dict], key: str) -> str:
    """Mean over the seeds, and half the spread between them where there are several."""
    if not runs:
        return "-"
    values = [100 * r[key] for r in runs]
    mean = sum(values) / len(values)
    return f"{mean:.1f}%" + (f" ±{(max(values) - min(values)) / 2:.1f}" if len(values) > 1 else "")


def _mean(runs: list[dict], key: str = "test_rotated_accuracy") -> float:
    return 100 * sum(r[key] for r in runs) / len(runs) if runs else nan


def grouped(records: list[dict]) -> dict[tuple[str, str, int], list[dict]]:
    """Records by (preset, mode, N), seeds in order."""
    found: dict[tuple[str, str, int], list[dict]] = {}
    for r in records:
        found.setdefault((r["preset"], r["mode"], r["train_size"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in found.items()}


def table(records: list[dict], key: str = "test_rotated_accuracy") -> str:
    """One row per preset and mode, one column per N of the plan: the mean over seeds (± half their spread);
    '-' where no run is recorded. Each preset's finetune, scratch and probe rows stand together, the plain CNN's
    first."""
    found = grouped(records)
    sizes = list(SCHEDULES)
    rows = ["| model | mode | " + " | ".join("all" if n == ALL else f"N = {n:,}" for n in sizes) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for preset in PRESETS:
        for mode in MODES:
            cells = [_pct(found.get((preset, mode, n), []), key) if mode != "probe" or n in PROBE_SIZES else ""
                     for n in sizes]
            if any(c not in ("", "-") for c in cells):
                rows.append(f"| {preset} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# what a lead compares: (mode of the preset, the baseline's preset or None for the same preset, its mode)
LEADS = {"symmetry, fine-tuned": ("finetune", "trivial_mnist", "finetune"),
         "symmetry, scratch": ("scratch", "trivial_mnist", "scratch"),
         "pretraining": ("finetune", None, "scratch")}


def lead_table(records: list[dict]) -> str:
    """Rotated-test points, one column per N of the plan: each equivariant preset over the plain CNN in the same
    mode (both fine-tuned; both from scratch), and each preset fine-tuned over the same network from scratch."""
    found = grouped(records)
    sizes = list(SCHEDULES)
    rows = ["| lead | model | " + " | ".join("all" if n == ALL else f"N = {n:,}" for n in sizes) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for lead, (mode, baseline, baseline_mode) in LEADS.items():
        for preset in PRESETS:
            if preset == baseline:
                continue
            cells = []
            for n in sizes:
                a = _mean(found.get((preset, mode, n), []))
                b = _mean(found.get((baseline or preset, baseline_mode, n), []))
                cells.append(f"{a - b:+.1f}" if a == a and b == b else "-")  # nan != nan: a run missing
            if any(c != "-" for c in cells):
                rows.append(f"| {lead} | {preset} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def recipe_table(records: list[dict]) -> str:
    """The recipe check: validation accuracy per variant and preset; the variant with the best mean is bold."""
    by = {(r["recipe"], r["preset"]): r for r in records}
    variants = [v for v in RECIPES if any((v, p) in by for p in RECIPE_PRESETS)]
    means = {v: sum(by[(v, p)]["val_accuracy"] for p in RECIPE_PRESETS) / len(RECIPE_PRESETS)
             for v in variants if all((v, p) in by for p in RECIPE_PRESETS)}
    best = max(means, key=means.get) if means else None
    rows = ["| variant | flags | " + " | ".join(f"{p} validation" for p in RECIPE_PRESETS) + " | mean |",
            "| --- | --- | " + " | ".join("---:" for _ in RECIPE_PRESETS) + " | ---: |"]
    for v in variants:
        cells = [f"{100 * by[(v, p)]['val_accuracy']:.1f}%" if (v, p) in by else "-" for p in RECIPE_PRESETS]
        mean = f"{100 * means[v]:.2f}%" if v in means else "-"
        rows.append(f"| {v} | `{' '.join(RECIPES[v])}` | " + " | ".join(cells) + " | "
                    + (f"**{mean}**" if v == best else mean) + " |")
    return "\n".join(rows)


def plot(records: list[dict], out: Path = FIGURE) -> None:
    """Left: rotated-test accuracy against N (log scale), fine-tuned (solid) and from scratch (dashed), a line
    per preset through the mean of its seeds. Right: each equivariant preset's lead over the plain CNN in the same
    mode, in points (solid: both fine-tuned; dashed: both from scratch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from zoo.dev.figures import save_figure, style_budget_axes

    found = grouped(records)
    sizes = [n for n in SCHEDULES if any(k[2] == n for k in found)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    plain = {mode: [_mean(found.get(("trivial_mnist", mode, n), [])) for n in sizes]
             for mode in ("finetune", "scratch")}
    for preset in PRESETS:
        if not any(k[0] == preset for k in found):
            continue
        tuned = [_mean(found.get((preset, "finetune", n), [])) for n in sizes]
        line, = left.plot(sizes, tuned, marker="o", label=f"{preset} fine-tuned")
        scratch = [_mean(found.get((preset, "scratch", n), [])) for n in sizes]
        left.plot(sizes, scratch, marker=".", ls="--", color=line.get_color(), alpha=0.7)
        if preset != "trivial_mnist":
            right.plot(sizes, [a - b for a, b in zip(tuned, plain["finetune"])], marker="o", label=preset,
                       color=line.get_color())
            right.plot(sizes, [a - b for a, b in zip(scratch, plain["scratch"])], marker=".", ls="--",
                       color=line.get_color(), alpha=0.7)
    right.axhline(0, color="grey", lw=0.8)
    style_budget_axes(left, right, sizes, ["all" if n == ALL else f"{n:,}" for n in sizes])
    left.set_title("Rotated Fashion-MNIST (solid: fine-tuned from MNIST; dashed: from scratch)", fontsize=9)
    right.set_title("What the symmetry is worth (against the plain CNN in the same mode)", fontsize=9)
    save_figure(fig, out)


def report(args) -> None:
    sizes = _split(args.sizes, int)
    missing = [run_name(j) for j in plan(sizes=sizes) if not (RECORDS / f"{run_name(j)}.json").is_file()]
    if args.update and missing:  # the published tables show whole budgets only
        raise SystemExit(f"--update publishes whole budgets, and {len(missing)} runs of the plan"
                         f"{'' if sizes is None else ' at these sizes'} have no record yet ({', '.join(missing[:6])}"
                         f"{' ...' if len(missing) > 6 else ''}): run them first, or name the budgets that are "
                         "complete with --sizes")
    records = [r for r in load() if sizes is None or r["train_size"] in sizes]
    blocks = {"fashion-rotated": table(records), "fashion-lead": lead_table(records),
              "fashion-recipe": recipe_table(load(RECIPE_RECORDS))}
    for key, text in blocks.items():
        print(f"{key}:\n{text}\n")
    if missing:
        by_size = {n: sum(f"-n{n}-" in name for name in missing) for n in SCHEDULES}
        print(f"{len(missing)} runs of the plan have no record yet ("
              + ", ".join(f"{k} at N = {n:,}" for n, k in by_size.items() if k) + ")")
    plot(records)
    print(f"wrote {FIGURE.relative_to(ROOT)}")
    if args.update:
        from zoo.dev.docs import update_readme

        for key, text in blocks.items():
            update_readme(key, text)
        print("updated the fashion blocks of docs/finetuning.md")


WEIGHTS_TAG = "fashion"  # zoo.records.WEIGHT_TAGS: what publish makes of the all-image fine-tuning runs


def finished_runs(runs: Path = RUNS, epochs: int | None = None) -> dict[str, Path]:
    """Preset -> the checkpoint folder of its all-image fine-tuning run (of ``epochs``, default the plan's), for
    every preset whose run has finished."""
    outs = {job["preset"]: runs / run_name(job) / "out" for job in plan(sizes=[ALL], seeds=[0], modes=["finetune"],
                                                                       epochs=epochs)}
    return {p: out for p, out in outs.items() if (out / "config.json").is_file()}


def publish_run(out: Path, weights: Path, overwrite: bool = False) -> Path:
    """Copy the checkpoint folder ``out`` of a finished all-image fine-tuning run into ``weights`` as its preset's
    ``fashion`` weights, with its model card; the folder appears whole, loaded and self-checked, or not at all."""
    import shutil
    import tempfile

    from zoo.card import parent_of, training_dataset, write_card
    from zoo.data import FASHION_CLASSES
    from zoo.files import EXPORTED_NAME, WEIGHTS_NAME, read_config, sha256_file, write_config
    from zoo.records import find_record, folder_name, tag_dataset
    from zoo.registry import create_model

    config = read_config(out)
    preset = config["preset"]
    parent = parent_of(config).get("hub_id")
    expected = {"mode": ("finetune", config.get("mode")), "training data": (tag_dataset(WEIGHTS_TAG),
                training_dataset(config)), "classes": (FASHION_CLASSES, config.get("class_names")),
                "parent": (find_record(preset).hub_id if find_record(preset) else "its MNIST weights", parent)}
    wrong = [f"{what} {actual!r} (expected {want!r})" for what, (want, actual) in expected.items() if actual != want]
    if wrong:
        raise ValueError(f"{out} is not an all-image fine-tuning run from {preset}'s MNIST weights: "
                         f"{'; '.join(wrong)}")
    target = weights / folder_name(preset, WEIGHTS_TAG)
    if (target / WEIGHTS_NAME).is_file() and not overwrite:
        if sha256_file(target / WEIGHTS_NAME) == config["weights_sha256"]:
            return target  # published from this run already
        raise ValueError(f"{target} holds other published weights; publish replaces them only with --overwrite")
    # staged one level down, where no listing of the published folders looks (zoo.cli.publish.published_folders)
    staging = weights / ".publishing"
    staging.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=staging, prefix=f"{target.name}."))
    try:
        for name in (WEIGHTS_NAME, EXPORTED_NAME):
            shutil.copyfile(out / name, staged / name)
        write_config(staged, {**config, "weights_tag": WEIGHTS_TAG})
        write_card(staged)
        for export in (False, True):  # both models load and pass their self-check, as users will load them
            create_model(preset, pretrained=True, weights=WEIGHTS_TAG, export=export, checkpoint_dir=staged)
        staged.chmod(0o755)  # mkdtemp makes 0700 folders
        if target.exists():  # replaced (--overwrite): the old folder steps aside for the new one, then goes
            old = Path(tempfile.mkdtemp(dir=staging, prefix=f"{target.name}.old."))
            target.rename(old / target.name)
            staged.rename(target)
            shutil.rmtree(old)
        else:
            staged.rename(target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        if not any(staging.iterdir()):
            staging.rmdir()
    return target


def publish(args) -> list[Path]:
    """``publish_run`` for every finished all-image run, then the records regenerated from ``--weights-dir``."""
    from zoo.cli.publish import RECORDS_FILE, write_records

    runs = finished_runs(args.runs, args.epochs)
    if not runs:
        example = plan(presets=["<preset>"], sizes=[ALL], seeds=[0], modes=["finetune"], epochs=args.epochs)[0]
        raise SystemExit(f"no all-image fine-tuning run has finished under {args.runs} (each leaves "
                         f"{run_name(example)}/out/config.json): run them first, e.g. python "
                         f"experiments/finetune_fashion.py run --sizes {ALL} --modes finetune"
                         + (f" --epochs {args.epochs}" if args.epochs else ""))
    published, refused = [], []
    for preset, out in runs.items():
        try:
            published.append(publish_run(out, args.weights_dir, args.overwrite))
        except (ValueError, OSError) as e:  # the others are published all the same, and the records list them
            refused.append(f"{preset}: {e}")
            continue
        print(f"{preset}: {out} -> {published[-1]}", flush=True)
    if published:
        records_file = args.records_file or RECORDS_FILE
        records = write_records(args.weights_dir, records_file)
        print(f"wrote {len(records)} records into {records_file}; next, the metrics on the whole rotated "
              "Fashion-MNIST protocol: zoo evaluate --weights fashion --update, then zoo publish --write-records")
    if refused:
        raise SystemExit("not published:\n" + "\n".join(refused))
    return published


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("run", "recipe"):
        r = sub.add_parser(name)
        r.add_argument("--lanes", type=int, default=2, help="runs side by side (default 2)")
        r.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
        r.add_argument("--data-root", default=DATA_ROOT, help=f"the Fashion-MNIST IDX files (default {DATA_ROOT})")
        r.add_argument("--device", default="cpu", help="where to train: cpu, or cuda (zoo finetune --device)")
        r.add_argument("--runs", type=Path, default=RUNS, help=f"the runs' folder (default {RUNS.relative_to(ROOT)})")
        r.add_argument("--records", type=Path, default=RECORDS, help="where records go and are looked for (default "
                       "experiments/fashion/)")
        if name == "run":
            r.add_argument("--only", default=None, help="comma-separated presets (default: every one)")
            r.add_argument("--sizes", default=None, help=f"comma-separated N of {', '.join(map(str, SCHEDULES))}")
            r.add_argument("--seeds", default=None, help="comma-separated seeds (default: the plan's)")
            r.add_argument("--modes", default=None, help=f"comma-separated, of {', '.join(MODES)}")
            r.add_argument("--epochs", type=positive_int, default=None, help="epochs other than the plan's: schedule "
                           f"candidates, recorded in {SCHEDULE_RECORDS.relative_to(ROOT)}/, not in the tables")
        else:
            r.add_argument("--variants", default=None, help=f"comma-separated, of {', '.join(RECIPES)}")
    r = sub.add_parser("report")
    r.add_argument("--sizes", default=None, help="comma-separated N the tables show (default: every one of the "
                   "plan); --update needs every run at each of them")
    r.add_argument("--update", action="store_true", help="write the tables into docs/finetuning.md")
    r = sub.add_parser("publish", help="the finished all-image fine-tuning runs as the fashion weights")
    r.add_argument("--overwrite", action="store_true", help="replace fashion weights already published")
    r.add_argument("--epochs", type=positive_int, default=None, help="publish the runs of this many epochs (run "
                   "--epochs) instead of the plan's; compare their validation accuracy with the plan's runs first")
    r.add_argument("--runs", type=Path, default=RUNS, help=f"the runs' folder (default {RUNS.relative_to(ROOT)})")
    r.add_argument("--weights-dir", type=Path, default=ROOT / "weights", help="the published folders (default "
                   "weights/)")
    r.add_argument("--records-file", type=Path, default=None, help="the records to regenerate (default "
                   "zoo/records.py)")
    args = p.parse_args(argv)
    {"run": run, "recipe": recipe, "report": report, "publish": publish}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
