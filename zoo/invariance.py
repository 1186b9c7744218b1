"""Measure how invariant each preset is, on genuine MNIST test digits: its logits, or block by block.

    python -m zoo.invariance --data-root ../shared/data                         # logits, published weights
    python -m zoo.invariance c8_mnist so2_mnist --per-layer --angles 22.5 45    # every block, any weights tag

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
from .cli import add_data, add_models, add_weights, models_of, parser, positive_int
from .readme import publish
from .registry import create_model


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


def main(argv=None) -> dict:
    p = parser(__doc__)
    add_models(p)
    add_weights(p)
    add_data(p)
    p.add_argument("--images", type=positive_int, default=500, help="first N MNIST test images")
    p.add_argument("--per-layer", action="store_true", help="the invariance error of every block, not the logits")
    p.add_argument("--angles", nargs="+", type=float, default=[22.5, 45.0, 90.0],
                   help="with --per-layer: rotation angles in degrees")
    p.add_argument("--update", action="store_true", help="write the table into README.md")
    args = p.parse_args(argv)
    images, _ = data.load_mnist(args.data_root, train=False, download=args.download)
    images = images[:args.images]
    if args.per_layer:
        results = {name: per_layer(create_model(name, pretrained=True, weights=args.weights), images, args.angles)
                   for name in models_of(args)}
        publish(f"invariance-layers-{args.weights}", per_layer_table(results, images, args.weights),
                args.update)
        return results
    lines = [f"Relative logit change max|f(gx) - f(x)| / max|f(x)| on the first {len(images)} MNIST test images "
             f"({args.weights} weights).", "",
             "| model | rot90, 28x28 | rot90, 29x29 | horizontal flip | worst other angle | predictions kept there |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    results = {}
    for name in models_of(args):
        r = measure(create_model(name, pretrained=True, weights=args.weights), images)
        results[name] = r
        lines.append(f"| {name} | {r['rot90_28']:.1e} | {r['rot90_29']:.1e} | {r['flip']:.1e} | "
                     f"{r['worst_other_angle']:.1e} ({r['worst_angle']}°) | {100 * r['prediction_kept_at_worst']:.1f}% |")
        print(lines[-1], flush=True)
    publish("invariance", "\n".join(lines), args.update)
    return results


if __name__ == "__main__":
    from .cli import run

    run(main)
