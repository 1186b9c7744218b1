"""Where a pretrained checkpoint's files come from, checked against their sha256 before a byte of them is parsed.

``pretrained_folder`` looks, in this order, in
1. an explicit local folder (``checkpoint_dir``);
2. the git checkout's ``weights/``, when the zoo runs from one (a wheel has none);
3. the Hugging Face cache (``HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``);
4. the Hub, through ``huggingface_hub.hf_hub_download`` (its progress bar, its cache, ``HF_ENDPOINT``,
   ``HF_HUB_OFFLINE`` and ``local_files_only``), fetching only the files the load needs: ``config.json`` and
   ``model.safetensors`` for the escnn model, ``config.json`` and ``exported.safetensors`` for ``export=True``.

A file from the cache or the Hub is used only if its sha256 is the one its weights record lists
(``zoo.records``). A repository without a record is a stranger's: its files are downloaded only if the Hub
reports them no larger than ``zoo.limits`` allows, and its weights only once its ``config.json`` has passed
``zoo.files.read_config``. A cached file with another hash is downloaded again, once, forced; if it is still wrong the
error names the file, both hashes and the command that clears it. huggingface_hub writes a download to an
``.incomplete`` file and renames it only once it has its full size, and this module trusts nothing that does not
hash right, so a failed or partial download never leaves a file that a later load uses.
``huggingface_hub`` is imported only when the cache or the Hub is asked.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

from .files import CONFIG_NAME, EXPORTED_NAME, WEIGHTS_NAME, read_config, sha256_file
from .limits import MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES
from .records import DEFAULT_TAG, RECORDS, WeightsRecord, checkout_weights, find_record, folder_name, tag_dataset

logger = logging.getLogger(__name__)


def needed_files(export: bool) -> tuple[str, str]:
    """What a load reads: the escnn model needs its weights, ``export=True`` the plain-PyTorch tensors."""
    return CONFIG_NAME, EXPORTED_NAME if export else WEIGHTS_NAME


def pretrained_folder(preset: str, tag: str = DEFAULT_TAG, *, export: bool = False,
                      checkpoint_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                      local_files_only: bool = False, force_download: bool = False, token: str | bool | None = None
                      ) -> Path:
    """A folder holding the files that loading ``preset``'s ``tag`` weights needs (see the module's docstring)."""
    names = needed_files(export)
    if checkpoint_dir is not None:
        folder = Path(checkpoint_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"checkpoint_dir {folder} is not a folder; pass a checkpoint folder "
                                    f"({', '.join(names)}), or leave checkpoint_dir out to use the published weights")
        return folder
    checkout = checkout_weights()
    if checkout is not None and not force_download:
        folder = checkout / folder_name(preset, tag)
        if all((folder / name).is_file() for name in names):
            return folder  # the checkout's own files, checked against their config.json when loaded
    record = find_record(preset, tag)
    if record is None:
        published = sorted(r.tag for r in RECORDS if r.preset == preset)
        make = "train them with zoo train" if tag_dataset(tag) == "MNIST" else \
            f"fine-tune them on {tag_dataset(tag)} with zoo finetune (docs/finetuning.md)"
        raise FileNotFoundError(f"no published {tag!r} weights for {preset} (published tags: "
                                f"{', '.join(published) or 'none'}); use pretrained=False, or {make}")
    return fetch(record, names, cache_dir=cache_dir, local_files_only=local_files_only,
                 force_download=force_download, token=token)


def fetch(record: WeightsRecord, names: tuple[str, ...], **options) -> Path:
    """The Hub snapshot folder holding ``names`` from the record's pinned revision, each file verified."""
    paths = [fetch_file(record.hub_id, record.revision, name, record.files[name], **options) for name in names]
    return _one_folder(paths)


def fetch_unrecorded(repo_id: str, names: tuple[str, ...], revision: str | None = None, **options) -> Path:
    """Like ``fetch`` for a Hub repository the zoo has no record of (someone's fine-tuned checkpoint): its
    ``config.json`` is taken as the Hub serves it if it is no larger than ``MAX_CONFIG_BYTES`` and passes
    ``read_config``; then the weights, no larger than ``MAX_WEIGHTS_BYTES``, must hash to what that config says."""
    config_path = fetch_file(repo_id, revision or "main", CONFIG_NAME, None, max_bytes=MAX_CONFIG_BYTES, **options)
    config = read_config(config_path.parent)
    expected = {WEIGHTS_NAME: config["weights_sha256"], EXPORTED_NAME: (config.get("export") or {}).get("sha256")}
    paths = [config_path] + [fetch_file(repo_id, revision or "main", name, expected[name],
                                        max_bytes=MAX_WEIGHTS_BYTES, **options)
                             for name in names if name != CONFIG_NAME]
    return _one_folder(paths)


def _one_folder(paths: list[Path]) -> Path:
    folders = {path.parent for path in paths}
    if len(folders) != 1:  # one revision's files share a snapshot folder; two mean the revision moved meanwhile
        raise OSError(f"the files came from different revisions ({', '.join(map(str, sorted(folders)))}); "
                      "load again")
    return folders.pop()


