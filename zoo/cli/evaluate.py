"""Evaluate published checkpoints on the rotated-MNIST protocol (``zoo.data``) and publish the numbers.

    zoo evaluate --data-root ../shared/data --update            # all presets, rotated weights
    zoo evaluate c8_mnist --weights upright --data-root ../shared/data
    zoo evaluate --weights fashion --update                     # rotated Fashion-MNIST (Debian's raw IDX files)
    zoo evaluate runs/train/c8_mnist-rotated/checkpoint --no-profile --json out.json   # a checkpoint folder

Reports accuracy on the upright test set, on the rotated test set, and with every test image rotated by
each angle 0, 15, ..., 345 degrees (the invariance profile). The test set is the one of the data the weights tag
is trained on (``zoo.records.tag_dataset``): MNIST, or for ``--weights fashion`` the 10,000 Fashion-MNIST test
images, rotated exactly as the MNIST protocol rotates its own, read from ``--data-root`` (default
``zoo.data.FASHION_MNIST_ROOT``). Writes the table as JSON and the profile plot as PNG; ``--update`` also writes
the metrics into each checkpoint's config.json and model card and the table into the README and docs/ (between
the ``results-<tag>`` markers). A checkpoint folder (one with a config.json, e.g. a training run's) is evaluated
the same way, on the test set of ``--weights``; its numbers go only to the screen and ``--json``.

Each preset's results are saved in ``results/<tag>/<preset>.json`` with the sha256 of the weights measured, so the
presets of a tag can be evaluated in separate runs; a table is written only from results measured on the weights
published now (a saved result for weights since replaced counts as not measured).
"""
from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

from .. import data, download
from ..card import training_dataset
from ..checkpoint import load_checkpoint, update_metrics
from ..files import atomic_write, read_config, write_text
from ..metrics import evaluate
from ..records import checkout_weights, find_record, folder_name, tag_dataset
from ..registry import DEFAULT_TAG, WEIGHT_TAGS, create_model, list_models, published_models, weights_folder
from ..training import trained_on
from .common import (add_data, add_threads, add_weights, apply_threads, model_name, models_of, parser, positive_int,
                     refuse_partial_update, update_docs)


def results_table(results: dict[str, dict], baseline: dict[str, dict] | None = None) -> str:
    """The README's results table; with ``baseline`` (the rotated-trained results), a column of the gap in
    rotated-test accuracy, baseline minus these weights, in percentage points."""
    gap = baseline is not None
    rows = ["| model | params | MFLOPs | upright test | rotated test | min over angles | max over angles | "
            + ("gap to rotated-trained | " if gap else "") + "epochs | train time |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | " + ("---: | " if gap else "") + "---: | ---: |"]
    for name, r in results.items():
        row = (f"| {name} | {r['num_params']:,} | {r['mflops']:.1f} | {100 * r['test_upright_accuracy']:.2f}% "
               f"| **{100 * r['test_rotated_accuracy']:.2f}%** | {100 * r['profile_min_accuracy']:.2f}% "
               f"| {100 * r['profile_max_accuracy']:.2f}% | ")
        if gap:
            other = baseline.get(name)
            row += (f"{100 * (other['test_rotated_accuracy'] - r['test_rotated_accuracy']):.2f} | "
                    if other else "? | ")
        where = f" on {r['trained_on']}" if "trained_on" in r else ""  # (results saved before it was recorded)
        rows.append(row + f"{r.get('epochs', '?')} | {r.get('train_min', '?')} min{where} |")
    return "\n".join(rows)


def saved_results(folder: str | Path, tag: str) -> dict[str, dict]:
    """Every model's results for one weights tag, as written by earlier runs (``<folder>/<tag>/<model>.json``)."""
    folder = Path(folder) / tag
    return {n: json.loads((folder / f"{n}.json").read_text()) for n in list_models()
            if (folder / f"{n}.json").is_file()}


def published_sha256(name: str, tag: str) -> str | None:
    """The sha256 of the ``model.safetensors`` a pretrained load of a preset's weights tag reads: in a checkout its
    weights folder's (as its config.json names it), else its record's; None if it has neither."""
    checkout = download.checkout_weights()  # where zoo.download.pretrained_folder looks first
    if checkout is not None and (checkout / folder_name(name, tag) / "config.json").is_file():
        return read_config(checkout / folder_name(name, tag))["weights_sha256"]
    record = find_record(name, tag)
    return record.files.get("model.safetensors") if record else None


