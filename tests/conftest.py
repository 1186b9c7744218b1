import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_ROOT = ROOT.parent / "shared" / "data"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def digits():
    from zoo.demo import embedded_digits

    return embedded_digits()


@pytest.fixture(scope="session")
def mnist_root():
    if not (DATA_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"genuine MNIST not found under {DATA_ROOT}")
    return DATA_ROOT


_built = {}


def built_model(name: str):
    """One randomly initialised model per preset, built once per session (escnn bases are slow to build)."""
    from zoo import create_model

    if name not in _built:
        torch.manual_seed(0)
        _built[name] = create_model(name)
    return _built[name]


def published(name: str, weights: str = "rotated"):
    from zoo.registry import weights_folder

    folder = weights_folder(name, weights)
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"no published weights in {folder}")
    return folder
