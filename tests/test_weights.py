"""Every published checkpoint under weights/: schema, self-consistency and golden logits."""
import functools
import json

import pytest
import torch

from conftest import ROOT, assert_close
from zoo.card import model_card
from zoo.checkpoint import load_checkpoint
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
    return create_model(name, num_classes=num_classes, initialize=False).arch


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
    model = load_checkpoint(folder)
    assert config["num_params"] == sum(p.numel() for p in model.parameters())
    card = (folder / "README.md").read_text()
    assert config["preset"] in card and config["weights_sha256"] in card
    assert f"{100 * config['metrics']['test_rotated_accuracy']:.2f}" in card or \
        str(config["metrics"]["test_rotated_accuracy"]) in card
    assert card == model_card(config), ("stale model card: regenerate it with zoo.checkpoint.update_metrics(folder, {}) "
                                     "(zoo.evaluate --update does)")
    # format 2 stores expanded filters, |G| times the coefficients (c8: 4 MB, c8_wide: 9 MB); this guard keeps
    # growth visible
    assert (folder / "model.safetensors").stat().st_size < 10_000_000


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_golden_logits(folder, digits):
    golden_path = ROOT / "tests" / "golden" / f"{folder.name}.json"
    regenerate = f"if the weights changed on purpose, run: .venv/bin/python tests/make_golden.py {folder.name}"
    assert golden_path.is_file(), f"no golden logits for {folder.name}; {regenerate}"
    golden = json.loads(golden_path.read_text())
    assert golden["weights_sha256"] == read_config(folder)["weights_sha256"], f"weights changed; {regenerate}"
    with torch.no_grad():
        logits = load_checkpoint(folder)(digits[0])
    expected = torch.tensor(golden["logits"])
    assert_close(logits, expected, what=f"{folder.name}'s logits and tests/golden ({regenerate})")
    # The ten upright digits: published (rotated) weights get at least 9 right; the quarter-epoch upright
    # checkpoints (86-96% on the upright test set) at least 7.
    right = (logits.argmax(1) == digits[1]).sum().item()
    assert right >= (7 if folder.name.endswith("-upright") else 9), f"{folder.name}: {right}/10 digits right"
