#!/usr/bin/env bash
# Round 5 as it ran on the GPU machine that this workplace lends some sessions (its device tool: 30 minutes a
# session, 10 a command, a bare machine with torch but no escnn and no network). Three steps:
#
#   here:     bash experiments/gpu/runs.sh prepare   # .gpu/: escnn's wheels and MNIST; carry it (carry: [".gpu"])
#   there:    bash experiments/gpu/runs.sh launch    # four 54-epoch runs side by side, detached (setsid)
#   there:    bash experiments/gpu/runs.sh wait 560  # again within the machine's 30 s idle limit, until all end
#   there:    bash experiments/gpu/runs.sh collect   # the best run on validation, whole, to $OUT; the rest's records
#
# The working tree travels too and must stay under 64 MiB: move weights/ aside during the calls. On a GPU
# machine of your own, `pip install -e .` and the zoo.train lines in experiments/accuracy.sh are all it takes.
set -e
cd "$(dirname "$0")/../.."
runs=(s0:"--seed 0" s1:"--seed 1" wd:"--weight-decay 0.01" lr:"--lr 0.006")

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
        PYTHONUNBUFFERED=1 setsid nohup python3 -m zoo.train c8_wide_mnist --data-root /tmp/data --device cuda \
            --no-bf16 --threads 2 --label-smoothing 0.1 --ema 0.999 --no-progress --epochs 54 --checkpoint-every 429 \
            --run-dir "/tmp/runs/$name" --out "/tmp/runs/$name/out" ${run#*:} > "/tmp/runs/$name.log" 2>&1 < /dev/null &
    done
    sleep 45; tail -n 2 /tmp/runs/*.log
    ;;
wait)
    end=$((SECONDS + ${2:-560}))
    while [ $SECONDS -lt $end ] && [ "$(ls /tmp/runs/*/out/config.json 2>/dev/null | wc -l)" -lt ${#runs[@]} ]; do sleep 10; done
    for f in /tmp/runs/*.log; do echo "== $f"; grep validation "$f" | tail -n 1; done
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
for name in runs.keys() - {best}:
    shutil.copy(f"/tmp/runs/{name}/out/config.json", f"{out}/{name}.config.json")
PY
    ;;
*)
    echo "usage: $0 prepare | launch | wait [SECONDS] | collect" >&2; exit 2
    ;;
esac
