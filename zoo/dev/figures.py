"""The style the repository's label-budget figures share (experiments/learning_curves.py, finetune_fashion.py)."""
from __future__ import annotations

from typing import Sequence


def style_budget_axes(left, right, ticks: Sequence[int], labels: Sequence[str]) -> None:
    """Accuracy (``left``) and lead over the plain CNN (``right``) against the number of labelled images: log
    scale with ``labels`` at ``ticks``, axis labels, grid and legend."""
    for ax, label in ((left, "rotated test accuracy (%)"), (right, "lead over the plain CNN (points)")):
        ax.set_xscale("log")
        ax.set_xticks(list(ticks), list(labels))
        ax.minorticks_off()
        ax.set_xlabel("labelled training images (log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def save_figure(fig, out) -> None:
    """Lay ``fig`` out, write it to ``out`` (a PNG at 130 dpi, its folder made) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
