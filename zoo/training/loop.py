"""The training loop: AdamW with a one-cycle schedule, rotation augmentation, validation after every epoch
(or every ``val_every`` steps) and at the end,
a resume checkpoint every ``checkpoint_every`` steps, one process or several (``parallel``): the replicas agree
on their batch-norm statistics and weight average at every checkpoint, so what is validated, saved and
published is the same on every process."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import data
from ..checkpoint import load_learned_state
from ..metrics import accuracy
from ..precision import choose_precision
from .average import WeightAverage
from .config import TrainConfig, describe_device
from .parallel import Processes, average_replicas, finish_replicas, from_main, processes
from .resume import check_resumable, load_resume, read_resume_state, save_resume


def epoch_plan(seed: int, epoch: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The order of the training images and their rotation angles (degrees) in one epoch."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    return torch.randperm(n, generator=g), torch.rand(n, generator=g, dtype=torch.float64) * 360


def epoch_jitter(seed: int, epoch: int, n: int, translate: float, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image shifts (n, 2) in pixels, uniform in [-translate, translate], and scale factors (n,), uniform in
    [1 - scale, 1 + scale], for one epoch (a generator of their own, so the order and angles stay as without)."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch + 7_000_000)
    shift = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 2 - 1) * translate
    return shift, 1 + (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * scale


@dataclass
class Run:
    """What the steps of one run share."""

    model: torch.nn.Module
    forward: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    average: WeightAverage | None
    config: TrainConfig
    state: dict  # step, timings, validation curves: what the resume checkpoint and config.json record
    group: Processes
    device: torch.device
    resume_path: Path
    steps_per_epoch: int


def fit(model, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
        val_labels: torch.Tensor, config: TrainConfig, run_dir: Path, desc: str, resume: bool = False,
        progress: bool = True, identity: dict | None = None, device: str = "cpu") -> dict:
    """Train ``model`` in place (AdamW, one-cycle), resumable and data-parallel; returns the run's state.

    Only parameters with ``requires_grad`` are optimised. Validation accuracy is measured after every epoch, or
    every ``config.val_every`` steps, and after the last step.
    ``identity`` (e.g. the preset and data sizes) is recorded with the resume checkpoint and must match on resume.
    ``device``: where the steps run (the images move there; ``cuda`` is the GPU of the process's
    ``LOCAL_RANK``); the model comes back on the CPU either way.
    """
    steps_per_epoch = len(train_images) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_images)} training images are fewer than one batch of {config.batch_size}; "
                         "lower --batch-size")
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    resume_path, identity, group = Path(run_dir) / "resume.safetensors", identity or {}, processes()
    saved = None
    if resume:
        if not resume_path.is_file():
            raise FileNotFoundError(f"--resume given but {resume_path} does not exist; start without --resume")
        saved = read_resume_state(resume_path)
        check_resumable(saved, config, identity, total_steps, resume_path)
    device = group.device(device)
    local_batch = config.batch_size // group.world
    # One precision for every replica: the main process's (the timing would differ from process to process).
    bf16, precision = from_main(group, lambda: _precision(config, saved, device, model, train_images[:local_batch],
                                                          train_labels[:local_batch]))
    run = _start(model, dataclasses.replace(config, bf16=bf16), total_steps, saved, resume_path, group, device,
                 {"identity": identity, "precision": precision}, steps_per_epoch)
    train = train_images.to(device), train_labels.to(device)
    val = val_images.to(device), val_labels.to(device)
    bar = tqdm(total=total_steps, initial=run.state["step"], disable=not progress or not group.main, desc=desc,
               unit="step", dynamic_ncols=True)
    if group.main and run.state["step"] == 0:
        bar.write(f"precision: {precision}")
    while run.state["step"] < total_steps:
        _train_epoch(run, train, val, bar)
    bar.close()
    if run.average is not None:  # publish the average
        load_learned_state(model, run.average.averaged_state(model), "the weight average")
    finish_replicas(model, group, Path(run_dir))  # (the last step was a checkpoint: the replicas agreed there)
    model.to("cpu")
    model.eval()
    return run.state


def _precision(config: TrainConfig, saved: dict | None, device: torch.device, model, x, y) -> tuple[bool, str]:
    """bfloat16 autocast or not, and why: as the resumed run chose, as asked, or timed on this CPU."""
    if saved is not None:
        return saved["config"]["bf16"], saved["precision"]
    if config.bf16 is not None:
        return config.bf16, f"chosen: {'bfloat16' if config.bf16 else 'float32'}"
    if device.type != "cpu":
        return False, f"auto: float32 on {device.type} (the bfloat16 timing is for CPUs)"
    return choose_precision(model, x, y)


def _start(model, config: TrainConfig, total_steps: int, saved: dict | None, resume_path: Path, group: Processes,
           device: torch.device, record: dict, steps_per_epoch: int) -> Run:
    """Optimiser, schedule, weight average and state: new, or as the resume checkpoint left them."""
    model.to(device)
    optimizer = torch.optim.AdamW(_param_groups(model, config), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                                    total_steps=total_steps, pct_start=config.pct_start)
    average = WeightAverage(model, config.ema) if config.ema else None
    state = {"step": 0, "wall_time_s": 0.0, "images_seen": 0, "val_history": [], "total_steps": total_steps,
             "config": dataclasses.asdict(config), **record}
    if average is not None:
        state["val_history_raw"] = []  # the trained weights themselves; val_history is the published average
    if saved is not None:
        state = load_resume(resume_path, model, optimizer, scheduler, average)
    state["device"] = describe_device(device)
    model.train()
    return Run(model, group.wrap(model, device), optimizer, scheduler, average, config, state, group, device,
               resume_path, steps_per_epoch)


def _param_groups(model, config: TrainConfig) -> list[dict]:
    """The trainable parameters: one group at ``lr``, or, with ``head_lr``, the backbone at ``lr`` and the
    classifier (``get_classifier()``) at ``head_lr``."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.head_lr is None:
        return [{"params": trainable, "lr": config.lr}]
    head = {id(p) for p in model.get_classifier().parameters()}
    groups = [{"params": [p for p in trainable if id(p) not in head], "lr": config.lr},
              {"params": [p for p in trainable if id(p) in head], "lr": config.head_lr}]
    return [g for g in groups if g["params"]]


