#!/usr/bin/env bash
# The runs that wait for a GPU, for a session that is lent one (the device tool: about 15 minutes of device time a
# session, 10 a command, a bare machine with torch but no escnn and no network; idle for 30 s, it is handed back
# and everything on it is lost). Four steps:
#
#   here:   bash experiments/gpu/pending.sh prepare          # .gpu/: wheels, data and the parents' weights
#           mv weights /tmp/weights-aside                     # the working tree travels and must stay under 64 MiB
#   there:  bash experiments/gpu/pending.sh launch 480       # setup, every run side by side (detached), then wait
#   there:  bash experiments/gpu/pending.sh collect          # at once after: what finished, and the resume files
#   here:   mv /tmp/weights-aside weights                     # then copy the collected files back (below)
#
# (the device tool: run(command="bash experiments/gpu/pending.sh launch 480 && bash experiments/gpu/pending.sh
# collect", carry=[".gpu"], timeout_s=590)). The runs, in the order they start:
#
# 1. Issue 35: c8_mnist and so2_mnist from scratch with --centre, each training digit turned about its own centre
#    of mass, so the weights never see MNIST's half-pixel hint of which way is down (docs/pictures.md); the
#    published recipe (label smoothing 0.1, EMA 0.999) for 24 epochs. Then, here: experiments/six_nine.py
#    --weights rotated --centred c8_mnist so2_mnist <out folders>, and experiments/photos.py with them.
# 2. Issue 36, the "all" column of the label-budget table: the all-image runs the plan still lacks (the ones
#    recorded in experiments/fashion/ are skipped), at the plan's 5 epochs.
# 3. Issue 36, the 90% bar: schedule candidates for the fashion weights, fine-tuned on all images for EPOCHS_LONG
#    epochs (run --epochs: recorded in experiments/fashion/schedule/, not in the table); publish --epochs takes
#    them only if they beat the 5-epoch runs on validation.
#
# collect writes to $OUT: experiments/fashion/**/*.json records made there, every finished run's out/ folder
# (config.json, model.safetensors, exported.safetensors), and every unfinished run's resume.safetensors and log,
# so a run cut short continues on a CPU with --resume. DRY=1 runs the same steps here on the CPU in a few minutes
# (two epochs' worth of steps cut to a few, no setup): DRY=1 OUT=/tmp/out bash experiments/gpu/pending.sh launch 60
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS_CENTRE=${EPOCHS_CENTRE:-24}
EPOCHS_LONG=${EPOCHS_LONG:-15}
LONG_PRESETS=${LONG_PRESETS:-c8_mnist,c8_wide_mnist}
RUNS=${RUNS_DIR:-/tmp/runs}
PY=${PY:-python3}
DEVICE=cuda
if [ "${DRY:-0}" = 1 ]; then  # here, on the CPU: the same commands on a sliver of the data
    PY=.venv/bin/python DEVICE=cpu RUNS=${RUNS_DIR:-/tmp/dry-runs} EPOCHS_CENTRE=1 EPOCHS_LONG=1
fi
# the fine-tunes' parents that travel (the rotated MNIST weights; the rest of weights/ stays here): the long
# candidates', and any preset's whose all-image fine-tune is not recorded yet
read -r -a PARENTS <<< "${PARENTS:-c8_mnist c8_wide_mnist}"

