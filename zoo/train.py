"""Train a preset on rotated (or upright) MNIST and publish it into ``weights/``.

    python -m zoo.train c8_mnist --data-root ../shared/data --epochs 4
    torchrun --nproc-per-node 2 -m zoo.train c8_mnist --data-root ../shared/data   # data-parallel (gloo)

A resume checkpoint (``<run-dir>/resume.safetensors``: weights, optimiser, schedule, step) is written
atomically every ``--checkpoint-every`` steps; after a crash or ``kill -9``, the same command with
``--resume`` continues from it. Data order and rotation angles depend only on (seed, epoch), so a
resumed run sees exactly the batches the uninterrupted run would have seen.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import data
from .evaluate import accuracy
from .checkpoint import atomic_write, learned_state, load_learned_state, save_checkpoint
from .registry import DEFAULT_TAG, create_model, list_models, weights_folder


def add_training_args(p: argparse.ArgumentParser, epochs: float, lr: float) -> None:
    """Options shared by training from scratch (zoo.train) and fine-tuning (zoo.finetune)."""
    p.add_argument("--augment", choices=["rotate", "none"], default="rotate",
                   help="rotate every training image by a random angle, or keep it upright")
    p.add_argument("--epochs", type=float, default=epochs)
    p.add_argument("--batch-size", type=int, default=128, help="global batch size (split across processes)")
    p.add_argument("--lr", type=float, default=lr, help=f"peak learning rate of the one-cycle schedule "
                   f"(default: {lr if lr is not None else 'depends on --mode'})")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                   help="bfloat16 autocast on CPU")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process")
    p.add_argument("--run-dir", default=None, help="where resume checkpoints go")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between resume checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/resume.safetensors")
    p.add_argument("--out", default=None, help="checkpoint folder to write")
    p.add_argument("--no-progress", action="store_true")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", choices=list_models())
    p.add_argument("--data-root", default="data", help="folder holding MNIST/raw (torchvision layout)")
    p.add_argument("--download", action="store_true", help="let torchvision download MNIST if missing")
    p.add_argument("--weights-tag", default=None, help="tag of the published weights (default: rotated, "
                   "or upright with --augment none)")
    p.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    p.add_argument("--val-size", type=int, default=data.VAL_SIZE)
    add_training_args(p, epochs=4, lr=3e-3)
    args = p.parse_args(argv)
    if args.weights_tag is None:
        args.weights_tag = DEFAULT_TAG if args.augment == "rotate" else "upright"
    return args


def epoch_plan(seed: int, epoch: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The order of the training images and their rotation angles (degrees) in one epoch."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    return torch.randperm(n, generator=g), torch.rand(n, generator=g, dtype=torch.float64) * 360


def save_resume(path: Path, model, optimizer, scheduler, state: dict) -> None:
    """Weights, optimiser and schedule in one safetensors file (no pickle), written atomically."""
    tensors = {f"model.{k}": v for k, v in learned_state(model).items()}
    opt_state = optimizer.state_dict()
    for idx, slots in opt_state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{idx}.{slot}"] = value.detach().contiguous().clone()
    meta = {"state": json.dumps(state), "param_groups": json.dumps(opt_state["param_groups"]),
            "scheduler": json.dumps(scheduler.state_dict())}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_resume(path: Path, model, optimizer, scheduler) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    load_learned_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    opt_state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, slot = key.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[slot] = value
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(json.loads(meta["scheduler"]))
    return json.loads(meta["state"])


def setup_processes(args) -> tuple[int, int]:
    """(world size, rank): torchrun sets WORLD_SIZE and RANK; one process otherwise."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size % world:
        raise ValueError(f"--batch-size {args.batch_size} must be divisible by the {world} processes")
    torch.manual_seed(args.seed)
    return world, rank


