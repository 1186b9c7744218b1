"""Commands and measurements that had no test of their own: the benchmark, the invariance measurement,
fine-tuning on a torchvision dataset, evaluate's publishing path, and the FLOP count."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import ROOT, built_model, published, requires

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def test_bench_runs_and_prints_its_table(capsys):
    from zoo.cli import bench

    rows = bench.main(["trivial_mnist", "--no-compile", "--no-cold-start", "--threads", "1", "--rounds", "1",
                       "--seconds", "0.01", "--bf16", "yes"])
    (row,) = rows
    assert row["model"] == "trivial_mnist" and row["params"] == 65_354 and row["ref_params"] > 0
    assert all(row[k] > 0 for k in ("train_fp32", "train_bf16", "ref_train_fp32", "infer_escnn", "infer_export"))
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| trivial_mnist |")]
    assert len(table) == 1 and table[0].count("|") == 17


def test_bench_references_have_the_exported_convolutions():
    """Inference is compared with a plain CNN as deployed (batch norm folded: a conv with a bias, then ELU),
    training with one that keeps its batch norm; both have the exported model's convolutions."""
    from torch import nn

    from zoo.cli import bench
    from zoo.convert import export

    model = built_model("so2_mnist")
    exported = export(model)
    inference, training = bench.references(model, exported)

    def convs(m):
        return [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in m.modules()
                if isinstance(c, nn.Conv2d)]

    assert convs(inference) == convs(training) == convs(exported) and len(convs(exported)) == 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in inference.modules())
    assert all(c.bias is not None for c in inference.modules() if isinstance(c, nn.Conv2d))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in training.modules()) == 5
    x = torch.rand(2, 1, 28, 28)
    assert inference.eval()(x).shape == training.eval()(x).shape == (2, 10)


def test_count_mflops_is_the_convolutions_pools_and_head():
    """The plain CNN at 28x28: 2 * c_in * c_out * k^2 * H_out * W_out per convolution, 16 taps per channel for each
    stride-2 blur pool (4x4 on even sizes), and the head: 25,064,192 floating-point operations."""
    from zoo.convert import count_mflops

    convs = [(1, 16, 7, 28), (16, 32, 5, 14), (32, 32, 5, 14), (32, 64, 5, 7), (64, 64, 3, 7)]
    flops = sum(2 * c_in * c_out * k * k * size * size for c_in, c_out, k, size in convs)
    flops += 2 * 16 * 16 * 14 * 14 + 2 * 32 * 16 * 7 * 7 + 2 * 64 * 10  # blur pools after blocks 1 and 3, head
    assert count_mflops(built_model("trivial_mnist")) == pytest.approx(flops / 1e6, rel=1e-9)
    assert count_mflops(built_model("c4_mnist"), size=56) == pytest.approx(4 * count_mflops(built_model("c4_mnist")),
                                                                          rel=0.01)


def test_invariance_measure_tells_exact_from_learned_invariance(digits):
    from zoo.invariance import measure

    c4 = measure(built_model("c4_mnist").eval(), digits[0])
    plain = measure(built_model("trivial_mnist").eval(), digits[0])
    assert c4["rot90_28"] < 1e-4 and c4["rot90_29"] < 1e-4  # exact: float rounding
    assert plain["rot90_28"] > 1e-2 and c4["flip"] > 1e-3  # no symmetry; C4 has no flips
    assert c4["worst_angle"] % 90 != 0 and 0 <= c4["prediction_kept_at_worst"] <= 1


@pytest.mark.slow
@requires(FASHION.is_dir(), "Fashion-MNIST", "apt-get install dataset-fashion-mnist")
def test_finetune_on_a_torchvision_dataset(tmp_path):
    from zoo.cli import finetune
    from zoo.files import read_config

    published("trivial_mnist")
    out = finetune.main(["trivial_mnist", "--dataset", "FashionMNIST", "--data-root", str(FASHION), "--mode",
                         "probe", "--train-size", "256", "--val-size", "64", "--epochs", "1", "--threads", "1",
                         "--no-bf16", "--no-progress", "--run-dir", str(tmp_path / "run"), "--out",
                         str(tmp_path / "out")])
    config = read_config(out)
    metrics = config["metrics"]
    assert config["class_names"][:2] == ["T-shirt/top", "Trouser"] and metrics["test_images"] == 10_000
    assert 0 <= metrics["test_upright_accuracy"] <= 1 and 0 <= metrics["test_rotated_accuracy"] <= 1
    assert config["parent"]["hub_id"] == "equivariant-zoo/trivial_mnist" and config["mode"] == "probe"
    from zoo import from_pretrained

    assert from_pretrained(out).num_classes == 10  # it loads back, self-checked