def _train_epoch(run: Run, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                 bar: tqdm) -> None:
    """The rest of the current epoch: steps, resume checkpoints, and validation (at its end, or every
    ``val_every`` steps, and after the last step)."""
    config, state = run.config, run.state
    images, labels = train
    epoch = state["step"] // run.steps_per_epoch
    order, angles = epoch_plan(config.seed, epoch, len(images))
    jitter = epoch_jitter(config.seed, epoch, len(images), config.translate, config.scale) \
        if config.translate or config.scale else None
    started = time.perf_counter()
    for b in range(state["step"] % run.steps_per_epoch, run.steps_per_epoch):
        batch = run.group.shard(order[b * config.batch_size:(b + 1) * config.batch_size])
        x = images[batch]
        if config.augment == "rotate":
            x = data.rotate(x, angles[batch], *((jitter[0][batch], jitter[1][batch]) if jitter else (None, None)),
                            origin=data.ink_offset(x) if config.centre else None)
        t0 = time.perf_counter()
        loss = _step(run, x, labels[batch])
        bar.update(1)
        if not bar.disable:  # (loss.item() waits for the step: only when someone watches)
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch,
                            img_s=f"{config.batch_size / (time.perf_counter() - t0):.0f}")
        end_of_epoch = b == run.steps_per_epoch - 1 or state["step"] == state["total_steps"]
        validate = state["step"] == state["total_steps"] or (
            state["step"] % config.val_every == 0 if config.val_every else end_of_epoch)
        if state["step"] % config.checkpoint_every == 0 or end_of_epoch or validate:
            average_replicas(run.model, run.average, run.group)
            state["wall_time_s"] += time.perf_counter() - started
            if validate:
                _validate(run, *val, bar)
            if run.group.main:
                save_resume(run.resume_path, run.model, run.optimizer, run.scheduler, state, run.average)
            started = time.perf_counter()
        if state["step"] == state["total_steps"]:
            return


def _step(run: Run, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One optimiser step on one batch; returns the loss."""
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.config.bf16):
        loss = F.cross_entropy(run.forward(x), y, label_smoothing=run.config.label_smoothing)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    if run.average is not None:
        run.average.update(run.model)
    run.state["step"] += 1
    run.state["images_seen"] += run.config.batch_size
    return loss


def _validate(run: Run, images: torch.Tensor, labels: torch.Tensor, bar: tqdm) -> None:
    """Validation accuracy of the trained weights, and of their average when there is one."""
    step, acc = run.state["step"], accuracy(run.model, images, labels)
    if run.average is None:
        run.state["val_history"].append([step, acc])
        report = f"step {step}: validation accuracy {acc:.4f}"
    else:
        with run.average.swapped_in(run.model):
            averaged = accuracy(run.model, images, labels)
        run.state["val_history_raw"].append([step, acc])
        run.state["val_history"].append([step, averaged])
        report = f"step {step}: validation accuracy {averaged:.4f} (average), {acc:.4f} (trained weights)"
    if run.group.main:
        bar.write(report)