def fit(model, train_images: torch.Tensor, train_labels: torch.Tensor, val_images: torch.Tensor,
        val_labels: torch.Tensor, args, run_dir: Path, desc: str) -> dict:
    """Train ``model`` in place (AdamW, one-cycle), resumable and data-parallel; returns the run's state.

    Only parameters with ``requires_grad`` are optimised. Validation accuracy is measured after every epoch.
    """
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    steps_per_epoch = len(train_images) // args.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_images)} training images are fewer than one batch of {args.batch_size}; "
                         "lower --batch-size")
    total_steps = max(1, round(args.epochs * steps_per_epoch))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                                  weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total_steps,
                                                    pct_start=0.15)
    resume_path = run_dir / "resume.safetensors"
    state = {"step": 0, "wall_time_s": 0.0, "images_seen": 0, "val_history": [], "total_steps": total_steps}
    if args.resume:
        if not resume_path.is_file():
            raise FileNotFoundError(f"--resume given but {resume_path} does not exist; start without --resume")
        state = load_resume(resume_path, model, optimizer, scheduler)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    model.train()

    bar = tqdm(total=total_steps, initial=state["step"], disable=args.no_progress or rank != 0, desc=desc,
               unit="step", dynamic_ncols=True)
    local_batch = args.batch_size // world
    started = time.perf_counter()
    while state["step"] < total_steps:
        epoch = state["step"] // steps_per_epoch
        order, angles = epoch_plan(args.seed, epoch, len(train_images))
        for b in range(state["step"] % steps_per_epoch, steps_per_epoch):
            t0 = time.perf_counter()
            batch = order[b * args.batch_size:(b + 1) * args.batch_size][rank * local_batch:(rank + 1) * local_batch]
            x, y = train_images[batch], train_labels[batch]
            if args.augment == "rotate":
                x = data.rotate(x, angles[batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(ddp_model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            state["images_seen"] += args.batch_size
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{args.batch_size / (time.perf_counter() - t0):.0f}",
                            epoch=epoch)
            last = state["step"] == total_steps
            if state["step"] % args.checkpoint_every == 0 or b == steps_per_epoch - 1 or last:
                state["wall_time_s"] += time.perf_counter() - started
                started = time.perf_counter()
                if b == steps_per_epoch - 1 or last:
                    acc = accuracy(model, val_images, val_labels)
                    state["val_history"].append([state["step"], acc])
                    bar.write(f"step {state['step']}: validation accuracy {acc:.4f}")
                if rank == 0:
                    save_resume(resume_path, model, optimizer, scheduler, state)
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
    model.eval()
    return state


def recipe(args, state: dict, dataset: str, argv, module: str = "zoo.train") -> dict:
    """The training recipe recorded in config.json."""
    return {
        "dataset": dataset,
        "augmentation": "uniform random rotation in [0, 360) per image and epoch"
                        if args.augment == "rotate" else "none (upright images)",
        "epochs": args.epochs, "steps": state["total_steps"], "batch_size": args.batch_size,
        "optimizer": f"AdamW(weight_decay={args.weight_decay})",
        "schedule": f"OneCycleLR(max_lr={args.lr}, pct_start=0.15)", "seed": args.seed,
        "bf16_autocast": args.bf16, "processes": int(os.environ.get("WORLD_SIZE", 1)),
        "threads_per_process": torch.get_num_threads(),
        "wall_time_min": round(state["wall_time_s"] / 60, 2),
        "images_per_s": round(state["images_seen"] / max(state["wall_time_s"], 1e-9), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:]),
    }


def main(argv=None) -> Path:
    args = parse_args(argv)
    world, rank = setup_processes(args)
    images, labels = data.load_mnist(args.data_root, train=True, download=args.download)
    train_idx, val_idx = data.train_val_split(len(images), args.val_size)
    if args.train_size:
        train_idx = train_idx[:args.train_size]
    val_images = images[val_idx]
    if args.augment == "rotate":
        val_images = data.rotate(val_images, data.fixed_angles(len(val_idx), data.VAL_ANGLE_SEED))

    model = create_model(args.preset, pretrained=False)
    run_dir = Path(args.run_dir or f"runs/{args.preset}-{args.weights_tag}")
    state = fit(model, images[train_idx], labels[train_idx], val_images, labels[val_idx], args, run_dir,
                desc=f"{args.preset} ({args.weights_tag})")

    out = Path(args.out) if args.out else weights_folder(args.preset, args.weights_tag)
    if rank == 0:
        model.meta = {
            "preset": args.preset,
            "weights_tag": args.weights_tag,
            "class_names": data.MNIST_CLASSES,
            "protocol": data.PROTOCOL,
            "metrics": {"val_accuracy": state["val_history"][-1][1]},
            "training": recipe(args, state, f"MNIST train minus {args.val_size} validation images"
                               + (f", first {args.train_size}" if args.train_size else ""), argv),
        }
        save_checkpoint(model, out)
        print(f"wrote {out}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out


if __name__ == "__main__":
    from .cli import run

    run(main)
