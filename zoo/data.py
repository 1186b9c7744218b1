"""Rotated MNIST: the data and the one evaluation protocol every number in this repository uses.

Protocol (stated once, here and in the README):
- Images are MNIST digits as floats in [0, 1] (uint8 / 255), background 0, no normalisation.
- Rotation: about the image centre, bilinear interpolation, zero padding (``rotate`` below). Training with
  ``--centre`` turns each training and validation image about its ink's centre of mass instead, which it
  brings to the centre (``ink_offset``), where ``zoo.create_transform`` puts a picture's.
- Training: 55,000 of the 60,000 training images (``train_val_split``, seed 0), each rotated by a fresh
  uniform angle in [0, 360) every time it is seen (``--augment rotate``) or kept upright (``--augment none``).
- Validation: the other 5,000 training images, rotated by angles from seed 1; every choice is made on it.
- Rotated test set: the 10,000 MNIST test images, image i rotated by ``rotated_test_angles()[i]`` (uniform
  in [0, 360) from seed 2). Upright test set: the same images unrotated. Invariance profile: the first
  2,000 test images (``PROFILE_IMAGES``), every one rotated by the same angle, for 0, 15, ..., 345 degrees.

Rotated Fashion-MNIST (the ``fashion`` weights, ``zoo evaluate --weights fashion``) is measured the same way: its
10,000 test images rotated by ``rotated_test_angles()``, upright, and the profile. Its raw IDX files are read as
they lie (``load_idx``: Debian's dataset-fashion-mnist installs them gzipped in ``FASHION_MNIST_ROOT``), never
downloaded.
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F

MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]  # torchvision's FashionMNIST.classes, in label order
DATASET_CLASSES = {"MNIST": MNIST_CLASSES, "FashionMNIST": FASHION_CLASSES}
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist installs it
# The raw IDX files of the MNIST family's training (True) and test (False) splits: images, then labels
IDX_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MAX_IDX_BYTES = 1 << 30  # the data of one IDX file (MNIST's training images: 47 MB)
VAL_SIZE = 5000
SPLIT_SEED, VAL_ANGLE_SEED, TEST_ANGLE_SEED = 0, 1, 2
PROFILE_ANGLES = list(range(0, 360, 15))
PROFILE_IMAGES = 2000  # per angle: 24 x 2,000 images keep a CPU evaluation to minutes
PROTOCOL = ("rotated MNIST: test images rotated about the centre by uniform angles in [0, 360) from seed 2, "
            "bilinear interpolation, zero padding, pixels in [0, 1] (zoo/data.py)")


def load_mnist(root: str | Path, train: bool, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST through torchvision: images (N, 1, 28, 28) float in [0, 1] and labels (N,) int64.

    ``root`` holds ``MNIST/raw/`` (the IDX files); with ``download=True`` torchvision fetches missing files.
    """
    from torchvision.datasets import MNIST

    try:
        dataset = MNIST(str(root), train=train, download=download)
    except RuntimeError as e:
        raise FileNotFoundError(f"MNIST not found under {root}/MNIST/raw ({e}); pass --data-root pointing at a "
                                "folder that holds it, or --download to let torchvision fetch it") from e
    return dataset.data.unsqueeze(1).float().div_(255), dataset.targets.long()


def read_idx(path: str | Path) -> torch.Tensor:
    """An IDX file of unsigned bytes (the MNIST family's raw format), gzipped (``.gz``) or not, as a uint8 tensor of
    the shape its header gives. Only the bytes the header announces are read, and the file must end there."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            head = f.read(4)
            if len(head) != 4 or head[:3] != b"\0\0\x08" or not 1 <= head[3] <= 4:
                raise ValueError(f"{path} is not an IDX file of unsigned bytes: its header starts {head.hex()!r}, "
                                 "expected 000008 and 1 to 4 dimensions")
            shape = f.read(4 * head[3])
            if len(shape) != 4 * head[3]:
                raise ValueError(f"{path} ends inside its header; restore the file")
            dims = struct.unpack(f">{head[3]}I", shape)
            count = math.prod(dims)
            if count > MAX_IDX_BYTES:
                raise ValueError(f"{path} announces {dims}, {count:,} bytes, more than the {MAX_IDX_BYTES:,} an IDX "
                                 "file may hold here")
            body = f.read(count)
            if len(body) != count or f.read(1):
                raise ValueError(f"{path} does not hold the {count:,} bytes its header announces ({dims}): "
                                 f"{'truncated' if len(body) != count else 'bytes follow them'}; restore the file")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path} is not a readable gzip file ({e}); restore the file") from e
    if not count:  # torch.frombuffer refuses an empty buffer
        return torch.zeros(dims, dtype=torch.uint8)
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def idx_file(folder: str | Path, name: str) -> Path:
    """``folder/name``, or ``folder/name.gz``; a ``FileNotFoundError`` that names both otherwise."""
    for path in (Path(folder) / name, Path(folder) / f"{name}.gz"):
        if path.is_file():
            return path
    raise FileNotFoundError(f"neither {name} nor {name}.gz in {folder}: expected the raw IDX files of the MNIST "
                            f"family ({', '.join(IDX_FILES[True] + IDX_FILES[False])}, gzipped or not), as "
                            f"Debian's dataset-fashion-mnist installs them in {FASHION_MNIST_ROOT}")


def has_idx_files(folder: str | Path, train: bool) -> bool:
    """Whether ``folder`` holds the raw IDX files of a split (gzipped or not)."""
    return all((Path(folder) / n).is_file() or (Path(folder) / f"{n}.gz").is_file() for n in IDX_FILES[train])


def read_idx_split(folder: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The raw IDX files of a split in ``folder``: images (N, H, W) uint8 and labels (N,) int64."""
    images_path, labels_path = (idx_file(folder, name) for name in IDX_FILES[train])
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{images_path} and {labels_path} do not pair up: images {tuple(images.shape)} (expected "
                         f"N, height, width), labels {tuple(labels.shape)} (expected N)")
    return images, labels.long()


