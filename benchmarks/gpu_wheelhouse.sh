#!/usr/bin/env bash
# Build `.gpu/`, the bundle a GPU machine of the device tool needs (docs/gpu.md "Running on
# the GPU machines"). Those machines run Python 3.12 with numpy, CuPy and PyTorch, have no
# package registry and lack `bytecode`; their own llvmlite (numba's) was not relied on:
# dynajit is written against 0.50. So the bundle is
# bytecode's wheel and llvmlite 0.50's cp312 package, whose 178 MB libllvmlite.so is stored
# xz-compressed (39 MB; the zipped wheel, 57 MB, plus the tree would pass the tool's 64 MiB
# limit). benchmarks/gpu_device.sh unpacks it there.
#
#   benchmarks/gpu_wheelhouse.sh                (about 2 minutes: xz -9e)
#   PYTHON312=/path/to/python3.12 benchmarks/gpu_wheelhouse.sh
#
# Then carry `.gpu` and the compiled extensions (built for 3.12 here):
#   carry: [".gpu", "dynajit/_hook/_evalframe.cpython-312-x86_64-linux-gnu.so",
#           "dynajit/backends/llvm/_launch.cpython-312-x86_64-linux-gnu.so"]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON312:-/tmp/v12/bin/python}
out=$root/.gpu

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    echo "error: $python is not a Python 3.12 (the GPU machines run 3.12); set PYTHON312" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
# bytecode is pure Python; pinned as in pyproject.toml.
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$out" 'bytecode>=0.16,<0.20'
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$work" 'llvmlite==0.50.*'
(cd "$work" && unzip -q llvmlite-*.whl)
tar -cJf "$out/llvmlite-rest.tar.xz" -C "$work" --exclude=libllvmlite.so llvmlite \
    $(cd "$work" && ls -d llvmlite-*.dist-info)
xz -T0 -9e -c "$work/llvmlite/binding/libllvmlite.so" > "$out/libllvmlite.so.xz"
for ext in dynajit/_hook/_evalframe dynajit/backends/llvm/_launch; do
    ls "$root"/$ext.cpython-312-*.so >/dev/null 2>&1 || {
        echo "warning: $ext for 3.12 is not built: run pip install -e . with a 3.12" >&2; }
done
ls -l "$out"
