"""Speed of the zoo, measured side by side in one run (a benchmark: it prints figures, it asserts nothing).

    zoo bench                 # all presets, 2 threads
    zoo bench c8_mnist --threads 1
    zoo bench so2_mnist trivial_mnist --threads 1 --profile   # where a training step's time goes

Per preset: parameters, MFLOPs per 28x28 image, training images/s (float32, and bfloat16 autocast where the CPU
has native bfloat16 or ``--bf16 yes``; batch 128),
inference images/s (batch 256) of the escnn model in eval mode, of its plain-PyTorch export and of the export
under torch.compile, the achieved GFLOP/s of the exported model, and the cold start from a new process to the
first prediction (escnn path and exported path, with pretrained weights), next to the same figures for a plain
torch.nn CNN with the same channel counts ("reference": conv, batch norm, ELU, the same pooling).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from math import nan
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .common import (add_models, add_threads, apply_threads, device_name, int_list, left_out, models_of, parser,
                     positive_float, positive_int, refuse_partial_update, show_table)
from ..convert import count_mflops, export
from ..exported import layer_kind
from ..layers import channels_last
from ..precision import native_bf16
from ..registry import create_model
from ..training import machine
from ..training.allocator import keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]  # the checkout, whose hubconf.py the cold start loads


class ChannelsLast(nn.Module):
    """Runs ``model`` on its input stored channels-last, as the exported models (and the escnn so2 model) do."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(channels_last(x))


def reference_cnn(exported: nn.Module, num_classes: int = 10, layout_channels_last: bool = True,
                  folded: bool = False) -> nn.Module:
    """A plain CNN with the exported model's channel counts and pooling, but no symmetry: conv, batch norm and
    torch's ELU; with ``folded``, as deployed for inference, the batch norm folded into the conv (a conv with a
    bias, as in the exported model); with ``layout_channels_last`` it runs channels-last, as the model it is
    compared with does."""
    layers: list[nn.Module] = []
    channels = 1
    for m in exported.features:
        kind = layer_kind(m)
        if kind.name == "conv":
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=folded)
            norm = [] if folded else [nn.BatchNorm2d(m.out_channels)]
            layers += [conv, *norm, nn.ELU(inplace=True)]
            channels = m.out_channels
        elif kind.name == "blur_pool":
            layers.append(kind.build())
    plain = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
    return ChannelsLast(plain) if layout_channels_last else plain


