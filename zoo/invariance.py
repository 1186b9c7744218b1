"""Measure how invariant each preset's logits are, on genuine MNIST test digits.

    python -m zoo.invariance --data-root ../shared/data          # published weights, 500 test digits

For each model: the largest relative change of the logits (max |f(gx) - f(x)| / max |f(x)|) under
rot90 on 28x28 and 29x29 inputs, under a horizontal flip, and under the worst rotation by another angle
(15, 30, ..., 345 degrees, bilinear), plus how often the predicted class survives that worst rotation.
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


def main(argv=None) -> dict:
    p = parser(__doc__)
    add_models(p)
    add_weights(p)
    add_data(p)
    p.add_argument("--images", type=positive_int, default=500, help="first N MNIST test images")
    p.add_argument("--update", action="store_true", help="write the table into README.md")
    args = p.parse_args(argv)
    images, _ = data.load_mnist(args.data_root, train=False, download=args.download)
    images = images[:args.images]
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
