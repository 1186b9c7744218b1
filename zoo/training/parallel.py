"""Data-parallel training: one process per replica under torchrun, or a single process.

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; a process it starts joins a process group (even a
group of one): NCCL when it trains on a GPU, ``cuda:LOCAL_RANK`` (one GPU per process), gloo on the CPU. What the
replicas must share is decided once: the precision on the main process (``from_main``), data preparation by the
main process before the others read (``main_first``), and the batch-norm statistics and weight average, which
each replica gathers from its own shard, as their mean over the replicas (``average_replicas``).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from ..checkpoint import learned_state
from ..files import atomic_write
from .allocator import keep_freed_memory
from .average import WeightAverage

T = TypeVar("T")
BATCH_NORM_STATISTICS = ("running_mean", "running_var")  # buffer name endings (torch's and escnn's batch norms)


@dataclass(frozen=True)
class Processes:
    """How many processes train together, which one this is, and whether torchrun started them."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0  # the process's index on its machine: which GPU it trains on
    distributed: bool = False  # started by torchrun: the processes join a process group

    @property
    def main(self) -> bool:
        """The process that writes checkpoints and reports."""
        return self.rank == 0

    def device(self, requested: str | torch.device) -> torch.device:
        """Where this process trains: the CPU, or for ``cuda`` the GPU of its ``LOCAL_RANK`` (torchrun's one
        process per GPU); ``cuda:N`` names a GPU for a single process."""
        device = torch.device(requested)
        if device.type != "cuda":
            return device
        if device.index is not None and self.world > 1:
            raise ValueError(f"--device {requested} with {self.world} processes: each process trains on the GPU of "
                             "its LOCAL_RANK; pass --device cuda (CUDA_VISIBLE_DEVICES chooses which GPUs)")
        return torch.device("cuda", self.local_rank if device.index is None else device.index)

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch of indices."""
        local = len(batch) // self.world
        return batch[self.rank * local:(self.rank + 1) * local]

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model in DistributedDataParallel when the processes train together (on ``device``, where the
        model is), else the model itself."""
        if not self.distributed:
            return model
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def processes() -> Processes:
    """The one place torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK) is read."""
    env = os.environ
    return Processes(int(env.get("WORLD_SIZE", 1)), int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)),
                     distributed="WORLD_SIZE" in env and "RANK" in env)


def backend(device: torch.device) -> str:
    """The process group's backend for replicas on ``device``: NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup_processes(threads: int | None, batch_size: int, seed: int, device: str = "cpu") -> Processes:
    """Check the batch divides and the GPU exists, then make this process the replica it is: its GPU
    (``Processes.device``) the current one, the process group joined (under torchrun), torch's threads and seed
    set, freed memory kept for the next step (``allocator``)."""
    group = processes()
    where = group.device(device)
    if batch_size % group.world:
        raise ValueError(f"--batch-size {batch_size} must be divisible by the {group.world} processes")
    if where.type == "cuda" and where.index >= torch.cuda.device_count():
        raise ValueError(f"process {group.rank} (LOCAL_RANK {group.local_rank}) would train on {where}, but torch "
                         f"sees {torch.cuda.device_count()} GPUs here; start at most that many processes per machine "
                         "(torchrun --nproc-per-node)")
    keep_freed_memory()
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if group.distributed and not dist.is_initialized():
        dist.init_process_group(backend(where), device_id=where if where.type == "cuda" else None)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return group


def end_processes(group: Processes) -> None:
    """Leave the process group once every process has finished (the main one has written the checkpoint)."""
    if group.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def from_main(group: Processes, decide: Callable[[], T]) -> T:
    """``decide()`` run on the main process only, and its answer on every process: for a choice the replicas must
    share, such as one that times this machine."""
    answer = [decide() if group.main else None]
    if group.distributed:
        dist.broadcast_object_list(answer, src=0)
    return answer[0]


@contextlib.contextmanager
def main_first(group: Processes) -> Iterator[None]:
    """Run the block on the main process first and on the others after it, so that what the main process
    downloads, decompresses or caches is complete before they read it, and no two processes write one file."""
    try:
        if group.distributed and not group.main:
            dist.barrier()
        yield
    finally:
        if group.distributed and group.main:
            dist.barrier()


@torch.no_grad()
def average_replicas(model: torch.nn.Module, average: WeightAverage | None, group: Processes) -> None:
    """Replace what each replica holds alone by its mean over the replicas, on every process: the model's
    batch-norm statistics and the weight average's tensors (its batch-norm statistics among them).

    DistributedDataParallel keeps the parameters equal and hands rank 0's statistics to every replica before
    each forward, which then moves them by its own shard of the batch; the weight average follows each
    replica's own. Their mean is the move by the whole batch (exactly for the running means; the running
    variances leave out the spread between the shards' means).
    """
    if not group.distributed:
        return
    tensors = [buffer for name, buffer in model.named_buffers()
               if name.endswith(BATCH_NORM_STATISTICS) and buffer.is_floating_point()]
    if average is not None:
        tensors += list(average.state.values())
    for tensor in tensors:  # (gloo has no AVG)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(group.world)


def finish_replicas(model: torch.nn.Module, group: Processes, run_dir: Path) -> None:
    """Each replica's final weights on disk (``final-rank<r>.safetensors``), so anyone can check that every
    process ended with what the main one publishes."""
    if group.distributed:
        atomic_write(Path(run_dir) / f"final-rank{group.rank}.safetensors",
                     lambda tmp: save_file(learned_state(model), tmp))
