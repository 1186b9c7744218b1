"""Convert format-1 checkpoint folders (escnn coefficients) to format 2 (expanded filters), on any machine.

    python -m zoo.migrate weights/*/          # every published folder; format-2 folders are left as they are

A format-1 ``model.safetensors`` holds escnn coefficients, meaningful only in the kernel basis of the machine
that wrote them. Its ``exported.safetensors`` was computed on that machine and holds plain convolutions with
the batch norm folded in, which mean the same everywhere. So the conversion takes each filter from the export,
divides the batch-norm map back out (its parameters and statistics are per field, independent of any basis),
fits the local coefficients by least squares (``zoo.basis``), and checks that the escnn model now gives the
export's logits on the probe digits. The export's logits become the checkpoint's self-check reference;
``exported.safetensors`` itself is kept byte for byte. Nothing is written unless every check passes.
"""
from __future__ import annotations

from pathlib import Path

import torch
from escnn import nn as enn
from safetensors.torch import load_file, save_file
from torch import nn

from .basis import load_conv_filter
from .card import model_card
from .checkpoint import load_learned_state, portable_state
from .cli import parser
from .convert import channel_affine
from .exported import read_exported
from .files import (CARD_NAME, FORMAT_VERSION, WEIGHTS_NAME, atomic_write, read_config, sha256_file, verified,
                    write_config, write_text)
from .model import EquivariantCNN
from .probes import reference_logits, self_check


def migrate(folder: str | Path) -> dict | None:
    """Rewrite a format-1 folder as format 2; returns the self-check margin, or None if it was already format 2."""
    folder = Path(folder)
    config = read_config(folder)
    version = config.get("format_version", 1)
    if version == FORMAT_VERSION:
        return None
    if version != 1:
        raise ValueError(f"{folder}: cannot migrate format_version {version!r}")
    weights = verified(folder / WEIGHTS_NAME, config["weights_sha256"])
    exported = read_exported(folder, config)

    model = EquivariantCNN(**config["architecture"], initialize=False)
    load_learned_state(model, load_file(weights), str(weights))  # batch norm and head; the filters follow
    model.train()
    convs = [(i, m) for i, m in enumerate(model.features) if isinstance(m, enn.R2Conv)]
    plain = [m for m in exported.features if isinstance(m, nn.Conv2d)]
    if len(convs) != len(plain):
        raise ValueError(f"{folder}: {len(plain)} exported convolutions for {len(convs)} escnn ones")
    for (i, conv), folded in zip(convs, plain):
        matrix, _ = channel_affine(model.features[i + 1], conv.out_type.size)
        flat = folded.weight.detach().to(torch.float64).reshape(folded.out_channels, -1)
        target = torch.linalg.solve(matrix.to(torch.float64), flat).reshape(folded.weight.shape)
        load_conv_filter(conv, target.float(), f"{folder}: features.{i}")
    model.eval()

    reference = reference_logits(exported, exported.in_channels)  # the training machine's function
    margin = self_check(model, {"self_check": reference}, str(folder), model.in_channels)

    state = portable_state(model)
    atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": "pt", "preset": config["preset"]}))
    config.update(format_version=FORMAT_VERSION, weights_sha256=sha256_file(weights), self_check=reference)
    write_config(folder, config)
    write_text(folder / CARD_NAME, model_card(config))
    return margin


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("folders", nargs="+", help="checkpoint folders (config.json + model.safetensors + exported)")
    args = p.parse_args(argv)
    for folder in args.folders:
        margin = migrate(folder)
        if margin is None:
            print(f"{folder}: already format {FORMAT_VERSION}")
        else:
            print(f"{folder}: format 1 -> {FORMAT_VERSION}; self-check: largest logit difference "
                  f"{margin['max_diff']:.2e}, tolerance {margin['tolerance']:.2e}")


if __name__ == "__main__":
    from .cli import run

    run(main)
