"""Publish the checkout's ``weights/`` folders to the Hugging Face Hub, each to the repository its record names.

    zoo publish                    # dry run: what would go where; checks every folder against its record
    zoo publish --write-records    # regenerate zoo/records.py from the folders (after new weights)
    zoo publish --write-cards      # regenerate each folder's README.md model card from its config.json
    zoo publish --upload           # upload (after `hf auth login`), then tag each upload with its revision

The dry run needs no network and no token. An upload creates the repository if needed, uploads the folder as
one commit and tags it with the record's revision, the tag that ``create_model(..., pretrained=True)`` downloads.
A folder whose files disagree with its record is never uploaded: regenerate the records first.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..card import write_card
from ..files import CARD_NAME, CONFIG_NAME, EXPORTED_NAME, WEIGHTS_NAME, write_text
from .common import parser
from ..records import (DEFAULT_TAG, RECORDS, WeightsRecord, checkout_weights, find_record, record_from_folder,
                      render_records)

RECORDS_FILE = Path(__file__).resolve().parent.parent / "records.py"  # zoo/records.py
_BLOCK = re.compile(r"(# BEGIN RECORDS[^\n]*\n).*?(\n# END RECORDS)", re.S)


def published_folders(weights: Path) -> list[Path]:
    """The checkpoint folders under ``weights``, each holding every file a published folder has. One without its
    tensors is refused: an archive of the repository (``git archive``, the download behind ``torch.hub.load``) leaves
    them out (.gitattributes), and records or uploads made from it would publish folders without weights."""
    folders = sorted(p for p in weights.iterdir() if (p / CONFIG_NAME).is_file())
    for folder in folders:
        missing = [n for n in (WEIGHTS_NAME, EXPORTED_NAME, CONFIG_NAME, CARD_NAME) if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}: publishing needs a git clone of the "
                                    "repository (an archive of it leaves the published tensors out)")
    return folders


def write_records(weights: Path, path: Path = RECORDS_FILE) -> list[WeightsRecord]:
    """Rewrite the ``RECORDS`` block of ``zoo/records.py`` from the folders under ``weights``."""
    new = [record_from_folder(folder) for folder in published_folders(weights)]
    text = path.read_text()
    if not _BLOCK.search(text):
        raise ValueError(f"{path} has no '# BEGIN RECORDS' ... '# END RECORDS' block to rewrite")
    write_text(path, _BLOCK.sub(lambda m: m.group(1) + render_records(new) + m.group(2), text))
    return new


def check_folder(folder: Path) -> WeightsRecord:
    """The record of ``folder``, if its files are exactly the ones the record lists; a ``ValueError`` otherwise."""
    actual = record_from_folder(folder)
    record = find_record(actual.preset, actual.tag)
    fix = "regenerate the records with zoo publish --write-records (and commit them)"
    if record is None:
        raise ValueError(f"{folder} ({actual.preset}, tag {actual.tag}) has no record in zoo/records.py; {fix}")
    if record.name != folder.name:
        raise ValueError(f"{folder} holds {record.name}; rename the folder to weights/{record.name}")
    differ = sorted(set(record.files.items()) ^ set(actual.files.items()))
    if differ:
        names = sorted({name for name, _ in differ})
        raise ValueError(f"{folder}: {', '.join(names)} differ from the record (sha256 or presence); {fix}")
    return record


def describe(folder: Path, record: WeightsRecord) -> str:
    lines = [f"{folder} -> https://huggingface.co/{record.hub_id} (tag {record.revision})"]
    for name, sha in record.files.items():
        lines.append(f"    {name:<22} {(folder / name).stat().st_size:>10,} bytes  sha256 {sha[:16]}...")
    return "\n".join(lines)


def upload(folder: Path, record: WeightsRecord, token: str | None = None) -> str:
    """Upload one folder as one commit on the repository's main branch and tag it with the record's revision."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(record.hub_id, exist_ok=True)
    commit = api.upload_folder(repo_id=record.hub_id, folder_path=str(folder), allow_patterns=list(record.files),
                               commit_message=f"{record.name}: {record.revision}")
    api.create_tag(record.hub_id, tag=record.revision, revision=commit.oid, exist_ok=True)
    return commit.oid


def main(argv=None) -> list[WeightsRecord]:
    p = parser(__doc__)
    action = p.add_mutually_exclusive_group()
    action.add_argument("--write-records", action="store_true", help="regenerate zoo/records.py from weights/")
    action.add_argument("--write-cards", action="store_true",
                        help="regenerate every weights/*/README.md from its config.json (then --write-records)")
    action.add_argument("--upload", action="store_true", help="upload every folder to the Hub (needs a token)")
    p.add_argument("--token", default=None, help="Hub token (default: the one `hf auth login` saved)")
    args = p.parse_args(argv)
    weights = checkout_weights()
    if weights is None:
        raise FileNotFoundError("zoo publish works in a git checkout with its weights/ folder; this zoo was "
                                "installed from a wheel")
    if args.write_records:
        new = write_records(weights)
        print(f"wrote {len(new)} records into {RECORDS_FILE}")
        return new
    folders = published_folders(weights)
    if args.write_cards:
        for folder in folders:
            write_card(folder)
        print(f"wrote {len(folders)} model cards; regenerate the records next: zoo publish --write-records")
        return []
    checked = [(folder, check_folder(folder)) for folder in folders]  # every folder, before any upload
    missing = sorted({r.name for r in RECORDS} - {f.name for f in folders})
    if missing:
        raise ValueError(f"records without a folder under {weights}: {', '.join(missing)}")
    for folder, record in checked:
        print(describe(folder, record))
        if args.upload:
            print(f"    uploaded: commit {upload(folder, record, args.token)}")
    default = sum(r.tag == DEFAULT_TAG for _, r in checked)
    print(f"{len(checked)} folders ({default} with the default tag) agree with their records"
          + ("" if args.upload else "; dry run, nothing uploaded (--upload uploads)"))
    return [r for _, r in checked]


if __name__ == "__main__":
    from .common import run

    run(main)
