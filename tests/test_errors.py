"""Bad input to every public entry point gets a ValueError/TypeError that says what to do."""
import pytest
import torch

from conftest import built_model
from zoo import create_model


@pytest.mark.parametrize("bad, error, message", [
    ([[0.0] * 28] * 28, TypeError, "expected a torch.Tensor"),
    (torch.rand(1, 28, 28), ValueError, "add a batch dimension"),
    (torch.rand(28, 28), ValueError, "4-d tensor"),
    (torch.rand(2, 3, 28, 28), ValueError, "expected 1 input channel"),
    (torch.randint(0, 255, (2, 1, 28, 28), dtype=torch.uint8), TypeError, "x.float\\(\\) / 255"),
    (torch.full((1, 1, 28, 28), float("nan")), ValueError, "NaN or inf"),
    (torch.full((1, 1, 28, 28), float("inf")), ValueError, "NaN or inf"),
    (torch.rand(1, 1, 5, 28), ValueError, "at least 8x8"),
])
@pytest.mark.parametrize("exported", [False, True])
def test_bad_images(bad, error, message, exported):
    from zoo.convert import export

    model = built_model("c8_mnist").eval()
    model = export(model) if exported else model
    with pytest.raises(error, match=message):
        model(bad)


def test_unknown_name_lists_known_names():
    known = "c4_mnist, c8_mnist, c8_wide_mnist, d4_mnist, so2_mnist, trivial_mnist"
    with pytest.raises(ValueError, match=f"known models: {known}"):
        create_model("c16_mnist")


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, "10", True])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        create_model("trivial_mnist", num_classes=num_classes)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        built_model("trivial_mnist").reset_classifier(num_classes)


def test_unknown_weights_tag_lists_known_tags():
    with pytest.raises(ValueError, match="known tags: rotated, upright"):
        create_model("c8_mnist", pretrained=True, weights="imagenet")


def test_bad_architecture_arguments():
    with pytest.raises(ValueError, match="odd"):
        create_model("c4_mnist", kernel_sizes=(4, 5, 5, 5, 3))
    with pytest.raises(ValueError, match="unknown group"):
        from zoo.model import EquivariantCNN

        EquivariantCNN("c7")
