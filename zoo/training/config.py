"""One training run's recipe (``TrainConfig``), and what config.json records of a finished run."""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
from dataclasses import dataclass, field

import torch

AUGMENTS = ("rotate", "none")


@dataclass(frozen=True)
class TrainConfig:
    """One training run's recipe: what ``fit`` uses and what config.json records (``recipe``).

    Every field must agree between a run and its resumption, except those marked ``resume=False``.
    """

    epochs: float = 4
    batch_size: int = 128
    lr: float = 3e-3  # peak of the one-cycle schedule
    head_lr: float | None = None  # peak for the classifier (``get_classifier()``); None: ``lr`` like the rest
    weight_decay: float = 1e-4
    pct_start: float = 0.15  # share of the steps spent warming up
    seed: int = 0
    augment: str = "rotate"  # "rotate": every image at a random angle each epoch; "none": upright
    bf16: bool | None = None  # bfloat16 autocast; None: decided by ``choose_precision``
    label_smoothing: float = 0.0  # cross-entropy against (1 - s) one-hot + s uniform
    ema: float = 0.0  # decay of the exponential moving average of the weights that is published; 0: none
    translate: float = 0.0  # with augment "rotate": also shift each image by up to this many pixels per axis
    scale: float = 0.0  # with augment "rotate": also scale each image by a factor in [1 - scale, 1 + scale]
    # with augment "rotate": turn each image about its ink's centre of mass, brought to the frame's centre (where
    # zoo.create_transform puts a picture's), not about the frame's centre
    centre: bool = False
    checkpoint_every: int = field(default=50, metadata={"resume": False})  # steps between resume checkpoints
    val_every: int = field(default=0, metadata={"resume": False})  # steps between validations; 0: every epoch

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                    "checkpoint_every": self.checkpoint_every}
        if self.head_lr is not None:
            positive["head_lr"] = self.head_lr
        bad = {k: v for k, v in positive.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0}
        if bad or not isinstance(self.batch_size, int) or not isinstance(self.checkpoint_every, int) \
                or isinstance(self.val_every, bool) or not isinstance(self.val_every, int) or self.val_every < 0:
            raise ValueError(f"TrainConfig: epochs, lr and head_lr (if given) must be positive numbers, batch_size and "
                             f"checkpoint_every positive ints, val_every an int >= 0; got {bad or positive}, "
                             f"val_every={self.val_every!r}")
        if not (0 <= self.label_smoothing < 1 and 0 <= self.ema < 1 and 0 <= self.scale < 1 and self.translate >= 0
                and 0 < self.pct_start < 1):
            raise ValueError("TrainConfig: label_smoothing, ema and scale must be in [0, 1), pct_start in (0, 1) and "
                             f"translate >= 0; got {self}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"TrainConfig: augment must be one of {AUGMENTS}, got {self.augment!r}")
        if (self.translate or self.scale or self.centre) and self.augment != "rotate":
            raise ValueError("--translate, --scale and --centre change the rotation augmentation; use them with "
                             "--augment rotate, or drop them")

    @classmethod
    def resume_keys(cls) -> tuple[str, ...]:
        """The fields that must agree between a run and its resumption."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("resume", True))

    @classmethod
    def from_args(cls, args, **changes) -> "TrainConfig":
        """The configuration from parsed command-line arguments (any object with the fields as attributes)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in vars(args).items() if k in fields}, **changes})


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
    about = "about the ink's centre of mass, brought to the centre" if config.centre else ""
    return "uniform random rotation in [0, 360) per image and epoch" + "".join(f", {e}" for e in [about] + extra if e)


def recipe(state: dict, dataset: str, argv, command: str = "zoo train", processes: int = 1) -> dict:
    """The training recipe recorded in config.json, from the configuration the run used (``state["config"]``)."""
    config = TrainConfig(**state["config"])
    return {
        "dataset": dataset,
        "augmentation": augmentation(config),
        "epochs": config.epochs, "steps": state["total_steps"], "batch_size": config.batch_size,
        "optimizer": f"AdamW(weight_decay={config.weight_decay})",
        "loss": f"cross-entropy(label_smoothing={config.label_smoothing})",
        "weight_average": f"EMA(decay={config.ema}), published" if config.ema else "none",
        "schedule": f"OneCycleLR(max_lr={config.lr}, pct_start={config.pct_start})"
                    + (f", classifier max_lr={config.head_lr}" if config.head_lr is not None else ""),
        "seed": config.seed,
        "bf16_autocast": config.bf16, "precision": state["precision"],
        "processes": processes,
        "threads_per_process": torch.get_num_threads(),
        "wall_time_min": round(state["wall_time_s"] / 60, 2),
        "images_per_s": round(state["images_seen"] / max(state["wall_time_s"], 1e-9), 1),
        "machine": machine(), "device": state.get("device", "cpu"),
        "val_history": state["val_history"],
        **({"val_history_raw": state["val_history_raw"]} if "val_history_raw" in state else {}),
        "command": f"{command} " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