def current_results(folder: str | Path, tag: str) -> dict[str, dict]:
    """The saved results measured on the weights published now: a result saved for weights since replaced (another
    ``weights_sha256``, or none recorded) is not one of them."""
    return {n: r for n, r in saved_results(folder, tag).items()
            if r.get("weights_sha256") == published_sha256(n, tag)}


def baseline_tag(tag: str) -> str | None:
    """What a tag's table is compared with: the rotated-trained weights for other tags measured on the same data
    (MNIST); nothing for the rotated weights themselves and for tags measured on other data (Fashion-MNIST)."""
    return DEFAULT_TAG if tag != DEFAULT_TAG and tag_dataset(tag) == tag_dataset(DEFAULT_TAG) else None


def tag_table(folder: str | Path, tag: str) -> str:
    """The table of one tag from the saved results, with the gap to its ``baseline_tag`` where it has one."""
    baseline = baseline_tag(tag)
    return results_table(saved_results(folder, tag), saved_results(folder, baseline) if baseline else None)


def plot_profiles(results: dict[str, dict], out: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, r in results.items():
        angles = [int(a) for a in r["profile"]] + [360]
        accs = [100 * v for v in r["profile"].values()] + [100 * r["profile"]["0"]]
        ax.plot(angles, accs, marker="o", markersize=3, label=f"{name} ({100 * r['test_rotated_accuracy']:.1f}%)")
    ax.set_xticks(range(0, 361, 45))
    ax.set_xlabel("rotation of every test image (degrees)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(textwrap.fill(title, 90), fontsize=9)  # the tags' descriptions are long
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="model (rotated test)", title_fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=130))
    plt.close(fig)


