"""Bytes each pretrained load path downloads, measured against a loopback server that speaks the Hub's HTTP API.

    .venv/bin/python experiments/download_bytes.py [PRESET] [--update]   # default c8_mnist; --update: README block

The zoo is told it has no checkout (as when installed from a wheel; tests/test_wheel.py checks the same
downloads in a real installed wheel), huggingface_hub gets an empty cache, and the server counts the body bytes
it sends per file. Each row starts from the cache the rows before it left.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main(preset: str = "c8_mnist", update: bool = False) -> None:
    from hub_server import serve_weights

    from zoo.dev.docs import publish

    from zoo.records import PROJECT, RECORDS, find_record

    folders = sorted(p for p in (ROOT / "weights").iterdir() if (p / "config.json").is_file())
    with tempfile.TemporaryDirectory() as home, serve_weights(folders, {r.name: r.revision for r in RECORDS}) as hub:
        os.environ.update(HF_ENDPOINT=hub.url, HF_HOME=home, HF_HUB_DISABLE_TELEMETRY="1")
        import huggingface_hub.constants  # noqa: F401  (reads the variables above)

        import zoo
        import zoo.download

        zoo.download.checkout_weights = lambda: None  # as installed from a wheel
        paths = [
            (f'zoo.create_model("{preset}", pretrained=True)', lambda: zoo.create_model(preset, pretrained=True)),
            (f'zoo.create_model("{preset}", pretrained=True, export=True)',
             lambda: zoo.create_model(preset, pretrained=True, export=True)),
            (f'zoo.from_pretrained("{PROJECT}/{preset}"), cached',
             lambda: zoo.from_pretrained(f"{PROJECT}/{preset}")),
            (f'zoo.create_model("{preset}", pretrained=True, local_files_only=True)',
             lambda: zoo.create_model(preset, pretrained=True, local_files_only=True)),
        ]
        record = find_record(preset)
        whole = sum((ROOT / "weights" / record.name / name).stat().st_size for name in record.files)
        lines = ["| load path | files downloaded | bytes |", "| --- | --- | ---: |",
                 f"| the whole repository (what from_pretrained's snapshot_download fetched before) | "
                 f"{', '.join(record.files)} | {whole:,} |"]
        for label, load in paths:
            hub.reset()
            load()
            files = ", ".join(name for (_, name), n in sorted(hub.sent.items())) or "none"
            lines.append(f"| `{label}` | {files} | {sum(hub.sent.values()):,} |")
    publish("download-bytes", "\n".join(lines), update)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--update"]
    main(*args, update="--update" in sys.argv[1:])
