"""The conventions timm and torchvision users rely on: list_models filters, name.tag, hf-hub: names,
pretrained_cfg, get_classifier and forward_intermediates."""
import dataclasses
import pytest
import torch

import zoo
from conftest import assert_close, built_model, published
from zoo import PretrainedCfg, create_model, list_models


def test_list_models_filters():
    assert list_models() == sorted(list_models())  # unchanged without arguments
    assert list_models(filter="c8*") == ["c8_mnist", "c8_wide_mnist"]
    assert list_models(filter=["c4*", "so2*"]) == ["c4_mnist", "so2_mnist"]
    assert list_models(filter="resnet*") == []
    assert list_models(pretrained=True) == list_models()  # every preset ships weights
    assert "c8_mnist" in zoo.registry.list_models("*mnist", pretrained=True)


@pytest.mark.parametrize("export", [False, True])
def test_pretrained_cfg(export):
    published("c8_mnist", "upright")
    model = create_model("c8_mnist.upright", pretrained=True, export=export)
    cfg = model.pretrained_cfg
    assert isinstance(cfg, PretrainedCfg) and dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.tag = "rotated"
    assert (cfg.architecture, cfg.tag, cfg.name) == ("c8_mnist", "upright", "c8_mnist.upright")
    assert cfg.hub_id == "equivariant-zoo/c8_mnist-upright"
    assert cfg.input_size == (1, 28, 28) and cfg.value_range == (0.0, 1.0) and cfg.framing == "mnist_invariant"
    assert cfg.class_names == tuple("0123456789") and cfg.license == "mit" and cfg.revision.startswith("w-")
    assert cfg == zoo.registry.resolve_pretrained_cfg("c8_mnist.upright")  # from the record alone
    assert model.get_classifier() is model.head and model.get_classifier().out_features == cfg.num_classes


def test_a_new_head_has_its_own_class_names():
    published("c4_mnist")
    assert create_model("c4_mnist", pretrained=True, num_classes=3).pretrained_cfg.class_names == ("0", "1", "2")
    assert create_model("c4_mnist").pretrained_cfg is None


def test_dotted_tags_equal_the_keyword(digits):
    published("c4_mnist", "upright")
    dotted = create_model("c4_mnist.upright", pretrained=True, export=True)
    keyword = create_model("c4_mnist", pretrained=True, weights="upright", export=True)
    with torch.no_grad():
        assert_close(dotted(digits[0]), keyword(digits[0]))
    assert create_model("c4_mnist.upright", pretrained=True, weights="upright", export=True).pretrained_cfg.tag \
        == "upright"


@pytest.mark.parametrize("name, kwargs, message", [
    ("c8_mnist.upright", {"weights": "rotated"}, "asks for the 'upright' weights but weights='rotated'"),
    ("c8_mnist.imagenet", {}, "unknown weights tag 'imagenet'"),
    ("c8_mnist.", {}, "expected name.tag"),
    ("resnet50.a1", {}, "unknown model 'resnet50'"),
    ("hf-hub:c8_mnist", {}, "expected hf-hub:owner/repository"),
    ("hf-hub:equivariant-zoo/c8_mnist-upright", {"weights": "rotated"}, "asks for the 'upright' weights"),
    ("hf-hub:someone/theirs", {"weights": "rotated"}, "names its weights itself"),
    ("hf-hub:someone/theirs", {}, "pass pretrained=True"),
])
def test_name_conflicts_are_clear(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model(name, **kwargs)


def test_hf_hub_names_load_the_published_weights(digits):
    published("so2_mnist")
    hub = create_model("hf-hub:equivariant-zoo/so2_mnist", pretrained=True, export=True)
    plain = create_model("so2_mnist", pretrained=True, export=True)
    with torch.no_grad():
        assert_close(hub(digits[0]), plain(digits[0]))
    assert hub.pretrained_cfg == plain.pretrained_cfg
    assert zoo.create_transform("hf-hub:equivariant-zoo/so2_mnist") == zoo.create_transform(plain)


@pytest.mark.parametrize("name", ["c4_mnist", "so2_mnist", "d4_mnist"])
def test_forward_intermediates(name):
    model = built_model(name).eval()
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        features, fields = model.forward_intermediates(x)
        _, invariant = model.forward_intermediates(x, invariant=True)
        assert_close(features, model.forward_features(x), what="features")
        assert_close(model.forward_head(features), model(x))
        sizes = [14, 14, 7, 7, 7]  # a block ends with its blur pool, if it has one
        assert [f.shape[2:] for f in fields] == [torch.Size([s, s]) for s in sizes]
        assert [f.shape[1] for f in fields] == [b.out_type.size for b in model.blocks]
        assert all(v.shape[0] == 2 and v.shape[2:] == f.shape[2:] and v.shape[1] < f.shape[1]
                   for v, f in zip(invariant, fields))
        # the invariant reductions turn with the picture (rot90: exact on the pixel grid)
        _, turned = model.forward_intermediates(torch.rot90(x, 1, (2, 3)), invariant=True)
        for v, t in zip(invariant, turned):
            assert_close(t, torch.rot90(v, 1, (2, 3)), rtol=1e-3, what="invariant maps")
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        assert len(last_two) == 2 and torch.equal(last_two[1], fields[-1])
        assert torch.equal(model.forward_intermediates(x, indices=[0, -1], intermediates_only=True)[0], fields[0])
    for indices in ([7], []):
        with pytest.raises(ValueError, match="block numbers from -5 to 4"):
            model.forward_intermediates(x, indices=indices, intermediates_only=True)
