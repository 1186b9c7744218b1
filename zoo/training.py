"""The training loop shared by ``zoo train`` and ``zoo finetune``: one configuration dataclass, resumable, data-parallel.

A resume checkpoint (``<run-dir>/resume.safetensors``: weights, optimiser, schedule, step, and the run's
configuration) is written atomically every ``checkpoint_every`` steps; ``fit(..., resume=True)`` continues from
it and refuses if the configuration describes another run. Data order and rotation angles depend only on
(seed, epoch), so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import data
from .checkpoint import learned_state, load_learned_state
from .files import atomic_write
from .metrics import accuracy
from .precision import choose_precision


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe: what ``fit`` uses and what config.json records (``recipe``)."""

    epochs: float = 4
    batch_size: int = 128
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    pct_start: float = 0.15  # share of the steps spent warming up
    seed: int = 0
    augment: str = "rotate"  # "rotate": every image at a random angle each epoch; "none": upright
    bf16: bool | None = None  # bfloat16 autocast; None: decided by ``choose_precision``
    label_smoothing: float = 0.0  # cross-entropy against (1 - s) one-hot + s uniform
    ema: float = 0.0  # decay of the exponential moving average of the weights that is published; 0: none
    translate: float = 0.0  # with augment "rotate": also shift each image by up to this many pixels per axis
    scale: float = 0.0  # with augment "rotate": also scale each image by a factor in [1 - scale, 1 + scale]
    checkpoint_every: int = 50  # steps between resume checkpoints

    # what must agree between a run and its resumption (checkpoint_every may change)
    RESUME_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "pct_start", "seed", "augment", "bf16",
                   "label_smoothing", "ema", "translate", "scale")

    def __post_init__(self) -> None:
        if (self.translate or self.scale) and self.augment != "rotate":
            raise ValueError("--translate and --scale jitter the rotation augmentation; use them with --augment "
                             "rotate, or drop them")

    @classmethod
    def from_args(cls, args, **changes) -> "TrainConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in vars(args).items() if k in fields}, **changes})


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


