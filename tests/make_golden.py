"""Regenerate the golden logits of published checkpoints, on purpose, after retraining them:

    .venv/bin/python tests/make_golden.py                 # every folder under weights/
    .venv/bin/python tests/make_golden.py c8_mnist        # one folder

Input: the ten embedded MNIST test digits (zoo/assets). Output: tests/golden/<folder>.json.
"""
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.checkpoint import load_checkpoint  # noqa: E402
from zoo.probes import embedded_digits  # noqa: E402


def golden_logits(folder: Path) -> torch.Tensor:
    with torch.no_grad():
        return load_checkpoint(folder)(embedded_digits()[0])


def main(names):
    folders = [ROOT / "weights" / n for n in names] or sorted(p for p in (ROOT / "weights").iterdir() if p.is_dir())
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        out = ROOT / "tests" / "golden" / f"{folder.name}.json"
        out.write_text(json.dumps({"weights_sha256": config["weights_sha256"],
                                   "input": "zoo/assets/mnist_test_digits.safetensors",
                                   "logits": [[round(v, 6) for v in row] for row in golden_logits(folder).tolist()]},
                                  indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
