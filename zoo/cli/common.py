"""What every command shares: one vocabulary of options, and one-line errors.

Models are positional (``zoo evaluate c8_mnist so2_mnist``; none: every preset), the weights tag is
``--weights`` with its choices, data come from ``--data-root`` (a folder holding ``MNIST/raw``), ``--threads``
sets torch's threads (default: torch's own choice). Counts are checked when the command line is read.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from ..registry import DEFAULT_TAG, WEIGHT_TAGS, list_models, published_models
from ..training import TrainConfig


DEBUG = "ZOO_DEBUG"  # set to 1: every command prints tracebacks, as ``zoo --debug <command>`` does


def run(main: Callable[[], object], debug: bool = False, command: str | None = None) -> None:
    """Run a command's ``main`` so that a user mistake ends in one clear line, not a traceback; with ``debug``
    (``zoo --debug``) or the environment variable ZOO_DEBUG=1, the traceback instead. ``command``: the name the
    line's hint gives (``zoo --debug <command> ...``)."""
    try:
        main()
    except (ValueError, OSError, ImportError) as e:  # OSError: a missing file, a failed download
        if debug or os.environ.get(DEBUG, "") not in ("", "0"):
            raise
        how = f"zoo --debug {command} ..." if command else f"{DEBUG}=1"
        sys.exit(f"error: {e}\n({how} prints the traceback)")


