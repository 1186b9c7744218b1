"""Fine-tune a pretrained preset on your own images.

    zoo finetune c8_mnist --data path/to/imagefolder          # one sub-folder per class
    zoo finetune so2_mnist --dataset FashionMNIST --data-root /usr/share/datasets/fashion-mnist \\
        --train-size 1000 --mode probe

Modes: ``finetune`` (all weights, from the pretrained ones), ``probe`` (frozen backbone, new linear head),
``scratch`` (the same network from random weights, the baseline). The head is replaced when the number of
classes differs; ``--in-channels 3`` adapts the first layer to RGB. The result is a checkpoint folder (same
format as ``weights/``, config.json names the parent checkpoint) that loads with
``zoo.from_pretrained(folder)``. Resume after an interruption with ``--resume``. ``--batch-size`` defaults to
64 for at most 2,000 training images and 128 above. ``--test rotated`` (with ``--dataset``) measures the rotated
test set alone.

The default recipe (chosen on the validation split of rotated Fashion-MNIST, docs/finetuning.md): 20 epochs,
one-cycle AdamW, peak learning rate ``DEFAULT_LR`` per mode and, for the classifier, ``HEAD_LR_SCALE`` times it,
and the weight average ``DEFAULT_EMA`` published.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .. import data
from ..checkpoint import save_checkpoint
from ..files import CheckpointInfo
from .common import add_data, add_preset, add_training_args, add_weights, parser, positive_float, positive_int
from ..metrics import accuracy
from ..records import find_record, folder_name
from ..registry import create_model
from ..surgery import freeze_backbone
from ..training import TrainConfig, end_processes, fit, main_first, recipe, setup_processes

MODES = ("finetune", "probe", "scratch")
# Peak learning rate per mode: a pretrained backbone wants small steps, a lone linear head on frozen
# features (probe) large ones, and from scratch the recipe the presets were trained with.
DEFAULT_LR = {"finetune": 1e-3, "probe": 1e-2, "scratch": 3e-3}
# The classifier's peak learning rate as a multiple of --lr, per mode: a new head on a pretrained backbone
# learns from nothing, so it takes ten times the backbone's steps (chosen on validation: docs/finetuning.md);
# a probe trains the head alone, and from scratch nothing is pretrained.
HEAD_LR_SCALE = {"finetune": 10.0, "probe": 1.0, "scratch": 1.0}
# The published weight average's decay per mode (0: none), chosen for fine-tuning on validation as above.
DEFAULT_EMA = {"finetune": 0.99, "probe": 0.0, "scratch": 0.0}


def _image_transform(in_channels: int, size: int):
    from torchvision import transforms as T

    to_mode = T.Grayscale(1) if in_channels == 1 else T.Lambda(lambda im: im.convert("RGB"))
    return T.Compose([to_mode, T.Resize((size, size)), T.ToTensor()])


def _to_tensors(dataset, indices, describe) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import UnidentifiedImageError

    images, labels = [], []
    for i in indices.tolist():
        try:
            image, label = dataset[i]
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read {describe(i)} ({e}); remove or replace that file") from e
        images.append(image)
        labels.append(label)
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def load_image_folder(path: str | Path, in_channels: int, size: int):
    """An ImageFolder (one sub-folder per class) as a torchvision dataset, checked for common mistakes."""
    from torchvision.datasets import ImageFolder

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"--data {path} is not a folder; expected {path}/<class name>/<image files>")
    try:
        dataset = ImageFolder(str(path), transform=_image_transform(in_channels, size))
    except FileNotFoundError as e:
        raise ValueError(f"no images found in {path}: expected one sub-folder per class holding image files "
                         f"(.png, .jpg, ...); ({e})") from e
    if len(dataset.classes) < 2:
        raise ValueError(f"{path} holds a single class ({dataset.classes}); classification needs at least two "
                         "class sub-folders")
    return dataset, (lambda i: dataset.samples[i][0])


def load_torchvision(name: str, root: str | Path, train: bool, download: bool, in_channels: int, size: int):
    """A torchvision dataset by name. For the MNIST family, ``root`` may also be a folder of raw IDX files,
    gzipped or not (as Debian's dataset-fashion-mnist installs them), read by ``zoo.data.read_idx_split``."""
    import torchvision.datasets

    cls = getattr(torchvision.datasets, name, None)
    if not isinstance(cls, type):
        raise ValueError(f"unknown torchvision dataset {name!r}; e.g. MNIST, FashionMNIST, KMNIST, CIFAR10")
    transform = _image_transform(in_channels, size)
    if issubclass(cls, torchvision.datasets.MNIST) and data.has_idx_files(root, train):
        dataset = IdxImages(*data.read_idx_split(root, train), classes=list(cls.classes), transform=transform)
        return dataset, (lambda i: f"{name} image {i}")
    try:
        dataset = cls(str(root), train=train, download=download, transform=transform)
    except RuntimeError as e:
        raise FileNotFoundError(f"{name} not found under {root} ({e}); pass --download or another --data-root") from e
    return dataset, (lambda i: f"{name} image {i}")


class IdxImages:
    """Images read from raw IDX files, served as torchvision's MNIST serves its own: (``transform`` of the image as
    a grey PIL image, its label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], transform) -> None:
        self.images, self.labels, self.classes, self.transform = images, labels, classes, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i].numpy())), int(self.labels[i])  # (H, W) uint8: mode L


def parent_of(preset: str, tag: str, meta: CheckpointInfo) -> dict:
    """What config.json records of the checkpoint a fine-tuning run started from (the card's ``base_model``)."""
    record = find_record(preset, tag)
    return {"hub_id": record.hub_id if record else None, "revision": record.revision if record else None,
            "folder": folder_name(preset, tag), "weights_sha256": meta.weights_sha256}


def parse_args(argv=None) -> argparse.Namespace:
    p = parser(__doc__)
    add_preset(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="ImageFolder directory: <data>/<class>/<image>")
    source.add_argument("--dataset", help="torchvision dataset name, e.g. FashionMNIST (with --data-root)")
    add_data(p)
    add_weights(p, help="parent weights tag")
    p.add_argument("--mode", choices=MODES, default="finetune")
    p.add_argument("--trainable-blocks", type=int, default=None,
                   help="with --mode probe: also train the last N conv blocks (default 0)")
    p.add_argument("--num-classes", type=positive_int, default=None, help="defaults to the number of classes found")
    p.add_argument("--in-channels", type=positive_int, default=1, help="1: grey images, 3: RGB (first layer adapted)")
    p.add_argument("--image-size", type=positive_int, default=28)
    p.add_argument("--train-size", type=positive_int, default=None, help="labelled training images to use")
    p.add_argument("--val-size", type=positive_int, default=500, help="held out of the training images")
    p.add_argument("--test", choices=("both", "rotated"), default="both",
                   help="with --dataset, the test sets measured: upright and rotated (default), or the rotated one "
                   "alone (half the time)")
    add_training_args(p, TrainConfig(epochs=20), decided_later=("lr", "batch_size", "ema"))
    p.add_argument("--head-lr", type=positive_float, default=None,
                   help="peak learning rate of the classifier (default: --lr times "
                   f"{', '.join(f'{v:g} ({k})' for k, v in HEAD_LR_SCALE.items())})")
    args = p.parse_args(argv)
    if args.trainable_blocks is not None and args.mode != "probe":
        p.error(f"--trainable-blocks applies to --mode probe only (the {args.mode} mode trains every block)")
    if args.lr is None:
        args.lr = DEFAULT_LR[args.mode]
    if args.head_lr is None:
        args.head_lr = args.lr * HEAD_LR_SCALE[args.mode]
    if args.ema is None:
        args.ema = DEFAULT_EMA[args.mode]
    if args.batch_size is None:  # small labelled sets: smaller batches, more steps
        args.batch_size = 64 if args.train_size and args.train_size <= 2000 else 128
    return args


def main(argv=None) -> Path:
    args = parse_args(argv)
    config = TrainConfig.from_args(args)
    group = setup_processes(args.threads, config.batch_size, config.seed, args.device)
    with main_first(group):  # downloads and decompressed copies land once, before the other processes read them
        if args.data:
            dataset, describe = load_image_folder(args.data, args.in_channels, args.image_size)
            test = None
        else:
            dataset, describe = load_torchvision(args.dataset, args.data_root, True, args.download, args.in_channels,
                                                 args.image_size)
            test = load_torchvision(args.dataset, args.data_root, False, args.download, args.in_channels,
                                    args.image_size)[0]
    class_names = list(dataset.classes)
    if args.num_classes is not None and args.num_classes != len(class_names):
        raise ValueError(f"--num-classes {args.num_classes} disagrees with the data, which has "
                         f"{len(class_names)} classes ({', '.join(class_names[:10])}); drop --num-classes")
    n = len(dataset)
    if n <= args.val_size:
        raise ValueError(f"{n} images are too few to hold out --val-size {args.val_size}; lower it")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
    val_idx, train_idx = order[:args.val_size], order[args.val_size:]
    if args.train_size:
        train_idx = train_idx[:args.train_size]
    train_images, train_labels = _to_tensors(dataset, train_idx, describe)
    val_images, val_labels = _to_tensors(dataset, val_idx, describe)
    if config.augment == "rotate":
        val_images = data.rotated_validation(val_images, config.centre)

    with main_first(group):  # the pretrained weights download once
        model = create_model(args.preset, pretrained=args.mode != "scratch", weights=args.weights,
                             num_classes=len(class_names), in_channels=args.in_channels)
    parent = None if args.mode == "scratch" else parent_of(args.preset, args.weights, model.meta)
    if args.mode == "probe":
        blocks = len(model.blocks)
        if not 0 <= (args.trainable_blocks or 0) <= blocks:
            raise ValueError(f"--trainable-blocks {args.trainable_blocks}: {args.preset} has {blocks} conv blocks; "
                             f"choose 0 to {blocks}")
        freeze_backbone(model, args.trainable_blocks or 0)
    name = Path(args.data).name if args.data else args.dataset
    run_dir = Path(args.run_dir or f"runs/finetune/{args.preset}-{name}-{args.mode}")
    state = fit(model, train_images, train_labels, val_images, val_labels, config, run_dir,
                desc=f"{args.preset} {args.mode} on {name}", resume=args.resume, progress=not args.no_progress,
                device=args.device,
                identity={"preset": args.preset, "mode": args.mode, "data": name, "train_images": len(train_idx),
                          "trainable_blocks": args.trainable_blocks or 0})

    metrics = {"val_accuracy": state["val_history"][-1][1]}
    if test is not None and group.main:
        test_images, test_labels = _to_tensors(test, torch.arange(len(test)), lambda i: f"test image {i}")
        if args.test == "both":
            metrics["test_upright_accuracy"] = accuracy(model, test_images, test_labels)
        metrics["test_rotated_accuracy"] = accuracy(
            model, data.rotate(test_images, data.rotated_test_angles(len(test_images))), test_labels)
        metrics["test_images"] = len(test_images)
    out = Path(args.out or run_dir / "checkpoint")
    if group.main:
        model.meta = CheckpointInfo(
            preset=args.preset, weights_tag=f"{name}-{args.mode}", parent=parent, mode=args.mode,
            class_names=class_names, metrics=metrics,
            protocol=f"{name}: {len(train_idx)} training and {len(val_idx)} validation images"
                     + (f"; test set rotated as in {data.PROTOCOL}" if test is not None else ""),
            input={"channels": args.in_channels, "size": [args.image_size] * 2, "value_range": [0.0, 1.0],
                   "normalization": "none: ToTensor() of the image"},
            training=recipe(state, name, argv, command="zoo finetune", processes=group.world))
        save_checkpoint(model, out)
        print(f"{args.preset} {args.mode}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                          if isinstance(v, float)) + f"; wrote {out}")
    end_processes(group)
    return out


if __name__ == "__main__":
    from .common import run

    run(main)
