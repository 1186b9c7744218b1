"""Interactive demo: draw or pick a digit, turn it, and watch every preset answer (a Gradio app: ``zoo.app``).

    zoo app                                  # http://127.0.0.1:7860
    zoo app --port 8000 --share              # any Gradio launch option: see --help
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7861 zoo app   # as Hugging Face Spaces runs it

Public by design, so bounded before anything is decoded (the limits below are zoo.app's constants); every bad
request gets one error message and the server keeps serving.
"""
from __future__ import annotations

import os

from ..app import CONCURRENCY, IMAGE_FORMATS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, QUEUE_SIZE, launch, models
from ..records import DEFAULT_TAG
from .common import parser, positive_int


def server_address(host: str | None, port: int | None, environ=os.environ) -> tuple[str, int]:
    """Where to listen: the flags, else Gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Hugging Face Spaces
    sets them), else 127.0.0.1:7860."""
    host = host or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    if port is None:
        text = environ.get("GRADIO_SERVER_PORT") or "7860"
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"GRADIO_SERVER_PORT={text!r} is not a port number (1 to 65535); fix the variable "
                             "or pass --port")
        port = int(text)
    return host, port


def main(argv=None) -> None:
    p = parser(__doc__)
    p.epilog = (f"limits: pictures {', '.join(IMAGE_FORMATS)} (an animation's first frame), at most "
                f"{MAX_IMAGE_BYTES / 2**20:g} MiB (uploads too: Gradio's max_file_size) and {MAX_IMAGE_PIXELS:,} "
                f"pixels; at most {QUEUE_SIZE} requests wait in Gradio's queue, {CONCURRENCY} run at a time")
    p.add_argument("--host", default=None, help="address to listen on (0.0.0.0: every interface; default: "
                   "$GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--port", type=positive_int, default=None, help="default: $GRADIO_SERVER_PORT, else 7860")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs internet)")
    args = p.parse_args(argv)
    host, port = server_address(args.host, args.port)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the demo runs offline; no telemetry calls
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise ValueError('the demo needs Gradio: pip install "equivariant-zoo[demo]" (setup.sh installs it)')
    models(DEFAULT_TAG)  # load (and self-check) before the page is served
    launch(server_name=host, server_port=port, share=args.share)


if __name__ == "__main__":
    from .common import run

    run(main)