def test_evaluate_publishes_metrics_cards_and_tables(monkeypatch, tmp_path, digits):
    """The path behind --update, on 100 test images (the command itself refuses --update with --limit): the
    metrics go into config.json and the model card, the table into its documentation block."""
    from zoo import data
    from zoo.card import model_card
    from zoo.cli import evaluate
    from zoo.files import read_config
    from zoo.dev.docs import update_readme

    folder = tmp_path / "c4_mnist"
    shutil.copytree(published("c4_mnist"), folder)
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- BEGIN results-rotated -->\nold\n<!-- END results-rotated -->\n")
    images = torch.cat([digits[0]] * 10)
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: (images, torch.cat([digits[1]] * 10)))
    monkeypatch.setattr(evaluate, "weights_folder", lambda name, tag: folder)
    monkeypatch.setattr(evaluate, "update_docs", lambda key, table: update_readme(key, table, doc))
    # the other presets' saved results complete the table, so --update accepts a run of one preset
    shutil.copytree(ROOT / "results" / "rotated", tmp_path / "results" / "rotated")
    results = evaluate.main(["c4_mnist", "--data-root", "unused", "--update", "--results", str(tmp_path / "results"),
                             "--plot", str(tmp_path / "profile.png")])
    config = read_config(folder)
    assert config["metrics"]["test_images"] == 100
    assert config["metrics"]["test_rotated_accuracy"] == results["c4_mnist"]["test_rotated_accuracy"]
    assert (folder / "README.md").read_text() == model_card(config)
    assert "| c4_mnist | 64,682 |" in doc.read_text() and "old" not in doc.read_text()
    saved = json.loads((tmp_path / "results" / "rotated" / "c4_mnist.json").read_text())
    assert saved["test_images"] == 100 and (tmp_path / "profile.png").stat().st_size > 1000
    assert (ROOT / "weights" / "c4_mnist" / "config.json").read_text() != (folder / "config.json").read_text()


def test_evaluate_takes_a_checkpoint_folder_and_writes_json(monkeypatch, tmp_path, digits):
    """A training run's folder is evaluated like a preset (--no-profile: the two test sets only); its numbers go
    to --json and nowhere else, and --update refuses it."""
    from zoo import data
    from zoo.cli import evaluate
    from zoo.metrics import accuracy

    folder = tmp_path / "run" / "out"
    shutil.copytree(published("c4_mnist"), folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    images, labels = torch.cat([digits[0]] * 5), torch.cat([digits[1]] * 5)
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: (images, labels))
    out = tmp_path / "eval.json"
    results = evaluate.main([str(folder), "--data-root", "unused", "--no-profile", "--json", str(out),
                             "--results", str(tmp_path / "results")])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(results)) and list(written) == [str(folder)]
    from zoo.checkpoint import load_checkpoint

    model = load_checkpoint(folder)
    assert written[str(folder)]["test_upright_accuracy"] == accuracy(model, images, labels)
    assert "profile" not in written[str(folder)] and not (tmp_path / "results").exists()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(SystemExit):
        evaluate.main([str(folder), "--data-root", "unused", "--update"])
    with pytest.raises(SystemExit):
        evaluate.main([str(tmp_path / "nothing-here"), "--data-root", "unused"])


def test_bench_device_section_runs_on_any_device(capsys):
    """The GPU section's code path, on the CPU at small batches: every figure is measured, the table has a row at
    the first batch size and one with each column's best, and zoo train's loop is a fraction of the bare step."""
    from zoo.cli import bench

    (row,) = bench.main(["trivial_mnist", "--device", "cpu", "--batch-sizes", "8,16", "--threads", "1",
                         "--rounds", "1", "--seconds", "0.01"])
    assert set(row["batches"]) == {8, 16} and row["loop"] > 0
    assert all(v > 0 for r in row["batches"].values() for v in r.values())
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| trivial_mnist |")]
    assert len(lines) == 2 and "% of the bare step" in lines[0] and lines[1].startswith("| trivial_mnist | best |")
    with pytest.raises(SystemExit):
        bench.main(["trivial_mnist", "--device", "cpu", "--update"])
