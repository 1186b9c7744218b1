"""How invariant a model is, on images: its logits under rot90, flips and other angles, or block by block
(the measurements behind ``zoo invariance``).

Logits: for each model, the largest relative change of the logits (max |f(gx) - f(x)| / max |f(x)|) under
rot90 on 28x28 and 29x29 inputs, under a horizontal flip, and under the worst rotation by another angle
(15, 30, ..., 345 degrees, bilinear), plus how often the predicted class survives that worst rotation.

Per layer (``--per-layer``): after each conv block, the block's fields pooled over the group (max over the
regular channels, or over the SO(2) grid of its nonlinearity) and averaged over space give one invariant
vector per image; the table gives ||v(gx) - v(x)|| / ||v(x)|| over the images, for each angle, per block and
for the logits. An exactly invariant block gives float rounding at the group's angles; the bilinear
resampling of the input sets the floor at others.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import data


def relative_change(model, x: torch.Tensor, gx: torch.Tensor) -> float:
    with torch.no_grad():
        fx, fgx = model(x), model(gx)
    return ((fgx - fx).abs().max() / fx.abs().max()).item()


def measure(model, images: torch.Tensor) -> dict:
    images29 = F.interpolate(images, size=(29, 29), mode="bilinear", align_corners=True)
    worst, worst_angle, agreement = 0.0, None, None
    with torch.no_grad():
        upright = model(images).argmax(1)
        for angle in data.PROFILE_ANGLES:
            if angle % 90 == 0:
                continue
            err = relative_change(model, images, data.rotate(images, float(angle)))
            if err > worst:
                worst, worst_angle = err, angle
                agreement = (model(data.rotate(images, float(angle))).argmax(1) == upright).float().mean().item()
    return {"rot90_28": relative_change(model, images, torch.rot90(images, 1, (2, 3))),
            "rot90_29": relative_change(model, images29, torch.rot90(images29, 1, (2, 3))),
            "flip": relative_change(model, images, torch.flip(images, (3,))),
            "worst_other_angle": worst, "worst_angle": worst_angle, "prediction_kept_at_worst": agreement}


@torch.no_grad()
def block_invariants(model, images: torch.Tensor) -> list[torch.Tensor]:
    """An escnn ``EquivariantCNN``'s invariant vector after each block, (B, fields) each, then its logits."""
    from escnn import nn as enn

    model.eval()
    x, out = enn.GeometricTensor(images, model.in_type), []
    for block in model.blocks:
        x = block(x)
        out.append(block.invariant_pool(x.tensor).mean(dim=(2, 3)))
    return out + [model.forward_head(model.group_pool(x.tensor))]


def per_layer(model, images: torch.Tensor, angles: list[float]) -> dict[float, list[float]]:
    """Relative change of every block's invariant vector (and of the logits) when the images turn by each angle."""
    reference = block_invariants(model, images)
    result = {}
    for angle in angles:
        turned = block_invariants(model, data.rotate(images, float(angle)))
        result[angle] = [((t - r).norm() / r.norm()).item() for t, r in zip(turned, reference)]
    return result


def round_trip(images: torch.Tensor, angle: float) -> float:
    """What bilinear resampling alone loses: ||R(-a) R(a) x - x|| / ||x|| over the images."""
    back = data.rotate(data.rotate(images, float(angle)), -float(angle))
    return ((back - images).norm() / images.norm()).item()


def per_layer_table(results: dict[str, dict[float, list[float]]], images: torch.Tensor, weights: str) -> str:
    blocks = max(len(v) for r in results.values() for v in r.values()) - 1
    angles = sorted({a for r in results.values() for a in r})
    trips = ", ".join(f"{a:g}°: {round_trip(images, a):.1e}" for a in angles)
    lines = [f"Per-block invariance error ||v(gx) - v(x)|| / ||v(x)|| of the group-pooled, space-averaged fields "
             f"on the first {len(images)} MNIST test images ({weights} weights). For scale, rotating the images by "
             f"the angle and back (bilinear) changes them by {trips}.", "",
             "| model | angle | " + " | ".join(f"block {b + 1}" for b in range(blocks)) + " | logits |",
             "| --- | ---: |" + " ---: |" * (blocks + 1)]
    for name, r in results.items():
        for angle, errors in r.items():
            lines.append(f"| {name} | {angle:g}° | " + " | ".join(f"{e:.1e}" for e in errors) + " |")
    return "\n".join(lines)
