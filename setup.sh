#!/usr/bin/env bash
# Set up a virtual environment in .venv with everything the zoo, its tests, its optional ONNX path and its
# interactive demo (Gradio) need.
# escnn needs py3nj, which compiles Fortran: gfortran comes from the system package manager.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v gfortran >/dev/null 2>&1; then
  as_root apt-get update -q >/dev/null  # a fresh machine has no package lists yet
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gfortran >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch and torchvision first, pinned to the releases this project was built and measured with
# (on the reference machine they are on local disk; elsewhere pip downloads them).
.venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/pip install -q -e ".[test,onnx,demo]"
.venv/bin/python -c "import escnn, torch, torchvision; print('ready: torch', torch.__version__, '| escnn', escnn.__version__)"
