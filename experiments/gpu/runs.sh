#!/usr/bin/env bash
# Round 6 as it ran on the GPU machine that this workplace lends some sessions (its device tool: 30 minutes a
# session, 10 a command, a bare machine with torch but no escnn and no network). Three steps:
#
#   here:     bash experiments/gpu/runs.sh prepare   # .gpu/: escnn's wheels and MNIST; carry it (carry: [".gpu"])
#   there:    bash experiments/gpu/runs.sh launch    # six runs side by side, detached (setsid); then
#             mv /tmp/runs /tmp/round6 && RUNS=seeds bash experiments/gpu/runs.sh launch   # six more
#   there:    bash experiments/gpu/runs.sh wait 560  # again within the machine's 30 s idle limit, until all end
#   there:    bash experiments/gpu/runs.sh collect   # the best run on validation, whole, to $OUT; the rest's
#                                                    # config.json files in others.tar.gz
#
# Round 5 (four 54-epoch c8_wide_mnist runs: seeds 0 and 1, --weight-decay 0.01, --lr 0.006) ran the same way
# with runs=(s0:"--seed 0" s1:"--seed 1" wd:"--weight-decay 0.01" lr:"--lr 0.006"), EPOCHS=54 and no COMMON.
#
# The working tree travels too and must stay under 64 MiB: move weights/ aside during the calls. On a GPU
# machine of your own, `pip install -e .` and the zoo train lines in experiments/accuracy.sh are all it takes.
set -e
cd "$(dirname "$0")/../.."
EPOCHS=${EPOCHS:-36}
COMMON="--lr 0.006"
JITTER="--translate 2 --scale 0.1"
runs=(w15:"" w15j:"$JITTER" w2:"--widths 32,64,64,128,128" w2j:"--widths 32,64,64,128,128 $JITTER"
      w2j1:"--widths 32,64,64,128,128 $JITTER --seed 1" w3j:"--widths 48,96,96,192,192 $JITTER")
if [ "${RUNS:-}" = seeds ]; then  # round 6's second half (RUNS=seeds, after moving /tmp/runs aside): six seeds
    EPOCHS=24 runs=(s2:"--seed 2" s3:"--seed 3" s4:"--seed 4" s5:"--seed 5" s6:"--seed 6" s7:"--seed 7")
fi

setup() {  # there: the carried wheels and lie_learn's stand-in into python3's site-packages, MNIST under /tmp/data
    python3 -m pip install -q --no-index --no-deps --no-compile .gpu/whl/*.whl
    cp -r experiments/gpu/stand-in/lie_learn "$(python3 -c 'import site; print(site.getsitepackages()[0])')/"
    mkdir -p /tmp/data/MNIST/raw
    for f in .gpu/data/MNIST/raw/*.gz; do gunzip -c "$f" > "/tmp/data/MNIST/raw/$(basename "$f" .gz)"; done
}

case "$1" in
prepare)
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    mkdir -p .gpu/whl .gpu/data/MNIST/raw
    .venv/bin/pip download -q --no-deps -d .gpu/whl escnn==1.0.11 pymanopt==2.2.1 autograd==1.9.1
    for f in "${DATA:-../shared/data}"/MNIST/raw/*-ubyte; do gzip -c "$f" > ".gpu/data/MNIST/raw/$(basename "$f").gz"; done
    ;;
launch)
    setup
    mkdir -p /tmp/runs
    for run in "${runs[@]}"; do
        name=${run%%:*}
        # shellcheck disable=SC2086
        PYTHONUNBUFFERED=1 setsid nohup python3 -m zoo.cli train c8_wide_mnist --data-root /tmp/data --device cuda \
            --no-bf16 --threads 2 --label-smoothing 0.1 --ema 0.999 --no-progress --epochs "$EPOCHS" --checkpoint-every 429 \
            --run-dir "/tmp/runs/$name" --out "/tmp/runs/$name/out" $COMMON ${run#*:} > "/tmp/runs/$name.log" 2>&1 < /dev/null &
    done
    sleep "${SETTLE:-100}"; tail -n 2 /tmp/runs/*.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
    ;;
wait)
    end=$((SECONDS + ${2:-560}))
    while [ $SECONDS -lt $end ] && [ "$(ls /tmp/runs/*/out/config.json 2>/dev/null | wc -l)" -lt ${#runs[@]} ]; do sleep 10; done
    for f in /tmp/runs/*.log; do echo "== $f $(grep -c validation "$f") epochs"; grep -i "validation\|error" "$f" | tail -n 1; done
    ;;
collect)
    python3 - <<'PY'
import glob, json, os, shutil
out = os.environ["OUT"]
runs = {p.split("/")[3]: json.load(open(p))["metrics"]["val_accuracy"] for p in glob.glob("/tmp/runs/*/out/config.json")}
best = max(runs, key=runs.get)
print(runs, "best:", best)
for f in os.listdir(f"/tmp/runs/{best}/out"):
    shutil.copy(f"/tmp/runs/{best}/out/{f}", out)
PY
    tar -czf "$OUT/others.tar.gz" -C /tmp/runs $(cd /tmp/runs && ls -d */out/config.json)
    ;;
*)
    echo "usage: $0 prepare | launch | wait [SECONDS] | collect" >&2; exit 2
    ;;
esac
