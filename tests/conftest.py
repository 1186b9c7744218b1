import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_ROOT = ROOT.parent / "shared" / "data"

# Two pytest-xdist workers share the two cores of the reference machine: one thread each; alone, two.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, torch.get_num_threads())))


# A test that needs a component this machine may lack (a Debian package, a Python extra, genuine MNIST) says so with
# ``require``, ``require_module`` or the mark ``requires``: it skips here, and fails under CI (the environment variable
# CI=true, which .ci/run and CI services set), where every such component is installed and a skip would hide a test
# that never ran. Skips about the platform itself (no CUDA GPU, not glibc) stay plain skips; ``pytest -rs`` lists
# every skip with its reason.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: object, what: str, install: str) -> None:
    """Skip the calling test (or module) unless ``available``; under CI, fail, saying how to ``install`` ``what``."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing under CI, where every test must run: {install}", pytrace=False)
    skip = pytest.skip.Exception(f"{what} is missing: {install}", allow_module_level=True)
    skip._use_item_location = True  # pytest -rs names the test (as for its own skipif), not this line
    raise skip


def require_module(name: str, install: str):
    """The module ``name``, imported; when it is not installed, ``require`` (skip, or fail under CI)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name and not name.startswith(f"{e.name}."):
            raise  # the module is there but something it imports is not: a broken install, not a missing extra
    require(False, f"the Python package {name}", install)


def requires(available: object, what: str, install: str) -> pytest.MarkDecorator:
    """``require`` as a mark, checked before the test's fixtures are set up (so a missing browser starts no app)."""
    return pytest.mark.requires(available=bool(available), what=what, install=install)


def pytest_configure(config):
    config.addinivalue_line("markers", "requires(available, what, install): see tests/conftest.py's require")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        require(**mark.kwargs)


@pytest.fixture(scope="session")
def digits():
    from zoo.probes import embedded_digits

    return embedded_digits()


@pytest.fixture(scope="session")
def mnist_root():
    raw = DATA_ROOT / "MNIST" / "raw"
    require((raw / "train-images-idx3-ubyte").is_file(), f"genuine MNIST ({raw})",
            f"put MNIST's four IDX files (train-images-idx3-ubyte, ...) in {raw}")
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


def kill_after_checkpoint(cmd: list[str], run_dir: Path, min_step: int, timeout: float = 300, **popen):
    """Run a training command and kill -9 it from outside once its resume checkpoint has reached ``min_step``.

    The process runs in slices of 2 ms (SIGCONT, then SIGSTOP) and the checkpoint is read while it is stopped, so
    it is killed after that checkpoint and well before it could finish, however fast this machine is. Returns the
    finished ``Popen`` (returncode -9)."""
    import signal
    import time

    from zoo.training import read_resume_state

    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    path, deadline = run_dir / "resume.safetensors", time.monotonic() + timeout
    try:
        while True:
            os.kill(process.pid, signal.SIGSTOP)
            if process.poll() is not None:
                raise AssertionError(f"finished before the kill: {process.stderr.read()[-2000:]}")
            if path.is_file() and read_resume_state(path)["step"] >= min_step:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint at step {min_step} in {run_dir} within {timeout:.0f} s")
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        return process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


_loaded = {}


def loaded(name: str, weights: str = "rotated"):
    """A published checkpoint loaded once per session (``load_checkpoint``, self-checked) and deep-copied for every
    call, so no test sees what another did to its model."""
    import copy

    from zoo.checkpoint import load_checkpoint

    folder = published(name, weights)
    if folder not in _loaded:  # kept in train mode: escnn's eval-mode filters are graph tensors deepcopy refuses
        _loaded[folder] = load_checkpoint(folder).train()
    model = copy.deepcopy(_loaded[folder]).eval()
    model.meta = _loaded[folder].meta
    return model


def png_header(width: int, height: int) -> bytes:
    """A 1-bit grey PNG that declares that size and holds no pixels: what a decoder reads before it allocates."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
