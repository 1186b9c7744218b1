"""Every preset: build, forward, backward, shapes, symmetry, export, head handling."""
import pytest
import torch

from conftest import assert_close, built_model
from zoo.convert import export
from zoo import create_model, list_models

# Symmetries each group's network must respect exactly (up to float rounding) on the pixel grid.
ROT90 = lambda x: torch.rot90(x, 1, (2, 3))  # noqa: E731
FLIP = lambda x: torch.flip(x, (3,))  # noqa: E731
EXACT = {"trivial": [], "c4": [ROT90], "c8": [ROT90], "d4": [ROT90, FLIP], "so2": [ROT90]}


def test_registry_lists_the_presets():
    assert list_models() == ["c4_mnist", "c8_mnist", "c8_wide_mnist", "d4_mnist", "so2_mnist", "trivial_mnist"]


def test_wide_preset_is_the_width_rule_at_one_and_a_half():
    narrow, wide = create_model("c8_mnist").arch, create_model("c8_wide_mnist").arch
    assert wide.widths == tuple(round(1.5 * w) for w in narrow.widths)
    assert wide.replace(widths=narrow.widths) == narrow


def test_published_models_lists_only_presets_with_weights_for_the_tag():
    from zoo.registry import published_models, weights_folder

    assert published_models("rotated") == list_models()  # every preset ships rotated weights (test_weights)
    upright = published_models("upright")
    assert "c8_mnist" in upright and "c8_wide_mnist" not in upright  # the wide preset: rotated MNIST only
    assert all((weights_folder(n, "upright") / "model.safetensors").is_file() for n in upright)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_shapes(name):
    model = built_model(name).train()
    x = torch.rand(3, 1, 28, 28)
    logits = model(x)
    assert logits.shape == (3, 10)
    logits.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    model.zero_grad()
    model.eval()
    features = model.forward_features(torch.rand(2, 1, 29, 33))
    assert features.shape == (2, model.num_features, 8, 9)
    assert model(torch.rand(2, 1, 64, 48)).shape == (2, 10)


@pytest.mark.parametrize("size", [28, 29])
@pytest.mark.parametrize("name", list_models())
def test_exact_invariance(name, size, digits):
    model = built_model(name).eval()
    images = torch.nn.functional.interpolate(digits[0][:4], size=(size, size), mode="bilinear")
    with torch.no_grad():
        logits = model(images)
        for transform in EXACT[model.invariance]:
            err = (model(transform(images)) - logits).abs().max() / logits.abs().max()
            assert err < 1e-4, f"{name}: relative logit change {err:.2e} under a symmetry of its group"
        if not EXACT[model.invariance]:  # the plain CNN must not be invariant by accident
            assert (model(ROT90(images)) - logits).abs().max() / logits.abs().max() > 1e-3


def test_d4_restricted_to_c4_tells_mirror_images_apart(digits):
    """d4_mnist shares filters across flips but restricts to C4 at the end; without that it is flip-invariant."""
    images = digits[0][:4]
    restricted = built_model("d4_mnist").eval()
    assert restricted.arch.subgroup_layers == 1 and restricted.invariance == "c4"
    torch.manual_seed(0)
    full = create_model("d4_mnist", subgroup_layers=0).eval()
    assert full.invariance == "d4"
    with torch.no_grad():
        for model, flip_invariant in [(restricted, False), (full, True)]:
            logits = model(images)
            err = (model(FLIP(images)) - logits).abs().max() / logits.abs().max()
            assert (err < 1e-4) == flip_invariant, f"flip changes the logits by {err:.2e}"
            assert ((model(ROT90(images)) - logits).abs().max() / logits.abs().max()) < 1e-4
    with pytest.raises(ValueError, match="subgroup_layers"):
        create_model("c8_mnist", subgroup_layers=1)


def test_so2_batch_norm_backpropagates_through_its_statistics():
    """escnn's IIDBatchNorm2d detaches the batch statistics; the zoo's does not (see zoo.groups.IIDBatchNorm).

    The normalised output has a fixed second moment, so the gradient of its squared sum is zero when the
    statistics are differentiated and large when they are treated as constants.
    """
    from escnn import nn as enn

    from zoo.groups import IIDBatchNorm

    field_type = built_model("so2_mnist").blocks[0].norm.in_type
    x = torch.randn(8, field_type.size, 5, 5, dtype=torch.float64) * 3

    def grad_norm(bn):
        bn = bn.double().train()
        xx = x.clone().requires_grad_()
        bn(enn.GeometricTensor(xx, field_type)).tensor.pow(2).sum().backward()
        return xx.grad.abs().max().item()

    assert grad_norm(IIDBatchNorm(field_type)) < 1e-4  # not exactly 0: eps in var + eps
    assert grad_norm(enn.IIDBatchNorm2d(field_type)) > 1e-2


