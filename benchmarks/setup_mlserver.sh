#!/usr/bin/env bash
# Creates the virtualenv that bench_serve.py runs MLServer from: MLServer and its XGBoost runtime,
# kept apart from gbinfer's environment so that neither pins the other's packages.
# Idempotent (an existing, working venv is left as it is) and bounded (every step has a timeout).
#   bash benchmarks/setup_mlserver.sh            # -> /work/venvs/mlserver
#   MLSERVER_VENV=/some/dir PYTHON=python3.11 bash benchmarks/setup_mlserver.sh
set -euo pipefail

VENV="${MLSERVER_VENV:-/work/venvs/mlserver}"
PYTHON="${PYTHON:-python3}"
MLSERVER_VERSION="${MLSERVER_VERSION:-1.7.1}"

check() {
    timeout 120 "$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import mlserver, mlserver_xgboost, xgboost
uvloop = md.version("uvloop")
assert tuple(int(p) for p in uvloop.split(".")[:2]) < (0, 22), f"uvloop {uvloop} breaks MLServer's workers"
print("mlserver", mlserver.__version__, "xgboost", xgboost.__version__, "uvloop", uvloop)
PY
}

if [ -x "$VENV/bin/mlserver" ] && check 2>/dev/null; then
    echo "MLServer venv ready: $VENV"
    exit 0
fi

echo "creating $VENV with mlserver==$MLSERVER_VERSION and mlserver-xgboost==$MLSERVER_VERSION"
mkdir -p "$(dirname "$VENV")"
timeout 120 "$PYTHON" -m venv "$VENV"
timeout 120 "$VENV/bin/python" -m pip install --quiet --upgrade pip
# mlserver-xgboost requires "xgboost" (the wheel with the CUDA NCCL library, ~300 MB); without a GPU
# it runs on the CPU, as gbinfer does.
# uvloop 0.22 made asyncio.get_event_loop() raise where no loop runs, which kills MLServer 1.7's
# inference workers at start ("There is no current event loop", SeldonIO/MLServer#2286): keep 0.21.
timeout 1200 "$VENV/bin/python" -m pip install --quiet \
    "mlserver==$MLSERVER_VERSION" "mlserver-xgboost==$MLSERVER_VERSION" "uvloop<0.22"
check
echo "MLServer venv ready: $VENV"
