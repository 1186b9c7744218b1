"""Every published checkpoint under weights/: schema, self-consistency and reference logits."""
import functools
import json

import pytest
import torch

from conftest import ROOT, assert_close, loaded
from zoo.card import model_card
from zoo.records import tag_dataset
from zoo.files import read_config, sha256_file
from zoo.registry import PRESETS, WEIGHT_TAGS, create_model, weights_folder

FOLDERS = sorted(p for p in (ROOT / "weights").iterdir() if p.is_dir()) if (ROOT / "weights").is_dir() else []
REQUIRED_TRAINING = {"epochs", "batch_size", "optimizer", "schedule", "seed", "wall_time_min", "machine",
                     "augmentation", "images_per_s", "command"}
REQUIRED_METRICS = {"val_accuracy", "test_upright_accuracy", "test_rotated_accuracy", "profile_min_accuracy",
                    "profile_max_accuracy", "profile"}


@functools.lru_cache(maxsize=None)
def preset_architecture(name: str, num_classes: int) -> dict:
    """The architecture the preset builds (so a checkpoint trained with --widths cannot pose as it)."""
    return create_model(name, num_classes=num_classes, initialize=False).arch.to_dict()


def test_every_preset_has_published_weights():
    missing = [n for n in PRESETS if not (weights_folder(n) / "model.safetensors").is_file()]
    assert not missing, f"presets without weights/<name>/model.safetensors: {missing}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_schema(folder):
    assert {"model.safetensors", "config.json", "README.md", "exported.safetensors"} <= {p.name for p in folder.iterdir()}
    config = read_config(folder)
    assert config["preset"] in PRESETS
    assert config["weights_tag"] in WEIGHT_TAGS
    assert weights_folder(config["preset"], config["weights_tag"]) == folder
    assert config["architecture"] == preset_architecture(config["preset"], config["architecture"]["num_classes"])
    assert len(config["class_names"]) == config["architecture"]["num_classes"]
    assert {"channels", "size", "value_range", "normalization"} <= set(config["input"])
    assert {"torch", "escnn", "safetensors"} <= set(config["versions"])
    assert REQUIRED_TRAINING <= set(config["training"]), REQUIRED_TRAINING - set(config["training"])
    assert REQUIRED_METRICS <= set(config["metrics"]), REQUIRED_METRICS - set(config["metrics"])
    assert config["metrics"]["test_images"] == 10000
    assert len(config["metrics"]["profile"]) == 24
    assert "rotated" in config["protocol"]
    assert sha256_file(folder / "model.safetensors") == config["weights_sha256"]
    assert sha256_file(folder / "exported.safetensors") == config["export"]["sha256"]
    model = loaded(config["preset"], config["weights_tag"])
    assert config["num_params"] == sum(p.numel() for p in model.parameters())
    card = (folder / "README.md").read_text()
    assert config["preset"] in card and config["weights_sha256"] in card
    assert f"{100 * config['metrics']['test_rotated_accuracy']:.2f}" in card or \
        str(config["metrics"]["test_rotated_accuracy"]) in card
    assert card == model_card(config), ("stale model card: regenerate the cards with .venv/bin/zoo publish "
                                        "--write-cards, then the records with --write-records")
    # format 2 stores expanded filters, |G| times the coefficients (c8: 4 MB, c8_wide: 9 MB); this guard keeps
    # growth visible
    assert (folder / "model.safetensors").stat().st_size < 10_000_000


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_reference_logits(folder, digits):
    """One source of reference logits: those config.json recorded when the checkpoint was written (its
    self-check). Both loads reproduce them ten times tighter than the load's own check, and get the digits right."""
    from zoo.exported import load_exported
    from zoo.probes import probe_images

    expected = torch.tensor(read_config(folder)["self_check"]["logits"])
    with torch.no_grad():
        config = read_config(folder)
        for model in (loaded(config["preset"], config["weights_tag"]), load_exported(folder)):
            assert_close(model(probe_images()), expected, what=f"{folder.name}'s logits and its config.json")
    if tag_dataset(config["weights_tag"]) != "MNIST":  # clothes weights read digits as clothes: nothing to count
        return
    # The ten upright probes: rotated-trained weights get at least 9 right; the upright ones at least 7.
    right = (expected[:10].argmax(1) == digits[1]).sum().item()
    assert right >= (7 if folder.name.endswith("-upright") else 9), f"{folder.name}: {right}/10 digits right"
