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
                              "(the size of MNIST-rot's training set, for comparison with published records)",
               "fashion": "fine-tuned from the rotated MNIST weights on rotated Fashion-MNIST: every training image "
                          "but the 1,000 held out for validation"}
# The data a tag's weights are trained and evaluated on (a torchvision dataset name); MNIST unless named here
TAG_DATASETS = {"fashion": "FashionMNIST"}
TAG_TRAIN_SIZE = {"rotated-12k": 12000}  # tags trained on the first N training images; the others on all 55,000
RECORD_METRICS = ("val_accuracy", "test_rotated_accuracy", "test_upright_accuracy")


def folder_name(preset: str, tag: str) -> str:
    """The name of a checkpoint's folder under ``weights/`` and of its Hub repository: ``c8_mnist``,
    ``c8_mnist-upright``."""
    return preset if tag == DEFAULT_TAG else f"{preset}-{tag}"


def tag_dataset(tag: str) -> str:
    """The dataset a weights tag is trained and evaluated on: ``"MNIST"``, or e.g. ``"FashionMNIST"``."""
    return TAG_DATASETS.get(tag, "MNIST")


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
        preset='c4_mnist', tag='rotated', hub_id='equivariant-zoo/c4_mnist', revision='w-5141b3c9de63fd36',
        files={
            'README.md': '694594824a47b7e5d0410f1dc7d7ec856f75cfa80f86529b31646b038a306142',
            'config.json': 'da7c80881ea6207f5b2187a36997c5b71fe92a6020cc6a0616dff783784456a9',
            'exported.safetensors': '3d80cf388b8e3ba7c747b04941af359ac533fb19d9613e7f3247566fabb4b134',
            'model.safetensors': '7ad95341608892b7d1645fbb070aa51e4f2dbae36631c34c24301330f395df75',
        },
        metrics={'val_accuracy': 0.9934, 'test_rotated_accuracy': 0.9936, 'test_upright_accuracy': 0.9933},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='fashion', hub_id='equivariant-zoo/c4_mnist-fashion', revision='w-492e42bd32c16771',
        files={
            'README.md': '5d41461bfe7a08ec16db0cfdf64d4a1048603c8cac06f5b299987440190397c8',
            'config.json': '055487ffda6bfe889c33aa9ec00512fa75f487f61812efc823c5b124a03390a2',
            'exported.safetensors': '6928eac7c50f94cd33cd8e9e052a6fbd69d6d6978515b2b237ce4f3c97a1bf13',
            'model.safetensors': 'c455fdb819163edef2d871558625148a425aded8c43c3907fc886365fa74b75b',
        },
        metrics={'val_accuracy': 0.869, 'test_rotated_accuracy': 0.858, 'test_upright_accuracy': 0.8578},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c4_mnist-rotated-12k', revision='w-13ed094165b3d1e0',
        files={
            'README.md': '7ad7beeb98d5231ce7b1c41f18d0ec8bb8758b51f15841f7cfa5e5305bcfb5b7',
            'config.json': 'f2efd3b67bf22969415940471efa57bf398ff599af5c6ca1616cd8236249cf75',
            'exported.safetensors': '787af65a0b9470f31bff7cd0f8d9948aed643805e3c3180cdbb3dcd6fc9f7def',
            'model.safetensors': '55a3a5c277ea5dc5eed6c5aefe43d5799d895ebef0fee49cb4a33081fab58955',
        },
        metrics={'val_accuracy': 0.9854, 'test_rotated_accuracy': 0.9893, 'test_upright_accuracy': 0.9895},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c4_mnist', tag='upright', hub_id='equivariant-zoo/c4_mnist-upright', revision='w-aff9068539461f69',
        files={
            'README.md': 'f6a7db8e94f5ac97d2d36f27620c2510d3e4a76f42cb002c0725c9cba2e667fc',
            'config.json': 'ed470f5fe7244f1986e87ece45055227738b645cce7969f41c640dd3d031e4cb',
            'exported.safetensors': '86f8ba3b038853d28e212e9b6a4e0c190008e1fac7b008bbe5ed29c884d5c6b2',
            'model.safetensors': 'cd9f096f49823d0a2b9809b23672b43b7e2b1ef516c7d511f3c27c50bc619f40',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9069, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64682),
    WeightsRecord(
        preset='c8_mnist', tag='rotated', hub_id='equivariant-zoo/c8_mnist', revision='w-20619bf5bc3de593',
        files={
            'README.md': 'ac98b3d0545260daa38a0df1233c4f0fddb3a9903ff3405f34dd11043d46731e',
            'config.json': 'ebaecaf0dea05c410ba852248deb7bfffd900fb43d62859fc3b583890c1c64f3',
            'exported.safetensors': 'a58caa2eb88203559f49a510c7d9f55a33fea38cf614882c9a755b19d8438fe1',
            'model.safetensors': 'dc6d757e5db197d8b659029d890a34db928ce5c2585486d0d96428a7f53d7812',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9938, 'test_upright_accuracy': 0.9942},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='fashion', hub_id='equivariant-zoo/c8_mnist-fashion', revision='w-2b7846ba7048a927',
        files={
            'README.md': '3af3d9ed52b3b8eaca552d7adb43a10963d56ee76c239d1506976b51d3825760',
            'config.json': '29bd78ffef5a4d93579e0972c839a40f5b7c1860e303863869797b68a74325c2',
            'exported.safetensors': '6a197f152b5d2a89fc93432b129e96e63c358b7ce38ce4c20d54208c1fe358ca',
            'model.safetensors': '2bd361599b1bf7bb4807f09d4b07bc6f13c9512ff1490166fd405e2900d469de',
        },
        metrics={'val_accuracy': 0.874, 'test_rotated_accuracy': 0.8657, 'test_upright_accuracy': 0.8702},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c8_mnist-rotated-12k', revision='w-c28879a7e89d557e',
        files={
            'README.md': '7f1eeaf6b2a4be238e6f33b472ac4c34d0ab7b89c2b839eae62c000f282be9f0',
            'config.json': 'd8b2e1eacee0d29ad437be2cdf830aa1953d26bc6b1256ec45bf050488914877',
            'exported.safetensors': 'ef5927b74581bf0d1084690603ac2bcd9283bb84b42bc5392b27b9ff54698d46',
            'model.safetensors': 'd34e1defa88dcdef2e13233b8cc04ae99d5fab3d842d617e60efb1d894370431',
        },
        metrics={'val_accuracy': 0.9878, 'test_rotated_accuracy': 0.9889, 'test_upright_accuracy': 0.9895},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_mnist', tag='upright', hub_id='equivariant-zoo/c8_mnist-upright', revision='w-7d8a98d40b290d90',
        files={
            'README.md': '3cc588cab5a36bdbe089c0d502f1a3d5cc0cea0f692310779d05504df82b7fd4',
            'config.json': 'fbc1c7ca5a5f166423a327a23895644ace7619bdb094bc879343f4c4b00e997a',
            'exported.safetensors': '50ce2e7a1d4e4c5a05320062df5be09dea33f3dd22c94a5ddc8017bc54f6c376',
            'model.safetensors': '4e9dd6e00a8653b6e47f20a70aad517156441928b0864f897d10074bcbab1d37',
        },
        metrics={'val_accuracy': 0.9928, 'test_rotated_accuracy': 0.9588, 'test_upright_accuracy': 0.9941},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=64608),
    WeightsRecord(
        preset='c8_wide_mnist', tag='rotated', hub_id='equivariant-zoo/c8_wide_mnist', revision='w-e54d169d53e36706',
        files={
            'README.md': '13495c1956c5be9285e49eaf55efeec020d6da40870fe177faca26a011295771',
            'config.json': '3b2f856b05952bf292eb3875462d7ac4555738a28ccb293419a85bc3c59c8449',
            'exported.safetensors': '7da229236e6d08579b13bc9ad51edc96b439074ad76364ade3406681a5b66aa6',
            'model.safetensors': '8fe80eec015e900cd4b0fd0290f90e6f7455001f7536312b4eb13552361447e4',
        },
        metrics={'val_accuracy': 0.9952, 'test_rotated_accuracy': 0.9953, 'test_upright_accuracy': 0.9954},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=144466),
    WeightsRecord(
        preset='c8_wide_mnist', tag='fashion', hub_id='equivariant-zoo/c8_wide_mnist-fashion', revision='w-6c8481c7cdc9aa8e',
        files={
            'README.md': 'fe0475eda63d73b2cccea2b6b012fe7c4d81dc08aa2115019a8d278f1133d727',
            'config.json': '3db3414be54a4b00348a78024ae05f5860b201e88a30aa9f5036ed049029c462',
            'exported.safetensors': '3b2bb71274cf6402aee32b3441b1739ea87592fad8bbeab5218a34d348b8fa9b',
            'model.safetensors': 'd4a00f2c8e2b86f07b6bc53729a00fbc9a94e4b5045a2d4dfa4a37eae503135b',
        },
        metrics={'val_accuracy': 0.876, 'test_rotated_accuracy': 0.8771, 'test_upright_accuracy': 0.8753},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=144466),
    WeightsRecord(
        preset='c8_wide_mnist', tag='rotated-12k', hub_id='equivariant-zoo/c8_wide_mnist-rotated-12k', revision='w-16fb7abd8ce3a0da',
        files={
            'README.md': '9bea8fa466715d3cfea4fcb1487f428995309e2b01d947e901946b81dbb67bf4',
            'config.json': '029d899c19380e2a784ea69dc5853f44024a4d1de0cf864e5f672f300841bc79',
            'exported.safetensors': '7685850f5ca361a85f1a975807fca8173a256f064dc962aa6774fd345885c393',
            'model.safetensors': 'b0e25b5a6242735957c64d0667721d8edfb2ca26018080c86cc0eb65b5e3f958',
        },
        metrics={'val_accuracy': 0.9896, 'test_rotated_accuracy': 0.9906, 'test_upright_accuracy': 0.9898},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=144466),
    WeightsRecord(
        preset='d4_mnist', tag='rotated', hub_id='equivariant-zoo/d4_mnist', revision='w-46287e0ec550f128',
        files={
            'README.md': '61f5822a6e00526c41839d7d9a6f6c9ebe67e58c1d179ba4dbe06c65ee93918b',
            'config.json': 'e39c11e416f35182252b1b53c4f0294378c2a8cd75a4f2823d2e992a01528275',
            'exported.safetensors': 'a79bf54cea39acb631d3f5fcf98a70f38891e7adcaf8397e3d768e86ad5630d1',
            'model.safetensors': '620c7a066ed18d4a3e3d40c904931812ebf55bd3cb98c2167b1bccf07f581a98',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.9927},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='fashion', hub_id='equivariant-zoo/d4_mnist-fashion', revision='w-51f7c02d21c706de',
        files={
            'README.md': '1777bf0477293e03a04dc789f36378f74752be03a5381394f9e5eaa991800496',
            'config.json': '7f00d318472e521b5e81f182b976b7ea5e9deacaca209be4fadd9363e1b19118',
            'exported.safetensors': '307c8d0039a9621c6488de40cd881d4ee27cd337312dbe28880ad218fe6051dd',
            'model.safetensors': '4038c6c37f11de0110ae55a66d9aa05b7f65c2f406158c06d045a0434cd35d27',
        },
        metrics={'val_accuracy': 0.865, 'test_rotated_accuracy': 0.8671, 'test_upright_accuracy': 0.8643},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='rotated-12k', hub_id='equivariant-zoo/d4_mnist-rotated-12k', revision='w-bac6ef9cf6ac1356',
        files={
            'README.md': 'bedc281f8dcef23663b3ff49d699f7ef72c6ff2656df3863af8ed6861f637115',
            'config.json': 'ef49ba245ac63062ff6859180c698fb04b63d65ef1697e02791ab2b32ede0ad3',
            'exported.safetensors': 'cffb874a6d1175052b095e4418f1e944621a40ee3ea0c62dce21e337bd44871a',
            'model.safetensors': '1e267b07fd7c73f17d5b7dd7af915e547124c94a6cf52cd1b64db7184838ac48',
        },
        metrics={'val_accuracy': 0.9876, 'test_rotated_accuracy': 0.9894, 'test_upright_accuracy': 0.9887},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='d4_mnist', tag='upright', hub_id='equivariant-zoo/d4_mnist-upright', revision='w-5ac3236027c148d6',
        files={
            'README.md': '175543d33e3206bcbcd122179973aef37c012a769cab5192f07a272a15f02e2e',
            'config.json': 'eacfd0d3d4ae7ea9caaf87542bb178f3adbe9b783a368cb2ecda61638ba1d0bc',
            'exported.safetensors': 'b849f66db8fb2945cffc42b1c03e3930ebcb6d0fcb855ce4557a3a32c0e4e448',
            'model.safetensors': 'e20f42774cdde358915731e140855b7109347bd45fb9056db0a51200425f372c',
        },
        metrics={'val_accuracy': 0.992, 'test_rotated_accuracy': 0.9225, 'test_upright_accuracy': 0.9934},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=74652),
    WeightsRecord(
        preset='so2_mnist', tag='rotated', hub_id='equivariant-zoo/so2_mnist', revision='w-ac0c8f71e16a1a11',
        files={
            'README.md': 'de6d459665d0a8673fffe8d98ef92e8d3464f7e8c052a03825b6abccbb9737ee',
            'config.json': 'ba7078b6151b235abe239d1987dabc3ec29264d84f95e043977ca58f413a027b',
            'exported.safetensors': '60068005c99e5c42ec683f98d0de738b4911a4870d72c97685caf30dc1a4f583',
            'model.safetensors': 'd9bfa5d554adb7144fa3d8430779d09edf70b72b4e7e09200d79735312a442e0',
        },
        metrics={'val_accuracy': 0.9924, 'test_rotated_accuracy': 0.9932, 'test_upright_accuracy': 0.993},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='fashion', hub_id='equivariant-zoo/so2_mnist-fashion', revision='w-8ec16e1662786a12',
        files={
            'README.md': '8956a40ee30fbd3d2cda1f750cfbb76f62aea06a593a9a2a153b68516c8c815b',
            'config.json': '8f3f3c454900932b2c6203f652be0d1c11ffa6ce932ff98c3552ad1d8496fcdc',
            'exported.safetensors': 'c759386b5aab7cc201e0d3a218bde2aa423b517351873970e2d2c80b3554f7fb',
            'model.safetensors': '38bcce22ba9a160c29b422006547d7d287529414bcb652793912f761de2dd69e',
        },
        metrics={'val_accuracy': 0.872, 'test_rotated_accuracy': 0.867, 'test_upright_accuracy': 0.8647},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='rotated-12k', hub_id='equivariant-zoo/so2_mnist-rotated-12k', revision='w-ab2f149ef25edacc',
        files={
            'README.md': '399003b16704b57f05a968c493e18000cadf462f3680809d60b9b3a486ff09a8',
            'config.json': 'a76fa9fe05953fd7d748db740cb17c3ce91a4d7a3f8c6fa86fc8e40e9e0e0183',
            'exported.safetensors': '8e3ad8fe3e428d39535ab95f24001c196b09531bdfdbe50d20b68338547baa35',
            'model.safetensors': '1af9b05e228ade61c22749b70c906f20cf9507a5f534c2384d3017c8c15b61eb',
        },
        metrics={'val_accuracy': 0.989, 'test_rotated_accuracy': 0.9898, 'test_upright_accuracy': 0.9888},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='so2_mnist', tag='upright', hub_id='equivariant-zoo/so2_mnist-upright', revision='w-bb277549c7764a7d',
        files={
            'README.md': 'bd1350ff9a3d3d0213ef96fc1e1698888e60ba149a85a14e4f464435628da3d5',
            'config.json': '3e10bb826fb3d32b80e2eb4e104828e5444e99a6e02516743467d8e00abcb69f',
            'exported.safetensors': 'a22083f75e2bb30b466a2a64a1519ae7c7e05905100ad39a6daf17552bed468b',
            'model.safetensors': '93403b7f35f43f70df68c08a83bd5746732f966f0d08327ad1ee9a182f559514',
        },
        metrics={'val_accuracy': 0.9932, 'test_rotated_accuracy': 0.9785, 'test_upright_accuracy': 0.9932},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=54010),
    WeightsRecord(
        preset='trivial_mnist', tag='rotated', hub_id='equivariant-zoo/trivial_mnist', revision='w-326a3e6a5f7c3865',
        files={
            'README.md': '318aada0ab265f110f643ce379ab1bd243cf29e909add83748b945642b25f3b1',
            'config.json': '2cb0258744c8c4548cd5727dfab5974d4326113c8244815ad88ecbe3a6ad1f42',
            'exported.safetensors': '9fb157431d11bc705c388d08ba3e241238c01bb37e55b743a4ab0443ffe0a4a7',
            'model.safetensors': 'ada62d2c6c6125b1379905c3293c2922961720a85ccf671662b03d861024ad75',
        },
        metrics={'val_accuracy': 0.9876, 'test_rotated_accuracy': 0.9888, 'test_upright_accuracy': 0.9887},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='fashion', hub_id='equivariant-zoo/trivial_mnist-fashion', revision='w-9023b4533ef1f56f',
        files={
            'README.md': '85ca45063a4255637f00fecca4b8bd2db94c71ee8d5a80e8de8a303b7e4018cb',
            'config.json': '811e203f334553a30b815ceb0f2fb4a6100d12603d2f4d883e75e29699f030d7',
            'exported.safetensors': '1f5d02e532e4f04b4b7b18179809b91e2f232ea2ee3a8bb4e85254129875b5c0',
            'model.safetensors': '16a5f60b45dfd072e865daa7d222a435cb23e16adf60f429056eb052920e9264',
        },
        metrics={'val_accuracy': 0.816, 'test_rotated_accuracy': 0.8077, 'test_upright_accuracy': 0.8072},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: ToTensor() of the image'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='rotated-12k', hub_id='equivariant-zoo/trivial_mnist-rotated-12k', revision='w-d1c5de7aa4c36671',
        files={
            'README.md': '604f81cc7af8f97a1542d933637b7241e762f7710b92dd0b11dbecdea5ed8372',
            'config.json': '946bb6a5fa6f3890ca28818126da35ca7b5771e9b647af4cb80a0b73618cd299',
            'exported.safetensors': '075eec082c70f27624a9032435a1967e9b1dcfeb91d5ff0ba8d0aad2fa0864ec',
            'model.safetensors': 'da45db8966672a0a6d2cbdb8155bf9634b74dfca71bbe13ce50cf57f17bbfed2',
        },
        metrics={'val_accuracy': 0.9734, 'test_rotated_accuracy': 0.976, 'test_upright_accuracy': 0.9722},
        input={'channels': 1, 'size': [28, 28], 'value_range': [0.0, 1.0], 'normalization': 'none: pixel values in [0, 1] with background 0 (MNIST divided by 255)'},
        num_params=65354),
    WeightsRecord(
        preset='trivial_mnist', tag='upright', hub_id='equivariant-zoo/trivial_mnist-upright', revision='w-735011fb04823288',
        files={
            'README.md': 'd6df6f76bad0c27187f52f6898235cb37d2ce4aab8d9258097856d6c4e6bae3f',
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
