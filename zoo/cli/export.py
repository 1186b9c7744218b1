"""Write the plain-PyTorch export of checkpoint folders (``exported.safetensors`` + ``config.json["export"]``),
and optionally an ONNX file.

    zoo export weights/*/                       # refresh every published folder
    zoo export weights/c8_mnist --onnx c8.onnx  # also write ONNX (needs the [onnx] extra)
"""
from __future__ import annotations

import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from .common import parser
from ..convert import export


def export_onnx(model: torch.nn.Module, path: str) -> None:
    """ONNX with a dynamic batch dimension; input ``images`` (B, C, H, W) float, output ``logits``."""
    example = torch.rand(2, model.in_channels, 28, 28)
    torch.onnx.export(model, (example,), path, input_names=["images"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("batch")}})


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("folders", nargs="+")
    p.add_argument("--onnx", default=None, help="ONNX output path (one folder only)")
    args = p.parse_args(argv)
    if args.onnx and len(args.folders) != 1:
        raise ValueError("--onnx takes exactly one checkpoint folder")
    for folder in args.folders:
        model = load_checkpoint(folder)
        save_checkpoint(model, folder)  # rewrites identical weights, the export and the config
        print(f"exported {folder}")
        if args.onnx:
            export_onnx(export(model), args.onnx)
            print(f"wrote {args.onnx}")


if __name__ == "__main__":
    from .common import run

    run(main)
