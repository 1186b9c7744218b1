"""Training on a small slice of genuine MNIST: resume after kill -9, data-parallel replicas, output format."""
import os
import platform
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, kill_after_checkpoint
from zoo.checkpoint import load_checkpoint
from zoo.files import read_config
from zoo.training import read_resume_state

pytestmark = pytest.mark.slow


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def train_cmd(mnist_root, tmp, name, extra=(), launcher=(sys.executable, "-m")) -> list[str]:
    """20 steps of the plain CNN on 640 images, a resume checkpoint every 4 steps and at each epoch's end."""
    return [*launcher, "zoo.cli.train", "trivial_mnist", "--data-root", str(mnist_root), "--train-size", "640",
            "--val-size", "200", "--batch-size", "64", "--epochs", "2", "--checkpoint-every", "4", "--threads", "1",
            "--no-bf16", "--no-progress", "--out", str(tmp / name / "out"), "--run-dir", str(tmp / name / "run"),
            *extra]


def train(mnist_root, tmp, name, extra=(), env=None, launcher=(sys.executable, "-m")):
    return subprocess.run(train_cmd(mnist_root, tmp, name, extra, launcher), cwd=ROOT, env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("recipe", [[], ["--ema", "0.9", "--label-smoothing", "0.1"]], ids=["plain", "ema"])
def test_kill_9_then_resume_matches_uninterrupted_run(mnist_root, tmp_path, recipe):
    straight = train(mnist_root, tmp_path, "straight", extra=recipe)
    assert straight.returncode == 0, straight.stderr
    run_dir = tmp_path / "killed" / "run"
    killed = kill_after_checkpoint(train_cmd(mnist_root, tmp_path, "killed", recipe), run_dir, 12, cwd=ROOT, env=ENV)
    assert killed.returncode == -9
    assert not (tmp_path / "killed" / "out").exists()  # nothing half-published
    assert not list(run_dir.glob("*.tmp"))
    assert 12 <= read_resume_state(run_dir / "resume.safetensors")["step"] < 20  # the last checkpoint survived
    resumed = train(mnist_root, tmp_path, "killed", extra=[*recipe, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(tmp_path / "straight" / "out" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "out" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_without_checkpoint_says_so(mnist_root, tmp_path):
    result = train(mnist_root, tmp_path, "none", extra=["--resume"])
    assert result.returncode != 0 and "start without --resume" in result.stderr


def test_data_parallel_replicas_end_identical(mnist_root, tmp_path):
    """Two CPU processes under torchrun end with the same published weights: the weight average and the
    batch-norm statistics, which each gathers from its own half of every batch, agree."""
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m")
    result = train(mnist_root, tmp_path, "ddp", extra=["--ema", "0.9"], launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0 = load_file(tmp_path / "ddp" / "run" / "final-rank0.safetensors")
    rank1 = load_file(tmp_path / "ddp" / "run" / "final-rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), k
    config = read_config(tmp_path / "ddp" / "out")
    assert config["training"]["processes"] == 2


def test_training_writes_a_loadable_checkpoint_that_learned(mnist_root, tmp_path):
    result = train(mnist_root, tmp_path, "plain", extra=["--epochs", "3", "--augment", "none"])
    assert result.returncode == 0, result.stderr
    config = read_config(tmp_path / "plain" / "out")
    assert config["weights_tag"] == "upright"
    assert config["training"]["augmentation"].startswith("none")
    assert config["metrics"]["val_accuracy"] > 0.5  # 10 classes: chance is 0.1
    model = load_checkpoint(tmp_path / "plain" / "out")
    assert model.num_classes == 10


def test_widths_and_jitter_are_recorded_and_the_checkpoint_loads_at_its_widths(mnist_root, tmp_path):
    result = train(mnist_root, tmp_path, "wide", extra=["--widths", "8,8,8,8,8", "--translate", "1.5",
                                                        "--scale", "0.05"])
    assert result.returncode == 0, result.stderr
    config = read_config(tmp_path / "wide" / "out")
    assert config["architecture"]["widths"] == [8, 8, 8, 8, 8]
    assert config["training"]["augmentation"].endswith("shift uniform in [-1.5, 1.5] pixels per axis, "
                                                       "scale uniform in [0.95, 1.05]")
    model = load_checkpoint(tmp_path / "wide" / "out")
    assert model.arch.widths == (8, 8, 8, 8, 8) and model.num_features == 8


def test_init_starts_from_the_published_weights_and_records_them(mnist_root, tmp_path):
    """--init rotated --centre: the run starts where the published weights are (their validation accuracy at
    step 0 is far above chance) and config.json names them by sha256."""
    from zoo.registry import create_model

    result = train(mnist_root, tmp_path, "init", extra=["--init", "rotated", "--centre", "--epochs", "0.2",
                                                       "--lr", "1e-4"])
    assert result.returncode == 0, result.stderr
    config = read_config(tmp_path / "init" / "out")
    published = create_model("trivial_mnist", pretrained=True).meta.weights_sha256
    assert config["training"]["init"] == f"trivial_mnist weights 'rotated', sha256 {published}"
    assert config["training"]["augmentation"].endswith("about the ink's centre of mass, brought to the centre")
    assert config["metrics"]["val_accuracy"] > 0.9  # 2 steps at a low rate: what the published weights know


def test_the_readme_training_line_leaves_published_weights_alone(mnist_root, tmp_path):
    """The README's line (`zoo train c8_mnist --data-root ... --epochs 8`), on a shorter budget, run from a folder
    of the user's: the checkpoint lands in the run folder, weights/ keeps every byte."""
    from zoo.files import sha256_file

    before = {p: sha256_file(p) for p in (ROOT / "weights").rglob("*") if p.is_file()}
    line = [sys.executable, "-m", "zoo.cli.train", "c8_mnist", "--data-root", str(mnist_root), "--epochs", "0.5",
            "--train-size", "256", "--val-size", "64", "--batch-size", "64", "--threads", "1", "--no-bf16",
            "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(line, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert {p: sha256_file(p) for p in (ROOT / "weights").rglob("*") if p.is_file()} == before
    out = tmp_path / "runs" / "train" / "c8_mnist-rotated" / "checkpoint"
    assert f"wrote {out.relative_to(tmp_path)}" in result.stdout and read_config(out)["preset"] == "c8_mnist"
    for extra, message in ((["--publish", "--out", "x"], "give one of them"),
                           (["--publish", "--widths", "8,8,8,8,8"], "cannot be published under its name"),
                           (["--publish"], "replaces them only with --overwrite"),
                           (["--overwrite"], "it goes with --publish")):
        refused = subprocess.run(line + extra, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert refused.returncode != 0 and message in refused.stderr


_RSS_AFTER_FREE = """
import sys, torch
from zoo.training.allocator import keep_freed_memory
def rss():
    return int(open("/proc/self/statm").read().split()[1])
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = rss()
x = torch.ones(4 << 20)  # 16 MiB, touched
del x
print((rss() - before) * 4096 / (16 << 20))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_training_processes_keep_freed_memory_on_glibc():
    """A freed 16 MiB buffer stays in the process (the next step reuses its pages) instead of going back to the
    kernel, as it does with glibc's defaults."""
    kept = {mode: float(subprocess.run([sys.executable, "-c", _RSS_AFTER_FREE, mode], capture_output=True,
                                       text=True, check=True).stdout) for mode in ("keep", "default")}
    assert kept["keep"] > 0.9 and kept["default"] < 0.1, kept