def load_idx(folder: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of an MNIST-family dataset from its raw IDX files (e.g. Fashion-MNIST from ``FASHION_MNIST_ROOT``):
    images (N, 1, H, W) float in [0, 1] (uint8 / 255) and labels (N,) int64."""
    images, labels = read_idx_split(folder, train)
    return images.unsqueeze(1).float().div_(255), labels


def load_dataset(name: str, root: str | Path, train: bool, download: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A split of a dataset the zoo's weights are trained on (``DATASET_CLASSES``), as images (N, 1, 28, 28)
    float in [0, 1] and labels (N,) int64: MNIST through torchvision (``load_mnist``), Fashion-MNIST from its raw
    IDX files (``load_idx``)."""
    if name == "MNIST":
        return load_mnist(root, train, download)
    if name not in DATASET_CLASSES:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASET_CLASSES)}")
    if download:
        raise ValueError(f"{name} is read from its raw IDX files, never downloaded: drop --download and pass "
                         f"--data-root (Debian's dataset-fashion-mnist installs them in {FASHION_MNIST_ROOT})")
    return load_idx(root, train)


def rotate(images: torch.Tensor, degrees: torch.Tensor | float, shift: torch.Tensor | None = None,
           scale: torch.Tensor | None = None, origin: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate each image counter-clockwise by its angle in degrees, about its centre (bilinear, zero padding).

    ``origin`` (N, 2): turn image i about the point (right, down) that many pixels from its centre instead, and
    bring that point to the centre, in the same interpolation (``ink_offset`` gives the ink's centre of mass:
    training with ``TrainConfig.centre``). Training augmentation only: ``shift`` (N, 2) then moves image i by
    (right, down) pixels and ``scale`` (N,) enlarges it by that factor, in the same single interpolation.
    """
    n, (height, width) = images.shape[0], images.shape[-2:]
    theta = torch.as_tensor(degrees, dtype=torch.float64, device=images.device).expand(n) * (math.pi / 180)
    cos, sin = torch.cos(theta), torch.sin(theta)
    tx = ty = torch.zeros_like(cos)
    if scale is not None:  # the grid samples the input at output coordinates / scale
        cos, sin = cos / scale.to(cos), sin / scale.to(cos)
    if shift is not None:  # affine_grid's coordinates span [-1, 1]: one pixel is 2 / size; the grid moves back
        shift = shift.to(cos)
        tx = -(cos * shift[:, 0] * 2 / width - sin * shift[:, 1] * 2 / height)
        ty = -(sin * shift[:, 0] * 2 / width + cos * shift[:, 1] * 2 / height)
    if origin is not None:  # the output's centre samples the input at the origin
        origin = origin.to(cos)
        tx, ty = tx + origin[:, 0] * 2 / width, ty + origin[:, 1] * 2 / height
    # affine_grid maps output coordinates to input coordinates: the inverse rotation.
    # (y points down in image coordinates, so this matrix turns the picture counter-clockwise on screen.)
    matrix = torch.stack([torch.stack([cos, -sin, tx], 1),
                          torch.stack([sin, cos, ty], 1)], 1).to(images.dtype)
    grid = F.affine_grid(matrix, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def ink_offset(images: torch.Tensor) -> torch.Tensor:
    """(N, 2): the ink's centre of mass of each image (N, C, H, W), (right, down) in pixels from the image's
    centre; (0, 0) for an image without ink. MNIST puts it about half a pixel right of and below the centre."""
    height, width = images.shape[-2:]
    mass = images.double().sum(1)
    total = mass.sum((-2, -1)).clamp_min(1e-12)
    ys = torch.arange(height, dtype=torch.float64) - (height - 1) / 2
    xs = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
    return torch.stack([(mass.sum(-2) * xs).sum(-1) / total, (mass.sum(-1) * ys).sum(-1) / total], -1)


def train_val_split(n: int = 60000, val_size: int = VAL_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the training and validation images (fixed seed)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return perm[val_size:], perm[:val_size]


def fixed_angles(n: int, seed: int) -> torch.Tensor:
    """n angles in degrees, uniform in [0, 360), reproducible from ``seed``."""
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 360


def rotated_test_angles(n: int = 10000) -> torch.Tensor:
    return fixed_angles(n, TEST_ANGLE_SEED)


def rotated_validation(images: torch.Tensor, centre: bool = False) -> torch.Tensor:
    """The validation images (N, C, H, W) at their fixed angles (seed ``VAL_ANGLE_SEED``); ``centre``: each turned
    about its ink's centre of mass, brought to the centre, as training with ``TrainConfig.centre`` turns them."""
    return rotate(images, fixed_angles(len(images), VAL_ANGLE_SEED), origin=ink_offset(images) if centre else None)
