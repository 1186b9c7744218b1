"""Data-parallel training: which device and backend each process takes, and what two CPU processes (gloo) share:
the main process's precision, data it prepares before the others read, and the mean of their batch-norm
statistics and weight averages."""
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from zoo.checkpoint import learned_state
from zoo.training import Processes, TrainConfig, WeightAverage, fit, main_first, processes, setup_processes
from zoo.training.parallel import average_replicas, backend

TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@pytest.fixture
def torchrun_env(monkeypatch):
    """Set torchrun's variables for the test (none set outside it)."""
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    return lambda **values: [monkeypatch.setenv(k, str(v)) for k, v in values.items()]


def test_each_process_takes_the_gpu_of_its_local_rank_and_nccl(torchrun_env):
    torchrun_env(WORLD_SIZE=4, RANK=3, LOCAL_RANK=1)  # the second process on the second of two machines
    group = processes()
    assert group == Processes(world=4, rank=3, local_rank=1, distributed=True) and not group.main
    assert group.device("cuda") == torch.device("cuda", 1)
    assert group.device("cpu") == torch.device("cpu")
    assert backend(group.device("cuda")) == "nccl" and backend(group.device("cpu")) == "gloo"
    with pytest.raises(ValueError, match="each process trains on the GPU of its LOCAL_RANK; pass --device cuda"):
        group.device("cuda:0")


def test_a_single_process_trains_where_it_is_told(torchrun_env):
    group = processes()
    assert group == Processes() and group.main and not group.distributed
    assert group.device("cuda") == torch.device("cuda", 0)
    assert group.device("cuda:1") == torch.device("cuda", 1)


def test_more_processes_than_gpus_are_refused_before_anything_starts(torchrun_env):
    torchrun_env(LOCAL_RANK=torch.cuda.device_count())  # one past the last GPU (on a CPU-only machine: GPU 0)
    with pytest.raises(ValueError, match="start at most that many processes per machine"):
        setup_processes(None, 16, 0, "cuda")


def _tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 10))


def _train_with_a_precision_of_its_own(group: Processes, tmp):
    """A short run with a weight average in which each process would choose another precision on its own."""
    import zoo.training.loop

    zoo.training.loop.choose_precision = lambda model, x, y: (group.rank == 1, f"process {group.rank}'s timing")
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(64) % 10
    config = TrainConfig(epochs=1, batch_size=16, augment="none", ema=0.5)
    state = fit(_tiny_model(), images, labels, images[:16], labels[:16], config, tmp / "run", "tiny", progress=False)
    return {"bf16": state["config"]["bf16"], "precision": state["precision"]}


def _average_different_states(group: Processes, tmp):
    """Each process with batch-norm statistics and a weight average of its own, averaged."""
    model = _tiny_model()
    average = WeightAverage(model, 0.9)
    model[1].running_mean.fill_(1.0 + group.rank)
    model[1].running_var.fill_(10.0 * (1 + group.rank))
    for tensor in average.state.values():
        tensor.fill_(float(group.rank))
    average_replicas(model, average, group)
    return {"model": learned_state(model), "average": average.state}


def _prepare_on_main_first(group: Processes, tmp):
    """The main process writes a file slowly; the others read it."""
    log = tmp / "log"
    with main_first(group):
        with open(log, "a") as f:
            f.write(f"{group.rank} in\n")
        if group.main:
            time.sleep(0.5)  # time for a process that did not wait to enter before the file exists
            (tmp / "prepared").write_text("the data")
        read = (tmp / "prepared").read_text()
        with open(log, "a") as f:
            f.write(f"{group.rank} out\n")
    return {"read": read}


SCENARIOS = {f.__name__: f for f in (_train_with_a_precision_of_its_own, _average_different_states,
                                     _prepare_on_main_first)}


def _replica(index: int, port: int, tmp) -> None:
    """One of two processes, as torchrun would start it: every scenario in turn, results in rank<r>.pt."""
    os.environ.update(WORLD_SIZE="2", RANK=str(index), LOCAL_RANK=str(index), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    group = setup_processes(1, 16, 0)
    try:
        results = {}
        for name, scenario in SCENARIOS.items():
            (tmp / name).mkdir(exist_ok=True)
            results[name] = scenario(group, tmp / name)
            dist.barrier()
        torch.save(results, tmp / f"rank{group.rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Two CPU processes in a gloo group run every scenario; each one's results, and the folders they used."""
    tmp = tmp_path_factory.mktemp("replicas")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_replica, args=(port, tmp), nprocs=2)
    return [torch.load(tmp / f"rank{r}.pt") for r in range(2)], tmp


def test_the_main_process_chooses_the_precision_for_every_process(two_processes):
    (rank0, rank1), _ = two_processes
    chosen = [r["_train_with_a_precision_of_its_own"] for r in (rank0, rank1)]
    assert chosen[0] == chosen[1] == {"bf16": False, "precision": "process 0's timing"}


def test_replicas_end_with_the_same_weights_average_and_statistics(two_processes):
    _, tmp = two_processes
    run = tmp / "_train_with_a_precision_of_its_own" / "run"
    final = [load_file(run / f"final-rank{r}.safetensors") for r in range(2)]
    assert final[0].keys() == final[1].keys() and {"1.running_mean", "1.running_var"} <= final[0].keys()
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name


def test_batch_norm_statistics_and_weight_averages_become_their_mean(two_processes):
    results, _ = two_processes
    for rank, result in enumerate(r["_average_different_states"] for r in results):
        model, average = result["model"], result["average"]
        assert torch.equal(model["1.running_mean"], torch.full((4,), 1.5)), rank  # (1 + 2) / 2
        assert torch.equal(model["1.running_var"], torch.full((4,), 15.0)), rank  # (10 + 20) / 2
        assert model["1.num_batches_tracked"] == 0, rank
        assert average.keys() == {k for k, v in model.items() if v.is_floating_point()}, rank
        for name, tensor in average.items():  # parameters and statistics alike
            assert torch.equal(tensor, torch.full_like(tensor, 0.5)), (rank, name)


def test_the_main_process_prepares_data_before_the_others_read_it(two_processes):
    results, tmp = two_processes
    assert (tmp / "_prepare_on_main_first" / "log").read_text().split("\n")[:2] == ["0 in", "0 out"]
    assert [r["_prepare_on_main_first"]["read"] for r in results] == ["the data"] * 2