def fetch_file(repo_id: str, revision: str, filename: str, sha256: str | None, *,
               cache_dir: str | os.PathLike | None = None, local_files_only: bool = False,
               force_download: bool = False, token: str | bool | None = None, max_bytes: int | None = None) -> Path:
    """One file of a Hub repository from the cache or the Hub, verified against ``sha256`` (None: not checked).

    With a known hash the cache is read first and the Hub is not asked at all when the cached file is right.
    ``max_bytes``: refuse to download a file the Hub reports larger (offline, the reader caps what it reads).
    """
    from huggingface_hub import constants, try_to_load_from_cache

    offline = local_files_only or constants.HF_HUB_OFFLINE
    where = dict(repo_id=repo_id, filename=filename, revision=revision, cache_dir=cache_dir)
    cached = None if force_download or sha256 is None else try_to_load_from_cache(**where)
    if isinstance(cached, str):
        actual = sha256_file(cached)
        if actual == sha256:
            return Path(cached)
        logger.warning("%s: the cached file has sha256 %s..., its record says %s...; downloading it again",
                       cached, actual[:12], sha256[:12])
        if offline:
            raise ValueError(_corrupt(repo_id, revision, filename, cached, actual, sha256, cache_dir,
                                      "and it cannot be downloaded again offline (HF_HUB_OFFLINE or "
                                      "local_files_only)"))
        force_download = True
    if max_bytes is not None and not offline:
        _check_remote_size(where, max_bytes, token)
    path = _download(where, offline, force_download, token)
    if sha256 is None:
        return path
    actual = sha256_file(path)
    if actual != sha256 and not force_download:
        logger.warning("%s: the downloaded file has sha256 %s..., its record says %s...; downloading it again",
                       path, actual[:12], sha256[:12])
        path = _download(where, offline, True, token)
        actual = sha256_file(path)
    if actual != sha256:
        raise ValueError(_corrupt(repo_id, revision, filename, path, actual, sha256, cache_dir,
                                  "even after downloading it again"))
    return path


def _check_remote_size(where: dict, max_bytes: int, token) -> None:
    """Refuse a file whose size, as the Hub reports it, is above ``max_bytes``, before downloading a byte of it."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    with _hub_errors(where, offline=False):
        url = hf_hub_url(where["repo_id"], where["filename"], revision=where["revision"])
        size = get_hf_file_metadata(url, token=token).size
    if size is not None and size > max_bytes:
        raise ValueError(f"{url} is {size:,} bytes, more than the {max_bytes:,} a checkpoint's {where['filename']} "
                         "may have (zoo.limits); it was not downloaded")


def _download(where: dict, offline: bool, force_download: bool, token) -> Path:
    """``hf_hub_download`` with its failures turned into errors that say what to do."""
    from huggingface_hub import hf_hub_download

    with _hub_errors(where, offline):
        return Path(hf_hub_download(**where, local_files_only=offline, force_download=force_download, token=token))


@contextlib.contextmanager
def _hub_errors(where: dict, offline: bool):
    """Turn huggingface_hub's failures into errors that say what to do: a missing file or repository into
    ``FileNotFoundError``, a network failure (``network_failure``) into ``ConnectionError``; anything else (a
    full disk, a refused token, a bug) propagates as itself."""
    from huggingface_hub import constants
    from huggingface_hub.utils import (EntryNotFoundError, HFValidationError, LocalEntryNotFoundError,  # >= 0.24
                                       RepositoryNotFoundError, RevisionNotFoundError)

    url = f"{constants.ENDPOINT}/{where['repo_id']}/resolve/{where['revision']}/{where['filename']}"
    try:
        yield
    except LocalEntryNotFoundError as e:
        raise FileNotFoundError(
            f"{where['filename']} of {where['repo_id']} is not in the Hugging Face cache "
            f"({where['cache_dir'] or constants.HF_HUB_CACHE}) and could not be downloaded from {url} "
            + ("because downloads are off (HF_HUB_OFFLINE=1 or local_files_only=True)" if offline
               else f"({e})") + ". Load it once with a connection, then it works offline") from e
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        raise FileNotFoundError(f"{url} does not exist ({type(e).__name__}): check the repository id and "
                                "revision, or upgrade equivariant-zoo if its records point there") from e
    except HFValidationError as e:
        raise ValueError(f"{where['repo_id']!r} is neither a local folder nor a Hub repository id "
                         f"(owner/name): {e}") from e
    except Exception as e:
        if not network_failure(e):
            raise
        raise ConnectionError(f"downloading {url} failed ({type(e).__name__}: {e}); nothing was kept that a "
                              "later load would use: try again") from e


def network_failure(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is a failure of the network rather than of the request
    or the machine: a connection refused, reset or timed out, a transfer cut short, a server error (HTTP 5xx) or
    429 (too many requests). huggingface_hub raises the transport errors of the HTTP library it is built on
    (httpx2 from 2.0, httpx in 1.x, requests before), ``HfHubHTTPError`` for an HTTP status, and a plain
    ``OSError`` ("Consistency check failed") when a transfer ends short of its Content-Length."""
    from huggingface_hub.errors import HfHubHTTPError

    transport = tuple(getattr(module, name) for module, names in (
        (sys.modules.get("httpx2"), ("TransportError",)), (sys.modules.get("httpx"), ("TransportError",)),
        (sys.modules.get("requests"), ("ConnectionError", "Timeout")),
        (sys.modules.get("requests.exceptions"), ("ChunkedEncodingError",))) if module is not None
        for name in names if hasattr(module, name))
    while error is not None:
        if isinstance(error, HfHubHTTPError):
            status = getattr(getattr(error, "response", None), "status_code", None)
            return isinstance(status, int) and (status >= 500 or status == 429)
        if isinstance(error, (ConnectionError, TimeoutError) + transport):
            return True
        if type(error) is OSError and error.errno is None and "Consistency check failed" in str(error):
            return True
        error = error.__cause__
    return False


def _corrupt(repo_id: str, revision: str, filename: str, path, actual: str, expected: str, cache_dir, why: str) -> str:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    storage = Path(cache_dir or constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="model")
    return (f"{filename} of {repo_id} (revision {revision}) at {path} is corrupt: sha256 {actual}, expected "
            f"{expected}, {why}. It was not loaded. Clear it from the cache with: rm -rf '{storage}' "
            "and load again")
