"""The zoo's commands, one module each, above the library: ``zoo <command> ...`` (the console script) or
``python -m zoo.cli <command> ...``. No library module imports this package."""
from __future__ import annotations

import importlib
import sys

# command -> what it does (the module zoo.cli.<command> holds it)
COMMANDS = {
    "demo": "classify the embedded digits at eight angles with every preset, and draw them",
    "app": "the interactive demo (Gradio)",
    "predict": "classify your own pictures of digits (files and folders)",
    "train": "train a preset on rotated or upright MNIST",
    "finetune": "fine-tune a pretrained preset on your images",
    "evaluate": "evaluate published checkpoints on the rotated-MNIST protocol",
    "invariance": "measure how invariant each preset is, logits or block by block",
    "bench": "benchmark inference and training against plain CNNs",
    "export": "write the plain-PyTorch export (and ONNX) of checkpoint folders",
    "verify": "load checkpoint folders both ways and print their self-check margins",
    "upgrade": "rename a format-2 checkpoint's tensors to format 3",
    "publish": "check the weights/ folders against their records and upload them to the Hub",
}

# zoo's own options, given before the command -> what they do
OPTIONS = {
    "-h, --help": "print this help",
    "--debug": "on an error, print its traceback, not one line (the same: environment variable ZOO_DEBUG=1)",
}


def usage() -> str:
    width = max(map(len, [*COMMANDS, *OPTIONS]))
    return ("usage: zoo [--debug] <command> [options]   (zoo <command> --help for its options)\n\ncommands:\n"
            + "\n".join(f"  {name:<{width}}  {what}" for name, what in COMMANDS.items())
            + "\n\noptions:\n" + "\n".join(f"  {name:<{width}}  {what}" for name, what in OPTIONS.items()))


def main(argv: list[str] | None = None) -> None:
    """The ``zoo`` console script: dispatch to ``zoo.cli.<command>.main``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = argv[:1] == ["--debug"]
    if debug:
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.exit(f"error: unknown {'option' if name.startswith('-') else 'command'} {name!r}; known commands: "
                 f"{', '.join(COMMANDS)} (zoo --help lists them and zoo's options)")
    sys.argv[0] = f"zoo {name}"  # what argparse shows in its usage line
    try:
        from .common import run
    except ImportError as e:  # the vocabulary imports the library, which may lack a dependency
        if debug:
            raise
        sys.exit(f"error: {e}\n(zoo --debug {name} ... prints the traceback)")
    run(lambda: importlib.import_module(f"{__name__}.{name}").main(rest), debug=debug, command=name)
