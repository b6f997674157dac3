#!/usr/bin/env bash
# What one call of the device tool runs on a lent NVIDIA machine (docs/gpu.md "Running on the
# GPU machines"): install the carried bundle, then the GPU tests and/or benchmarks/gpu.py, logs under
# $OUT. The bundle (`.gpu/`, made by benchmarks/gpu_wheelhouse.sh) holds bytecode's wheel and
# llvmlite 0.50 (dynajit is written against it); the compiled extensions travel as
# carried paths.
#
#   bash benchmarks/gpu_device.sh [tests|bench|all] [extra args for benchmarks/gpu.py]
set -uo pipefail
what=${1:-all}
shift || true
out=${OUT:-/tmp/out}
mkdir -p "$out" /tmp/site
export PYTHONUNBUFFERED=1

if [ -f .gpu/libllvmlite.so.xz ]; then
    tar -xJf .gpu/llvmlite-rest.tar.xz -C /tmp/site || exit 1
    xz -dc .gpu/libllvmlite.so.xz > /tmp/site/llvmlite/binding/libllvmlite.so || exit 1
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .gpu/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD

{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
    python3 -c 'import sys, numpy, llvmlite; print(sys.version.split()[0], "numpy",
numpy.__version__, "llvmlite", llvmlite.__version__, llvmlite.__file__)'
} 2>&1 | tee "$out/env.txt"

if [ "$what" = tests ] || [ "$what" = all ]; then
    timeout "${TEST_TIMEOUT:-300}" python3 -m pytest -q -m gpu -p no:cacheprovider \
        -n "${TEST_WORKERS:-8}" --timeout 120 -rfE --tb=short tests/cuda tests/backends/ptx \
        2>&1 | tee "$out/tests.log" | tail -60
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
    timeout "${BENCH_TIMEOUT:-240}" python3 benchmarks/gpu.py --no-tests \
        --json "$out/gpu-results.json" "$@" 2>&1 | tee "$out/bench.log"
fi
