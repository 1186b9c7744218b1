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
    from zoo.probes import embedded_digits

    return embedded_digits()


@pytest.fixture(scope="session")
def mnist_root():
    if not (DATA_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"genuine MNIST not found under {DATA_ROOT}")
    return DATA_ROOT


# Comparisons of logits are relative to their scale: float32 rounding differs between CPUs and BLAS kernels by
# about 1e-6 of the scale; every error these tests look for (a wrong basis, a lost batch norm) is above 1e-2.
RTOL = 1e-4


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = RTOL, what: str = "logits") -> None:
    """``actual`` equals ``expected`` up to ``rtol`` times the largest magnitude in ``expected``."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    assert diff <= rtol * scale, f"{what} differ by {diff:.2e}, more than {rtol:g} of their scale {scale:.3g}"


_built = {}


def built_model(name: str):
    """A new randomly initialised model of a preset (seed 0), the test's own to change.

    Built once per session and deep-copied for every call: escnn's weight initialisation is slow, and no test
    sees what another did to its model."""
    import copy

    from zoo import create_model

    if name not in _built:
        torch.manual_seed(0)
        _built[name] = create_model(name)
    return copy.deepcopy(_built[name])


def published(name: str, weights: str = "rotated"):
    from zoo.registry import weights_folder

    folder = weights_folder(name, weights)
    if not (folder / "model.safetensors").is_file():
        pytest.skip(f"no published weights in {folder}")
    return folder
