"""On a CUDA GPU: published checkpoints give the CPU's logits, and training with --device cuda writes a checkpoint
that loads on the CPU, resumable after kill -9, also under torchrun (NCCL, one GPU per process). Skipped where
torch sees no GPU (CI has none); run on a GPU machine with ``python -m pytest tests/test_gpu.py``."""
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, assert_close, kill_after_checkpoint
from test_train import ENV, train, train_cmd
from zoo import create_model
from zoo.checkpoint import load_checkpoint
from zoo.files import read_config
from zoo.probes import probe_images
from zoo.registry import published_models
from zoo.training import setup_processes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU here")


@pytest.fixture(autouse=True)
def full_float32():
    """TF32 (10-bit mantissas in convolutions) would add errors of 1e-3 to the comparison."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


@pytest.mark.parametrize("name", published_models("rotated"))
@torch.no_grad()
def test_published_checkpoint_gives_the_cpu_logits_on_the_gpu(name):
    model, images = create_model(name, pretrained=True), probe_images()
    on_cpu = model(images)
    on_gpu = model.to("cuda")(images.to("cuda")).cpu()
    assert_close(on_gpu, on_cpu)


def test_training_on_the_gpu_publishes_a_cpu_checkpoint_and_resumes(mnist_root, tmp_path):
    gpu = ["--device", "cuda", "--ema", "0.9"]
    straight = train(mnist_root, tmp_path, "straight", extra=gpu)
    assert straight.returncode == 0, straight.stderr
    killed = kill_after_checkpoint(train_cmd(mnist_root, tmp_path, "killed", gpu), tmp_path / "killed" / "run", 12,
                                   cwd=ROOT, env=ENV)
    assert killed.returncode == -9
    assert not (tmp_path / "killed" / "out").exists()
    resumed = train(mnist_root, tmp_path, "killed", extra=[*gpu, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    for run in ("straight", "killed"):
        config = read_config(tmp_path / run / "out")
        assert config["training"]["device"] == f"cuda ({torch.cuda.get_device_name()})"
        assert [s for s, _ in config["training"]["val_history"]] == [10, 20]  # 640 images, batches of 64, 2 epochs
        model = load_checkpoint(tmp_path / run / "out")  # self-checked against the logits recorded at save time
        assert all(p.device.type == "cpu" for p in model.parameters())


def test_a_process_trains_on_the_gpu_of_its_local_rank(monkeypatch):
    last = torch.cuda.device_count() - 1
    for name in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_RANK", str(last))
    before = torch.cuda.current_device()
    try:
        group = setup_processes(None, 64, 0, "cuda")
        assert group.local_rank == last and torch.cuda.current_device() == last
        assert torch.ones(1, device=group.device("cuda")).device == torch.device("cuda", last)
    finally:
        torch.cuda.set_device(before)


def test_torchrun_trains_one_process_per_gpu_over_nccl(mnist_root, tmp_path):
    """As many processes as GPUs, up to two (one is a process group of one: NCCL, DDP and the collectives all
    run); every replica ends with the weights the main process publishes."""
    n = min(2, torch.cuda.device_count())
    launcher = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n), "-m")
    result = train(mnist_root, tmp_path, "ddp", extra=["--device", "cuda", "--ema", "0.9"], launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    final = [load_file(tmp_path / "ddp" / "run" / f"final-rank{r}.safetensors") for r in range(n)]
    for other in final[1:]:
        assert other.keys() == final[0].keys()
        for k in final[0]:
            assert torch.equal(other[k], final[0][k]), k
    config = read_config(tmp_path / "ddp" / "out")
    assert config["training"]["processes"] == n
    assert config["training"]["device"] == f"cuda ({torch.cuda.get_device_name(0)})"
    load_checkpoint(tmp_path / "ddp" / "out")  # self-checked against the logits recorded at save time