def _iid_batch_norm_by_definition(bn, x):
    """escnn's IIDBatchNorm2d in training mode, written out field by field (float64), without detaching."""
    out, stats = torch.zeros_like(x), {}
    for name, size in bn._sizes:
        key = bn._escape_name(name)
        indices = getattr(bn, f"{key}_indices")
        channels = torch.arange(indices[0], indices[1]) if bn._contiguous[name] else torch.as_tensor(indices)
        fields = x[:, channels].reshape(x.shape[0], -1, size, *x.shape[2:])
        mean = torch.zeros(fields.shape[1], size, dtype=x.dtype)
        if bn._has_trivial[name]:
            mean = torch.einsum("ij,cj->ci", getattr(bn, f"{key}_avg"), fields.mean(dim=(0, 3, 4)))
        centred = fields - mean[None, :, :, None, None]
        n = fields.shape[0] * fields.shape[3] * fields.shape[4]
        var = (centred.pow(2).sum(dim=(0, 3, 4)) / (n - 1)).mean(dim=1, keepdim=True)
        y = centred * (getattr(bn, f"{key}_weight") / (var + bn.eps).sqrt())[None, :, :, None, None]
        if bn._has_trivial[name]:
            shift = torch.einsum("ij,cj->ci", getattr(bn, f"{key}_change_of_basis"), getattr(bn, f"{key}_bias"))
            y = y + shift[None, :, :, None, None]
        out[:, channels] = y.reshape(x.shape[0], -1, *x.shape[2:])
        stats[key] = (mean if bn._has_trivial[name] else None, var)
    return out, stats


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("fields", ["so2_mnist", "mixed"])
def test_so2_batch_norm_computes_its_definition(layout, fields):
    """The training batch norm built on torch's batch norm kernels (zoo.groups._FieldNorm) gives the outputs,
    running statistics and gradients (input, weights, biases) of the field-by-field definition, in either memory
    layout, also for field types mixed and interleaved (a band-limited field, then a rotation-only irrep without
    invariant part), with one channel constant."""
    from escnn import nn as enn

    from zoo.groups import IIDBatchNorm

    field_type = built_model("so2_mnist").blocks[0].norm.in_type
    if fields == "mixed":
        gspace = field_type.gspace
        field_type = enn.FieldType(gspace, [field_type.representations[0], gspace.irrep(1)] * 3)
    bn = IIDBatchNorm(field_type).double().train()
    with torch.no_grad():
        for p in bn.parameters():
            p.copy_(torch.randn_like(p))
    x = (torch.randn(6, field_type.size, 5, 4, dtype=torch.float64) * 3 + 1)
    x[:, 0] = 2.0  # a constant channel: per-channel variance 0 (torch's batch norm reports an inverse std of 0)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    ours_in, ref_in = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = bn(enn.GeometricTensor(ours_in, field_type)).tensor
    expected, stats = _iid_batch_norm_by_definition(bn, ref_in)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-10)
    assert ours.is_contiguous(memory_format=torch.channels_last) == (layout == "channels_last")
    weights, params = torch.randn_like(expected), list(bn.parameters())
    ours_grads = torch.autograd.grad((ours * weights).sum(), [ours_in, *params])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [ref_in, *params])
    for name, a, b in zip(["input"] + [n for n, _ in bn.named_parameters()], ours_grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m: f"gradient of {name}: {m}")
    for key, (mean, var) in stats.items():  # running statistics: momentum 0.1 from 0 and 1
        torch.testing.assert_close(getattr(bn, f"{key}_running_var"), 0.9 + 0.1 * var.detach())
        if mean is not None:
            torch.testing.assert_close(getattr(bn, f"{key}_running_mean"), 0.1 * mean.detach())