setup() {  # there: the carried wheels and lie_learn's stand-in into python3's site-packages, the data under /tmp
    $PY -m pip install -q --no-index --no-deps --no-compile .gpu/whl/*.whl
    cp -r experiments/gpu/stand-in/lie_learn "$($PY -c 'import site; print(site.getsitepackages()[0])')/"
    mkdir -p /tmp/data/MNIST/raw /tmp/fashion
    $PY - <<'PY'
import lzma, pathlib, shutil
for src, dst in ((".gpu/data/MNIST/raw", "/tmp/data/MNIST/raw"), (".gpu/data/fashion-mnist", "/tmp/fashion")):
    for f in pathlib.Path(src).glob("*.xz"):  # xz: the data must fit the 64 MiB that travels
        with lzma.open(f) as a, open(pathlib.Path(dst) / f.stem, "wb") as b:
            shutil.copyfileobj(a, b)
PY
    for p in "${PARENTS[@]}"; do  # the fine-tunes' parents: what a pretrained load reads, checked by its record
        mkdir -p "weights/$p" && cp ".gpu/weights/$p/"* "weights/$p/"
    done
}

case "${1:-}" in
prepare)
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info && echo '/.gpu/' >> .git/info/exclude; }
    mkdir -p .gpu/whl .gpu/data/MNIST/raw .gpu/data/fashion-mnist
    .venv/bin/pip download -q --no-deps -d .gpu/whl escnn==1.0.11 pymanopt==2.2.1 autograd==1.9.1
    for f in "${DATA:-../shared/data}"/MNIST/raw/*-ubyte; do xz -9 -c "$f" > ".gpu/data/MNIST/raw/$(basename "$f").xz"; done
    for f in "${FASHION:-/usr/share/datasets/fashion-mnist}"/*-ubyte.gz; do
        gunzip -c "$f" | xz -9 > ".gpu/data/fashion-mnist/$(basename "$f" .gz).xz"
    done
    for p in "${PARENTS[@]}"; do
        mkdir -p ".gpu/weights/$p" && cp "weights/$p/config.json" "weights/$p/model.safetensors" ".gpu/weights/$p/"
    done
    echo "to carry: $(du -sb .gpu | cut -f1) bytes in .gpu, $(git ls-files | grep -v '^weights/' | xargs du -cb | tail -n 1 | cut -f1) in the working tree without weights/ (at most 67108864 in all)"
    ;;
launch)
    [ "${DRY:-0}" = 1 ] || setup
    mkdir -p "$RUNS"
    data=/tmp/data fashion=/tmp/fashion limit=()
    if [ "${DRY:-0}" = 1 ]; then
        data=${DATA:-../shared/data} fashion=${FASHION:-/usr/share/datasets/fashion-mnist} limit=(--train-size 256 --val-size 200)
    fi
    for preset in c8_mnist so2_mnist; do
        PYTHONUNBUFFERED=1 setsid nohup $PY -m zoo.cli train $preset --centre --data-root "$data" --device $DEVICE \
            --no-bf16 --threads 2 --label-smoothing 0.1 --ema 0.999 --no-progress --epochs "$EPOCHS_CENTRE" \
            --checkpoint-every 200 --run-dir "$RUNS/centre-$preset" --out "$RUNS/centre-$preset/out" "${limit[@]}" \
            > "$RUNS/centre-$preset.log" 2>&1 < /dev/null &
    done
    fashion_runs() {  # NAME, then finetune_fashion.py run's options: detached, its runs under $RUNS/fashion
        local name=$1 && shift
        PYTHONUNBUFFERED=1 setsid nohup $PY experiments/finetune_fashion.py run --threads 1 \
            --device $DEVICE --data-root "$fashion" --runs "$RUNS/fashion" "$@" > "$RUNS/fashion-$name.log" 2>&1 < /dev/null &
    }
    if [ "${DRY:-0}" = 1 ]; then  # the CPU cannot run all-image runs in minutes: the smallest budget instead
        fashion_runs dry --lanes 1 --modes finetune --only trivial_mnist --epochs 2 --sizes 100 --seeds 0 \
            --records "$RUNS/records"
    else
        fashion_runs plan --lanes 6 --modes finetune,scratch --sizes 59000
        fashion_runs long --lanes 2 --modes finetune --only "$LONG_PRESETS" --epochs "$EPOCHS_LONG" --sizes 59000
    fi
    sleep 30; tail -n 2 "$RUNS"/*.log
    if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv; fi
    end=$((SECONDS + ${2:-480}))
    while [ $SECONDS -lt $end ] && pgrep -f "zoo.cli (train|finetune)" > /dev/null; do sleep 10; done
    for f in "$RUNS"/*.log "$RUNS"/fashion/*/log.txt; do
        if [ -f "$f" ]; then echo "== $f: $(grep -i "validation\|error\|FAILED\|wrote" "$f" | tail -n 1)"; fi
    done
    ;;
collect)
    : "${OUT:?OUT must name the folder to collect into}"
    git status --porcelain --untracked-files=all experiments/fashion | awk '{print $2}' | while read -r f; do
        mkdir -p "$OUT/$(dirname "$f")" && cp "$f" "$OUT/$f"
    done
    if [ -d "$RUNS/records" ]; then cp -r "$RUNS/records" "$OUT/"; fi  # a dry run's records
    for dir in "$RUNS"/centre-* "$RUNS"/fashion/*; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir") && mkdir -p "$OUT/runs/$name"
        if [ -f "$dir/out/config.json" ]; then
            cp "$dir"/out/{config.json,model.safetensors,exported.safetensors} "$OUT/runs/$name/"
        elif [ -f "$dir/resume.safetensors" ]; then
            cp "$dir/resume.safetensors" "$OUT/runs/$name/"
        fi
        for log in "$dir/log.txt" "$RUNS/$name.log"; do if [ -f "$log" ]; then cp "$log" "$OUT/runs/$name/"; fi; done
    done
    du -sh "$OUT"; find "$OUT" -type f | sort
    ;;
*)
    echo "usage: $0 prepare | launch [SECONDS] | collect" >&2; exit 2
    ;;
esac