def references(model: nn.Module, exported: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The plain reference for inference (batch norm folded and channels-last, as in every exported model) and
    for training (with its batch norm, in the layout the escnn model trains in)."""
    return (reference_cnn(exported, folded=True),
            reference_cnn(exported, layout_channels_last=model.group.channels_last))


def rates(fns: dict, batch: int, rounds: int = 5, seconds: float = 0.6) -> dict[str, float]:
    """Images per second of each ``fn()`` processing ``batch`` images: the median call time, measured in
    interleaved rounds so that a machine whose speed drifts (shared CPUs do) slows every contender alike."""
    for fn in fns.values():
        fn(), fn()  # warm up (and compile)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            while not times[name] or time.perf_counter() - start < seconds:
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: batch / statistics.median(t) for name, t in times.items()}


def _synchronized(fn, device: torch.device):
    """``fn`` that returns only once the device has finished its work (CUDA runs asynchronously)."""
    if device.type != "cuda":
        return fn

    def run():
        fn()
        torch.cuda.synchronize(device)

    return run


def training_step(model: nn.Module, bf16: bool, batch: int = 128, device: str = "cpu"):
    """A closure running one AdamW step on random 28x28 images (bf16: autocast, on the CPU only)."""
    device = torch.device(device)
    model.to(device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.rand(batch, 1, 28, 28, device=device), torch.randint(0, 10, (batch,), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _synchronized(step, device)


def training_profile(model: nn.Module, steps: int = 5, rows: int = 12) -> str:
    """torch.profiler's operators of ``steps`` float32 training steps, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    step = training_step(model, bf16=False)
    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def inference(model: nn.Module, batch: int = 256, device: str = "cpu"):
    """A closure running ``model`` without gradients on random 28x28 images."""
    device = torch.device(device)
    model.to(device)
    x = torch.rand(batch, 1, 28, 28, device=device)

    def run():
        with torch.no_grad():
            model(x)

    return _synchronized(run, device)


def cold_start(code: str, repeats: int = 2, cwd: Path = ROOT) -> float:
    """Median wall time of a new Python process running ``code`` in ``cwd`` (seconds)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def first_prediction_code(name: str, export: bool, root: Path = ROOT) -> str:
    return (f"import torch; m = torch.hub.load({str(root)!r}, {name!r}, source='local', trust_repo=True, "
            f"export={export}); m(torch.rand(1, 1, 28, 28)).argmax()")


BATCHES = (128, 256, 512, 1024)  # the device section's batch sizes
# The fewest timing rounds a published table takes (docs/deploy.md): the CPU table 10, the device section 5
PUBLISHED_ROUNDS = {"bench": 10, "bench-gpu": 5}


def loop_throughput(name: str, device: str, batch: int = 128, steps: int = 60) -> float:
    """Images/s of ``zoo train``'s own loop (``fit``: rotation augmentation on the device, AdamW, one-cycle) over
    ``steps`` steps of random images, its first steps included."""
    import tempfile

    from ..training import TrainConfig, fit

    model = create_model(name, pretrained=False)
    images, labels = torch.rand(batch * steps, 1, 28, 28), torch.randint(0, 10, (batch * steps,))
    config = TrainConfig(epochs=1, batch_size=batch, bf16=False, checkpoint_every=10 ** 6)
    with tempfile.TemporaryDirectory() as run_dir:
        state = fit(model, images, labels, images[:batch], labels[:batch], config, run_dir, name, progress=False,
                    device=device)
    return state["images_seen"] / state["wall_time_s"]


def device_row(name: str, device: str, rounds: int, seconds: float, batches=BATCHES) -> dict:
    """One preset on ``device``: float32 training and inference images/s at each batch size, escnn model against
    the plain reference and the exported model; and the throughput of the training loop at batch 128."""
    model = create_model(name, pretrained=False)
    exported = export(model)
    reference, train_reference = references(model, exported)
    row = {"model": name, "batches": {}, "loop_batch": batches[0]}
    for batch in batches:
        r = rates({"train_escnn": training_step(model, False, batch, device),
                   "train_ref": training_step(train_reference, False, batch, device)}, batch, rounds, seconds)
        r.update(rates({"infer_escnn": inference(model.eval(), batch, device),
                        "infer_export": inference(exported, batch, device),
                        "infer_ref": inference(reference.eval(), batch, device)}, batch, rounds, seconds))
        row["batches"][batch] = r
    row["loop"] = loop_throughput(name, device, batch=batches[0])
    model.to("cpu")
    return row


def device_table(rows: list[dict], device: str) -> str:
    """The device section: per preset a row at the first batch size (the training loop's) and one with each
    column's best batch."""
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "CPU"
    keys = ("train_escnn", "train_ref", "infer_escnn", "infer_export", "infer_ref")
    lines = [f"{device} ({name}), torch {torch.__version__}, float32 (TF32 where torch allows it), images/s; "
             "best: each column's fastest batch size", "",
             "| model | batch | train escnn | train ref | infer escnn | infer export | infer ref | "
             "zoo train's loop (first batch size) |", "|" + " --- |" * 8]
    for row in rows:
        first = row["loop_batch"]
        cells = [f"{row['batches'][first][k]:,.0f}" for k in keys]
        best = [max(row["batches"].items(), key=lambda item: item[1][k]) for k in keys]
        loop = row["loop"]
        lines.append(f"| {row['model']} | {first} | " + " | ".join(cells) +
                     f" | {loop:,.0f} ({100 * loop / row['batches'][first]['train_escnn']:.0f}% of the bare step) |")
        lines.append(f"| {row['model']} | best | " + " | ".join(f"{r[k]:,.0f} ({b})" for (b, r), k in zip(best, keys))
                     + " | |")
    return "\n".join(lines)


def cpu_row(name: str, args) -> dict:
    """One preset on the CPU: training (fp32, bf16) and inference images/s against the plain reference."""
    model = create_model(name, pretrained=False)
    exported = export(model)
    reference, train_reference = references(model, exported)
    mflops = count_mflops(model)
    row = {"model": name, "params": sum(p.numel() for p in model.parameters()), "mflops": mflops,
           "ref_params": sum(p.numel() for p in reference.parameters())}
    train = {"train_fp32": training_step(model, False), "ref_train_fp32": training_step(train_reference, False)}
    if measure_bf16(args):
        train.update(train_bf16=training_step(model, True), ref_train_bf16=training_step(train_reference, True))
    row.update(rates(train, 128, args.rounds, args.seconds))
    infer = {"infer_escnn": inference(model.eval()), "infer_export": inference(exported),
             "ref_infer": inference(reference.eval())}
    if not args.no_compile:
        infer["infer_compiled"] = inference(torch.compile(exported))
    row.update(rates(infer, 256, args.rounds, args.seconds))
    row["gflops_export"] = row["infer_export"] * mflops / 1e3
    if not args.no_cold_start:
        row["cold_escnn"] = cold_start(first_prediction_code(name, False))
        row["cold_export"] = cold_start(first_prediction_code(name, True))
    return row


def measure_bf16(args) -> bool:
    """``--bf16 auto``: only where the CPU has native bfloat16 (elsewhere zoo train never picks it, and an emulated
    step can take ten times as long as a float32 one)."""
    return args.bf16 == "yes" or (args.bf16 == "auto" and native_bf16())


def cpu_table(rows: list[dict], threads: int, bare: float | None, kept_memory: bool) -> str:
    bf16 = ("(zoo train's automatic precision times a step in each then" if native_bf16()
            else "(zoo train trains in float32 then") + ("" if "train_bf16" in rows[0] else "; bf16 not measured") + ")"
    lines = [f"{machine()}; {threads} threads, CPU capability "
             f"{torch.backends.cpu.get_cpu_capability()}, native bfloat16: {'yes' if native_bf16() else 'no'} "
             f"{bf16}, malloc "
             + ("keeping freed memory, as in zoo train" if kept_memory else "as the system set it")
             + "; images/s unless stated"
             + ("" if bare is None else f"; bare `python -c 'import torch'`: {bare:.2f} s"), ""]
    head = ("| model | params | MFLOPs | train fp32 | train bf16 | ref train fp32 | ref train bf16 | escnn/ref train fp32 "
            "| infer escnn | infer export | infer compiled | ref infer | export/ref infer | export GFLOP/s "
            "| cold escnn (s) | cold export (s) |")
    lines += [head, "|" + "|".join([" --- "] * (head.count("|") - 1)) + "|"]
    for r in rows:
        ratio = r["ref_train_fp32"] / r["train_fp32"]
        lines.append(f"| {r['model']} | {r['params']:,} | {r['mflops']:.1f} | {r['train_fp32']:.0f} "
                     f"| {r.get('train_bf16', nan):.0f} | {r['ref_train_fp32']:.0f} "
                     f"| {r.get('ref_train_bf16', nan):.0f} "
                     f"| {ratio:.2f}x slower | {r['infer_escnn']:.0f} | {r['infer_export']:.0f} "
                     f"| {r.get('infer_compiled', nan):.0f} | {r['ref_infer']:.0f} "
                     f"| {r['infer_export'] / r['ref_infer']:.2f}x | {r['gflops_export']:.1f} "
                     f"| {r.get('cold_escnn', nan):.2f} | {r.get('cold_export', nan):.2f} |")
    return "\n".join(lines)


def partial_run(p, args) -> list[str | bool]:
    """Why this run would not measure what the published table does (see ``refuse_partial_update``)."""
    rounds = PUBLISHED_ROUNDS["bench" if args.device is None else "bench-gpu"]
    seconds = p.get_default("seconds")
    reasons = [
        left_out(args),
        args.profile and "--profile prints no table",
        args.rounds < rounds and f"--rounds {args.rounds}: the published table takes at least {rounds}",
        args.seconds < seconds and f"--seconds {args.seconds:g}: the published table takes at least {seconds:g}",
    ]
    if args.device is not None:
        batches = ",".join(map(str, BATCHES))
        return reasons + [tuple(args.batch_sizes) != BATCHES and f"--batch-sizes: the published section has {batches}"]
    return reasons + [
        args.no_compile and "--no-compile leaves out the compiled model",
        args.no_cold_start and "--no-cold-start leaves out the cold starts",
        args.bf16 != "auto" and f"--bf16 {args.bf16}: the published table times bfloat16 where the CPU has it natively",
        args.default_malloc and "--default-malloc: not the allocator zoo train uses",
    ]


def main(argv=None) -> list[dict]:
    p = parser(__doc__)
    add_models(p)
    add_threads(p)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (it takes ~20 s per model)")
    p.add_argument("--no-cold-start", action="store_true")
    p.add_argument("--bf16", choices=("auto", "yes", "no"), default="auto",
                   help="time bfloat16 autocast training too (auto: where the CPU has native bfloat16)")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved timing rounds (default: %(default)s)")
    p.add_argument("--seconds", type=positive_float, default=0.6,
                   help="seconds each contender runs per round (default: %(default)s)")
    p.add_argument("--device", type=device_name, default=None,
                   help="instead of the CPU table, the device section on this device (cuda: a GPU): training "
                   "and inference at each --batch-sizes, and the throughput of zoo train's loop")
    p.add_argument("--batch-sizes", type=int_list, default=list(BATCHES), metavar="B1,B2,...",
                   help=f"with --device (default: {','.join(map(str, BATCHES))}; the loop runs at the first)")
    p.add_argument("--update", action="store_true", help="write the table into its block in README.md or docs/ "
                   "(a full run only: every published preset, the published settings)")
    p.add_argument("--profile", action="store_true", help="instead of the table, print where a training step "
                   "spends its time (torch.profiler), for each model and its reference CNN")
    p.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc as it is (zoo train tells it "
                   "to keep freed memory: zoo.training.allocator), to see what that is worth")
    args = p.parse_args(argv)
    if args.update and args.device is not None and not args.device.startswith("cuda"):
        p.error("--update with --device writes the GPU section; on the CPU, run without --device")
    full_run = ("zoo bench --threads 2 --rounds 10 --update" if args.device is None
                else f"zoo bench --device {args.device} --update")
    refuse_partial_update(p, args, partial_run(p, args), full_run)
    apply_threads(args)
    threads = torch.get_num_threads()
    kept_memory = not args.default_malloc and keep_freed_memory()

    if args.profile:
        for name in models_of(args):
            model = create_model(name, pretrained=False)
            _, reference = references(model, export(model))
            for label, m in [(name, model), (f"{name} reference CNN", reference)]:
                print(f"## {label}: {threads} thread(s), batch 128, float32\n{training_profile(m)}")
        return []
    if args.device is not None:
        rows = []
        for name in models_of(args):
            rows.append(device_row(name, args.device, args.rounds, args.seconds, tuple(args.batch_sizes)))
            print(f"measured {name}", file=sys.stderr, flush=True)
        show_table("bench-gpu", device_table(rows, args.device), args.update)
        return rows
    if not args.no_cold_start and not (ROOT / "hubconf.py").is_file():
        p.error("the cold start loads this checkout's hubconf.py through torch.hub; an installed zoo has none: "
                "pass --no-cold-start")
    bare = None if args.no_cold_start else cold_start("import torch")
    rows = []
    for name in models_of(args):
        rows.append(cpu_row(name, args))
        print(f"measured {name}", file=sys.stderr, flush=True)
    show_table("bench", cpu_table(rows, threads, bare, kept_memory), args.update)
    return rows


if __name__ == "__main__":
    from .common import run

    run(main)
