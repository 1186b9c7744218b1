"""Measure how invariant each preset is, on genuine MNIST test digits: its logits, or block by block.

    zoo invariance --data-root ../shared/data                         # logits, published weights
    zoo invariance c8_mnist so2_mnist --per-layer --angles 22.5 45    # every block, any weights tag

See ``zoo.invariance`` for what each number measures.
"""
from __future__ import annotations

from .. import data
from ..invariance import measure, per_layer, per_layer_table
from ..registry import DEFAULT_TAG, create_model
from .common import (add_data, add_models, add_weights, left_out, models_of, parser, positive_int,
                     refuse_partial_update, show_table)


def main(argv=None) -> dict:
    p = parser(__doc__)
    add_models(p)
    add_weights(p)
    add_data(p)
    p.add_argument("--images", type=positive_int, default=500, help="first N MNIST test images")
    p.add_argument("--per-layer", action="store_true", help="the invariance error of every block, not the logits")
    p.add_argument("--angles", nargs="+", type=float, default=[22.5, 45.0, 90.0],
                   help="with --per-layer: rotation angles in degrees")
    p.add_argument("--update", action="store_true", help="write the table into its block in README.md or docs/ "
                   "(a full run only: every published preset, the published settings)")
    args = p.parse_args(argv)
    first, angles = p.get_default("images"), p.get_default("angles")  # what the published tables take
    tag = args.weights if args.per_layer else DEFAULT_TAG  # one logits table, of the default weights
    full_run = (f"zoo invariance{' --per-layer' * args.per_layer} --weights {tag} --data-root <folder holding "
                "MNIST/raw> --update")
    refuse_partial_update(p, args, [
        left_out(args),
        args.images != first and f"--images {args.images}: the published tables take the first {first}",
        args.per_layer and args.angles != angles and "--angles: the published tables take "
        + " ".join(map(str, angles)),
        args.weights != tag and f"--weights {args.weights}: the logits table is the {tag} weights' (--per-layer "
        "writes a table per weights tag)",
    ], full_run)
    images, _ = data.load_mnist(args.data_root, train=False, download=args.download)
    images = images[:args.images]
    if args.per_layer:
        results = {name: per_layer(create_model(name, pretrained=True, weights=args.weights), images, args.angles)
                   for name in models_of(args)}
        show_table(f"invariance-layers-{args.weights}", per_layer_table(results, images, args.weights),
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
    show_table("invariance", "\n".join(lines), args.update)
    return results


if __name__ == "__main__":
    from .common import run

    run(main)
