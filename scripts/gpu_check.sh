#!/usr/bin/env bash
# GPU check: a few HMPO steps of the tiny model with TRL on one CUDA GPU, in bf16, and again
# under DeepSpeed ZeRO-3 when deepspeed is installed. Prints a markdown block for
# results/gpu_check.md.
#
#   scripts/gpu_check.sh                    # on a CUDA machine (no network needed)
#   scripts/gpu_check.sh --cpu-dry-run      # the same Python path on CPU, 2 steps, fp32
#   OUT=/some/dir STEPS=6 scripts/gpu_check.sh
#
# Works offline: torch, transformers, peft and accelerate must be installed; trl (and its
# datasets dependency), deepspeed and dvclive are installed from ./wheels/*.whl when those
# wheels are carried along, on a CUDA machine only (pip --no-index; deepspeed as its sdist,
# wheels/deepspeed-*.tar.gz).
# Without CUDA (and without --cpu-dry-run) it says so and exits 0 without running anything.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=$(command -v python3 || command -v python); fi
DRY=0
for arg in "$@"; do
  case "$arg" in
    --cpu-dry-run) DRY=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-results/gpu_check_run}
STEPS=${STEPS:-6}
SFT_STEPS=${SFT_STEPS:-300}
if [[ $DRY == 1 ]]; then STEPS=2; SFT_STEPS=5; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} DVC_NO_ANALYTICS=1

echo "== gpu_check: python $($PY -c 'import sys; print(sys.version.split()[0])'), out $OUT"
if ! $PY -c 'import torch' 2>/dev/null; then
  echo "== FAILED: torch is not installed for $PY (set PYTHON=/path/to/python)"
  exit 3
fi
if ! $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  if [[ $DRY == 0 ]]; then
    echo "== SKIPPED: CUDA is not available on this machine; nothing was run."
    echo "   (scripts/gpu_check.sh --cpu-dry-run exercises the same Python path on CPU.)"
    exit 0
  fi
  echo "== no CUDA: CPU dry run (fp32, $STEPS steps)"
fi
# carried wheels: installed only for a real CUDA run (never into a CPU dev environment)
shopt -s nullglob
wheels=(wheels/*.whl)
if [[ $DRY == 0 ]] && (( ${#wheels[@]} )); then
  echo "== installing ${#wheels[@]} carried wheel(s) from wheels/ (offline)"
  if ! $PY -m pip install -q --no-index --find-links wheels "${wheels[@]}"; then
    echo "   dependency resolution failed offline; installing the wheels without their deps"
    $PY -m pip install -q --no-index --no-deps "${wheels[@]}"
  fi
fi

# deepspeed is published as an sdist only: build it there without its CUDA ops (ZeRO needs none)
sdists=(wheels/deepspeed-*.tar.gz)
if [[ $DRY == 0 ]] && (( ${#sdists[@]} )); then
  echo "== installing ${sdists[0]} (DS_BUILD_OPS=0, offline)"
  DS_BUILD_OPS=0 $PY -m pip install -q --no-index --no-deps --no-build-isolation "${sdists[0]}"
fi

missing=$($PY - <<'EOF'
import importlib.util
print(" ".join(m for m in ("torch", "transformers", "peft", "accelerate", "trl", "datasets", "yaml",
                           "tokenizers") if importlib.util.find_spec(m) is None))
EOF
)
if [[ -n "$missing" ]]; then
  echo "== FAILED: missing Python packages: $missing"
  echo "   carry their wheels in wheels/ (e.g. pip download trl==1.16.0 datasets==5.2.0 -d wheels)"
  exit 3
fi
$PY -c 'import importlib.metadata as m
for p in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "vllm"):
    try: print(f"   {p} {m.version(p)}")
    except m.PackageNotFoundError: print(f"   {p} (absent)")'

rm -rf "$OUT"
mkdir -p "$OUT"
dry_flag=()
if [[ $DRY == 1 ]]; then dry_flag=(--cpu-dry-run); fi

echo "== run 1: single device, HF generate, ${STEPS} HMPO steps"
t0=$(date +%s)
$PY scripts/gpu_check_train.py --mode bf16 --out "$OUT/bf16" --steps "$STEPS" \
  --sft-steps "$SFT_STEPS" "${dry_flag[@]}"
echo "   run 1 took $(( $(date +%s) - t0 )) s"

if [[ $DRY == 0 ]] && $PY -c 'import deepspeed' 2>/dev/null; then
  echo "== run 2: DeepSpeed ZeRO-3 on one GPU (configs/accelerate/zero3_multi_gpu.yaml, 1 process)"
  t0=$(date +%s)
  if $PY -m accelerate.commands.launch --config_file configs/accelerate/zero3_multi_gpu.yaml \
      --num_processes 1 --offload_optimizer_device none \
      scripts/gpu_check_train.py --mode zero3 --out "$OUT/zero3" --steps "$STEPS" \
      --model-dir "$OUT/bf16/base"; then
    echo "   run 2 took $(( $(date +%s) - t0 )) s"
  else
    echo "== run 2 FAILED (exit $?) after $(( $(date +%s) - t0 )) s"
  fi
else
  echo "== run 2 (ZeRO-3) not run: $([[ $DRY == 1 ]] && echo 'CPU dry run' || echo 'deepspeed is not installed')"
fi

echo
echo "----- paste into results/gpu_check.md -----"
$PY scripts/gpu_check_train.py --report "$OUT"
