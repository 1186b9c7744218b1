"""What every ``python -m zoo.<command>`` shares: one vocabulary of options, and one-line errors.

Models are positional (``python -m zoo.evaluate c8_mnist so2_mnist``; none: every preset), the weights tag is
``--weights`` with its choices, data come from ``--data-root`` (a folder holding ``MNIST/raw``), ``--threads``
sets torch's threads (default: torch's own choice). Counts are checked when the command line is read.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from .registry import DEFAULT_TAG, WEIGHT_TAGS, list_models, published_models


def run(main: Callable[[], object]) -> None:
    """Run a command's ``main`` so that a user mistake ends in one clear line, not a traceback."""
    try:
        main()
    except (ValueError, OSError, ImportError) as e:  # OSError: a missing file, a failed download
        sys.exit(f"error: {e}")


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


def add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default="data", help="folder holding MNIST/raw (torchvision layout)")
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