def parser(doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def _number(text: str, convert, ok, expected: str):
    """``convert(text)`` if it parses and passes ``ok``; otherwise the argparse error 'expected <expected>, got ...'."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive whole number")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "a positive number")


def nonnegative_float(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < float("inf"), "a finite number >= 0")


def unit_interval(text: str) -> float:
    """A number in [0, 1): a label-smoothing share or a moving-average decay."""
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def int_list(text: str) -> list[int]:
    """Comma-separated positive ints, e.g. 32,64,64,128,128."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def device_name(text: str) -> str:
    """A torch device to train on: cpu, or cuda / cuda:N where such a GPU is visible."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA GPUs visible "
                                         "to torch; train with --device cpu")
    return text


def model_name(text: str) -> str:
    if text not in list_models():
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; known models: {', '.join(list_models())}")
    return text


def add_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", type=model_name, metavar="MODEL",
                   help=f"presets, any of {', '.join(list_models())} (default: every one published "
                   "for the weights tag)")


def add_preset(p: argparse.ArgumentParser) -> None:
    p.add_argument("preset", type=model_name, metavar="MODEL", help=f"one of {', '.join(list_models())}")


def add_weights(p: argparse.ArgumentParser, default: str | None = DEFAULT_TAG, help: str = "weights tag") -> None:
    p.add_argument("--weights", default=default, choices=list(WEIGHT_TAGS),
                   help=f"{help} ({'; '.join(f'{k}: {v}' for k, v in WEIGHT_TAGS.items())})")


def add_data(p: argparse.ArgumentParser, default: str | None = "data",
             help: str = "folder holding MNIST/raw (torchvision layout)") -> None:
    p.add_argument("--data-root", default=default, help=help)
    p.add_argument("--download", action="store_true", help="let torchvision download MNIST if it is missing")


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")


def apply_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def models_of(args: argparse.Namespace) -> list[str]:
    """The presets named on the command line, or every preset published for ``--weights`` (if the tool has it)."""
    return list(args.models) or published_models(getattr(args, "weights", DEFAULT_TAG))


def add_training_args(p: argparse.ArgumentParser, defaults: TrainConfig, decided_later: tuple[str, ...] = ()) -> None:
    """Options shared by training from scratch (zoo train) and fine-tuning (zoo finetune).

    ``decided_later``: options whose default the command sets after parsing (their default here is None).
    """
    def later(name: str):
        return None if name in decided_later else getattr(defaults, name)

    p.add_argument("--augment", choices=["rotate", "none"], default=defaults.augment,
                   help="rotate every training image by a random angle, or keep it upright")
    p.add_argument("--epochs", type=positive_float, default=defaults.epochs)
    p.add_argument("--batch-size", type=positive_int, default=later("batch_size"),
                   help="global batch size (split across processes)")
    p.add_argument("--lr", type=positive_float, default=later("lr"), help="peak learning rate of the one-cycle "
                   f"schedule (default: {'depends on --mode' if 'lr' in decided_later else defaults.lr})")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--label-smoothing", type=unit_interval, default=defaults.label_smoothing,
                   help="label smoothing of the cross-entropy (default: %(default)s)")
    p.add_argument("--ema", type=unit_interval, default=later("ema"), metavar="DECAY",
                   help="publish an exponential moving average of the weights with this decay, e.g. 0.999 "
                   "(warmed up as min(DECAY, (1 + step) / (10 + step))); validation reports both (default: "
                   f"{'depends on --mode' if 'ema' in decided_later else 'off'})")
    p.add_argument("--translate", type=nonnegative_float, default=defaults.translate, metavar="PIXELS",
                   help="with --augment rotate, also shift each image by a uniform random offset of up to this "
                   "many pixels along each axis (default: %(default)s)")
    p.add_argument("--scale", type=unit_interval, default=defaults.scale,
                   help="with --augment rotate, also scale each image by a uniform random factor in "
                   "[1 - SCALE, 1 + SCALE] (default: %(default)s)")
    p.add_argument("--centre", action="store_true",
                   help="with --augment rotate, turn each image about its ink's centre of mass, brought to the "
                   "frame's centre (where zoo.create_transform puts a picture's), instead of about the frame's "
                   "centre, so the ink's offset from the centre gives no hint of the digit's angle")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast (default: where the CPU has native bfloat16 and a timed step is faster)")
    add_threads(p)
    p.add_argument("--device", type=device_name, default="cpu",
                   help="where to train: cpu, or cuda / cuda:N for a GPU (default: cpu); the published checkpoint "
                   "is written from the CPU either way")
    p.add_argument("--run-dir", default=None, help="where resume checkpoints go")
    p.add_argument("--checkpoint-every", type=positive_int, default=defaults.checkpoint_every,
                   help="steps between resume checkpoints")
    p.add_argument("--val-every", type=positive_int, default=defaults.val_every, metavar="STEPS",
                   help="validate every STEPS steps and after the last (default: after every epoch; small "
                   "--train-size runs have short epochs)")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/resume.safetensors")
    p.add_argument("--out", default=None, help="checkpoint folder to write")
    p.add_argument("--no-progress", action="store_true")


def left_out(args: argparse.Namespace) -> str:
    """The presets published for ``--weights`` that the named models leave out, as a reason for
    ``refuse_partial_update``; empty when none are named (then the command runs every one) or none is left out."""
    if not args.models:
        return ""
    missing = [m for m in published_models(getattr(args, "weights", DEFAULT_TAG)) if m not in args.models]
    return f"{', '.join(missing)} left out" if missing else ""


def refuse_partial_update(p: argparse.ArgumentParser, args: argparse.Namespace, partial: list[str | bool | None],
                          full_run: str) -> None:
    """With ``--update``, end in a usage error if this run is partial: ``--update`` writes what the documentation
    and the weights publish, which a subset of the presets, of the images or of the timing rounds would not
    reproduce. ``partial``: why this run is partial, one reason per entry (falsy entries do not apply);
    ``full_run``: the command of the full run."""
    reasons = [str(reason) for reason in partial if reason]
    if getattr(args, "update", False) and reasons:
        p.error(f"--update publishes the full run only, and this one is partial: {'; '.join(reasons)}. "
                f"The full run: {full_run}")


def show_table(key: str, table: str, update: bool) -> None:
    """Print a command's table; with ``update`` also write it into the documentation block ``key`` (in a git
    checkout: the writer, ``zoo.dev.docs``, does not ship in the wheel)."""
    print(table)
    if update:
        update_docs(key, table)


def update_docs(key: str, table: str) -> None:
    try:
        from ..dev.docs import update_readme
    except ImportError as e:
        raise ImportError("--update writes the documentation of a git checkout; this zoo was installed from a "
                          "wheel") from e
    update_readme(key, table)
