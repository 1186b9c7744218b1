#!/usr/bin/env bash
# The runs that wait for a GPU, as one scripted call on a bare GPU machine (torch, but no escnn and no network;
# what travels there is the working tree and .gpu/, at most 64 MiB; what comes back is at most 8 files of 16 MiB,
# 64 MiB in all, from $OUT). Steps:
#
#   here:   bash experiments/gpu/pending.sh prepare      # .gpu/: wheels, data (xz) and the fine-tunes' parents
#           mv weights /tmp/weights-aside                 # weights/ stays here (.gpu/ carries the parents)
#   there:  bash experiments/gpu/pending.sh launch 420 && bash experiments/gpu/pending.sh collect
#                                                         # carry .gpu; the runs get 420 s, then what is done comes back
#   here:   mv /tmp/weights-aside weights
#           cat <returned>/collected.tar.* | tar -xf - -C /tmp/gpu-runs
#
# /tmp/gpu-runs then holds experiments/fashion/**.json (the records made there: copy them into this checkout's
# experiments/fashion/) and runs/<name>/ for each run: log, config.json, and model.safetensors of every fine-tune
# and centre run that finished (zoo export runs/<name> --overwrite rebuilds its exported.safetensors), or
# resume.safetensors of one cut short, which continues here with the same command and --resume.
#
# The runs, in the order they start:
# 1. c8_mnist and so2_mnist from scratch with --centre: each training digit turned about its own centre of mass,
#    so the weights never see MNIST's half-pixel hint of which way is down (docs/pictures.md); label smoothing 0.1
#    and EMA 0.999 as published, 24 epochs for both, float32. Then here: experiments/six_nine.py --weights rotated
#    --centred c8_mnist so2_mnist runs/centre-c8_mnist runs/centre-so2_mnist, and experiments/photos.py with them.
# 2. The all-image runs of the Fashion-MNIST label-budget plan without a record in experiments/fashion/, at the
#    plan's 5 epochs.
# 3. Longer schedules for the fashion weights: LONG_PRESETS fine-tuned on all images for EPOCHS_LONG epochs
#    (finetune_fashion.py run --epochs: recorded in experiments/fashion/schedule/, not in the tables). Compare
#    their validation accuracy with the 5-epoch runs' before publish --epochs --overwrite takes them.
#
# DRY=1 runs the same steps on this CPU in about a minute, on slivers of the data and no setup:
#   DRY=1 bash experiments/gpu/pending.sh launch 240 && DRY=1 OUT=/tmp/out bash experiments/gpu/pending.sh collect
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS_CENTRE=${EPOCHS_CENTRE:-24}
EPOCHS_LONG=${EPOCHS_LONG:-15}
LONG_PRESETS=${LONG_PRESETS:-c8_mnist,c8_wide_mnist}
RUNS=${RUNS_DIR:-/tmp/runs}
PY=${PY:-python3}
DEVICE=cuda
if [ "${DRY:-0}" = 1 ]; then
    PY=.venv/bin/python DEVICE=cpu RUNS=${RUNS_DIR:-/tmp/dry-runs} EPOCHS_CENTRE=1
fi
ALL=59000  # finetune_fashion.py's ALL: every training image not held out for validation