class WeightAverage:
    """Exponential moving average of a model's learned state (parameters and batch-norm statistics), in float32.

    The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early weights, far from
    the final ones, fade out quickly. ``swapped_in`` evaluates the model with the averaged weights.
    """

    def __init__(self, model, decay: float):
        self.decay, self.updates = decay, 0
        self.state = {k: v.float() for k, v in learned_state(model).items() if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for name, average in self.state.items():
            average.lerp_(current[name].float(), 1 - decay)

    def averaged_state(self, model) -> dict[str, torch.Tensor]:
        """The model's learned state with the averages in place of the floating-point tensors."""
        state = learned_state(model)
        return {k: self.state[k].to(v.dtype) if k in self.state else v for k, v in state.items()}

    @contextlib.contextmanager
    def swapped_in(self, model):
        raw = learned_state(model)
        load_learned_state(model, self.averaged_state(model), "the weight average")
        try:
            yield model
        finally:
            load_learned_state(model, raw, "the trained weights")


def save_resume(path: Path, model, optimizer, scheduler, state: dict, average: WeightAverage | None = None) -> None:
    """Weights, optimiser, schedule (and weight average) in one safetensors file (no pickle), written atomically."""
    tensors = {f"model.{k}": v for k, v in learned_state(model).items()}
    if average is not None:
        tensors.update({f"ema.{k}": v.clone() for k, v in average.state.items()})
        state = {**state, "ema_updates": average.updates}
    opt_state = optimizer.state_dict()
    for idx, slots in opt_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{idx}.{slot}"] = value.detach().contiguous().clone()
    tensors = {k: v.cpu() for k, v in tensors.items()}  # the run may train on a GPU
    meta = {"state": json.dumps(state), "param_groups": json.dumps(opt_state["param_groups"]),
            "scheduler": json.dumps(scheduler.state_dict())}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_resume(path: Path, model, optimizer, scheduler, average: WeightAverage | None = None) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    load_learned_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    saved = json.loads(meta["state"])
    if average is not None:
        device = next(iter(average.state.values())).device
        average.state = {k[4:]: v.to(device) for k, v in tensors.items() if k.startswith("ema.")}
        average.updates = saved.pop("ema_updates")
    opt_state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, slot = key.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[slot] = value
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(json.loads(meta["scheduler"]))
    return saved


def read_resume_state(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["state"])


def check_resumable(saved: dict, config: TrainConfig, identity: dict, total_steps: int, path: Path) -> None:
    """Refuse to resume a run whose recorded configuration differs from the one asked for now."""
    now = {**{k: getattr(config, k) for k in TrainConfig.RESUME_KEYS}, **identity, "total_steps": total_steps}
    defaults = {k: getattr(TrainConfig(), k) for k in TrainConfig.RESUME_KEYS}  # runs from before a key existed
    before = {**defaults, **saved.get("config", {}), **saved.get("identity", {}),
              "total_steps": saved.get("total_steps")}
    if config.bf16 is None:  # automatic precision: the resumed run keeps the choice the run made
        now.pop("bf16")
    differ = {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}
    if differ:
        details = ", ".join(f"{k}: {a!r} then, {b!r} now" for k, (a, b) in differ.items())
        raise ValueError(f"{path} belongs to another run ({details}); resume with that run's arguments, "
                         "or start a new run with another --run-dir")


def setup_processes(threads: int | None, batch_size: int, seed: int) -> tuple[int, int]:
    """(world size, rank): torchrun sets WORLD_SIZE and RANK; one process otherwise."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if threads:
        torch.set_num_threads(threads)
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} must be divisible by the {world} processes")
    torch.manual_seed(seed)
    return world, rank


def fit(model, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
        val_labels: torch.Tensor, config: TrainConfig, run_dir: Path, desc: str, resume: bool = False,
        progress: bool = True, identity: dict | None = None, device: str = "cpu") -> dict:
    """Train ``model`` in place (AdamW, one-cycle), resumable and data-parallel; returns the run's state.

    Only parameters with ``requires_grad`` are optimised. Validation accuracy is measured after every epoch.
    ``identity`` (e.g. the preset and data sizes) is recorded with the resume checkpoint and must match on resume.
    ``device``: where the steps run (the images move there); the model comes back on the CPU either way.
    """
    identity = identity or {}
    device = torch.device(device)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    steps_per_epoch = len(train_images) // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_images)} training images are fewer than one batch of {config.batch_size}; "
                         "lower --batch-size")
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    resume_path = run_dir / "resume.safetensors"
    saved = None
    if resume:
        if not resume_path.is_file():
            raise FileNotFoundError(f"--resume given but {resume_path} does not exist; start without --resume")
        saved = read_resume_state(resume_path)
        check_resumable(saved, config, identity, total_steps, resume_path)
    if saved is not None:
        bf16, precision = saved["config"]["bf16"], saved["precision"]
    elif config.bf16 is None and device.type != "cpu":
        bf16, precision = False, f"auto: float32 on {device.type} (the bfloat16 timing is for CPUs)"
    elif config.bf16 is None:
        probe = train_images[:config.batch_size // world]
        bf16, precision = choose_precision(model, probe, train_labels[:len(probe)])
    else:
        bf16, precision = config.bf16, f"chosen: {'bfloat16' if config.bf16 else 'float32'}"
    config = dataclasses.replace(config, bf16=bf16)
    model.to(device)
    train_images, train_labels = train_images.to(device), train_labels.to(device)
    val_images, val_labels = val_images.to(device), val_labels.to(device)

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                    pct_start=config.pct_start)
    average = WeightAverage(model, config.ema) if config.ema else None
    state = {"step": 0, "wall_time_s": 0.0, "images_seen": 0, "val_history": [], "total_steps": total_steps,
             "config": dataclasses.asdict(config), "identity": identity, "precision": precision}
    if average is not None:
        state["val_history_raw"] = []  # the trained weights themselves; val_history is the published average
    if saved is not None:
        state = load_resume(resume_path, model, optimizer, scheduler, average)
    state["device"] = describe_device(device)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    model.train()

    bar = tqdm(total=total_steps, initial=state["step"], disable=not progress or rank != 0, desc=desc,
               unit="step", dynamic_ncols=True)
    if rank == 0 and state["step"] == 0:
        bar.write(f"precision: {precision}")
    local_batch = config.batch_size // world
    started = time.perf_counter()
    while state["step"] < total_steps:
        epoch = state["step"] // steps_per_epoch
        order, angles = epoch_plan(config.seed, epoch, len(train_images))
        jitter = config.translate or config.scale
        if jitter:
            shifts, scales = epoch_jitter(config.seed, epoch, len(train_images), config.translate, config.scale)
        for b in range(state["step"] % steps_per_epoch, steps_per_epoch):
            t0 = time.perf_counter()
            batch = order[b * config.batch_size:(b + 1) * config.batch_size][rank * local_batch:(rank + 1) * local_batch]
            x, y = train_images[batch], train_labels[batch]
            if config.augment == "rotate":
                x = data.rotate(x, angles[batch], *((shifts[batch], scales[batch]) if jitter else ()))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                loss = F.cross_entropy(ddp_model(x), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update(model)
            state["step"] += 1
            state["images_seen"] += config.batch_size
            bar.update(1)
            if not bar.disable:  # (loss.item() waits for the step: only when someone watches)
                bar.set_postfix(loss=f"{loss.item():.3f}", epoch=epoch,
                                img_s=f"{config.batch_size / (time.perf_counter() - t0):.0f}")
            last = state["step"] == total_steps
            if state["step"] % config.checkpoint_every == 0 or b == steps_per_epoch - 1 or last:
                state["wall_time_s"] += time.perf_counter() - started
                started = time.perf_counter()
                if b == steps_per_epoch - 1 or last:
                    acc = accuracy(model, val_images, val_labels)
                    if average is None:
                        state["val_history"].append([state["step"], acc])
                        bar.write(f"step {state['step']}: validation accuracy {acc:.4f}")
                    else:
                        with average.swapped_in(model):
                            ema_acc = accuracy(model, val_images, val_labels)
                        state["val_history_raw"].append([state["step"], acc])
                        state["val_history"].append([state["step"], ema_acc])
                        bar.write(f"step {state['step']}: validation accuracy {ema_acc:.4f} (average), "
                                  f"{acc:.4f} (trained weights)")
                if rank == 0:
                    save_resume(resume_path, model, optimizer, scheduler, state, average)
            if os.environ.get("ZOO_KILL_AT_STEP") == str(state["step"]):  # fault injection for the resume test
                os.kill(os.getpid(), 9)
            if last:
                break
    bar.close()

    if world > 1:
        # DDP syncs batch-norm statistics from rank 0 before each forward; the last forward left each rank
        # with its own, so average them over the replicas (statistics of the whole last batch).
        for name, buffer in model.state_dict().items():
            if name.endswith(("running_mean", "running_var")):
                dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
                buffer.div_(world)
        # each replica's final weights, so anyone can check that they agree
        final = learned_state(model)
        atomic_write(run_dir / f"final-rank{rank}.safetensors", lambda tmp: save_file(final, tmp))
    if average is not None:  # publish the average
        load_learned_state(model, average.averaged_state(model), "the weight average")
    model.to("cpu")
    model.eval()
    return state


def describe_device(device: torch.device) -> str:
    """'cpu', or e.g. 'cuda (NVIDIA H100 80GB HBM3)'."""
    return f"{device.type} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type


def trained_on(training: dict) -> str:
    """Where a recorded run (config.json's "training") trained, in a few words: the GPU, or 'N CPU threads'."""
    device = training.get("device", "cpu")  # runs from before the key existed trained on the CPU
    if device != "cpu":
        return device.split("(", 1)[1].rstrip(")") if "(" in device else device
    threads = training.get("threads_per_process", 1) * training.get("processes", 1)
    return f"{threads} CPU thread{'s' if threads > 1 else ''}"


def machine() -> str:
    """What ran the training, e.g. 'Intel(R) Xeon(R) ... (x86_64), 2 CPUs, torch 2.x, no GPU'."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{cpu} ({platform.machine()}), {os.cpu_count()} CPUs, torch {torch.__version__}, {gpu}"


def augmentation(config: TrainConfig) -> str:
    """The training augmentation in words, for config.json."""
    if config.augment != "rotate":
        return "none (upright images)"
    extra = ([f"shift uniform in [-{config.translate:g}, {config.translate:g}] pixels per axis"]
             if config.translate else []) + ([f"scale uniform in [{1 - config.scale:g}, {1 + config.scale:g}]"]
                                             if config.scale else [])
    return "uniform random rotation in [0, 360) per image and epoch" + "".join(f", {e}" for e in extra)


def recipe(state: dict, dataset: str, argv, command: str = "zoo train") -> dict:
    """The training recipe recorded in config.json, from the configuration the run used (``state["config"]``)."""
    config = TrainConfig(**state["config"])
    return {
        "dataset": dataset,
        "augmentation": augmentation(config),
        "epochs": config.epochs, "steps": state["total_steps"], "batch_size": config.batch_size,
        "optimizer": f"AdamW(weight_decay={config.weight_decay})",
        "loss": f"cross-entropy(label_smoothing={config.label_smoothing})",
        "weight_average": f"EMA(decay={config.ema}), published" if config.ema else "none",
        "schedule": f"OneCycleLR(max_lr={config.lr}, pct_start={config.pct_start})", "seed": config.seed,
        "bf16_autocast": config.bf16, "precision": state["precision"],
        "processes": int(os.environ.get("WORLD_SIZE", 1)),
        "threads_per_process": torch.get_num_threads(),
        "wall_time_min": round(state["wall_time_s"] / 60, 2),
        "images_per_s": round(state["images_seen"] / max(state["wall_time_s"], 1e-9), 1),
        "machine": machine(), "device": state.get("device", "cpu"),
        "val_history": state["val_history"],
        **({"val_history_raw": state["val_history_raw"]} if "val_history_raw" in state else {}),
        "command": f"{command} " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
