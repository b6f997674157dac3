#!/usr/bin/env bash
# Build the wheelhouse the GPU machines need. They run Python 3.12 with numpy, llvmlite,
# networkx, pytest, hypothesis, CuPy and PyTorch installed, have no package registry, and lack
# `bytecode` (docs/gpu.md, DESIGN "Facts"). So: bytecode's wheel plus dynajit's own cp312
# wheel (with its compiled frame hook), built here with a Python 3.12.
#
#   benchmarks/gpu_wheelhouse.sh [OUT_DIR]        (default: ./wheelhouse)
#   PYTHON312=/path/to/python3.12 benchmarks/gpu_wheelhouse.sh
#
# The folder must travel with the working tree: ignore it in git and name it in the device
# run's `carry`. Then begin each device command with the install line this script prints.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON312:-/tmp/v12/bin/python}
out=${1:-$root/wheelhouse}

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    echo "error: $python is not a Python 3.12 (the GPU machines run 3.12); set PYTHON312" >&2
    exit 1
fi

rm -rf "$out"
mkdir -p "$out"
# bytecode is pure Python and needs nothing on 3.12; pinned as in pyproject.toml.
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$out" 'bytecode>=0.16,<0.20'
# setuptools builds in the tree's build/ folder: remove it again unless it was there before.
had_build=$([ -e "$root/build" ] && echo yes || echo no)
"$python" -m pip wheel --quiet --no-deps -w "$out" "$root"
[ "$had_build" = yes ] || rm -rf "$root/build"

echo "wheelhouse: $out"
ls -l "$out"
rel=$(realpath --relative-to="$root" "$out" 2>/dev/null || echo "$out")
cat <<EOF

On the GPU machine (run from the repository root, with carry: ["$rel"]):
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $rel/*.whl && export PYTHONPATH=/tmp/site && cp /tmp/site/dynajit/_hook/_evalframe.cpython-312-*.so dynajit/_hook/ || exit;
The copy puts the compiled frame hook into the checkout too, which Python imports first when
it runs from the repository root (pytest, benchmarks/gpu.py); elsewhere /tmp/site serves.
EOF