def test_so2_batch_norm_keeps_fp32_statistics_under_bf16_autocast():
    model = create_model("so2_mnist").train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.rand(4, 1, 28, 28))
    bn = model.blocks[0].norm
    assert all(b.dtype in (torch.float32, torch.long) for b in bn.buffers())
    assert all(torch.isfinite(b.float()).all() for b in bn.buffers())
    assert not all((b == 1).all() for n, b in bn.named_buffers() if n.endswith("running_var")), "stats not updated"


def test_fourier_elu_matches_escnn(digits):
    """The zoo's copy-free FourierELU computes what escnn's FourierELU computes."""
    from escnn import nn as enn

    ours = built_model("so2_mnist").blocks[0].act
    reference = enn.FourierELU(ours.in_type.gspace, len(ours.in_type), irreps=ours.rho.irreps, N=16)
    x = enn.GeometricTensor(torch.randn(3, ours.in_type.size, 6, 7), ours.in_type)
    assert type(ours) is not enn.FourierELU
    assert_close(ours(x).tensor, reference(x).tensor, what="FourierELU outputs")


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_chunked_fourier_elu_is_the_plain_one_with_its_gradient(monkeypatch, layout):
    """zoo.layers.fourier_elu (chunks of rows, ELU through exp2, the product back to fields on paired rows,
    samples recomputed in the backward) computes fourier_elu_reference (escnn's formula in plain operations) and
    its gradient, across chunk borders."""
    from zoo import layers

    act = built_model("so2_mnist").blocks[0].act
    A, A_inv = act.A.double(), act.Ainv.double()
    # 3 * 5 * 6 pixels * 6 fields = 540 rows: 14 chunks of 37 (odd: unpaired) and one of 22 (paired), whatever
    # the number of threads
    monkeypatch.setattr(layers, "_chunk_rows", lambda n: min(n, 37))
    x = torch.randn(3, A.shape[1] * 6, 5, 6, dtype=torch.float64) * 2
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(layers.fourier_elu(x, A, A_inv), layers.fourier_elu_reference(x, A, A_inv),
                               rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: layers.fourier_elu(t, A, A_inv), (x.clone().requires_grad_(),),
                                    fast_mode=True)
    with torch.no_grad():  # the inference path (no autograd) as well
        torch.testing.assert_close(layers.fourier_elu(x.float(), A.float(), A_inv.float()),
                                   layers.fourier_elu_reference(x.float(), A.float(), A_inv.float()),
                                   rtol=1e-5, atol=1e-5 * x.abs().max().item())
        # in place: the same result over the input (a view of it when channels-last), never while recording
        overwritten = x.float()
        result = layers.fourier_elu(overwritten, A.float(), A_inv.float(), inplace=True)
        torch.testing.assert_close(result, layers.fourier_elu_reference(x.float(), A.float(), A_inv.float()),
                                   rtol=1e-5, atol=1e-5 * x.abs().max().item())
        assert (overwritten.data_ptr() == result.data_ptr()) == (layout == "channels_last")
    kept = x.clone().requires_grad_()
    layers.fourier_elu(kept, A, A_inv, inplace=True).sum().backward()
    assert torch.equal(kept.detach(), x)
    # the chunks are for a CPU's caches: a tensor on another device takes the plain formula
    monkeypatch.setattr(layers, "_fourier_elu_chunked", lambda *a: pytest.fail("chunked off the CPU"))
    assert layers.fourier_elu(x.to("meta"), A.to("meta"), A_inv.to("meta")).shape == x.shape


