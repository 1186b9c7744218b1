"""Classify your own pictures of digits: files and folders (searched recursively for pictures), each framed as the
weights expect (``zoo.create_transform``: any size, dark ink on a light page or light on dark, turned any way).

    zoo predict digit.png photos/ --model c8_mnist
    zoo predict photos/ --model so2_mnist --format json --top 3 > predictions.jsonl
    zoo predict scans/ --model c8_mnist --upright           # pictures known to be upright

Served by the exported model (plain PyTorch, no escnn), as the app is; ``--no-export`` runs the escnn model.
A file that cannot be read as a picture of a digit is reported on stderr and skipped. Exit status: 0 when every
picture was classified, 1 when some were skipped (or the command failed), 2 for a mistake on the command line.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import torch

from .common import add_threads, add_weights, apply_threads, model_name, parser, positive_int
from ..registry import create_model
from ..transforms import IMAGE_SUFFIXES, create_transform


def picture_files(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files named, and the pictures (by suffix) under the folders named, sorted; and (path, why) for each path
    that is neither."""
    files, missing = [], []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            missing.append((text, "no such file or folder"))
    return files, missing


@torch.no_grad()
def predict(model, transform, files: list[Path], batch_size: int, top: int, progress: bool = True):
    """Yield (path, top-k [(class name, probability)]) for each readable file, or (path, error message)."""
    from tqdm import tqdm

    names = model.pretrained_cfg.class_names
    with tqdm(total=len(files), unit="picture", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(files), batch_size):
            batch, inputs = files[start:start + batch_size], []
            for path in batch:
                try:
                    inputs.append((path, transform(path)))
                except (ValueError, TypeError, OSError) as e:
                    yield path, str(e)
            if inputs:
                probabilities = model(torch.stack([x for _, x in inputs])).softmax(1)
                values, classes = probabilities.topk(top, dim=1)
                for (path, _), p, c in zip(inputs, values.tolist(), classes.tolist()):
                    yield path, [(names[k], v) for k, v in zip(c, p)]
            bar.update(len(batch))


def main(argv=None) -> list[dict]:
    p = parser(__doc__)
    p.add_argument("paths", nargs="+", metavar="PATH", help="picture files, or folders searched recursively for "
                   f"{', '.join(IMAGE_SUFFIXES)} files")
    p.add_argument("--model", required=True, type=model_name, help="the preset to classify with")
    add_weights(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="table: aligned columns; json: one object per line; csv: a header, then a row per picture")
    p.add_argument("--top", type=positive_int, default=1, metavar="K", help="the K most probable classes")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--export", action=argparse.BooleanOptionalAction, default=True,
                   help="run the exported plain-PyTorch model (default), or the escnn model with --no-export")
    p.add_argument("--upright", action="store_true",
                   help="the pictures are known to be upright: frame them as the training data framed its upright "
                   "images (digits: the centre of mass half a pixel right of and below the centre, which the MNIST "
                   "weights read as 'down'; clothes: the bounding box). Better on upright pictures, worse on turned "
                   "ones (docs/pictures.md); not --weights upright, the weights trained on upright digits")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows on long runs, on stderr)")
    add_threads(p)
    args = p.parse_args(argv)
    apply_threads(args)

    files, skipped = picture_files(args.paths)
    for text, why in skipped:
        print(f"skipped {text}: {why}", file=sys.stderr)
    if not files:
        raise ValueError(f"no pictures to classify in {' '.join(args.paths)} (files ending in "
                         f"{', '.join(IMAGE_SUFFIXES)}, or folders holding them)")
    model = create_model(args.model, pretrained=True, weights=args.weights, export=args.export)
    top = min(args.top, model.pretrained_cfg.num_classes)
    transform = create_transform(model, upright=args.upright)
    results = []
    writer = csv.writer(sys.stdout) if args.format == "csv" else None
    if writer:
        writer.writerow(["path", "label", "probability"] + [f"{what}_{k}" for k in range(2, top + 1)
                                                            for what in ("label", "probability")])
    progress = not args.no_progress and len(files) > 4 * args.batch_size
    for path, answer in predict(model, transform, files, args.batch_size, top, progress):
        if isinstance(answer, str):
            skipped.append((str(path), answer))
            print(f"skipped {path}: {answer}", file=sys.stderr)
            continue
        (label, probability), *rest = answer
        result = {"path": str(path), "label": label, "probability": round(probability, 6),
                  "top": [{"label": k, "probability": round(v, 6)} for k, v in answer]}
        results.append(result)
        if args.format == "json":
            print(json.dumps(result), flush=True)
        elif writer:
            writer.writerow([path, label, f"{probability:.6f}"] + [x for k, v in rest for x in (k, f"{v:.6f}")])
        else:
            others = "".join(f"  {k} {100 * v:5.1f}%" for k, v in rest)
            print(f"{label:>5} {100 * probability:5.1f}%{others}  {path}")
    if skipped:
        print(f"{len(results)} pictures classified, {len(skipped)} skipped", file=sys.stderr)
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    from .common import run

    run(main)
