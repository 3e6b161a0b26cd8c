#!/usr/bin/env bash
# Everything that needs a GPU, in one go, in under 10 minutes on one modern GPU: run it on a CUDA machine
# from the repository root (with rnnreg installed and the PTB data staged) and keep what it writes.
#
#   benchmarks/gpu/check.sh [OUT_DIR] [DATA_DIR]      # defaults: gpu-check-<date>/, ../shared/data
#
# 1. the tests marked `gpu` (every model path on CUDA against the reference loop);
# 2. `rnnreg bench --device cuda` for the LSTM and the GRU at the medium shape;
# 3. a 2-epoch gal-medium-shaped run (tied and untied, MC over 10 passes) with one job per visible GPU.
# Every step's output goes under OUT_DIR; a failing step is recorded and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/../.."

OUT="${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}"
DATA="${2:-../shared/data}"
mkdir -p "$OUT"
GPUS="$(python -c 'import torch; print(torch.cuda.device_count())')"
if [ "$GPUS" -lt 1 ]; then
  echo "no CUDA device visible to torch: this script needs a GPU" >&2
  exit 1
fi
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
python -c 'import torch, json; print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda,
  "cudnn": torch.backends.cudnn.version(), "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}))' \
  > "$OUT/versions.json"

status=0
step() {  # step NAME COMMAND...: run it, keep its output and exit status
  local name="$1"; shift
  echo "== $name" >&2
  local start=$SECONDS
  "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - start))" | tee -a "$OUT/steps.txt" >&2
  [ $rc -eq 0 ] || status=1
}

step tests timeout 180 python -m pytest -q -m gpu tests/
step bench-lstm timeout 150 rnnreg bench --shape medium --device cuda --repeats 5 --format json
step bench-gru timeout 150 rnnreg bench --shape medium --cell gru --device cuda --repeats 5 --format json
cat > "$OUT/gal-medium-2-epochs.yaml" <<YAML
name: gal-medium-2-epochs
seeds: [0]
evaluation: {mc_samples: 10}
tasks:
  ptb:
    model: {cell: lstm, hidden_size: 650, embed_size: 650, num_layers: 2, init_scale: 0.05}
    train: {epochs: 2, batch_size: 20, bptt: 35, lr: 1.0, lr_decay: 1.2, decay_after: 7, clip: 5.0, weight_decay: 1.0e-7, weight_decay_mode: decoupled}
regularizers:
  - {spec: variational+embedding, label: gal-medium-tied, params: {p_input: 0.35, p_recurrent: 0.2, p_output: 0.35, p: 0.2}}
  - {spec: variational+embedding, label: gal-medium-untied, params: {p_input: 0.35, p_recurrent: 0.2, p_output: 0.35, p: 0.2, untied: true}}
YAML
step gal-medium timeout 300 rnnreg run --suite "$OUT/gal-medium-2-epochs.yaml" --device cuda --executor local \
  --jobs "$GPUS" --data-dir "$DATA" --results-dir "$OUT/results" --format json
echo "outputs in $OUT (steps.txt lists each step's exit status and seconds)" >&2
exit $status