def model_or_checkpoint(text: str) -> str:
    """A preset name, or a checkpoint folder (a folder holding config.json)."""
    return text if (Path(text) / "config.json").is_file() else model_name(text)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, checked; ``args.dataset`` is the test set's (``zoo.records.tag_dataset``), ``args.folders``
    the checkpoint folders among the models."""
    p = parser(__doc__)
    p.add_argument("models", nargs="*", type=model_or_checkpoint, metavar="MODEL",
                   help="presets (default: every one published for the weights tag), or checkpoint folders")
    add_weights(p)
    add_data(p, default=None, help="the test set's folder: one holding MNIST/raw (torchvision layout; default data), "
             f"or for --weights fashion the Fashion-MNIST IDX files (default {data.FASHION_MNIST_ROOT})")
    add_threads(p)
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N test images (quick checks)")
    p.add_argument("--results", default="results", help="folder of per-model JSON results (<folder>/<weights>/)")
    p.add_argument("--plot", default=None, help="default figures/profile-<weights>.png")
    p.add_argument("--no-profile", action="store_true", help="only the upright and rotated test sets, not the "
                   "accuracy at each angle (quicker)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results of this run to FILE")
    p.add_argument("--update", action="store_true",
                   help="write metrics into config.json, model cards and the results tables of README.md and docs/ "
                   "(the whole test set and profile only; the tables must cover every published preset)")
    args = p.parse_args(argv)
    dataset = tag_dataset(args.weights)
    if args.data_root is None:
        args.data_root = data.FASHION_MNIST_ROOT if dataset == "FashionMNIST" else "data"
    folders = [m for m in args.models if m not in list_models()]
    for folder in folders:  # a checkpoint measured on the test set of the data it was trained on
        trained = training_dataset(read_config(folder))
        if trained in data.DATASET_CLASSES and trained != dataset:
            p.error(f"{folder} was trained on {trained}, and --weights {args.weights} measures on {dataset}; pass "
                    f"--weights {next(t for t in WEIGHT_TAGS if tag_dataset(t) == trained)}")
    # Presets may be evaluated in separate runs: the table holds every result saved under --results, and must
    # hold every published preset.
    saved = Path(args.results) / args.weights
    unseen = (set(published_models(args.weights)) - set(models_of(args))
              - set(current_results(args.results, args.weights)) if args.update else ())
    refuse_partial_update(p, args, [
        args.limit and f"--limit {args.limit} evaluates part of the test set",
        args.no_profile and "--no-profile leaves out the accuracy at each angle",
        folders and f"checkpoint folders instead of presets: {', '.join(folders)}",
        unseen and (f"{', '.join(sorted(unseen))} neither evaluated now nor saved in {saved} for the published "
                    "weights"),
    ], f"zoo evaluate --weights {args.weights} --data-root <folder holding "
       f"{'MNIST/raw' if dataset == 'MNIST' else f'the {dataset} IDX files'}> --update")
    if args.update and checkout_weights() is None:
        p.error("--update writes into a git checkout's weights/ and docs; this zoo was installed from a wheel")
    if not models_of(args):
        p.error(f"no preset has published {args.weights!r} weights yet (zoo/records.py); name a checkpoint folder")
    args.dataset, args.folders = dataset, folders
    return args


def main(argv=None) -> dict[str, dict]:
    args = parse_args(argv)
    models, folders = models_of(args), args.folders
    apply_threads(args)

    images, labels = data.load_dataset(args.dataset, args.data_root, train=False, download=args.download)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    results = {}
    for name in models:
        model = (load_checkpoint(name) if name in folders else create_model(name, pretrained=True,
                                                                            weights=args.weights))
        started = time.perf_counter()
        metrics = evaluate(model, images, labels, angles=() if args.no_profile else data.PROFILE_ANGLES)
        training = model.meta.training
        results[name] = {**metrics, "num_params": model.meta.num_params, "mflops": model.meta.mflops_28x28,
                         "epochs": training.get("epochs"), "train_min": training.get("wall_time_min"),
                         "trained_on": trained_on(training),
                         "test_images": len(images), "eval_seconds": round(time.perf_counter() - started, 1)}
        if name not in folders:  # the weights measured: what the load read and verified
            results[name]["weights_sha256"] = model.meta.weights_sha256
        angles = ("" if args.no_profile else f"  angles {100 * metrics['profile_min_accuracy']:.2f}"
                  f"..{100 * metrics['profile_max_accuracy']:.2f}%")
        print(f"{name:<15} upright {100 * metrics['test_upright_accuracy']:.2f}%  rotated "
              f"{100 * metrics['test_rotated_accuracy']:.2f}%{angles}", flush=True)
        if args.update:
            update_metrics(weights_folder(name, args.weights), {**metrics, "test_images": len(images)})
    if args.json:
        write_text(args.json, json.dumps(results, indent=2) + "\n")

    if args.limit or args.no_profile or folders:  # a quick check, or not the published presets: no tables
        if not args.no_profile:
            print(results_table(results))
        return results
    # The table and the plot cover every model evaluated so far for this tag (one JSON file per model),
    # so models can be evaluated in separate runs.
    folder = Path(args.results) / args.weights
    for name, r in results.items():
        write_text(folder / f"{name}.json", json.dumps(r, indent=2) + "\n")
    everything = saved_results(args.results, args.weights)
    plot_path = args.plot or f"figures/profile-{args.weights}.png"
    plot_profiles(everything, plot_path, f"Accuracy against rotation angle ({WEIGHT_TAGS[args.weights]})")
    print(tag_table(args.results, args.weights))
    print(f"wrote {folder}/*.json and {plot_path}")
    if args.update:
        # every tag's table: the gaps of the other tags depend on the rotated-trained results
        for tag in WEIGHT_TAGS:
            compared = [t for t in (tag, baseline_tag(tag)) if t]
            stale = sorted({f"{n} ({t})" for t in compared
                            for n in set(saved_results(args.results, t)) - set(current_results(args.results, t))})
            if stale:
                print(f"left the results-{tag} table as it was: the saved results of {', '.join(stale)} were not "
                      f"measured on the published weights; zoo evaluate --weights TAG --update measures them again")
            elif saved_results(args.results, tag):
                update_docs(f"results-{tag}", tag_table(args.results, tag))
        print("updated the checkpoints' config.json and every results table not named above")
    return results


if __name__ == "__main__":
    from .common import run

    run(main)
