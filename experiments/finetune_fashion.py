"""Fine-tuning demonstration on Fashion-MNIST (Debian's dataset-fashion-mnist), written into README.md.

    .venv/bin/python experiments/finetune_fashion.py [--data-root /usr/share/datasets/fashion-mnist]

One small budget for every run (peak learning rate per mode: zoo.cli.finetune.DEFAULT_LR): 1,000 labelled training images (rotated by random angles as they are seen),
500 validation images, 10 epochs, batch 64, one thread. For the pretrained C8 and SO(2) models: fine-tuning
all weights, linear probing (frozen backbone, new head), and the same network trained from scratch. Test:
the 10,000 Fashion-MNIST test images, upright and rotated as in the MNIST protocol.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo.cli import finetune  # noqa: E402
from zoo.files import read_config  # noqa: E402
from zoo.dev.docs import update_readme  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--presets", nargs="+", default=["c8_mnist", "so2_mnist"])
    p.add_argument("--epochs", default="10")
    p.add_argument("--rerun", action="store_true", help="train again even where runs/fashion/<run> exists")
    args = p.parse_args()
    rows = ["| model | mode | val (rotated) | test upright | test rotated | train time |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for preset in args.presets:
        for mode in finetune.MODES:
            out = ROOT / "runs" / "fashion" / f"{preset}-{mode}"
            argv = [preset, "--dataset", "FashionMNIST", "--data-root", args.data_root, "--mode", mode,
                    "--train-size", "1000", "--val-size", "500", "--epochs", args.epochs, "--batch-size", "64",
                    "--threads", "1", "--no-bf16", "--no-progress", "--out", str(out),
                    "--run-dir", str(ROOT / "runs" / "fashion" / f"{preset}-{mode}-run")]
            if args.rerun or not (out / "config.json").is_file():
                finetune.main(argv)
            config = read_config(out)
            m, t = config["metrics"], config["training"]
            rows.append(f"| {preset} | {mode} | {100 * m['val_accuracy']:.1f}% | {100 * m['test_upright_accuracy']:.1f}% "
                        f"| **{100 * m['test_rotated_accuracy']:.1f}%** | {t['wall_time_min']:.1f} min |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    update_readme("finetune", table)
    print(table)


if __name__ == "__main__":
    main()
