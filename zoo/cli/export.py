"""Check, or write, the plain-PyTorch export of checkpoint folders (``exported.safetensors`` +
``config.json["export"]``), and optionally write an ONNX file.

    zoo export weights/*/                            # verify every published export; nothing is written
    zoo export runs/train/c8_mnist-rotated/checkpoint --overwrite   # write a new export into the folder
    zoo export weights/c8_mnist --onnx c8.onnx       # the verified export as ONNX (needs the [onnx] extra)

A checkpoint folder changes only with ``--overwrite``. Without it, an export that reproduces the logits recorded
in config.json is verified and left byte for byte, and a missing or stale one ends the command with the reason
and the flag. With it, a new export is built from the folder's escnn weights, which stay as they are, and must
reproduce the recorded logits before ``exported.safetensors``, ``config.json["export"]`` and the model card that
names its sha256 are replaced. An ONNX file that exists is replaced only with ``--overwrite`` too.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..card import write_card
from ..checkpoint import load_checkpoint
from .common import parser
from ..convert import export
from ..exported import ExportedCNN, read_exported, save_exported
from ..files import CARD_NAME, EXPORTED_NAME, read_config, write_config
from ..probes import self_check

OVERWRITE = "--overwrite"


def export_onnx(model: torch.nn.Module, path: str) -> None:
    """ONNX with a dynamic batch dimension; input ``images`` (B, C, H, W) float, output ``logits``."""
    example = torch.rand(2, model.in_channels, 28, 28)
    torch.onnx.export(model, (example,), path, input_names=["images"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}})


def stored_export(folder: Path, config: dict) -> tuple[ExportedCNN | None, dict | str]:
    """The folder's export and its self-check margin; or None and why it cannot be used (missing, corrupt, a
    layer spec this zoo does not build, or logits other than the recorded ones)."""
    try:
        model = read_exported(folder, config)
        return model, self_check(model, config, str(folder / EXPORTED_NAME), model.in_channels)
    except (OSError, ValueError, TypeError, KeyError) as e:  # TypeError, KeyError: a malformed layer spec
        return None, str(e)


def write_export(folder: Path, config: dict) -> tuple[ExportedCNN, dict]:
    """Export the folder's escnn model (loaded and self-checked) anew, prove the export on the recorded logits,
    then write it; ``model.safetensors`` is not touched. Returns the export and its margin."""
    exported = export(load_checkpoint(folder))
    margin = self_check(exported, config, f"{folder}: the new export", exported.in_channels)
    config["export"] = save_exported(exported, folder)
    write_config(folder, config)
    write_card(folder)
    return exported, margin


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--onnx", default=None, help="ONNX output path (one folder only)")
    p.add_argument(OVERWRITE, action="store_true", help="write a new export into each folder (and replace an "
                   "existing --onnx file); without it nothing that exists is changed")
    args = p.parse_args(argv)
    if args.onnx and len(args.folders) != 1:
        raise ValueError("--onnx takes exactly one checkpoint folder")
    if args.onnx and Path(args.onnx).exists() and not args.overwrite:
        raise ValueError(f"{args.onnx} exists; pass {OVERWRITE} to replace it, or give --onnx another path")
    for folder in args.folders:
        config = read_config(folder)
        if args.overwrite:
            exported, margin = write_export(folder, config)
            done = "wrote a new export"
        else:
            exported, margin = stored_export(folder, config)
            if exported is None:
                raise ValueError(f"{folder}: its export cannot be used ({margin}); pass {OVERWRITE} to write a "
                                 f"new one (it replaces {EXPORTED_NAME} and changes config.json and {CARD_NAME})")
            done = "the export there is current, left as it is"
        print(f"{folder}: {done}; self-check: largest logit difference {margin['max_diff']:.2e}, "
              f"tolerance {margin['tolerance']:.2e}")
        if args.onnx:
            export_onnx(exported, args.onnx)
            print(f"wrote {args.onnx}")


if __name__ == "__main__":
    from .common import run

    run(main)