def test_chunked_grid_max_is_the_plain_one_with_its_gradient(monkeypatch):
    """zoo.layers.grid_max (the SO(2) group pooling: chunks of rows, the gradient routed to each row's maximal
    sample by index) computes max(grid @ row) and its gradient, across chunk borders and in both layouts."""
    from zoo import layers

    grid = built_model("so2_mnist").group_pool.grid.double()
    monkeypatch.setattr(layers, "_chunk_rows", lambda n: min(n, 37))
    chunked = []  # the chunked path ran, with (True) and without (False) the maxima's indices
    rows_of = layers._grid_max_rows
    monkeypatch.setattr(layers, "_grid_max_rows",
                        lambda *a, **k: chunked.append(k.get("indices", False)) or rows_of(*a, **k))
    pool = layers.GroupMaxPool(grid.shape[1], grid)
    x = torch.randn(3, grid.shape[1] * 4, 5, 6, dtype=torch.float64)  # 360 rows: 9 chunks of 37, one of 27
    samples = x.reshape(3, 4, grid.shape[1], 30).transpose(2, 3) @ grid.T  # (3, 4, 30, N)
    plain = samples.amax(dim=3).reshape(3, 4, 5, 6)
    weights = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    routed = (grid[samples.argmax(dim=3)] * weights.reshape(3, 4, 30, 1)).transpose(2, 3).reshape(x.shape)
    tol = {"rtol": 1e-12, "atol": 1e-12 * plain.abs().max().item()}  # a maximum near 0 has rounding error too
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.testing.assert_close(pool(x.contiguous(memory_format=layout)), plain, **tol)
        leaf = x.detach().contiguous(memory_format=layout).requires_grad_()
        pooled = pool(leaf)
        torch.testing.assert_close(pooled, plain, **tol)
        (pooled * weights).sum().backward()
        torch.testing.assert_close(leaf.grad, routed, rtol=1e-12, atol=1e-12)
    assert chunked == [False, True, False, True]
    assert torch.autograd.gradcheck(pool, (x.clone().requires_grad_(),), fast_mode=True)
    # a grid that learns gets its gradient from the plain formula; off the CPU the plain formula too
    trainable = grid.clone().requires_grad_()
    layers.grid_max(x.reshape(-1, grid.shape[1]), trainable).sum().backward()
    assert trainable.grad is not None and trainable.grad.abs().sum() > 0
    monkeypatch.setattr(layers, "_grid_max_chunked", lambda *a: pytest.fail("chunked off the CPU"))
    assert layers.grid_max(x.to("meta").reshape(-1, grid.shape[1]), grid.to("meta")).shape == (360,)


@pytest.mark.parametrize("name", list_models())
def test_export_matches_and_has_no_escnn(name, digits):
    model = built_model(name).eval()
    exported = export(model)
    assert not exported.training
    for module in exported.modules():
        assert not type(module).__module__.startswith("escnn"), type(module)
    x = torch.nn.functional.interpolate(digits[0], size=(29, 31), mode="bilinear")
    with torch.no_grad():
        assert_close(exported(x), model(x))


@pytest.mark.parametrize("name", list_models())
def test_reset_classifier_and_num_classes(name):
    model = create_model(name, num_classes=3)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.arch.num_classes == 7
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 7)


def test_rgb_input():
    model = create_model("c4_mnist", in_channels=3)
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name", [n for n in list_models() if n != "trivial_mnist"])
def test_moving_one_model_leaves_another_alone(name):
    """escnn caches basis modules and hands them to every layer built with the same basis: unless the zoo's layers
    sample their own, model.to("cuda") or .double() on one model moves the bases of every other model too."""
    images = torch.rand(2, 1, 28, 28)
    first, second = create_model(name).eval(), create_model(name).eval()
    before = second(images)
    first.double()  # (what .to("cuda") does, as far as sharing goes, on a machine without a GPU)
    assert all(p.dtype == torch.float32 for p in second.state_dict().values() if p.is_floating_point())
    second.train().eval()  # rebuild the expanded filters from the bases
    assert_close(second(images), before)


def test_architecture_is_one_typed_configuration():
    from zoo.architecture import Architecture
    from zoo.model import EquivariantCNN

    arch = Architecture(group="c4", widths=[8, 8, 8, 8, 8])
    assert arch.widths == (8,) * 5 and Architecture.from_dict(arch.to_dict()) == arch
    model = EquivariantCNN(arch, initialize=False)
    assert model.arch == arch and EquivariantCNN(group="c4", widths=(8,) * 5, initialize=False).arch == arch
    for bad, message in (({"group": "c5"}, "unknown group 'c5'"), ({"kernel_sizes": (4, 5, 5, 5, 3)}, "odd"),
                         ({"num_classes": -3}, "num_classes must be a positive int"),
                         ({"group": "c8", "subgroup_layers": 1}, "needs a group with a subgroup"),
                         ({"pool_after": (7,)}, "pool_after holds layer indices")):
        with pytest.raises(ValueError, match=message):
            Architecture(**bad)
    with pytest.raises(TypeError, match=r"unknown architecture keyword\(s\) \['in_chanels'\]; known: group, widths"):
        arch.replace(in_chanels=3)
    with pytest.raises(TypeError, match=r"unknown create_model keyword\(s\) \['in_chanels'\]"):
        create_model("c4_mnist", pretrained=True, in_chanels=3)
