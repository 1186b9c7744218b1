"""Checkpoint folders: what they hold, round trips, and every way a weights file can be wrong."""
import json

import escnn.nn
import pytest
import torch
from safetensors.torch import load_file

from conftest import built_model
from zoo.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint, read_config, save_checkpoint


@pytest.fixture()
def folder(tmp_path):
    model = built_model("c4_mnist").eval()
    model.meta = {"preset": "c4_mnist"}
    save_checkpoint(model, tmp_path / "c4")
    return tmp_path / "c4"


def test_layout_and_contents(folder):
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "exported.safetensors",
                                                        "model.safetensors"]
    state = load_file(folder / WEIGHTS_NAME)
    model = built_model("c4_mnist")
    params = dict(model.named_parameters())
    assert set(params) <= set(state)
    # only parameters and batch-norm statistics: no escnn bases, filters or Fourier matrices
    extra = set(state) - set(params)
    assert extra and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in extra)
    config = read_config(folder)
    assert config["architecture"]["group"] == "c4"
    assert config["num_params"] == sum(p.numel() for p in params.values())
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))


def test_round_trip_gives_identical_logits(folder, digits):
    model = built_model("c4_mnist").eval()
    loaded = load_checkpoint(folder)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(digits[0]), model(digits[0]))


def test_loading_skips_escnn_initialisation(folder, monkeypatch):
    def slow_init(*args, **kwargs):
        raise AssertionError("escnn's default initialisation ran while loading weights")

    monkeypatch.setattr(escnn.nn.init, "generalized_he_init", slow_init)
    load_checkpoint(folder)


def test_loading_into_eval_mode_refreshes_filters(folder, digits):
    """escnn caches expanded filters in eval mode; loaded weights must not be hidden behind stale ones."""
    from zoo import create_model
    from zoo.checkpoint import load_learned_state

    target = create_model("c4_mnist").eval()
    target(digits[0])  # caches filters of the random weights
    load_learned_state(target, load_file(folder / WEIGHTS_NAME))
    with torch.no_grad():
        assert torch.equal(target(digits[0]), load_checkpoint(folder)(digits[0]))


def test_num_classes_drops_only_the_head(folder, caplog):
    model = load_checkpoint(folder, num_classes=4)
    assert model.num_classes == 4
    reference = load_checkpoint(folder)
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        if not name.startswith("head."):
            assert torch.equal(p, q), name
    assert "dropped head.weight and head.bias" in caplog.text


def test_missing_weights(folder):
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match="download the checkpoint again"):
        load_checkpoint(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(tmp_path / "nowhere")


def test_truncated_weights(folder):
    data = (folder / WEIGHTS_NAME).read_bytes()
    (folder / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(folder)


def test_not_safetensors(folder):
    import hashlib

    garbage = b"PK\x03\x04 this is a zip or a pickle, not safetensors"
    (folder / WEIGHTS_NAME).write_bytes(garbage)
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["weights_sha256"] = hashlib.sha256(garbage).hexdigest()  # consistent hash, wrong format
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_checkpoint(folder)


def test_config_not_json(folder):
    (folder / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(folder)


def test_weights_of_another_preset(folder, tmp_path):
    other = built_model("c8_mnist")
    other.meta = {"preset": "c8_mnist"}
    save_checkpoint(other, tmp_path / "c8")
    (folder / WEIGHTS_NAME).write_bytes((tmp_path / "c8" / WEIGHTS_NAME).read_bytes())
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["weights_sha256"] = read_config(tmp_path / "c8")["weights_sha256"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="another preset"):
        load_checkpoint(folder)
    with pytest.raises(ValueError, match="made for preset 'c8_mnist', not 'c4_mnist'"):
        load_checkpoint(tmp_path / "c8", expect_preset="c4_mnist")
