"""Fine-tuning: API, CLI on a real ImageFolder written here, frozen weights, equivariance, errors."""
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import ROOT, assert_close, kill_after_checkpoint, published
from zoo import create_model
from zoo import from_pretrained
from zoo.checkpoint import load_checkpoint
from zoo.files import read_config
from zoo.records import find_record
from zoo.surgery import freeze_backbone
from zoo.data import rotate


def write_image_folder(root, digits, classes=(0, 1, 7), per_class=24):
    """Real PNG files: rotated copies of genuine MNIST digits, one sub-folder per class."""
    images, _ = digits
    for c in classes:
        (root / f"digit{c}").mkdir(parents=True)
        for k in range(per_class):
            pixels = rotate(images[c:c + 1], 360.0 * k / per_class)[0, 0]
            Image.fromarray((pixels * 255).round().byte().numpy()).save(root / f"digit{c}" / f"{k}.png")
    return root


def finetune(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "zoo.cli.finetune", *map(str, args), "--no-progress",
                             "--threads", "1", "--no-bf16"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_pretrained_with_new_head_keeps_every_other_tensor():
    published("c8_mnist")
    model = create_model("c8_mnist", pretrained=True, num_classes=3)
    reference = create_model("c8_mnist", pretrained=True)
    assert model.num_classes == 3
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        if not name.startswith("head."):
            assert torch.equal(p, q), name
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), reference.forward_features(x))


def test_rgb_adaptation_matches_grey_on_grey_images(digits):
    published("so2_mnist")
    grey = create_model("so2_mnist", pretrained=True)
    rgb = create_model("so2_mnist", pretrained=True, in_channels=3)
    with torch.no_grad():
        assert_close(rgb(digits[0].repeat(1, 3, 1, 1)), grey(digits[0]))


def test_linear_probe_freezes_the_backbone_bitwise(digits):
    model = create_model("c4_mnist", num_classes=3)
    freeze_backbone(model)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    for _ in range(3):
        loss = model(digits[0]).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.state_dict()
    for k, v in before.items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked", "weights", "weight", "bias")):
            assert torch.equal(v, after[k]), k


def test_trainable_blocks_unfreezes_the_last_blocks():
    model = create_model("c4_mnist")
    freeze_backbone(model, trainable_blocks=1)
    last = {id(p) for p in model.blocks[-1].parameters()}
    trainable = {id(p) for n, p in model.named_parameters() if p.requires_grad and n.startswith("blocks")}
    assert trainable == last and last  # the last conv block: its conv and its batch norm


def test_cli_finetunes_an_image_folder_and_the_checkpoint_loads_back(tmp_path, digits):
    published("c4_mnist")
    data = write_image_folder(tmp_path / "digits", digits)
    out = tmp_path / "out"
    finetune("c4_mnist", "--data", data, "--val-size", "12", "--epochs", "3", "--batch-size", "16",
             "--out", out, "--run-dir", tmp_path / "run")
    config = read_config(out)
    assert config["class_names"] == ["digit0", "digit1", "digit7"]
    assert config["parent"] == {"hub_id": "equivariant-zoo/c4_mnist", "revision": find_record("c4_mnist").revision,
                                "folder": "c4_mnist", "weights_sha256": read_config(published("c4_mnist"))["weights_sha256"]}
    assert "base_model: equivariant-zoo/c4_mnist" in (out / "README.md").read_text()
    assert config["architecture"]["num_classes"] == 3
    # the default recipe: the new head at ten times the backbone's peak learning rate, the weight average published
    assert config["training"]["schedule"] == "OneCycleLR(max_lr=0.001, pct_start=0.15), classifier max_lr=0.01"
    assert config["training"]["weight_average"] == "EMA(decay=0.99), published"

    model = from_pretrained(out)
    again = load_checkpoint(out)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
        assert_close(again(x), logits)
        # still exactly C4-invariant after fine-tuning
        assert (model(torch.rot90(x, 1, (2, 3))) - logits).abs().max() < 1e-4 * logits.abs().max()
    assert (out / "README.md").read_text().count("Fine-tuned on digits from `equivariant-zoo/c4_mnist`") == 1


