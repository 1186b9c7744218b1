"""The main job on its embedded default: ten genuine MNIST test digits, each at eight rotations, classified by
every preset. Prints the predictions and saves them as a picture (green frame: right, red frame: wrong).

    zoo demo                      # all presets, writes demo.png
    zoo demo c8_mnist --angles 0 30 60 --out c8.png
"""
from __future__ import annotations

import torch

from .common import add_models, add_weights, models_of, parser
from ..data import rotate
from ..probes import embedded_digits
from ..registry import create_model


@torch.no_grad()
def predict_rotated(model, images: torch.Tensor, angles: list[float]) -> torch.Tensor:
    """Predicted class of every image at every angle: (len(angles), N)."""
    return torch.stack([model(rotate(images, a)).argmax(1) for a in angles])


def draw(results: dict[str, torch.Tensor], images: torch.Tensor, labels: torch.Tensor, angles: list[float],
         out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tile = 32
    fig, axes = plt.subplots(1, len(results), figsize=(2.3 * len(results) * len(angles) / 8 + 0.5, 3.4),
                             squeeze=False)
    for ax, (name, preds) in zip(axes[0], results.items()):
        canvas = torch.ones(len(labels) * tile, len(angles) * tile, 3)
        for j, angle in enumerate(angles):
            rotated = rotate(images, angle)[:, 0]
            for i in range(len(labels)):
                right = bool(preds[j, i] == labels[i])
                cell = canvas[i * tile:(i + 1) * tile, j * tile:(j + 1) * tile]
                cell[:] = torch.tensor([0.1, 0.65, 0.2]) if right else torch.tensor([0.85, 0.1, 0.1])
                cell[2:30, 2:30] = (1 - rotated[i]).unsqueeze(-1)
                if not right:
                    ax.text(j * tile + 27, i * tile + 9, str(int(preds[j, i])), color="red", fontsize=6,
                            ha="right", fontweight="bold")
        ax.imshow(canvas.numpy(), interpolation="nearest")
        ax.set_title(f"{name}\n{int((preds == labels).sum())}/{preds.numel()} right", fontsize=9)
        ax.set_xticks([j * tile + tile / 2 for j in range(len(angles))], [f"{a:g}°" for a in angles], fontsize=5)
        ax.set_yticks([])
    fig.suptitle("Genuine MNIST test digits rotated; red: wrong (with the predicted class)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # leave the suptitle its own band above the panel titles
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main(argv=None) -> dict[str, torch.Tensor]:
    p = parser(__doc__)
    add_models(p)
    add_weights(p)
    p.add_argument("--angles", nargs="+", type=float, default=[0, 45, 90, 135, 180, 225, 270, 315])
    p.add_argument("--out", default="demo.png")
    args = p.parse_args(argv)

    images, labels = embedded_digits()
    results = {}
    print(f"{'model':<15} " + " ".join(f"{a:>6g}°" for a in args.angles) + "   right")
    for name in models_of(args):
        model = create_model(name, pretrained=True, weights=args.weights)
        preds = predict_rotated(model, images, args.angles)
        results[name] = preds
        cells = [f"{int((preds[j] == labels).sum()):>4d}/{len(labels)}" for j in range(len(args.angles))]
        print(f"{name:<15} " + " ".join(cells) + f"   {int((preds == labels).sum())}/{preds.numel()}")
    draw(results, images, labels, args.angles, args.out)
    print(f"true classes: {labels.tolist()}; picture: {args.out}")
    return results


if __name__ == "__main__":
    from .common import run

    run(main)
