"""The boundary bugs of the "house a newcomer reads at a glance" issue, each pinned by a test."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, built_model, published
from zoo.cli import finetune, invariance, train
from zoo.convert import export
from zoo.training import TrainConfig, fit


def test_from_pretrained_takes_architecture_keywords_and_refuses_unknown_ones(tmp_path):
    """huggingface_hub's mixin (0.23) passed proxies= and resume_download= on to the model: a TypeError deep
    inside. Download keywords are named ones now; anything else must be an architecture argument."""
    from zoo import from_pretrained, save_pretrained

    save_pretrained(built_model("trivial_mnist"), tmp_path / "repo")
    model = from_pretrained(tmp_path / "repo", num_classes=4, in_channels=3)
    assert (model.num_classes, model.in_channels) == (4, 3)
    with pytest.raises(TypeError, match=r"unknown from_pretrained keyword\(s\) \['proxies'\].*revision, cache_dir"):
        from_pretrained(tmp_path / "repo", proxies=None)


def test_importing_the_model_does_not_import_huggingface_hub():
    code = "import sys, zoo.model, zoo.checkpoint; print('huggingface_hub' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("argv, message", [
    (["c4_mnist", "--weights", "imagenet"], "invalid choice: 'imagenet'"),
    (["c4_mnist", "--val-size", "0"], "expected a positive whole number, got 0"),
    (["c4_mnist", "--checkpoint-every", "0"], "expected a positive whole number, got 0"),
    (["c4_mnist", "--epochs", "-1"], "expected a positive number"),
    (["c16_mnist"], "unknown model 'c16_mnist'"),
    (["c4_mnist", "--device", "tpu"], "expected cpu, cuda or cuda:N, got 'tpu'"),
    (["c4_mnist", "--device", "cuda:64"], "CUDA GPUs visible to torch; train with --device cpu"),
    (["c4_mnist", "--widths", "32,0,64"], "expected comma-separated positive integers, got '32,0,64'"),
    (["c4_mnist", "--translate", "-1"], "expected a finite number >= 0, got -1.0"),
    (["c4_mnist", "--scale", "1"], "expected a number in [0, 1), got 1.0"),
    (["c4_mnist", "--val-every", "0"], "expected a positive whole number, got 0"),
    (["c4_mnist", "--weights", "rotated-12k", "--train-size", "1000"], "trains on the first 12000 images"),
    (["c4_mnist", "--weights", "upright"], "--weights upright is trained without rotations: add --augment none"),
    (["c4_mnist", "--weights", "rotated-12k", "--augment", "none"], "drop --augment none"),
    (["c4_mnist", "--weights", "fashion"], "is trained on FashionMNIST, not MNIST: make it with zoo finetune"),
    (["c4_mnist", "--init", "rotated", "--widths", "8,8,8,8,8"], "--widths builds another architecture"),
])
def test_train_rejects_bad_arguments_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main([*argv, "--data-root", "/nonexistent"])  # rejected before the data would be read
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_invariance_rejects_zero_images(capsys):
    with pytest.raises(SystemExit):
        invariance.main(["--images", "0", "--data-root", "/nonexistent"])
    assert "expected a positive whole number, got 0" in capsys.readouterr().err


def test_finetune_keeps_the_batch_size_it_is_given_and_checks_trainable_blocks(capsys):
    base = ["c4_mnist", "--data", "folder", "--train-size", "500"]
    assert finetune.parse_args(base).batch_size == 64  # the default for small labelled sets
    assert finetune.parse_args([*base, "--batch-size", "32"]).batch_size == 32
    assert finetune.parse_args([*base, "--batch-size", "200"]).batch_size == 200
    with pytest.raises(SystemExit):
        finetune.parse_args([*base, "--trainable-blocks", "2"])  # mode finetune trains every block anyway
    assert "--mode probe only" in capsys.readouterr().err
    from zoo.surgery import freeze_backbone

    with pytest.raises(ValueError, match="from 0 to 5"):
        freeze_backbone(built_model("c4_mnist"), 6)
    with pytest.raises(ValueError, match="from 0 to 5"):
        freeze_backbone(built_model("c4_mnist"), -1)


def test_export_shares_no_tensor_with_its_source():
    model = built_model("so2_mnist").eval()
    exported = export(model)
    ours = {t.data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    theirs = {t.data_ptr() for t in list(exported.parameters()) + list(exported.buffers())}
    assert not ours & theirs
    with torch.no_grad():
        exported.head.weight.add_(1)
    assert not torch.equal(exported.head.weight, model.head.weight)


def test_torch_hub_export_needs_no_escnn(tmp_path):
    """hubconf listed escnn as a dependency, so torch.hub refused export=True on a machine without it."""
    published("c4_mnist")
    code = f"""
