"""Speed of the zoo, measured side by side in one run (a benchmark: it prints figures, it asserts nothing).

    zoo bench                 # all presets, 2 threads
    zoo bench c8_mnist --threads 1
    zoo bench so2_mnist trivial_mnist --threads 1 --profile   # where a training step's time goes

Per preset: parameters, MFLOPs per 28x28 image, training images/s (float32 and bfloat16 autocast, batch 128),
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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .common import add_models, add_threads, apply_threads, models_of, parser, positive_float, positive_int, show_table
from ..convert import count_mflops, export
from ..exported import layer_kind
from ..precision import native_bf16
from ..registry import create_model

ROOT = Path(__file__).resolve().parents[2]  # the checkout, whose hubconf.py the cold start loads


def reference_cnn(exported: nn.Module, num_classes: int = 10) -> nn.Module:
    """A plain CNN with the exported model's channel counts and pooling, but no symmetry."""
    layers: list[nn.Module] = []
    channels = 1
    for m in exported.features:
        kind = layer_kind(m)
        if kind.name == "conv":
            layers += [nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=False),
                       nn.BatchNorm2d(m.out_channels), nn.ELU(inplace=True)]
            channels = m.out_channels
        elif kind.name == "blur_pool":
            layers.append(kind.build())
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


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


def training_step(model: nn.Module, bf16: bool, batch: int = 128):
    """A closure running one AdamW step on random 28x28 images."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


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


def inference(model: nn.Module, batch: int = 256):
    """A closure running ``model`` without gradients on random 28x28 images."""
    x = torch.rand(batch, 1, 28, 28)

    def run():
        with torch.no_grad():
            model(x)

    return run


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


def main(argv=None) -> list[dict]:
    p = parser(__doc__)
    add_models(p)
    add_threads(p)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (it takes ~20 s per model)")
    p.add_argument("--no-cold-start", action="store_true")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved timing rounds (default: %(default)s)")
    p.add_argument("--seconds", type=positive_float, default=0.6,
                   help="seconds each contender runs per round (default: %(default)s)")
    p.add_argument("--update", action="store_true", help="write the table into its block in README.md or docs/")
    p.add_argument("--profile", action="store_true", help="instead of the table, print where a training step "
                   "spends its time (torch.profiler), for each model and its reference CNN")
    args = p.parse_args(argv)
    apply_threads(args)
    threads = torch.get_num_threads()

    if args.profile:
        for name in models_of(args):
            model = create_model(name, pretrained=False)
            for label, m in [(name, model), (f"{name} reference CNN", reference_cnn(export(model)))]:
                print(f"## {label}: {threads} thread(s), batch 128, float32\n{training_profile(m)}")
        return []

    rows = []
    if not args.no_cold_start and not (ROOT / "hubconf.py").is_file():
        p.error("the cold start loads this checkout's hubconf.py through torch.hub; an installed zoo has none: "
                "pass --no-cold-start")
    bare = None if args.no_cold_start else cold_start("import torch")
    for name in models_of(args):
        model = create_model(name, pretrained=False)
        exported = export(model)
        reference = reference_cnn(exported)
        mflops = count_mflops(model)
        row = {"model": name, "params": sum(p.numel() for p in model.parameters()), "mflops": mflops,
               "ref_params": sum(p.numel() for p in reference.parameters())}
        row.update(rates({"train_fp32": training_step(model, False), "train_bf16": training_step(model, True),
                          "ref_train_fp32": training_step(reference, False),
                          "ref_train_bf16": training_step(reference, True)}, 128, args.rounds, args.seconds))
        infer = {"infer_escnn": inference(model.eval()), "infer_export": inference(exported),
                 "ref_infer": inference(reference.eval())}
        if not args.no_compile:
            infer["infer_compiled"] = inference(torch.compile(exported))
        row.update(rates(infer, 256, args.rounds, args.seconds))
        row["gflops_export"] = row["infer_export"] * mflops / 1e3
        if not args.no_cold_start:
            row["cold_escnn"] = cold_start(first_prediction_code(name, False))
            row["cold_export"] = cold_start(first_prediction_code(name, True))
        rows.append(row)
        print(f"measured {name}", file=sys.stderr, flush=True)

    lines = [f"{threads} threads, torch {torch.__version__}, CPU capability "
             f"{torch.backends.cpu.get_cpu_capability()}, native bfloat16: {'yes' if native_bf16() else 'no'} "
             "(zoo train's automatic precision uses bf16 only then); images/s unless stated"
             + ("" if bare is None else f"; bare `python -c 'import torch'`: {bare:.2f} s"), ""]
    head = ("| model | params | MFLOPs | train fp32 | train bf16 | ref train fp32 | ref train bf16 | escnn/ref train fp32 "
            "| infer escnn | infer export | infer compiled | ref infer | export GFLOP/s | cold escnn (s) | cold export (s) |")
    lines += [head, "|" + "|".join([" --- "] * (head.count("|") - 1)) + "|"]
    for r in rows:
        ratio = r["ref_train_fp32"] / r["train_fp32"]
        lines.append(f"| {r['model']} | {r['params']:,} | {r['mflops']:.1f} | {r['train_fp32']:.0f} | {r['train_bf16']:.0f} "
              f"| {r['ref_train_fp32']:.0f} | {r['ref_train_bf16']:.0f} | {ratio:.2f}x slower "
              f"| {r['infer_escnn']:.0f} | {r['infer_export']:.0f} | {r.get('infer_compiled', float('nan')):.0f} "
              f"| {r['ref_infer']:.0f} | {r['gflops_export']:.1f} | {r.get('cold_escnn', float('nan')):.2f} "
              f"| {r.get('cold_export', float('nan')):.2f} |")
    show_table("bench", "\n".join(lines), args.update)
    return rows


if __name__ == "__main__":
    from .common import run

    run(main)
