#!/usr/bin/env bash
# The GPU-machine run (issue 15), one call of a few minutes. Never in CI.
#   bench/device.sh            probe -> kernel specs on the GPU -> bench presets -> summary
#   bench/device.sh --dry-run  print the steps it would run, run nothing
# 1. what the machine has (nvidia-smi, the NVIDIA Vulkan ICD, a system libvulkan) and whether
#    Dawn sees a GPU through Vulkan with the system drivers only (MOBIZO_ADAPTER=gpu); if not,
#    whether headless Chrome (--enable-unsafe-webgpu) does. No GPU: says so, exits 2.
# 2. the kernel specs on that GPU (f16 variants run where the adapter has shader-f16).
# 3. bench presets stories15M / stories110M / TinyLlama shapes, Node + Dawn (Chrome if only it
#    sees the GPU): matmul GFLOP/s per variant; forward tokens/s; prge / outer / mezo at
#    q = 1, 2, 4, 8, 16 (Bsz 4, T 64) with the ZO overhead. Results: bench/results/*-device.json.
# Env: DEVICE_OUT (default bench/results), DEVICE_PRESETS (default stories15M,stories110M,tinyllama),
#      DEVICE_QS (default 1,2,4,8,16), DEVICE_STEP_TIMEOUT (seconds per step, default 90: the whole run stays under 10 minutes),
#      DEVICE_ALLOW_CPU=1 (rehearsal on a machine without a GPU: SwiftShader counts as one),
#      DEVICE_NO_CHROME=1 (skip the headless-Chrome route of the probe).
set -u
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${DEVICE_OUT:-bench/results}
PRESETS=${DEVICE_PRESETS:-stories15M,stories110M,tinyllama}
QS=${DEVICE_QS:-1,2,4,8,16}
STEP_TIMEOUT=${DEVICE_STEP_TIMEOUT:-90}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TSX=(node --import tsx --import ./scripts/register-wgsl.mjs)
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# DEVICE_ALLOW_CPU=1 rehearses the whole run on a CPU driver (SwiftShader): use tiny presets then
if [ "${DEVICE_ALLOW_CPU:-0}" = 1 ]; then
  export DEVICE_ALLOW_CPU
else
  export MOBIZO_ADAPTER=gpu
  # drop SwiftShader from Vulkan variables inherited from a launcher (bin/with-gpu.js in auto mode)
  for v in VK_ADD_DRIVER_FILES VK_ICD_FILENAMES VK_DRIVER_FILES; do
    case "${!v:-}" in *swiftshader*) unset "$v" ;; esac
  done
fi
mkdir -p "$OUT"
FAILED=()

say() { printf '\n== %s\n' "$*"; }
# step NAME CMD...: runs (or prints) a command under a time limit; records a failure, goes on
step() {
  local name=$1; shift
  echo "+ $*"
  [ $DRY = 1 ] && return 0
  timeout "$STEP_TIMEOUT" "$@"
  local rc=$?
  local why=""
  [ $rc = 124 ] && why=", timed out after ${STEP_TIMEOUT}s"
  [ $rc -ne 0 ] && FAILED+=("$name (exit $rc$why)")
  return $rc
}

say "1. the machine ($(uname -srm), $(nproc) cores, node $(node --version 2>/dev/null || echo missing))"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi failed"
else
  echo "nvidia-smi: not installed (no NVIDIA driver userland here)"
fi
ICD=""
for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
  [ -f "$f" ] && ICD=$f
done
echo "NVIDIA Vulkan ICD: ${ICD:-none (looked in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d)}"
LOADER=$(ldconfig -p 2>/dev/null | grep -m1 'libvulkan.so.1' || true)
echo "system Vulkan loader: ${LOADER:-none (ldconfig -p has no libvulkan.so.1; bin/gpu-env.js then lends the loader bundled with SwiftShader, which still reads the system ICDs)}"
if [ ! -d node_modules/webgpu ]; then
  echo "node_modules is missing (npm ci cannot reach the registry on a GPU machine: carry node_modules)"
  [ $DRY = 1 ] || exit 2
fi

say "2. does Dawn see a GPU through Vulkan (MOBIZO_ADAPTER=gpu: system drivers only)?"
PROBE=$OUT/$STAMP-probe-device.json
ROUTE=node
if [ $DRY = 1 ]; then
  echo "+ node bin/with-gpu.js ${TSX[*]} bench/device.ts probe $PROBE"
else
  node bin/with-gpu.js "${TSX[@]}" bench/device.ts probe "$PROBE"
  case $? in
    0) ROUTE=node ;;
    3) ROUTE=chrome
       export MOBIZO_CHROME_ARGS="$(node -p "JSON.parse(require('fs').readFileSync('$PROBE', 'utf8')).chrome.flags || ''")"
       echo "Dawn in Node has no GPU here, headless Chrome has (flags: $MOBIZO_CHROME_ARGS): the bench runs in Chrome, the kernel specs are skipped" ;;
    *) echo "NO GPU: neither Dawn (Node) nor headless Chrome found a GPU adapter (details: $PROBE)."
       echo "Needed: the NVIDIA driver's Vulkan ICD (nvidia_icd.json) and libvulkan.so.1 on the machine."
       exit 2 ;;
  esac
fi

if [ $ROUTE = node ]; then
  say "3. kernel specs on the GPU"
  step "kernel specs" scripts/spec.sh test/kernels.spec.ts test/matmul_variants.spec.ts test/attention.spec.ts test/zo_kernels.spec.ts test/kernel_layer.spec.ts test/matmul_lora.spec.ts test/multi_adapter.spec.ts test/optimizers.spec.ts test/quants.spec.ts --reporter spec
fi

say "4. bench presets ($PRESETS), results in $OUT"
RUNTIME=()
[ $ROUTE = node ] && RUNTIME=(--node)
for p in ${PRESETS//,/ }; do
  dir=$OUT/device-$STAMP/$p
  # the matmul scenario checks every variant against a JS float64 loop: keep M small (Bsz 1, T 64)
  if [ "$p" != tinyllama ]; then
    step "$p matmul" env MOBIZO_AUTOTUNE=1 node bench/run.mjs "${RUNTIME[@]}" --preset "$p" --scenario matmul --batch 1 --seq 64 --min-ms 50 --out "$dir/matmul"
  fi
  step "$p forward+zo+decode" env MOBIZO_AUTOTUNE=1 node bench/run.mjs "${RUNTIME[@]}" --preset "$p" --scenario forward,zo,decode --q "$QS" --batch 4 --seq 64 --reps 2 --max-weight-mib 8192 --out "$dir/zo"
done
if [ $DRY = 0 ]; then
  shopt -s nullglob
  RESULTS=()
  for f in "$OUT"/device-"$STAMP"/*/*/*.json; do
    p=$(basename "$(dirname "$(dirname "$f")")"); s=$(basename "$(dirname "$f")")
    cp "$f" "$OUT/$STAMP-$p-$s-device.json" && RESULTS+=("$OUT/$STAMP-$p-$s-device.json")
  done
  say "5. summary"
  [ ${#RESULTS[@]} -gt 0 ] && node bin/with-gpu.js "${TSX[@]}" bench/device.ts summary "${RESULTS[@]}"
  ls -1 "$OUT"/"$STAMP"-*-device.json 2>/dev/null
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  say "FAILED steps: ${FAILED[*]}"
  exit 1
fi
exit 0
