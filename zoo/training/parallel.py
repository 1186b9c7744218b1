"""Data-parallel training: one process per replica under torchrun (gloo), or a single process."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from ..checkpoint import learned_state
from ..files import atomic_write
from .allocator import keep_freed_memory


@dataclass(frozen=True)
class Processes:
    """How many processes train together and which one this is (torchrun sets WORLD_SIZE and RANK)."""

    world: int = 1
    rank: int = 0

    @property
    def main(self) -> bool:
        """The process that writes checkpoints and reports."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch of indices."""
        local = len(batch) // self.world
        return batch[self.rank * local:(self.rank + 1) * local]

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return torch.nn.parallel.DistributedDataParallel(model) if self.world > 1 else model


def processes() -> Processes:
    """The one place WORLD_SIZE and RANK are read."""
    return Processes(int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)))


def setup_processes(threads: int | None, batch_size: int, seed: int) -> Processes:
    """Join the process group (under torchrun), set torch's threads and seed, keep freed memory for the next
    step (``allocator``); check the batch divides."""
    keep_freed_memory()
    group = processes()
    if group.world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if threads:
        torch.set_num_threads(threads)
    if batch_size % group.world:
        raise ValueError(f"--batch-size {batch_size} must be divisible by the {group.world} processes")
    torch.manual_seed(seed)
    return group


def finish_replicas(model: torch.nn.Module, group: Processes, run_dir: Path) -> None:
    """After the last step: one set of batch-norm statistics for every replica, and each replica's weights on
    disk (``final-rank<r>.safetensors``) so anyone can check that they agree."""
    if group.world == 1:
        return
    # DDP syncs batch-norm statistics from rank 0 before each forward; the last forward left each rank with its
    # own, so average them over the replicas (statistics of the whole last batch).
    for name, buffer in model.state_dict().items():
        if name.endswith(("running_mean", "running_var")):
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(group.world)
    final = learned_state(model)
    atomic_write(run_dir / f"final-rank{group.rank}.safetensors", lambda tmp: save_file(final, tmp))
