#!/usr/bin/env bash
# Build mmcv 2.1.0 *with its compiled ops* for the torch in $PY's environment, and install it.
#
# Why this script exists: PyPI has only mmcv 2.1.0's source release, and its setup.py hard-codes
# `-std=c++17`, while torch >= 2.10's headers need C++20. We download the sdist, change that one
# flag (printed below, nothing else is touched), build a wheel once with MMCV_WITH_OPS=1 and
# --no-build-isolation (so it compiles against the installed torch; setuptools<70 keeps
# pkg_resources), and keep the wheel in $MMCV_WHEEL_DIR so later set-ups install it in seconds.
#
# Usage: tools/setup/build_mmcv.sh PYTHON   (e.g. .venv/bin/python)
set -euo pipefail
PY=$(command -v "${1:?usage: build_mmcv.sh PYTHON}")
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
MMCV_VERSION=2.1.0
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
MMCV_WHEEL_DIR=${MMCV_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseg_sam_wsss/wheels/torch${TORCH_VERSION}}

if "$PY" -c 'import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != "'$MMCV_VERSION'")' 2>/dev/null; then
    echo "[build_mmcv] mmcv $MMCV_VERSION with ops already installed"
    exit 0
fi

wheel=$(ls "$MMCV_WHEEL_DIR"/mmcv-$MMCV_VERSION-$PY_TAG-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    echo "[build_mmcv] no cached wheel in $MMCV_WHEEL_DIR; building mmcv $MMCV_VERSION with ops (about 13 min on 2 cores)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$PY" -m pip download --no-deps --no-binary mmcv --no-build-isolation "mmcv==$MMCV_VERSION" -d "$work" -q
    tar xzf "$work"/mmcv-$MMCV_VERSION.tar.gz -C "$work"
    src="$work/mmcv-$MMCV_VERSION"
    echo "[build_mmcv] patching $src/setup.py: -std=c++17 -> -std=c++20 (torch's headers need C++20)"
    sed -i "s/-std=c++17/-std=c++20/g" "$src/setup.py"
    grep -n "std=c++20" "$src/setup.py"
    mkdir -p "$MMCV_WHEEL_DIR"
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=${FORCE_CUDA:-0} MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel --no-deps --no-build-isolation -w "$MMCV_WHEEL_DIR" .)
    wheel=$(ls "$MMCV_WHEEL_DIR"/mmcv-$MMCV_VERSION-$PY_TAG-*.whl | head -n 1)
fi
echo "[build_mmcv] installing $wheel"
"$PY" -m pip install --no-deps -q "$wheel"
"$PY" -m pip install -q addict "packaging" "Pillow" "pyyaml" "yapf"
"$PY" -c 'import mmcv.ops; print("[build_mmcv] import mmcv.ops OK, mmcv", __import__("mmcv").__version__)'
