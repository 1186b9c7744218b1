"""Checkpoint folders: what they hold, round trips, and every way a weights file can be wrong."""
import json

import escnn.nn
import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_close, built_model
from zoo.checkpoint import load_checkpoint, save_checkpoint
from zoo.files import CONFIG_NAME, WEIGHTS_NAME, CheckpointInfo, read_config


@pytest.fixture()
def folder(tmp_path):
    model = built_model("c4_mnist").eval()
    model.meta = CheckpointInfo(preset="c4_mnist")
    save_checkpoint(model, tmp_path / "c4")
    return tmp_path / "c4"


def test_layout_and_contents(folder):
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "exported.safetensors",
                                                        "model.safetensors"]
    state = load_file(folder / WEIGHTS_NAME)
    model = built_model("c4_mnist")
    params = dict(model.named_parameters())
    convs = {n for n, m in model.named_modules() if isinstance(m, escnn.nn.R2Conv)}
    # every convolution as its expanded filter (basis-free), never as escnn coefficients
    assert {f"{n}.filter" for n in convs} <= set(state)
    assert not {f"{n}.weights" for n in convs} & set(state)
    for n in convs:
        conv = dict(model.named_modules())[n]
        assert state[f"{n}.filter"].shape == (conv.out_type.size, conv.in_type.size, conv.kernel_size,
                                              conv.kernel_size)
    # the other parameters and batch-norm statistics; no bases or Fourier matrices
    assert {n for n in params if not n.endswith(".weights")} <= set(state)
    extra = set(state) - set(params) - {f"{n}.filter" for n in convs}
    assert extra and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in extra)
    config = read_config(folder)
    assert config["format_version"] == 3
    assert config["architecture"]["group"] == "c4"
    assert config["num_params"] == sum(p.numel() for p in params.values())
    assert len(config["self_check"]["logits"]) == 20 and config["self_check"]["rtol"] > 0
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))


def test_round_trip_gives_identical_logits(folder, digits):
    model = built_model("c4_mnist").eval()
    loaded = load_checkpoint(folder)
    assert not loaded.training
    with torch.no_grad():
        assert_close(loaded(digits[0]), model(digits[0]))


def test_loading_skips_escnn_initialisation(folder, monkeypatch):
    def slow_init(*args, **kwargs):
        raise AssertionError("escnn's default initialisation ran while loading weights")

    monkeypatch.setattr(escnn.nn.init, "generalized_he_init", slow_init)
    load_checkpoint(folder)


def test_loading_into_eval_mode_refreshes_filters(folder, digits):
    """escnn caches expanded filters in eval mode; loaded weights must not be hidden behind stale ones."""
    from zoo import create_model
    from zoo.checkpoint import load_portable_state

    target = create_model("c4_mnist").eval()
    target(digits[0])  # caches filters of the random weights
    load_portable_state(target, load_file(folder / WEIGHTS_NAME))
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
    other.meta = CheckpointInfo(preset="c8_mnist")
    save_checkpoint(other, tmp_path / "c8")
    (folder / WEIGHTS_NAME).write_bytes((tmp_path / "c8" / WEIGHTS_NAME).read_bytes())
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["weights_sha256"] = read_config(tmp_path / "c8")["weights_sha256"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="another preset"):
        load_checkpoint(folder)
    with pytest.raises(ValueError, match="made for preset 'c8_mnist', not 'c4_mnist'"):
        load_checkpoint(tmp_path / "c8", expect_preset="c4_mnist")


def _rewrite(folder, state=None, **config_changes):
    """Replace the weights and/or config entries of a checkpoint folder, keeping its sha256 consistent."""
    import hashlib

    from safetensors.torch import save_file

    config = json.loads((folder / CONFIG_NAME).read_text())
    if state is not None:
        save_file(state, folder / WEIGHTS_NAME)
        config["weights_sha256"] = hashlib.sha256((folder / WEIGHTS_NAME).read_bytes()).hexdigest()
    config.update(config_changes)
    (folder / CONFIG_NAME).write_text(json.dumps(config))


def test_self_check_refuses_logits_that_do_not_match(folder):
    from zoo.exported import load_exported
    from zoo.probes import SelfCheckError

    logits = read_config(folder)["self_check"]["logits"]
    logits[3][4] += 0.05 * max(abs(v) for row in logits for v in row)  # 5% of the logit scale on one probe
    _rewrite(folder, self_check={**read_config(folder)["self_check"], "logits": logits})
    for load in (load_checkpoint, load_exported):
        with pytest.raises(SelfCheckError, match=rf"{folder}.*largest difference .* tolerance .*Download"):
            load(folder)


def test_self_check_margin_is_float_rounding(folder):
    """The reference logits are reproduced far inside the tolerance: by the escnn model and by the export."""
    from zoo.exported import load_exported
    from zoo.probes import self_check

    config = read_config(folder)
    for model in (load_checkpoint(folder), load_exported(folder)):
        margin = self_check(model, config, str(folder), 1)
        assert margin["max_diff"] < 0.01 * margin["tolerance"], margin


def test_missing_self_check_is_refused(folder):
    from zoo.probes import SelfCheckError

    config = json.loads((folder / CONFIG_NAME).read_text())
    del config["self_check"]
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(SelfCheckError, match="no self_check reference logits"):
        load_checkpoint(folder)


def test_filter_outside_the_kernel_space_is_refused(folder):
    """A filter that no C4-equivariant layer can apply (here: random numbers) is not silently projected."""
    state = load_file(folder / WEIGHTS_NAME)
    state["blocks.1.conv.filter"] = torch.randn_like(state["blocks.1.conv.filter"])
    _rewrite(folder, state)
    with pytest.raises(ValueError, match=r"blocks.1.conv: the stored filter is not an equivariant filter"):
        load_checkpoint(folder)