import sys, torch
sys.modules["escnn"] = None  # as if escnn were not installed
model = torch.hub.load({str(ROOT)!r}, "c4_mnist", source="local", trust_repo=True, export=True)
print(model(torch.zeros(1, 1, 28, 28)).shape)
try:
    torch.hub.load({str(ROOT)!r}, "c4_mnist", source="local", trust_repo=True)
except ImportError as e:
    print("ImportError:", e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "torch.Size([1, 10])"
    assert lines[1].startswith("ImportError: the escnn model needs escnn") and "export=True" in lines[1]


def _tiny_data(n=96):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_resume_refuses_another_run(tmp_path):
    images, labels = _tiny_data()
    config = TrainConfig(epochs=1, batch_size=16, bf16=False, checkpoint_every=2)
    fit(built_model("trivial_mnist"), images, labels, images[:16], labels[:16], config, tmp_path, "a",
        progress=False, identity={"preset": "trivial_mnist"})
    for changed, identity, what in [(TrainConfig(epochs=1, batch_size=32, bf16=False), {"preset": "trivial_mnist"},
                                     "batch_size: 16 then, 32 now"),
                                    (TrainConfig(epochs=2, batch_size=16, bf16=False), {"preset": "trivial_mnist"},
                                     "total_steps: 6 then, 12 now"),
                                    (config, {"preset": "c4_mnist"}, "preset: 'trivial_mnist' then, 'c4_mnist' now")]:
        with pytest.raises(ValueError, match=f"belongs to another run.*{what}"):
            fit(built_model("trivial_mnist"), images, labels, images[:16], labels[:16], changed, tmp_path, "b",
                resume=True, progress=False, identity=identity)


def test_precision_follows_the_cpu(monkeypatch, tmp_path):
    """bfloat16 by default ran 16x slower on a CPU without native bfloat16: now it is chosen only where it helps."""
    import zoo.precision

    images, labels = _tiny_data(32)
    model = built_model("trivial_mnist")
    monkeypatch.setattr(zoo.precision, "native_bf16", lambda: False)
    assert zoo.precision.choose_precision(model, images, labels) == \
        (False, "auto: float32 (this CPU has no native bfloat16: no AMX, no AVX512-BF16)")
    monkeypatch.setattr(zoo.precision, "native_bf16", lambda: True)
    for fp32_time, bf16_time, expected in [(2.0, 1.0, True), (1.0, 2.0, False)]:
        monkeypatch.setattr(zoo.precision, "_step_seconds",
                            lambda m, x, y, bf16, a=fp32_time, b=bf16_time: b if bf16 else a)
        chosen, why = zoo.precision.choose_precision(model, images, labels)
        assert chosen is expected and why.startswith(f"auto: {'bfloat16' if expected else 'float32'}")
    # the run records what it chose
    monkeypatch.setattr(zoo.precision, "native_bf16", lambda: False)
    state = fit(model, images, labels, images[:16], labels[:16], TrainConfig(epochs=1, batch_size=16), tmp_path,
                "auto", progress=False)
    assert state["config"]["bf16"] is False and state["precision"].startswith("auto: float32")


def test_timing_the_precision_leaves_the_model_as_it_was(monkeypatch):
    import zoo.precision

    monkeypatch.setattr(zoo.precision, "native_bf16", lambda: True)
    from zoo.checkpoint import learned_state

    model = built_model("c4_mnist")
    before = learned_state(model)
    zoo.precision.choose_precision(model, *_tiny_data(16))
    after = learned_state(model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_recipe_records_the_schedule_the_run_used(tmp_path):
    from zoo.training import recipe

    images, labels = _tiny_data(32)
    config = TrainConfig(epochs=1, batch_size=16, bf16=False, pct_start=0.3, lr=0.01)
    state = fit(built_model("trivial_mnist"), images, labels, images[:16], labels[:16], config, tmp_path, "r",
                progress=False)
    written = recipe(state, "tiny", ["x"])
    assert written["schedule"] == "OneCycleLR(max_lr=0.01, pct_start=0.3)"
    assert written["bf16_autocast"] is False and written["precision"] == "chosen: float32"
    json.dumps(written)  # config.json can hold it
    assert Path(tmp_path / "resume.safetensors").is_file()
    assert written["device"] == "cpu"


def test_validation_every_n_steps_and_after_the_last(tmp_path):
    """--val-every: short epochs of small --train-size runs are not validated after each of them."""
    images, labels = _tiny_data(48)
    config = TrainConfig(epochs=3, batch_size=16, bf16=False, val_every=4)  # 3 steps an epoch, 9 in all
    state = fit(built_model("trivial_mnist"), images, labels, images[:16], labels[:16], config, tmp_path, "v",
                progress=False)
    assert [s for s, _ in state["val_history"]] == [4, 8, 9]
    every_epoch = fit(built_model("trivial_mnist"), images, labels, images[:16], labels[:16],
                      TrainConfig(epochs=2, batch_size=16, bf16=False), tmp_path / "e", "e", progress=False)
    assert [s for s, _ in every_epoch["val_history"]] == [3, 6]
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="val_every an int >= 0"):
            TrainConfig(val_every=bad)


def test_jitter_needs_the_rotation_augmentation_and_is_recorded():
    from zoo.training import augmentation

    for change in ({"translate": 2}, {"centre": True}):
        with pytest.raises(ValueError, match="use them with --augment rotate"):
            TrainConfig(augment="none", **change)
    assert augmentation(TrainConfig(centre=True)) == ("uniform random rotation in [0, 360) per image and epoch, "
                                                      "about the ink's centre of mass, brought to the centre")
    assert augmentation(TrainConfig()) == "uniform random rotation in [0, 360) per image and epoch"
    assert augmentation(TrainConfig(translate=2, scale=0.1)) == ("uniform random rotation in [0, 360) per image "
                                                                "and epoch, shift uniform in [-2, 2] pixels per "
                                                                "axis, scale uniform in [0.9, 1.1]")


def test_jitter_leaves_the_epoch_plan_alone_and_stays_in_range():
    """Runs without jitter see the batches and angles they saw before the option existed."""
    from zoo.training import epoch_jitter, epoch_plan

    order, angles = epoch_plan(3, 5, 1000)
    g = torch.Generator().manual_seed(3 * 100003 + 5)  # the plan as it was drawn before jitter existed
    assert torch.equal(order, torch.randperm(1000, generator=g))
    assert torch.equal(angles, torch.rand(1000, generator=g, dtype=torch.float64) * 360)
    shift, scale = epoch_jitter(3, 5, 1000, translate=2.0, scale=0.1)
    assert shift.shape == (1000, 2) and shift.abs().max() <= 2 and shift.abs().max() > 1.9
    assert scale.min() >= 0.9 and scale.max() <= 1.1 and (scale.max() - scale.min()) > 0.19
    assert torch.equal(shift, epoch_jitter(3, 5, 1000, 2.0, 0.1)[0]) and not torch.equal(
        shift, epoch_jitter(3, 6, 1000, 2.0, 0.1)[0])


def test_trained_on_names_the_gpu_or_counts_the_cpu_threads():
    from zoo.training import trained_on

    assert trained_on({"device": "cuda (NVIDIA H100 80GB HBM3)", "threads_per_process": 2}) == "NVIDIA H100 80GB HBM3"
    assert trained_on({"device": "cpu", "threads_per_process": 1, "processes": 2}) == "2 CPU threads"
    assert trained_on({"threads_per_process": 1}) == "1 CPU thread"  # recorded before runs named their device


def test_weight_average_is_the_warmed_up_exponential_average(tmp_path):
    """The published weights of an --ema run are the average the recipe describes, and validation reports both."""
    from zoo.checkpoint import learned_state
    from zoo.metrics import accuracy
    from zoo.training import WeightAverage

    model = built_model("trivial_mnist")
    average = WeightAverage(model, decay=0.5)
    expected = {k: v.float() for k, v in learned_state(model).items() if v.is_floating_point()}
    for n in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(model)
        decay = min(0.5, (1 + n) / (10 + n))  # 2/11, 3/12, 4/13: the warm-up is below 0.5 for three updates
        current = learned_state(model)
        expected = {k: decay * v + (1 - decay) * current[k].float() for k, v in expected.items()}
    for k, v in expected.items():
        torch.testing.assert_close(average.state[k], v, rtol=1e-5, atol=1e-6 * v.abs().max().item())
    raw = learned_state(model)
    with average.swapped_in(model):
        assert not torch.equal(learned_state(model)["head.weight"], raw["head.weight"])
    assert all(torch.equal(v, learned_state(model)[k]) for k, v in raw.items())  # restored

    images, labels = _tiny_data(64)
    config = TrainConfig(epochs=2, batch_size=16, bf16=False, ema=0.9, label_smoothing=0.1, checkpoint_every=2)
    trained = built_model("trivial_mnist")
    state = fit(trained, images, labels, images[:32], labels[:32], config, tmp_path, "ema", progress=False)
    assert [s for s, _ in state["val_history"]] == [s for s, _ in state["val_history_raw"]] == [4, 8]
    assert state["val_history"][-1][1] == accuracy(trained, images[:32], labels[:32])  # the average is published
    from safetensors.torch import load_file
    resume = load_file(tmp_path / "resume.safetensors")
    published = learned_state(trained)
    assert not torch.equal(resume["model.head.weight"], published["head.weight"])  # not the raw weights
    torch.testing.assert_close(resume["ema.head.weight"], published["head.weight"])


def test_resume_checks_the_recipe_and_accepts_runs_from_before_it_existed(tmp_path):
    from zoo.training import check_resumable

    config = TrainConfig(epochs=1, batch_size=16, bf16=False)
    identity = {"preset": "trivial_mnist"}
    old = {"config": {k: getattr(config, k) for k in ("epochs", "batch_size", "lr", "weight_decay", "pct_start",
                                                        "seed", "augment", "bf16")},
           "identity": identity, "total_steps": 6}
    check_resumable(old, config, identity, 6, tmp_path)  # no label_smoothing or ema recorded: the defaults
    for changed, what in [({"ema": 0.999}, "ema: 0.0 then, 0.999 now"),
                          ({"label_smoothing": 0.1}, "label_smoothing: 0.0 then, 0.1 now"),
                          ({"translate": 2.0}, "translate: 0.0 then, 2.0 now"),
                          ({"scale": 0.1}, "scale: 0.0 then, 0.1 now")]:
        with pytest.raises(ValueError, match=f"belongs to another run.*{what}"):
            check_resumable(old, TrainConfig(epochs=1, batch_size=16, bf16=False, **changed), identity, 6, tmp_path)
