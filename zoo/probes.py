"""Embedded probe digits and the self-check every checkpoint load runs (no escnn, no torchvision).

A checkpoint carries the logits its model gave, when it was saved, for a few genuine MNIST test digits that
ship in ``zoo/assets`` (upright and turned by 90 degrees, so nothing is interpolated). Every load path runs the
loaded model on the same probes and refuses it if its logits differ by more than ``rtol`` times the largest
reference logit: a model that would answer wrongly on this machine is never returned.
"""
from __future__ import annotations

from importlib.resources import files

import torch
from safetensors.torch import load_file

__all__ = ["embedded_digits", "probe_images", "reference_logits", "self_check", "SelfCheckError", "SELF_CHECK_RTOL"]

PROBES = "zoo/assets/mnist_test_digits.safetensors: the first test digit of each class, upright and rot90"
# Float32 rounding on another CPU moves logits by ~1e-6 of their scale; a wrong kernel basis by O(1).
SELF_CHECK_RTOL = 1e-3


class SelfCheckError(ValueError):
    """A loaded model does not reproduce the logits its checkpoint recorded."""


def embedded_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The first MNIST test image of each class, shipped in ``zoo/assets``: (10, 1, 28, 28) in [0, 1], labels."""
    tensors = load_file(str(files("zoo") / "assets" / "mnist_test_digits.safetensors"))
    return tensors["images"].unsqueeze(1).float() / 255, tensors["labels"].long()


def probe_images(in_channels: int = 1) -> torch.Tensor:
    """The probes (20, in_channels, 28, 28): ten digits upright, then turned by 90 degrees (exact, no resampling)."""
    digits = embedded_digits()[0]
    return torch.cat([digits, torch.rot90(digits, 1, (2, 3))]).repeat(1, in_channels, 1, 1)


@torch.no_grad()
def _probe_logits(model: torch.nn.Module, in_channels: int) -> torch.Tensor:
    """``model``'s float32 logits on the probes, in eval mode (its mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    logits = model(probe_images(in_channels)).float()
    model.train(was_training)
    return logits


def reference_logits(model: torch.nn.Module, in_channels: int) -> dict:
    """What ``config.json["self_check"]`` records: the probes' logits of ``model``."""
    return {"probes": PROBES, "rtol": SELF_CHECK_RTOL, "logits": _probe_logits(model, in_channels).tolist()}


def self_check(model: torch.nn.Module, config: dict, source: str, in_channels: int) -> dict:
    """Compare ``model``'s logits on the probes with the checkpoint's; raise ``SelfCheckError`` if they differ.

    Returns the margin: ``max_diff`` (largest absolute logit difference) and ``tolerance``
    (``rtol`` times the largest reference logit).
    """
    recorded = config.get("self_check")
    if not recorded or "logits" not in recorded:
        raise SelfCheckError(f"{source}: config.json has no self_check reference logits; the checkpoint is "
                             "incomplete: download it again, or write it with zoo.checkpoint.save_checkpoint")
    expected = torch.tensor(recorded["logits"], dtype=torch.float32)
    logits = _probe_logits(model, in_channels)
    if logits.shape != expected.shape:
        raise SelfCheckError(f"{source}: the model gives logits of shape {tuple(logits.shape)} on the probes, the "
                             f"checkpoint recorded {tuple(expected.shape)}; config.json and the weights disagree")
    tolerance = recorded.get("rtol", SELF_CHECK_RTOL) * expected.abs().max().item()
    diff = (logits - expected).abs().max().item()
    if not diff <= tolerance:  # also catches NaN
        raise SelfCheckError(
            f"{source}: the loaded model does not reproduce the logits recorded in its checkpoint: largest "
            f"difference {diff:.3g} on the probe digits, tolerance {tolerance:.3g}. The model built here computes "
            "another function than the one that was saved, so it was not returned. Download the checkpoint "
            "again; if this persists, use export=True (plain PyTorch, no escnn) and report the versions in "
            "config.json['versions'] against yours")
    return {"max_diff": diff, "tolerance": tolerance}