def test_coefficients_in_a_checkpoint_are_refused(folder):
    from zoo.checkpoint import learned_state

    _rewrite(folder, learned_state(built_model("c4_mnist")))  # escnn coefficients under the filters' label
    with pytest.raises(ValueError, match=r"missing: \['blocks.0.conv.filter'.*unexpected: \['blocks.0.conv.weights'"):
        load_checkpoint(folder)


def test_other_format_versions_are_refused_with_what_to_do(folder):
    from zoo.exported import load_exported

    _rewrite(folder, format_version=2)
    for load in (load_checkpoint, load_exported):
        with pytest.raises(ValueError, match=r"format-2 checkpoint.*zoo upgrade"):
            load(folder)
    _rewrite(folder, format_version=4)
    with pytest.raises(ValueError, match="format_version 4.*upgrade equivariant-zoo"):
        load_checkpoint(folder)
    _rewrite(folder, format_version=1)
    with pytest.raises(ValueError, match="format 1 is no longer read"):
        load_checkpoint(folder)


def _as_format_2(folder):
    """The folder as the zoo wrote it before blocks: tensors named by their layer's position (features.<j>)."""
    from zoo.cli.upgrade import format2_names, rename

    model = load_checkpoint(folder)
    back = {new: old for old, new in format2_names(model).items()}
    _rewrite(folder, rename(load_file(folder / WEIGHTS_NAME), back), format_version=2)


def test_upgrade_renames_a_format_2_folder(folder, digits):
    from zoo.cli.upgrade import main as upgrade_main

    expected = load_checkpoint(folder)(digits[0]).detach()
    _as_format_2(folder)
    assert any(k.startswith("features.4.") for k in load_file(folder / WEIGHTS_NAME))
    exported_bytes = (folder / "exported.safetensors").read_bytes()
    upgrade_main([str(folder)])
    assert read_config(folder)["format_version"] == 3
    assert (folder / "exported.safetensors").read_bytes() == exported_bytes
    assert_close(load_checkpoint(folder)(digits[0]), expected)
    upgrade_main([str(folder)])  # a second run leaves format 3 alone


def test_upgrade_writes_nothing_when_the_self_check_fails(folder):
    from zoo.cli.upgrade import upgrade

    _as_format_2(folder)
    state = load_file(folder / WEIGHTS_NAME)
    bias = next(k for k in state if k.startswith("features.1.") and k.endswith(".bias"))
    state[bias] = state[bias] + 1.0  # not the function whose logits config.json recorded
    _rewrite(folder, state)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="does not reproduce the logits"):
        upgrade(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_upgrade_refuses_weights_its_architecture_does_not_imply_before_building(folder, monkeypatch):
    import zoo.cli.upgrade as upgrade_command

    _as_format_2(folder)
    state = load_file(folder / WEIGHTS_NAME)
    del state[next(k for k in state if k.startswith("features.1."))]
    _rewrite(folder, state)
    monkeypatch.setattr(upgrade_command, "EquivariantCNN", None)  # building a module would fail the test
    with pytest.raises(ValueError, match="does not hold the tensors its architecture implies"):
        upgrade_command.upgrade(folder)


def test_a_config_that_contradicts_itself_is_refused(folder):
    _rewrite(folder, preset="so2_mnist")  # a c4 architecture under the name of the SO(2) preset
    with pytest.raises(ValueError, match="contradicts itself: preset 'so2_mnist' is a so2 network"):
        load_checkpoint(folder)
    _rewrite(folder, preset="c4_mnist", class_names=["a", "b"])
    with pytest.raises(ValueError, match="contradicts itself: 2 class names for 10 classes"):
        load_checkpoint(folder)


def test_keywords_are_checked_before_anything_is_read(folder):
    (folder / WEIGHTS_NAME).write_bytes(b"not read")
    with pytest.raises(TypeError, match=r"unknown load_checkpoint keyword\(s\) \['in_chanels'\]"):
        load_checkpoint(folder, in_chanels=3)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        load_checkpoint(folder, in_channels=0)


def test_config_is_a_typed_description(folder):
    """config.json reads into a CheckpointInfo and back unchanged; a key this zoo does not know is refused."""
    config = read_config(folder)
    info = CheckpointInfo.from_dict(config)
    assert info.to_dict() == config and list(info.to_dict()) == list(config)
    assert load_checkpoint(folder).meta == info and info.architecture["group"] == "c4"
    _rewrite(folder, weigths_tag="rotated")
    with pytest.raises(ValueError, match=r"keys this zoo does not know \(\['weigths_tag'\]\)"):
        load_checkpoint(folder)


def test_an_interrupted_upgrade_is_finished_by_running_it_again(folder, digits):
    """Stopped after the renamed weights were written and before config.json was: the next run finishes it."""
    from safetensors.torch import save_file

    from zoo.cli.upgrade import format2_names, rename, upgrade
    from zoo.model import EquivariantCNN

    expected = load_checkpoint(folder)(digits[0]).detach()
    _as_format_2(folder)
    model = EquivariantCNN(**read_config(folder)["architecture"], initialize=False)
    save_file(rename(load_file(folder / WEIGHTS_NAME), format2_names(model)), folder / WEIGHTS_NAME)  # config: old
    assert upgrade(folder) is not None and read_config(folder)["format_version"] == 3
    assert_close(load_checkpoint(folder)(digits[0]), expected)
