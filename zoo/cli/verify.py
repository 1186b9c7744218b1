"""Load checkpoint folders both ways and print how far inside its tolerance each self-check passed.

    zoo verify weights/*/
    zoo verify weights/*/ --update      # also writes the table into docs/checkpoints.md (block "verify")

For every folder: the largest difference between the logits of the loaded model on the probe digits and the
logits recorded in its config.json, for the escnn model and the exported one, against the tolerance.
A load that fails its self-check ends the command with its error. The folders are only read.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..checkpoint import load_checkpoint
from .common import parser, refuse_partial_update, show_table
from ..exported import load_exported
from ..files import read_config
from ..probes import self_check
from ..records import checkout_weights


def main(argv=None) -> list[dict]:
    p = parser(__doc__)
    p.add_argument("folders", nargs="+")
    p.add_argument("--update", action="store_true", help="write the table into its block in README.md or docs/")
    args = p.parse_args(argv)
    weights, given = checkout_weights(), {Path(f).resolve() for f in args.folders}
    published = {f.parent.resolve() for f in weights.glob("*/config.json")} if weights else given
    refuse_partial_update(p, args, [  # the published table has a row for every folder under weights/, and no other
        published - given and f"{', '.join(sorted(f.name for f in published - given))} left out",
        given - published and f"not under weights/: {', '.join(sorted(map(str, given - published)))}",
    ], "zoo verify weights/*/ --update")
    rows = []
    lines = ["| checkpoint | escnn: max logit diff | export: max logit diff | tolerance | escnn load (s) |",
             "| --- | --- | --- | --- | --- |"]
    for folder in args.folders:
        config = read_config(folder)
        start = time.perf_counter()
        model = load_checkpoint(folder)  # runs the self-check; again below to report the margin
        seconds = time.perf_counter() - start
        escnn = self_check(model, config, str(folder), model.in_channels)
        exported = self_check(load_exported(folder), config, str(folder), model.in_channels)
        rows.append({"folder": str(folder), "escnn": escnn, "export": exported, "load_s": seconds})
        tag = config.get("weights_tag", "rotated")
        lines.append(f"| {config['preset']}{'' if tag == 'rotated' else '-' + tag} | {escnn['max_diff']:.1e} "
                     f"| {exported['max_diff']:.1e} | {escnn['tolerance']:.1e} | {seconds:.2f} |")
    show_table("verify", "\n".join(lines), args.update)
    return rows


if __name__ == "__main__":
    from .common import run

    run(main)
