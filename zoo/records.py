"""Weights records: where each published checkpoint lives and what its files must hash to (no escnn, no torch).

One record per preset and weights tag, in the spirit of torchvision's ``Weights(url, transforms, meta)`` and
timm's ``pretrained_cfg``: the Hugging Face Hub repository, a pinned revision, every file with its sha256, the
headline metrics and the input the weights expect. Loading never trusts a byte the record does not vouch for
(``zoo.download``). The records below are generated from the checkout's ``weights/`` folders by
``python -m zoo.publish --write-records``; ``tests/test_records.py`` keeps the two in agreement.

The project has one name everywhere: the PyPI package, the Hub organisation and the GitHub repository that
``torch.hub.load`` reads are all ``equivariant-zoo``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

PROJECT = "equivariant-zoo"  # PyPI package and Hugging Face Hub organisation
GITHUB_REPO = f"{PROJECT}/{PROJECT}"  # what torch.hub.load takes
DEFAULT_TAG = "rotated"
WEIGHT_TAGS = {"rotated": "trained on MNIST rotated by uniform random angles",
               "upright": "trained on upright MNIST only (no rotation augmentation)"}
RECORD_METRICS = ("val_accuracy", "test_rotated_accuracy", "test_upright_accuracy")


def folder_name(preset: str, tag: str) -> str:
    """The name of a checkpoint's folder under ``weights/`` and of its Hub repository: ``c8_mnist``,
    ``c8_mnist-upright``."""
    return preset if tag == DEFAULT_TAG else f"{preset}-{tag}"


def revision_for(files: Mapping[str, str]) -> str:
    """The Hub tag a folder is published under: a digest of its files' hashes, so a new file means a new tag and
    the tag a record pins always names the same bytes (``zoo.publish`` creates it on upload)."""
    listing = "".join(f"{name} {sha}\n" for name, sha in sorted(files.items()))
    return "w-" + hashlib.sha256(listing.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class WeightsRecord:
    """Where one published checkpoint lives and how to recognise its files."""

    preset: str
    tag: str
    hub_id: str  # Hugging Face Hub repository, e.g. "equivariant-zoo/c8_mnist"
    revision: str  # the Hub tag the files are pinned at (see revision_for)
    files: Mapping[str, str]  # file name -> sha256 of every file in the repository
    metrics: Mapping[str, float] = field(default_factory=dict)  # RECORD_METRICS, fractions in [0, 1]
    input: Mapping[str, object] = field(default_factory=dict)  # channels, size, value_range, normalization
    num_params: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        object.__setattr__(self, "input", MappingProxyType(dict(self.input)))

    @property
    def name(self) -> str:
        return folder_name(self.preset, self.tag)

    def url(self, filename: str, endpoint: str = "https://huggingface.co") -> str:
        """Where ``filename`` downloads from (what ``huggingface_hub.hf_hub_download`` fetches)."""
        return f"{endpoint.rstrip('/')}/{self.hub_id}/resolve/{self.revision}/{filename}"


def record_from_folder(folder: str | os.PathLike, hub_org: str = PROJECT) -> WeightsRecord:
    """The record of a checkpoint folder as it stands (what ``--write-records`` writes)."""
    from .files import read_config, sha256_file

    folder = Path(folder)
    config = read_config(folder)
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")}
    tag = config.get("weights_tag", DEFAULT_TAG)
    metrics = {k: config.get("metrics", {})[k] for k in RECORD_METRICS if k in config.get("metrics", {})}
    input_spec = {k: config["input"][k] for k in ("channels", "size", "value_range", "normalization")
                  if k in config.get("input", {})}
    return WeightsRecord(preset=config["preset"], tag=tag, hub_id=f"{hub_org}/{folder_name(config['preset'], tag)}",
                         revision=revision_for(files), files=files, metrics=metrics, input=input_spec,
                         num_params=config["num_params"])


def render_records(records: list[WeightsRecord]) -> str:
    """Python source of the ``RECORDS`` table (between the markers below)."""
    lines = ["RECORDS: tuple[WeightsRecord, ...] = ("]
    for r in sorted(records, key=lambda r: (r.preset, r.tag != DEFAULT_TAG, r.tag)):
        files = "".join(f"\n            {k!r}: {v!r}," for k, v in r.files.items())
        lines += [f"    WeightsRecord(",
                  f"        preset={r.preset!r}, tag={r.tag!r}, hub_id={r.hub_id!r}, revision={r.revision!r},",
                  f"        files={{{files}\n        }},",
                  f"        metrics={dict(r.metrics)!r},",
                  f"        input={dict(r.input)!r},",
                  f"        num_params={r.num_params!r}),"]
    return "\n".join(lines + [")"])


# BEGIN RECORDS (generated by python -m zoo.publish --write-records)
RECORDS: tuple[WeightsRecord, ...] = (
    WeightsRecord(
        preset='c4_mnist', tag='rotated', hub_id='equivariant-zoo/c4_mnist', revision='w-145765c419351517',
        files={
            'README.md': '48ed3873b5b57e09a0dd851bab33d24bc00c49aae7e623c08123b78332b3a20f',
            'config.json': '84526afd7800c4a09123b4a401be5de4fc58e98ba5466bbc49b5ab31de5286f2',
            'exported.safetensors': '3d80cf388b8e3ba7c747b04941af359ac533fb19d9613e7f3247566fabb4b134',
            'model.safetensors': '199fd1d7d495d58ab4414679b5ce6e5a8739c4fa75671dd8e5579297c4107af6',
        },
        metrics={'val_accuracy': 0.9934, 'test_rotated_accuracy': 0.9936, 'test_upright_accuracy': 0.9933},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='upright', hub_id='equivariant-zoo/c4_mnist-upright', revision='w-a8a43ad37f553902',
        files={
            'README.md': '28379047c1a28af3f1d81804966e1049d30eeb533e33416b13410c9c585364e7',
            'config.json': '644283eeed09ce9b4f81b8441d521eeb6b12801eba59ccc9179d207fdca47a3d',
            'exported.safetensors': '86f8ba3b038853d28e212e9b6a4e0c190008e1fac7b008bbe5ed29c884d5c6b2',
            'model.safetensors': 'd8803097e21cc79aa5a3319e7f8d0a550e96dab4c678e0a3f6eae669b2fdf1ad',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9069, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c8_mnist', tag='rotated', hub_id='equivariant-zoo/c8_mnist', revision='w-c13ed810ea9d7d5a',
        files={
            'README.md': '04a5692879baaabac7f1c8915d62d078dd7036972d2aab0a305c2256da25cb21',
            'config.json': '6f047a58b6c5c0e124d996a11f8c7569a4d3f0f5adef0d24941170f8e9bf05f2',
            'exported.safetensors': 'a58caa2eb88203559f49a510c7d9f55a33fea38cf614882c9a755b19d8438fe1',
            'model.safetensors': '9ddec02cb885ec10c17954506073b92c02d4a02a730f9a958f42e7b5c82e3876',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9938, 'test_upright_accuracy': 0.9942},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='upright', hub_id='equivariant-zoo/c8_mnist-upright', revision='w-f8789a408e58ca8e',
        files={
            'README.md': '193d70a2a1b665d06fe344371d5ca3c70d24b10350aceca33610e04b1e14980c',
            'config.json': '54719f0b1a559c52f87b2526b2d1d01f621332bdd7db3edba184300088f38912',
            'exported.safetensors': '50ce2e7a1d4e4c5a05320062df5be09dea33f3dd22c94a5ddc8017bc54f6c376',
            'model.safetensors': '13059d2345fb296bde7e1d5870e5cfdd72082a118eb7877d6e85c190642b1f2a',
        },
        metrics={'val_accuracy': 0.9928, 'test_rotated_accuracy': 0.9588, 'test_upright_accuracy': 0.9941},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_wide_mnist', tag='rotated', hub_id='equivariant-zoo/c8_wide_mnist', revision='w-440daf2c933eac72',
        files={
            'README.md': '3ac9954e4a3cb065f726472a6bad1009922907c09101280a455b9ee50fe5803d',
            'config.json': 'ccd6ea1919f6e2b19cf2fc4b85838c6968b9036d556b7d07ce1f797f06fe2dc6',
            'exported.safetensors': '7da229236e6d08579b13bc9ad51edc96b439074ad76364ade3406681a5b66aa6',
            'model.safetensors': 'fc6bf26728b028aeacfcf510dbcf6b72cfb97964b4278c72ce6663385ab85f90',
        },
        metrics={'val_accuracy': 0.9952, 'test_rotated_accuracy': 0.9953, 'test_upright_accuracy': 0.9954},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=144466),
    WeightsRecord(
        preset='d4_mnist', tag='rotated', hub_id='equivariant-zoo/d4_mnist', revision='w-f1a4bac2ac558679',
        files={
            'README.md': '18be1538f8863ed09a479cc0fbc09bf852e970312fa8a792776eadbfc574b602',
            'config.json': '5574e608f005d2d063dfa270f1b455f81ec74aebbb778e9d6d150749fb05a396',
            'exported.safetensors': 'a79bf54cea39acb631d3f5fcf98a70f38891e7adcaf8397e3d768e86ad5630d1',
            'model.safetensors': '961e3aa09a289f5730ce604adc8e7b524d5c46842f8a5b8fc30b770d13d72025',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.9927},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='upright', hub_id='equivariant-zoo/d4_mnist-upright', revision='w-e921f092952436fb',
        files={
            'README.md': '6671d3b38927c99eb89cd0a09e33ae58b706649ab84f62dc8b3ac796d960de8c',
            'config.json': '13690b89d3d2b7b96ba28ffdb27df4bd3a3dcde7bd3c909bd1aa5297c5505f6f',
            'exported.safetensors': 'b849f66db8fb2945cffc42b1c03e3930ebcb6d0fcb855ce4557a3a32c0e4e448',
            'model.safetensors': 'd9335184b120579d466865f6e5d64364349b292098f411db33297f6b7f55e966',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9225, 'test_upright_accuracy': 0.9934},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='so2_mnist', tag='rotated', hub_id='equivariant-zoo/so2_mnist', revision='w-83cf6773f0f9fdd6',
        files={
            'README.md': 'feafe30aa7a4aca99d17458a41fd4db26ad2dac34f5d98460dd060fc26316962',
            'config.json': '0a22cd5e399f9e54357d856e775428b296ae431c83041e1ae527ae1d1cd3447b',
            'exported.safetensors': '60068005c99e5c42ec683f98d0de738b4911a4870d72c97685caf30dc1a4f583',
            'model.safetensors': 'a10607c9b991996c6f1433365e46e738a778c31d0c8d00bdbafc962524eebee9',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.993},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='upright', hub_id='equivariant-zoo/so2_mnist-upright', revision='w-88cb68f9d8f23436',
        files={
            'README.md': '412a88dbb3e66f0bfe417fb348220c59d0acfc1a9f90cb763d9d19c5604bd24c',
            'config.json': 'fed7f94db2ce403648e2ba96cbcf48604773bde875e3fb18290c4c3aa2732918',
            'exported.safetensors': 'a22083f75e2bb30b466a2a64a1519ae7c7e05905100ad39a6daf17552bed468b',
            'model.safetensors': '937f046cbf004c5ac3a5adfcf7e235379b3a2419b34fc17198fb1a9b1257a105',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9785, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='trivial_mnist', tag='rotated', hub_id='equivariant-zoo/trivial_mnist', revision='w-9683c8b1e1a01b5c',
        files={
            'README.md': '8723580c39a2ffa5d924096e66c3adeb2911e142e6ec3bd9b7a103aaced3af39',
            'config.json': '4c26bba8defce077ec36ef25ab70274ccbfeadfce3f2d1618c466e372e80beab',
            'exported.safetensors': '9fb157431d11bc705c388d08ba3e241238c01bb37e55b743a4ab0443ffe0a4a7',
            'model.safetensors': 'cd148aab56338223f6b21189574a89cfabf1e981b3ba744afb54b7b7cdb89bfa',
        },
        metrics={'val_accuracy': 0.9876, 'test_rotated_accuracy': 0.9888, 'test_upright_accuracy': 0.9887},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='upright', hub_id='equivariant-zoo/trivial_mnist-upright', revision='w-69e154d9eb86193c',
        files={
            'README.md': 'd9676427f9a9c587c3eb02a6fef6f721f818e4a8f19a5e290e3ef1383574c2f7',
            'config.json': '3a8606c8c7b348f726b0f4c29e39c47929165909979f65a3cb718baa094b17d0',
            'exported.safetensors': '22ae275ba37daa35947025c249de59b2528cb72910a1dbd5b8fad9ed03ee4532',
            'model.safetensors': 'e9e88b6676ed3f64ea811e26a29fee069b5837a9a89262029c2f1c9158bdf1e3',
        },
        metrics={'val_accuracy': 0.9938, 'test_rotated_accuracy': 0.4234, 'test_upright_accuracy': 0.9952},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
)
# END RECORDS


def records() -> dict[tuple[str, str], WeightsRecord]:
    """Every record by (preset, tag)."""
    return {(r.preset, r.tag): r for r in RECORDS}


def find_record(preset: str, tag: str = DEFAULT_TAG) -> WeightsRecord | None:
    return records().get((preset, tag))


def record_for_hub_id(hub_id: str) -> WeightsRecord | None:
    """The record whose Hub repository is ``hub_id``, if the zoo publishes it."""
    return next((r for r in RECORDS if r.hub_id == hub_id), None)


def checkout_weights() -> Path | None:
    """The ``weights/`` folder of the git checkout this package runs from, or None when it was installed from a
    wheel (then ``zoo`` sits in site-packages, with no checkout around it)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "hubconf.py").is_file() and (root / "pyproject.toml").is_file() and (root / "weights").is_dir():
        return root / "weights"
    return None
