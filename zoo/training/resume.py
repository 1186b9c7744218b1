"""Resume checkpoints: weights, optimiser, schedule, step and the run's configuration in one safetensors file
(no pickle), written atomically; and the check that a resumption continues the same run."""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..checkpoint import learned_state, load_learned_state
from ..files import atomic_write
from .average import WeightAverage
from .config import TrainConfig


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
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["state"])


def check_resumable(saved: dict, config: TrainConfig, identity: dict, total_steps: int, path: Path) -> None:
    """Refuse to resume a run whose recorded configuration differs from the one asked for now."""
    keys = TrainConfig.resume_keys()
    now = {**{k: getattr(config, k) for k in keys}, **identity, "total_steps": total_steps}
    defaults = {k: getattr(TrainConfig(), k) for k in keys}  # runs from before a key existed
    before = {**defaults, **saved.get("config", {}), **saved.get("identity", {}),
              "total_steps": saved.get("total_steps")}
    if config.bf16 is None:  # automatic precision: the resumed run keeps the choice the run made
        now.pop("bf16")
    differ = {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}
    if differ:
        details = ", ".join(f"{k}: {a!r} then, {b!r} now" for k, (a, b) in differ.items())
        raise ValueError(f"{path} belongs to another run ({details}); resume with that run's arguments, "
                         "or start a new run with another --run-dir")
