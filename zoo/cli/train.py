"""Train a preset on rotated (or upright) MNIST; the checkpoint goes to the run folder, never over published weights.

    zoo train c8_mnist --data-root ../shared/data --epochs 4          # -> runs/train/c8_mnist-rotated/checkpoint
    torchrun --nproc-per-node 2 -m zoo.cli.train c8_mnist --data-root ../shared/data --threads 1   # data-parallel
    torchrun --nproc-per-node 4 -m zoo.cli.train c8_mnist --data-root ../shared/data --device cuda  # 4 GPUs
    zoo train c8_mnist --data-root ../shared/data --epochs 24 --publish --overwrite  # replace weights/c8_mnist
    zoo train c8_mnist --data-root ../shared/data --init rotated --centre --epochs 2 --lr 1e-3   # continue them

After a crash or ``kill -9``, the same command with ``--resume`` continues from ``<run-dir>/resume.safetensors``
and refuses if the arguments describe another run (see ``zoo.training``). Precision: bfloat16 autocast only
where the CPU computes bfloat16 natively (AMX or AVX512-BF16) and a timed step shows it is faster
(``zoo.precision``); ``--bf16``/``--no-bf16`` decide by hand. The recipe in config.json says which ran.
Under torchrun each process trains on its share of every ``--batch-size`` batch (with ``--device cuda`` on the
GPU of its LOCAL_RANK), the main process chooses the precision for all and writes the checkpoint.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import data
from ..checkpoint import save_checkpoint
from ..files import WEIGHTS_NAME, CheckpointInfo
from .common import add_data, add_preset, add_training_args, add_weights, int_list, parser, positive_int
from ..records import TAG_TRAIN_SIZE, tag_dataset
from ..registry import DEFAULT_TAG, WEIGHT_TAGS, create_model, weights_folder
from ..training import TrainConfig, end_processes, fit, main_first, recipe, setup_processes


def parse_args(argv=None) -> argparse.Namespace:
    p = parser(__doc__)
    add_preset(p)
    add_data(p)
    add_weights(p, default=None, help="tag of the published weights (default: rotated, or upright with "
                "--augment none)")
    p.add_argument("--train-size", type=positive_int, default=None, help="use only the first N training images")
    p.add_argument("--val-size", type=positive_int, default=data.VAL_SIZE)
    p.add_argument("--publish", action="store_true", help="write the checkpoint into this checkout's "
                   "weights/<preset>[-<tag>] (default: <run-dir>/checkpoint, or --out)")
    p.add_argument("--overwrite", action="store_true", help="with --publish: replace the weights already published "
                   "there (without it, --publish refuses a folder that holds weights, before training)")
    p.add_argument("--widths", type=int_list, default=None, metavar="W1,W2,...",
                   help="train the preset at other widths, one per conv layer (an experiment: the checkpoint "
                   "records its architecture; publish it only under a preset with these widths)")
    p.add_argument("--init", choices=list(WEIGHT_TAGS), default=None, metavar="TAG",
                   help="start from this preset's published weights with this tag instead of random weights "
                   "(config.json records their sha256)")
    add_training_args(p, TrainConfig())
    args = p.parse_args(argv)
    if args.init and args.widths:
        p.error("--init starts from the preset's published weights; --widths builds another architecture")
    if args.weights is None:
        args.weights = DEFAULT_TAG if args.augment == "rotate" else "upright"
    if tag_dataset(args.weights) != "MNIST":
        p.error(f"--weights {args.weights} is trained on {tag_dataset(args.weights)}, not MNIST: make it with zoo "
                "finetune (docs/finetuning.md)")
    if (args.weights == "upright") != (args.augment == "none"):
        p.error(f"--weights {args.weights} is trained {'without' if args.weights == 'upright' else 'with'} rotations: "
                f"{'add' if args.weights == 'upright' else 'drop'} --augment none")
    size = TAG_TRAIN_SIZE.get(args.weights)
    if args.train_size is not None and size is not None and args.train_size != size:
        p.error(f"--weights {args.weights} trains on the first {size} images; drop --train-size {args.train_size}")
    args.train_size = args.train_size or size
    if args.publish and args.out:
        p.error("--publish writes into weights/; --out names another folder: give one of them")
    if args.publish and args.widths:
        p.error("--widths trains another architecture than the preset's; it cannot be published under its name")
    if args.overwrite and not args.publish:
        p.error("--overwrite replaces published weights: it goes with --publish")
    args.run_dir = Path(args.run_dir or f"runs/train/{args.preset}-{args.weights}")
    args.out = weights_folder(args.preset, args.weights) if args.publish else Path(args.out or args.run_dir / "checkpoint")
    if args.publish and not args.overwrite and (args.out / WEIGHTS_NAME).is_file():
        p.error(f"{args.out} holds published weights; --publish replaces them only with --overwrite")
    return args


def main(argv=None) -> Path:
    args = parse_args(argv)
    config = TrainConfig.from_args(args)
    group = setup_processes(args.threads, config.batch_size, config.seed, args.device)
    with main_first(group):  # a --download lands once, before the other processes read it
        images, labels = data.load_mnist(args.data_root, train=True, download=args.download)
    train_idx, val_idx = data.train_val_split(len(images), args.val_size)
    if args.train_size:
        train_idx = train_idx[:args.train_size]
    val_images = images[val_idx]
    if config.augment == "rotate":
        val_images = data.rotated_validation(val_images, config.centre)

    if args.init:
        with main_first(group):  # downloaded once
            model = create_model(args.preset, pretrained=True, weights=args.init)
        init = {"init": f"{args.preset} weights {args.init!r}, sha256 {model.meta.weights_sha256}"}
    else:
        model = create_model(args.preset, pretrained=False, **({"widths": args.widths} if args.widths else {}))
        init = {}
    state = fit(model, images[train_idx], labels[train_idx], val_images, labels[val_idx], config, args.run_dir,
                desc=f"{args.preset} ({args.weights})", resume=args.resume, progress=not args.no_progress,
                device=args.device,
                identity={"preset": args.preset, "train_images": len(train_idx), "val_images": len(val_idx),
                          **({"widths": args.widths} if args.widths else {}), **init})

    out = args.out
    if group.main:
        model.meta = CheckpointInfo(
            preset=args.preset, weights_tag=args.weights, class_names=data.MNIST_CLASSES, protocol=data.PROTOCOL,
            metrics={"val_accuracy": state["val_history"][-1][1]},
            training={**recipe(state, f"MNIST train minus {args.val_size} validation images"
                               + (f", first {args.train_size}" if args.train_size else ""), argv,
                               processes=group.world), **init})
        save_checkpoint(model, out)
        print(f"wrote {out}")
    end_processes(group)
    return out


if __name__ == "__main__":
    from .common import run

    run(main)
