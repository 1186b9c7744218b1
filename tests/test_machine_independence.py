"""Checkpoints mean the same whatever kernel basis escnn builds: proved on one machine by changing the basis.

On another CPU escnn can build another basis of the same space of equivariant kernels (the dihedral groups'
Clebsch-Gordan coefficients come from an SVD; see docs/checkpoints.md). Two ways to get one here:
mix every basis block with a random orthogonal matrix, and rebuild the model in a process whose BLAS runs
other CPU kernels (``OPENBLAS_CORETYPE``) without escnn's on-disk cache, as on a fresh machine.
"""
import copy
import json
import os
import subprocess
import sys

import pytest
import torch
from escnn import nn as enn
from safetensors.torch import load_file

import zoo.checkpoint
import zoo.model
from conftest import ROOT, assert_close, published
from zoo import from_pretrained, list_models
from zoo.checkpoint import learned_state, load_checkpoint, load_portable_state
from zoo.files import WEIGHTS_NAME, read_config
from zoo.probes import SelfCheckError, probe_images, self_check


def mix_bases(model: torch.nn.Module, seed: int = 0) -> None:
    """Replace every kernel basis block B of ``model`` by Q B, Q a random orthogonal matrix: the same kernel space
    in another basis, as another machine may build it. Blocks are copied first (escnn shares them between layers
    and models through a cache), so other models are untouched."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, enn.R2Conv):
            expansion = module.basisexpansion
            for pair in expansion._representations_pairs:
                name = f"block_expansion_{expansion._escape_pair(pair)}"
                block = copy.deepcopy(getattr(expansion, name))
                dim = block.dimension()
                q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
                mixed = q @ block.sampled_basis.to(torch.float64).reshape(dim, -1)
                block.sampled_basis = mixed.to(block.sampled_basis.dtype).reshape(block.sampled_basis.shape)
                setattr(expansion, name, block)
            module.train()  # expanded filters are recomputed from the new basis


def _rebuild(folder, mixed: bool):
    config = read_config(folder)
    model = zoo.model.EquivariantCNN(**config["architecture"], initialize=False)
    if mixed:
        mix_bases(model)
    return model, config


@pytest.mark.parametrize("name", list_models())
def test_checkpoint_loads_into_another_basis_and_coefficients_do_not(name):
    folder = published(name)
    reference = load_checkpoint(folder)
    probes = probe_images()
    with torch.no_grad():
        expected = reference(probes)

    # format 2 (filters) into a model whose every basis block is mixed: the same function
    model, config = _rebuild(folder, mixed=True)
    load_portable_state(model, load_file(folder / WEIGHTS_NAME))
    with torch.no_grad():
        assert_close(model.eval()(probes), expected)
    self_check(model, config, str(folder), 1)

    # the old way, escnn coefficients read in that other basis: another function, and the self-check says so
    model, _ = _rebuild(folder, mixed=True)
    model.load_state_dict(learned_state(reference), strict=False)
    with torch.no_grad():
        wrong = model.eval()(probes)
    assert (wrong - expected).abs().max() > 0.05 * expected.abs().max()
    with pytest.raises(SelfCheckError, match="does not reproduce the logits"):
        self_check(model, config, str(folder), 1)


def test_every_load_path_verifies_in_a_mixed_basis(monkeypatch, digits):
    """load_checkpoint, create_model (torch.hub) and from_pretrained all build in zoo.checkpoint: with every
    model's basis mixed they still return the published function, and a wrong reading is refused."""
    from zoo import create_model

    folder = published("d4_mnist")
    plain = load_checkpoint(folder)
    expected = plain(digits[0]).detach()
    coefficients = {n: m.weights.detach().clone() for n, m in plain.named_modules() if isinstance(m, enn.R2Conv)}
    original = zoo.model.EquivariantCNN

    class MixedBasisCNN(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            mix_bases(self, seed=1)

    monkeypatch.setattr(zoo.checkpoint, "EquivariantCNN", MixedBasisCNN)  # where every load path builds
    for model in (load_checkpoint(folder), create_model("d4_mnist", pretrained=True),
                  from_pretrained(folder)):  # the Hugging Face path builds through the module too
        assert isinstance(model, MixedBasisCNN)
        assert_close(model(digits[0]).detach(), expected)

    # a loader that read the coefficients of this machine's basis into the other basis is caught
    def read_coefficients(conv, target, name):
        with torch.no_grad():
            conv.weights.copy_(coefficients[name.rsplit(": ", 1)[1]])

    monkeypatch.setattr(zoo.checkpoint, "load_conv_filter", read_coefficients)
    with pytest.raises(SelfCheckError, match="d4_mnist.*does not reproduce"):
        create_model("d4_mnist", pretrained=True)


_SUBPROCESS = r"""
import json, sys
import escnn.group._clebsh_gordan as cg
cg._clebsh_gordan_tensor = cg._clebsh_gordan_tensor.func  # no on-disk cache: computed here, as on a fresh machine
import torch
from zoo.checkpoint import load_checkpoint
from zoo.probes import embedded_digits
model = load_checkpoint(sys.argv[1])
x, y = embedded_digits()
with torch.no_grad():
    print(json.dumps({"logits": model(x).tolist(), "coefficients": model.blocks[1].conv.weights[:64].tolist()}))
"""


def _in_process_with_blas(coretype: str, folder) -> dict:
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS, str(folder)], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_d4_loads_alike_under_other_blas_kernels(digits):
    """escnn's D4 basis really changes with the BLAS kernels (the bug as users met it); the checkpoint does not."""
    folder = published("d4_mnist")
    runs = {core: _in_process_with_blas(core, folder) for core in ("Haswell", "Nehalem")}
    model = load_checkpoint(folder)
    expected = model(digits[0]).detach()
    for core, run in runs.items():
        assert_close(torch.tensor(run["logits"]), expected, what=f"logits with OpenBLAS {core} kernels")
    coefficients = [model.blocks[1].conv.weights[:64].detach()] + [torch.tensor(r["coefficients"]) for r in runs.values()]
    scale = coefficients[0].abs().max().item()
    spread = max((c - coefficients[0]).abs().max().item() for c in coefficients[1:]) / scale  # relative
    if spread < 1e-3:
        pytest.skip("this CPU's OpenBLAS gave one D4 basis for every kernel type; the mixed-basis tests cover it")
    assert spread > 1e-2  # different bases (coefficients), one function (logits)


def test_d4_builds_and_loads_next_to_a_scikit_learn_that_refuses_escnn(digits, tmp_path):
    """With scikit-learn installed, escnn would take its randomized_svd for the D4 basis; a recent scikit-learn
    refuses escnn's np.matrix (seen on a GPU machine), so the zoo keeps escnn on scipy's SVD."""
    extmath = tmp_path / "sklearn" / "utils" / "extmath.py"
    extmath.parent.mkdir(parents=True)
    (tmp_path / "sklearn" / "__init__.py").write_text("")
    (extmath.parent / "__init__.py").write_text("")
    extmath.write_text("def randomized_svd(*args, **kwargs):\n"
                       "    raise TypeError('np.matrix is not supported. Please convert to a numpy array')\n")
    folder = published("d4_mnist")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS, str(folder)], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert_close(torch.tensor(json.loads(out.stdout.strip().splitlines()[-1])["logits"]),
                 load_checkpoint(folder)(digits[0]).detach())
