#!/usr/bin/env bash
# On the lent GPU machine, from the repository root:  bash device/run.sh [PROFILE] [BUDGET_S]
# Installs the carried wheelhouse (.whl, from `make wheelhouse`), registers the notebooks'
# kernel, points TICKETS_DATA at the carried archive (.data/, see docs/gpu.md), restores the
# finished runs of reports/PROFILE/store into the store and executes the next steps of the
# profile's plan (device/plan.yaml, tickets.devicerun). Everything it keeps lands in $OUT:
# state.tar.gz, store.tar.gz (or its 16 MiB parts), log.txt, devicerun.txt, gpu.txt.
set -uo pipefail
profile=${1:-gpu}
budget=${2:-520}
: "${OUT:?OUT must name the output folder of the call}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
cp -r .whl/site/. /tmp/site/
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
export TICKETS_DATA=${TICKETS_DATA:-$PWD/.data/cifar10-jpeg.tar.gz}
export TICKETS_STORE=${TICKETS_STORE:-/tmp/tickets-store}
python3 -m ipykernel install --user --name tickets --display-name "Python (tickets)" >/dev/null || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
python3 -m tickets.devicerun run --profile "$profile" --out "$OUT" --budget-s "$budget" \
  "${@:3}" 2>&1 | tee "$OUT/devicerun.txt"
