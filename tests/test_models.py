"""Every preset: build, forward, backward, shapes, symmetry, export, head handling."""
import pytest
import torch

from conftest import built_model
from zoo import create_model, list_models

# Symmetries each group's network must respect exactly (up to float rounding) on the pixel grid.
ROT90 = lambda x: torch.rot90(x, 1, (2, 3))  # noqa: E731
FLIP = lambda x: torch.flip(x, (3,))  # noqa: E731
EXACT = {"trivial": [], "c4": [ROT90], "c8": [ROT90], "d4": [ROT90, FLIP], "so2": [ROT90]}


def test_registry_lists_the_five_presets():
    assert list_models() == ["c4_mnist", "c8_mnist", "d4_mnist", "so2_mnist", "trivial_mnist"]


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
        for transform in EXACT[model.arch["group"]]:
            err = (model(transform(images)) - logits).abs().max() / logits.abs().max()
            assert err < 1e-4, f"{name}: relative logit change {err:.2e} under a symmetry of its group"
        if not EXACT[model.arch["group"]]:  # the plain CNN must not be invariant by accident
            assert (model(ROT90(images)) - logits).abs().max() / logits.abs().max() > 1e-3


@pytest.mark.parametrize("name", list_models())
def test_export_matches_and_has_no_escnn(name, digits):
    model = built_model(name).eval()
    exported = model.export()
    assert not exported.training
    for module in exported.modules():
        assert not type(module).__module__.startswith("escnn"), type(module)
    x = torch.nn.functional.interpolate(digits[0], size=(29, 31), mode="bilinear")
    with torch.no_grad():
        assert (exported(x) - model(x)).abs().max() < 1e-5


@pytest.mark.parametrize("name", list_models())
def test_reset_classifier_and_num_classes(name):
    model = create_model(name, num_classes=3)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 3)
    model.reset_classifier(7)
    assert model.num_classes == 7 and model.arch["num_classes"] == 7
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 7)


def test_rgb_input():
    model = create_model("c4_mnist", in_channels=3)
    assert model(torch.rand(2, 3, 28, 28)).shape == (2, 10)