setup() {  # there: the carried wheels and lie_learn's stand-in into python3's site-packages, the data under /tmp
    $PY -m pip install -q --no-index --no-deps --no-compile .gpu/whl/*.whl
    cp -r experiments/gpu/stand-in/lie_learn "$($PY -c 'import site; print(site.getsitepackages()[0])')/"
    mkdir -p /tmp/data/MNIST/raw /tmp/fashion weights
    $PY - <<'PY'
import lzma, pathlib, shutil
for src, dst in ((".gpu/data/MNIST/raw", "/tmp/data/MNIST/raw"), (".gpu/data/fashion-mnist", "/tmp/fashion")):
    for f in pathlib.Path(src).glob("*.xz"):  # xz: the data must fit the 64 MiB that travels
        with lzma.open(f) as a, open(pathlib.Path(dst) / f.stem, "wb") as b:
            shutil.copyfileobj(a, b)
PY
    cp -r .gpu/weights/. weights/  # the parents' config.json and model.safetensors, checked against that config
}

case "${1:-}" in
prepare)
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.gpu/' "$exclude" 2>/dev/null || { mkdir -p "$(dirname "$exclude")" && echo '/.gpu/' >> "$exclude"; }
    rm -rf .gpu && mkdir -p .gpu/whl .gpu/data/MNIST/raw .gpu/data/fashion-mnist
    .venv/bin/pip download -q --no-deps -d .gpu/whl escnn==1.0.11 pymanopt==2.2.1 autograd==1.9.1
    for f in "${DATA:-../shared/data}"/MNIST/raw/*-ubyte; do xz -9 -c "$f" > ".gpu/data/MNIST/raw/$(basename "$f").xz"; done
    for f in "${FASHION:-/usr/share/datasets/fashion-mnist}"/*-ubyte.gz; do
        gunzip -c "$f" | xz -9 > ".gpu/data/fashion-mnist/$(basename "$f" .gz).xz"
    done
    # the parents: the long candidates', and every preset's whose all-image fine-tune has no record yet
    for p in c4_mnist c8_mnist d4_mnist so2_mnist c8_wide_mnist; do
        if [[ ",$LONG_PRESETS," == *",$p,"* ]] || [ ! -f "experiments/fashion/$p-finetune-n$ALL-s0.json" ]; then
            mkdir -p ".gpu/weights/$p" && cp "weights/$p/config.json" "weights/$p/model.safetensors" ".gpu/weights/$p/"
        fi
    done
    tree=$(git ls-files -co --exclude-standard | grep -v '^weights/' | xargs du -cb | tail -n 1 | cut -f1)
    echo "parents: $(ls .gpu/weights | xargs); to carry: $(du -sb .gpu | cut -f1) bytes in .gpu and $tree in the" \
         "working tree without weights/, at most 67108864 in all"
    ;;
launch)
    if [ "${DRY:-0}" != 1 ] && [ -e weights ]; then  # setup makes weights/ of the parents alone, never over published ones
        echo "launch runs where weights/ stayed behind (mv weights /tmp/weights-aside), or with DRY=1 here" >&2
        exit 2
    fi
    [ "${DRY:-0}" = 1 ] || setup
    export HF_HUB_OFFLINE=1  # a parent that did not travel fails at once, saying which
    rm -rf "$RUNS" && mkdir -p "$RUNS" && touch "$RUNS/.started"
    data=/tmp/data fashion=/tmp/fashion limit=() pids=()
    if [ "${DRY:-0}" = 1 ]; then
        data=${DATA:-../shared/data} fashion=${FASHION:-/usr/share/datasets/fashion-mnist}
        limit=(--train-size 256 --val-size 200)
    fi
    for preset in c8_mnist so2_mnist; do
        PYTHONUNBUFFERED=1 setsid nohup $PY -m zoo.cli train $preset --centre --data-root "$data" --device $DEVICE \
            --no-bf16 --threads 2 --label-smoothing 0.1 --ema 0.999 --no-progress --epochs "$EPOCHS_CENTRE" \
            --checkpoint-every 200 --run-dir "$RUNS/centre-$preset" --out "$RUNS/centre-$preset/out" "${limit[@]}" \
            > "$RUNS/centre-$preset.log" 2>&1 < /dev/null &
        pids+=($!)
    done
    fashion_runs() {  # NAME, then finetune_fashion.py run's options: detached, its runs under $RUNS/fashion
        local name=$1 && shift
        PYTHONUNBUFFERED=1 setsid nohup $PY experiments/finetune_fashion.py run --threads 1 --device $DEVICE \
            --data-root "$fashion" --runs "$RUNS/fashion" "$@" > "$RUNS/fashion-$name.log" 2>&1 < /dev/null &
        pids+=($!)
    }
    if [ "${DRY:-0}" = 1 ]; then  # all-image runs take hours on a CPU: the smallest budget, recorded aside
        fashion_runs dry --lanes 1 --modes finetune --only trivial_mnist --epochs 2 --sizes 100 --seeds 0 \
            --records "$RUNS/experiments/fashion"
    else
        fashion_runs plan --lanes 6 --modes finetune,scratch --sizes $ALL
        fashion_runs long --lanes 2 --modes finetune --only "$LONG_PRESETS" --epochs "$EPOCHS_LONG" --sizes $ALL
    fi
    running() { local p; for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && return 0; done; return 1; }
    sleep 30; tail -n 2 "$RUNS"/*.log
    if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; fi
    end=$((SECONDS + ${2:-420}))
    while [ $SECONDS -lt $end ] && running; do sleep 10; done
    for f in "$RUNS"/*.log "$RUNS"/fashion/*/log.txt; do
        if [ -f "$f" ]; then echo "== $f: $(grep -i "validation\|error\|FAILED\|wrote" "$f" | tail -n 1)"; fi
    done
    ;;
collect)
    : "${OUT:?OUT must name the folder to collect into}"
    # one tar, in pieces of 15 MiB (at most 8 files come back): records and logs first, then the finished
    # models, then the resume files of runs cut short, while the total stays under 60 MiB
    $PY - "$RUNS" "$OUT" <<'PY'
import io, pathlib, sys, tarfile
runs, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
started = (runs / ".started").stat().st_mtime
first = [p for root in (pathlib.Path("experiments/fashion"), runs / "experiments" / "fashion")
         for p in root.rglob("*.json") if p.stat().st_mtime > started]
arcname = {p: p.relative_to(runs) if p.is_relative_to(runs) else p for p in first}
dirs = sorted([*runs.glob("centre-*"), *runs.glob("fashion/*")])
logs = sorted(runs.glob("*.log"))  # the centre runs' and the fashion drivers' (each job's line: done or FAILED)
arcname.update({p: pathlib.Path("runs", p.name) for p in logs})
for d in dirs:
    for p in (d / "log.txt", d / "out" / "config.json"):
        if p.is_file():
            logs.append(p)
            arcname[p] = pathlib.Path("runs", d.name, p.name)
models = [d / "out" / "model.safetensors" for d in dirs if "-scratch-" not in d.name]
resumes = [d / "resume.safetensors" for d in dirs if not (d / "out" / "config.json").is_file()]
for d in dirs:
    for p in (d / "out" / "model.safetensors", d / "resume.safetensors"):
        arcname[p] = pathlib.Path("runs", d.name, p.name)
budget, chosen, left = 60 * 2**20, [], []
for p in [*first, *logs, *models, *resumes]:
    if p.is_file():
        size = p.stat().st_size
        (chosen if size <= budget else left).append(p)
        budget -= size if size <= budget else 0
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as tar:
    for p in chosen:
        tar.add(p, arcname=str(arcname.get(p, p)))
data, piece = buffer.getvalue(), 15 * 2**20
for i in range(0, len(data), piece):
    (out / f"collected.tar.{i // piece}").write_bytes(data[i:i + piece])
print(f"collected {len(chosen)} files, {len(data):,} bytes in {-(-len(data) // piece)} pieces; left behind (too "
      f"large for what comes back): {', '.join(str(p) for p in left) or 'none'}")
for p in chosen:
    print(" ", arcname.get(p, p))
PY
    ;;
*)
    echo "usage: $0 prepare | launch [SECONDS] | collect" >&2; exit 2
    ;;
esac
