"""Rename a format-2 checkpoint's tensors to format 3, proving the result with the checkpoint's own self-check.

    zoo upgrade weights/*/          # every published folder; format-3 folders are left as they are

Format 2 named each tensor by the position of its layer in one flat list (``features.<j>.filter``); format 3 by
the block and part it belongs to (``blocks.<i>.conv.filter``, ``blocks.<i>.norm...``). The layers are the same
ones in the same order, so the conversion renames keys and changes no number. The renamed weights must then
reproduce the logits recorded in config.json when the checkpoint was written; nothing is written unless they do.
``exported.safetensors`` is kept byte for byte. An upgrade stopped between writing the weights and config.json
is finished by running it again (the self-check still proves the result).
"""
from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file

from ..architecture import Architecture
from ..card import model_card
from ..checkpoint import load_portable_state
from .common import parser
from ..files import (CARD_NAME, FORMAT_VERSION, WEIGHTS_NAME, atomic_write, read_config, sha256_file, verified,
                    weights_tensors, write_config, write_text)
from ..limits import read_safetensors_header
from ..model import EquivariantCNN
from ..probes import self_check


def format2_names(model: EquivariantCNN) -> dict[str, str]:
    """Format 2's name prefix of each layer (``features.<j>.``) -> format 3's (``blocks.<i>.<part>.``)."""
    parts = [f"blocks.{i}.{name}." for i, block in enumerate(model.blocks) for name, _ in block.named_parts()]
    return {f"features.{j}.": part for j, part in enumerate(parts)}


def rename(state: dict, names: dict[str, str]) -> dict:
    renamed = {}
    for key, tensor in state.items():
        prefix = next((old for old in names if key.startswith(old)), None)
        renamed[key if prefix is None else names[prefix] + key[len(prefix):]] = tensor
    return renamed


def upgrade(folder: str | Path) -> dict | None:
    """Rewrite a format-2 folder as format 3; returns the self-check margin, or None if it was already format 3."""
    folder = Path(folder)
    config = read_config(folder)
    version = config.get("format_version", 1)
    if version == FORMAT_VERSION:
        return None
    if version != 2:
        raise ValueError(f"{folder}: cannot upgrade format_version {version!r} (only format 2)")
    arch = Architecture.from_dict(config["architecture"])
    weights = folder / WEIGHTS_NAME
    # the header alone (sizes bounded) against the tensors the architecture implies, whatever their names,
    # before a module is built or a tensor read
    found, implied = read_safetensors_header(weights).values(), weights_tensors(arch).values()
    if sorted(found, key=str) != sorted(implied, key=str):
        raise ValueError(f"{weights} does not hold the tensors its architecture implies ({arch.group}, widths "
                         f"{list(arch.widths)}); restore the folder or download the checkpoint again")
    model = EquivariantCNN(arch, initialize=False)
    if weights.is_file() and sha256_file(weights) != config["weights_sha256"] and \
            all(not k.startswith("features.") for k in load_file(weights)):
        state = load_file(weights)  # an upgrade stopped between the weights and config.json: already renamed
    else:
        state = rename(load_file(verified(weights, config["weights_sha256"])), format2_names(model))
    load_portable_state(model, state, str(weights))
    margin = self_check(model.eval(), config, str(folder), model.in_channels)  # the proof: the recorded logits

    atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": "pt", "preset": config["preset"]}))
    config.update(format_version=FORMAT_VERSION, weights_sha256=sha256_file(weights))
    write_config(folder, config)
    write_text(folder / CARD_NAME, model_card(config))
    return margin


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("folders", nargs="+", help="checkpoint folders (config.json + model.safetensors)")
    args = p.parse_args(argv)
    for folder in args.folders:
        margin = upgrade(folder)
        if margin is None:
            print(f"{folder}: already format {FORMAT_VERSION}")
        else:
            print(f"{folder}: format 2 -> {FORMAT_VERSION}; self-check: largest logit difference "
                  f"{margin['max_diff']:.2e}, tolerance {margin['tolerance']:.2e}")


if __name__ == "__main__":
    from .common import run

    run(main)