def test_cli_resume_after_kill_matches_an_uninterrupted_run(tmp_path, digits):
    """Killed from outside mid-way (kill -9 once the checkpoint of step 4 of 8 is written), resumed: bitwise the
    same weights."""
    from safetensors.torch import load_file

    data = write_image_folder(tmp_path / "digits", digits)

    def args(name):
        return ["c4_mnist", "--data", data, "--mode", "probe", "--trainable-blocks", "1", "--val-size", "12",
                "--epochs", "2", "--batch-size", "16", "--checkpoint-every", "2", "--run-dir", tmp_path / name / "run",
                "--out", tmp_path / name / "out"]

    finetune(*args("straight"))
    killed = kill_after_checkpoint([sys.executable, "-m", "zoo.cli.finetune", *map(str, args("killed")),
                                    "--no-progress", "--threads", "1", "--no-bf16"], tmp_path / "killed" / "run", 4,
                                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert killed.returncode == -9 and not (tmp_path / "killed" / "out").exists()
    finetune(*args("killed"), "--resume")
    a = load_file(tmp_path / "straight" / "out" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "out" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    refused = finetune(*args("killed"), "--resume", "--batch-size", "8", check=False)
    assert refused.returncode == 1 and "belongs to another run" in refused.stderr


@pytest.mark.parametrize("setup, message", [
    ("empty", "no images found"),
    ("single", "single class"),
    ("unreadable", "cannot read"),
    ("classes", "disagrees with the data, which has 3 classes"),
])
def test_cli_errors(tmp_path, digits, setup, message):
    data = tmp_path / "data"
    extra = []
    if setup == "empty":
        data.mkdir()
    elif setup == "single":
        write_image_folder(data, digits, classes=(3,))
    else:
        write_image_folder(data, digits)
        if setup == "unreadable":
            (data / "digit1" / "broken.png").write_bytes(b"not a png at all")
        else:
            extra = ["--num-classes", "5"]
    result = finetune("c4_mnist", "--data", data, "--mode", "scratch", "--val-size", "2", *extra, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr  # one clear line, not a stack trace


def test_head_lr_trains_the_classifier_at_its_own_rate(tmp_path, digits):
    """--head-lr: the classifier's own peak learning rate; the backbone keeps --lr (here almost 0, so it stays
    put while the head moves)."""
    from zoo.training import TrainConfig, fit

    images, labels = digits
    model = create_model("trivial_mnist", num_classes=10)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = TrainConfig(epochs=2, batch_size=5, lr=1e-9, head_lr=0.1, augment="none", bf16=False)
    fit(model, images, labels, images, labels, config, tmp_path, "head lr", progress=False)
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters()}
    assert moved["head.weight"] > 1e-3
    assert max(v for n, v in moved.items() if not n.startswith("head.")) < 1e-6


@pytest.mark.parametrize("head_lr", [0.0, -1e-3, True])
def test_head_lr_must_be_positive(head_lr):
    from zoo.training import TrainConfig

    with pytest.raises(ValueError, match="head_lr"):
        TrainConfig(head_lr=head_lr)


def fashion_experiment():
    import importlib.util

    spec = importlib.util.spec_from_file_location("finetune_fashion", ROOT / "experiments" / "finetune_fashion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fashion_plan_covers_every_preset_mode_and_budget():
    fashion = fashion_experiment()
    jobs = fashion.plan()
    names = [fashion.run_name(j) for j in jobs]
    assert len(names) == len(set(names))
    cells = {(j["preset"], j["mode"], j["n"]) for j in jobs}
    for preset in fashion.PRESETS:
        for n in fashion.SCHEDULES:
            assert {(preset, "finetune", n), (preset, "scratch", n)} <= cells
            assert ((preset, "probe", n) in cells) == (n in fashion.PROBE_SIZES)
            seeds = sorted(j["seed"] for j in jobs if (j["preset"], j["mode"], j["n"]) == (preset, "finetune", n))
            assert seeds == ([0, 1] if n < 3000 else [0])
    # cheapest first within a seed: a partial grid is whole at the small budgets
    assert [j["seed"] for j in jobs] == sorted(j["seed"] for j in jobs)
    small = fashion.plan(presets=["c8_mnist"], sizes=[100], seeds=[1], modes=["scratch"])
    assert [fashion.run_name(j) for j in small] == ["c8_mnist-scratch-n100-s1"]


def test_fashion_schedule_candidates_stay_out_of_the_table(tmp_path):
    """run --epochs E (a longer schedule, e.g. on a GPU) names its runs apart, records them apart, and publish
    --epochs E takes them; the plan's own epochs change nothing."""
    fashion = fashion_experiment()
    (planned,) = fashion.plan(presets=["c8_mnist"], sizes=[fashion.ALL], modes=["finetune"])
    assert fashion.plan(presets=["c8_mnist"], sizes=[fashion.ALL], modes=["finetune"],
                        epochs=planned["epochs"]) == [planned]
    (longer,) = fashion.plan(presets=["c8_mnist"], sizes=[fashion.ALL], modes=["finetune"], epochs=20)
    assert fashion.run_name(longer) == f"c8_mnist-finetune-n{fashion.ALL}-s0-e20" and longer["epochs"] == 20
    assert fashion.record_path(longer).parent == fashion.SCHEDULE_RECORDS != fashion.record_path(planned).parent
    command = fashion.finetune_command(longer, "/data", tmp_path / "run", device="cuda")
    assert command[:3] == [sys.executable, "-m", "zoo.cli"]  # no .venv needed: a bare GPU machine has none
    assert command[command.index("--epochs") + 1] == "20" and command[command.index("--device") + 1] == "cuda"
    out = tmp_path / fashion.run_name(longer) / "out"
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    assert fashion.finished_runs(tmp_path) == {}
    assert fashion.finished_runs(tmp_path, epochs=20) == {"c8_mnist": out}


def fake_record(preset, mode, n, seed, rotated, upright=0.5, val=0.5, recipe=None):
    return {"preset": preset, "mode": mode, "train_size": n, "seed": seed, "val_accuracy": val,
            "test_rotated_accuracy": rotated, "test_upright_accuracy": upright,
            **({"recipe": recipe} if recipe else {})}


def test_fashion_report_from_records(tmp_path):
    fashion = fashion_experiment()
    records = [fake_record("trivial_mnist", "finetune", 100, 0, 0.50),
               fake_record("trivial_mnist", "finetune", 100, 1, 0.54),
               fake_record("trivial_mnist", "scratch", 100, 0, 0.40),
               fake_record("c8_mnist", "finetune", 100, 0, 0.60, upright=0.61),
               fake_record("c8_mnist", "scratch", 100, 0, 0.55),
               fake_record("c8_mnist", "probe", 1000, 0, 0.30)]
    rotated = fashion.table(records).splitlines()
    assert rotated[0].startswith("| model | mode | N = 100 | N = 300 | N = 1,000 | N = 3,000 | all |")
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line for line in rotated[2:]}
    assert list(rows) == [("trivial_mnist", "finetune"), ("trivial_mnist", "scratch"), ("c8_mnist", "finetune"),
                          ("c8_mnist", "scratch"), ("c8_mnist", "probe")]
    assert "| 52.0% ±2.0 | - | - | - | - |" in rows[("trivial_mnist", "finetune")]  # mean, half the seeds' spread
    assert "|  |  | 30.0% |  |  |" in rows[("c8_mnist", "probe")]  # a probe only where the plan has one
    assert "| 61.0% |" in fashion.table(records, "test_upright_accuracy")
    lead = fashion.lead_table(records).splitlines()
    assert lead[0] == "| lead | model | N = 100 | N = 300 | N = 1,000 | N = 3,000 | all |"
    assert lead[2:] == [
        "| symmetry, fine-tuned | c8_mnist | +8.0 | - | - | - | - |",  # 60% against the plain CNN's 52%
        "| symmetry, scratch | c8_mnist | +15.0 | - | - | - | - |",  # 55% against 40%
        "| pretraining | trivial_mnist | +12.0 | - | - | - | - |",  # 52% fine-tuned against 40% from scratch
        "| pretraining | c8_mnist | +5.0 | - | - | - | - |"]  # 60% against 55%
    out = tmp_path / "figure.png"
    fashion.plot(records, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fashion_report_updates_the_docs_with_whole_budgets_only(tmp_path, monkeypatch):
    import json

    fashion = fashion_experiment()
    monkeypatch.setattr(fashion, "RECORDS", tmp_path)
    written = []
    monkeypatch.setattr(fashion, "plot", lambda records, out=None: None)
    monkeypatch.setattr("zoo.dev.docs.update_readme", lambda key, text: written.append(key))
    for job in fashion.plan(sizes=[100]):
        (tmp_path / f"{fashion.run_name(job)}.json").write_text(json.dumps(
            fake_record(job["preset"], job["mode"], job["n"], job["seed"], 0.5)))
    with pytest.raises(SystemExit, match="runs of the plan have no record yet"):
        fashion.main(["report", "--update"])  # N = 300 and above have no runs
    assert written == []
    fashion.main(["report", "--sizes", "100", "--update"])  # every run at N = 100 has its record
    assert written == ["fashion-rotated", "fashion-lead", "fashion-recipe"]


def test_fashion_recipe_is_chosen_on_validation_not_test():
    fashion = fashion_experiment()
    records = [fake_record(p, "finetune", 1000, 0, rotated=test, val=val, recipe=v)
               for v, val, test in (("base", 0.70, 0.90), ("head10", 0.72, 0.60)) for p in fashion.RECIPE_PRESETS]
    table = fashion.recipe_table(records)
    assert "**72.00%**" in table and "**70.00%**" not in table
