"""Weights records: where each published checkpoint lives and what its files must hash to (no escnn, no torch).

One record per preset and weights tag, in the spirit of torchvision's ``Weights(url, transforms, meta)`` and
timm's ``pretrained_cfg``: the Hugging Face Hub repository, a pinned revision, every file with its sha256, the
headline metrics and the input the weights expect. Loading never trusts a byte the record does not vouch for
(``zoo.download``). The records below are generated from the checkout's ``weights/`` folders by
``zoo publish --write-records``; ``tests/test_records.py`` keeps the two in agreement.

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
               "upright": "trained on upright MNIST only (no rotation augmentation)",
               "rotated-12k": "trained on the first 12,000 training images only, rotated by uniform random angles "
                              "(the size of MNIST-rot's training set, for comparison with published records)"}
TAG_TRAIN_SIZE = {"rotated-12k": 12000}  # tags trained on the first N training images; the others on all 55,000
RECORD_METRICS = ("val_accuracy", "test_rotated_accuracy", "test_upright_accuracy")


def folder_name(preset: str, tag: str) -> str:
    """The name of a checkpoint's folder under ``weights/`` and of its Hub repository: ``c8_mnist``,
    ``c8_mnist-upright``."""
    return preset if tag == DEFAULT_TAG else f"{preset}-{tag}"


def revision_for(files: Mapping[str, str]) -> str:
    """The Hub tag a folder is published under: a digest of its files' hashes, so a new file means a new tag and
    the tag a record pins always names the same bytes (``zoo publish --upload`` creates it)."""
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


# BEGIN RECORDS (generated by zoo publish --write-records)
RECORDS: tuple[WeightsRecord, ...] = (
    WeightsRecord(
        preset='c4_mnist', tag='rotated', hub_id='equivariant-zoo/c4_mnist', revision='w-f8051cacfe41909b',
        files={
            'README.md': 'd5c62836ed4b6ae15a6250ce6fbb5280450f35d5f279919a5123e41cfd663518',
            'config.json': 'da7c80881ea6207f5b2187a36997c5b71fe92a6020cc6a0616dff783784456a9',
            'exported.safetensors': '3d80cf388b8e3ba7c747b04941af359ac533fb19d9613e7f3247566fabb4b134',
            'model.safetensors': '7ad95341608892b7d1645fbb070aa51e4f2dbae36631c34c24301330f395df75',
        },
        metrics={'val_accuracy': 0.9934, 'test_rotated_accuracy': 0.9936, 'test_upright_accuracy': 0.9933},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c4_mnist-rotated-12k', revision='w-de82941bb7c61d40',
        files={
            'README.md': 'eedab56759f28e254364ee2d0d52e57471e66c393a27618c2e2d71d3dfcf31a0',
            'config.json': 'f2efd3b67bf22969415940471efa57bf398ff599af5c6ca1616cd8236249cf75',
            'exported.safetensors': '787af65a0b9470f31bff7cd0f8d9948aed643805e3c3180cdbb3dcd6fc9f7def',
            'model.safetensors': '55a3a5c277ea5dc5eed6c5aefe43d5799d895ebef0fee49cb4a33081fab58955',
        },
        metrics={'val_accuracy': 0.9854, 'test_rotated_accuracy': 0.9893, 'test_upright_accuracy': 0.9895},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='upright', hub_id='equivariant-zoo/c4_mnist-upright', revision='w-04718804f6f73fa0',
        files={
            'README.md': '9ca69ff95c138cbfb6a48b7cc68e21a9ab54ed94a3f22b31e38a14945f434920',
            'config.json': 'ed470f5fe7244f1986e87ece45055227738b645cce7969f41c640dd3d031e4cb',
            'exported.safetensors': '86f8ba3b038853d28e212e9b6a4e0c190008e1fac7b008bbe5ed29c884d5c6b2',
            'model.safetensors': 'cd9f096f49823d0a2b9809b23672b43b7e2b1ef516c7d511f3c27c50bc619f40',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9069, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c8_mnist', tag='rotated', hub_id='equivariant-zoo/c8_mnist', revision='w-bf03d0f00cb9945f',
        files={
            'README.md': 'e1fc86f911e8765c1c487a511d87de285817f8d2922fabbb7bdbf83519de1fac',
            'config.json': 'ebaecaf0dea05c410ba852248deb7bfffd900fb43d62859fc3b583890c1c64f3',
            'exported.safetensors': 'a58caa2eb88203559f49a510c7d9f55a33fea38cf614882c9a755b19d8438fe1',
            'model.safetensors': 'dc6d757e5db197d8b659029d890a34db928ce5c2585486d0d96428a7f53d7812',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9938, 'test_upright_accuracy': 0.9942},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c8_mnist-rotated-12k', revision='w-700aaa8ca105fb27',
        files={
            'README.md': 'f569461fffb25de482e3a981d288105b39233f6642bb8501d14662b75eb030e4',
            'config.json': 'd8b2e1eacee0d29ad437be2cdf830aa1953d26bc6b1256ec45bf050488914877',
            'exported.safetensors': 'ef5927b74581bf0d1084690603ac2bcd9283bb84b42bc5392b27b9ff54698d46',
            'model.safetensors': 'd34e1defa88dcdef2e13233b8cc04ae99d5fab3d842d617e60efb1d894370431',
        },
        metrics={'val_accuracy': 0.9878, 'test_rotated_accuracy': 0.9889, 'test_upright_accuracy': 0.9895},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='upright', hub_id='equivariant-zoo/c8_mnist-upright', revision='w-4d82aaddb2999fd3',
        files={
            'README.md': '46cecc730b507b1057eae91f5b02d1b20e89a80578c8678db07044d493f83e6d',
            'config.json': 'fbc1c7ca5a5f166423a327a23895644ace7619bdb094bc879343f4c4b00e997a',
            'exported.safetensors': '50ce2e7a1d4e4c5a05320062df5be09dea33f3dd22c94a5ddc8017bc54f6c376',
            'model.safetensors': '4e9dd6e00a8653b6e47f20a70aad517156441928b0864f897d10074bcbab1d37',
        },
        metrics={'val_accuracy': 0.9928, 'test_rotated_accuracy': 0.9588, 'test_upright_accuracy': 0.9941},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_wide_mnist', tag='rotated', hub_id='equivariant-zoo/c8_wide_mnist', revision='w-6043895c4a062f06',
        files={
            'README.md': 'f0f29eda28476a47b56d019bd09a5262b6c0ead721341aaaccc1437ba979ced8',
            'config.json': '3b2f856b05952bf292eb3875462d7ac4555738a28ccb293419a85bc3c59c8449',
            'exported.safetensors': '7da229236e6d08579b13bc9ad51edc96b439074ad76364ade3406681a5b66aa6',
            'model.safetensors': '8fe80eec015e900cd4b0fd0290f90e6f7455001f7536312b4eb13552361447e4',
        },
        metrics={'val_accuracy': 0.9952, 'test_rotated_accuracy': 0.9953, 'test_upright_accuracy': 0.9954},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=144466),
    WeightsRecord(
        preset='c8_wide_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c8_wide_mnist-rotated-12k', revision='w-77c5a94b1be765df',
        files={
            'README.md': 'd33af5784eabd9095869c32a12a24f65ed65e0ac2a7499c6cfbd5ffadea13f73',
            'config.json': '029d899c19380e2a784ea69dc5853f44024a4d1de0cf864e5f672f300841bc79',
            'exported.safetensors': '7685850f5ca361a85f1a975807fca8173a256f064dc962aa6774fd345885c393',
            'model.safetensors': 'b0e25b5a6242735957c64d0667721d8edfb2ca26018080c86cc0eb65b5e3f958',
        },
        metrics={'val_accuracy': 0.9896, 'test_rotated_accuracy': 0.9906, 'test_upright_accuracy': 0.9898},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=144466),
    WeightsRecord(
        preset='d4_mnist', tag='rotated', hub_id='equivariant-zoo/d4_mnist', revision='w-05bbd5c25c39e588',
        files={
            'README.md': 'b290f519e0ea1d5feebca492e0ecf9c308e21a8cd2aae045ff52bdc52ce85e29',
            'config.json': 'e39c11e416f35182252b1b53c4f0294378c2a8cd75a4f2823d2e992a01528275',
            'exported.safetensors': 'a79bf54cea39acb631d3f5fcf98a70f38891e7adcaf8397e3d768e86ad5630d1',
            'model.safetensors': '620c7a066ed18d4a3e3d40c904931812ebf55bd3cb98c2167b1bccf07f581a98',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.9927},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='rotated-12k', hub_id='equivariant-zoo/d4_mnist-rotated-12k', revision='w-684103e258368afc',
        files={
            'README.md': 'e2b622ea4b2aa01f34991f582383bb26170a0d9932fe676b5e0f8ba277604925',
            'config.json': 'ef49ba245ac63062ff6859180c698fb04b63d65ef1697e02791ab2b32ede0ad3',
            'exported.safetensors': 'cffb874a6d1175052b095e4418f1e944621a40ee3ea0c62dce21e337bd44871a',
            'model.safetensors': '1e267b07fd7c73f17d5b7dd7af915e547124c94a6cf52cd1b64db7184838ac48',
        },
        metrics={'val_accuracy': 0.9876, 'test_rotated_accuracy': 0.9894, 'test_upright_accuracy': 0.9887},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='upright', hub_id='equivariant-zoo/d4_mnist-upright', revision='w-a2d54edf7bda8973',
        files={
            'README.md': 'b6d62df052b53db7f3be830757d7dad60c298c655cae91970f62ccc69c13082f',
            'config.json': 'eacfd0d3d4ae7ea9caaf87542bb178f3adbe9b783a368cb2ecda61638ba1d0bc',
            'exported.safetensors': 'b849f66db8fb2945cffc42b1c03e3930ebcb6d0fcb855ce4557a3a32c0e4e448',
            'model.safetensors': 'e20f42774cdde358915731e140855b7109347bd45fb9056db0a51200425f372c',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9225, 'test_upright_accuracy': 0.9934},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='so2_mnist', tag='rotated', hub_id='equivariant-zoo/so2_mnist', revision='w-d4b27b4d4d67a1a5',
        files={
            'README.md': '9695dc19d14cbbab5a337361b31e3b659fe4b1b0f516a279cf971eac93ad1e1d',
            'config.json': 'ba7078b6151b235abe239d1987dabc3ec29264d84f95e043977ca58f413a027b',
            'exported.safetensors': '60068005c99e5c42ec683f98d0de738b4911a4870d72c97685caf30dc1a4f583',
            'model.safetensors': 'd9bfa5d554adb7144fa3d8430779d09edf70b72b4e7e09200d79735312a442e0',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.993},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='rotated-12k', hub_id='equivariant-zoo/so2_mnist-rotated-12k', revision='w-0be8d501d7e20511',
        files={
            'README.md': '76eefb5a37623c7153f00a2de61ff34de69a51f2d27712b25d2aa1c27b1b63ea',
            'config.json': 'a76fa9fe05953fd7d748db740cb17c3ce91a4d7a3f8c6fa86fc8e40e9e0e0183',
            'exported.safetensors': '8e3ad8fe3e428d39535ab95f24001c196b09531bdfdbe50d20b68338547baa35',
            'model.safetensors': '1af9b05e228ade61c22749b70c906f20cf9507a5f534c2384d3017c8c15b61eb',
        },
        metrics={'val_accuracy': 0.989, 'test_rotated_accuracy': 0.9898, 'test_upright_accuracy': 0.9888},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='upright', hub_id='equivariant-zoo/so2_mnist-upright', revision='w-71eef0d8bfe64de9',
        files={
            'README.md': '2a507001ece28ccd213e5cc07f6bb3d28fd4ca2b5f7bc4c7ec9f968e3c6ebc69',
            'config.json': '3e10bb826fb3d32b80e2eb4e104828e5444e99a6e02516743467d8e00abcb69f',
            'exported.safetensors': 'a22083f75e2bb30b466a2a64a1519ae7c7e05905100ad39a6daf17552bed468b',
            'model.safetensors': '93403b7f35f43f70df68c08a83bd5746732f966f0d08327ad1ee9a182f559514',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9785, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='trivial_mnist', tag='rotated', hub_id='equivariant-zoo/trivial_mnist', revision='w-a7a0b5524013aaff',
        files={
            'README.md': 'c7e67b8e8808146af9c3b15c205eac3d425b85f9cf21542ac42b681c444b7169',
            'config.json': '2cb0258744c8c4548cd5727dfab5974d4326113c8244815ad88ecbe3a6ad1f42',
            'exported.safetensors': '9fb157431d11bc705c388d08ba3e241238c01bb37e55b743a4ab0443ffe0a4a7',
            'model.safetensors': 'ada62d2c6c6125b1379905c3293c2922961720a85ccf671662b03d861024ad75',
        },
        metrics={'val_accuracy': 0.9876, 'test_rotated_accuracy': 0.9888, 'test_upright_accuracy': 0.9887},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='rotated-12k', hub_id='equivariant-zoo/trivial_mnist-rotated-12k', revision='w-465dfcb7573de646',
        files={
            'README.md': 'f79c8e17414a83eb748ebe60539c386cb25628ab440da1d989543722ae624a3f',
            'config.json': '946bb6a5fa6f3890ca28818126da35ca7b5771e9b647af4cb80a0b73618cd299',
            'exported.safetensors': '075eec082c70f27624a9032435a1967e9b1dcfeb91d5ff0ba8d0aad2fa0864ec',
            'model.safetensors': 'da45db8966672a0a6d2cbdb8155bf9634b74dfca71bbe13ce50cf57f17bbfed2',
        },
        metrics={'val_accuracy': 0.9734, 'test_rotated_accuracy': 0.976, 'test_upright_accuracy': 0.9722},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='upright', hub_id='equivariant-zoo/trivial_mnist-upright', revision='w-9633d9b1da72c686',
        files={
            'README.md': 'fbed74515d28aa9fec31f9f7cc1eed46f8d66ba027284aaf8c91d1dad58c860a',
            'config.json': '2d51e8a3b5ff2bd006b043d048335d2f98128dd991e204791741dc5c03ccf421',
            'exported.safetensors': '22ae275ba37daa35947025c249de59b2528cb72910a1dbd5b8fad9ed03ee4532',
            'model.safetensors': '1a71dbe1a39d4bf82277184c0bcbfdce9930acf341e8542246a8e8cb3cf613d5',
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
