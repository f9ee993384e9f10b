#!/usr/bin/env bash
# The GPU run (issue 25): one call of about 6 minutes on a lent GPU machine, which has no Node and no
# registry. Everything it runs comes from .devpack/ (`npm run device:pack` here; carry it along with
# the tree: the device tool's `carry: [".devpack"]`). Never part of CI.
#   bench/device.sh            unpack the pack, find the NVIDIA Vulkan driver, probe Dawn, run the stages
#   bench/device.sh --dry-run  the driver search and every stage it would run; runs nothing, writes nothing
# Stages, each under its own time limit within one budget (results of a stage cut short are kept;
# a stage that would not fit is skipped and said so):
#   probe      the Dawn adapter (features shader-f16 / subgroups / timestamp-query, limits, fp32 peak)
#   specs      the kernel specs on this adapter against their float64 references (bench/device_specs.ts)
#   matmul     every f32 / f16 matmul kernel on stories15M / TinyLlama shapes: GFLOP/s, % of fp32 peak
#   bench:P    forward and decode tokens/s, mezo / outer / prge at q = 1, 2, 4, 8, 16 (Bsz 4, T 64), ZO overhead
#   torch      bench/torch_peer.py: the same shapes in plain PyTorch on the same GPU (the peer)
#   real-size  SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B shapes in Q4_K_M: prge step time, peak memory
#   profile    one prge step per preset, every dispatch timed: each kernel's share (into bench.json)
#   summary    summary.md: every table, ours / torch side by side
# Results: $DEVICE_OUT, else $OUT (the device tool's folder), else bench/results/device-STAMP: at most
# 8 files under 16 MiB: summary.md, log.txt, probe.json, specs.json, matmul.json, bench.json,
# torch.json, real_size.json. Exit 0: all ran; 1: a stage failed or timed out; 2: no GPU (or no pack).
# Env: DEVICE_ALLOW_CPU=1   rehearsal without a GPU: tiny presets, SwiftShader from the pack
#      DEVICE_BUDGET        seconds for all stages (default 330; rehearsal 1500)
#      DEVICE_PACK          the pack folder (default .devpack beside bench/)
#      DEVICE_WORK          where it is unpacked (default $TMPDIR/mobizo-devpack-<archive sha256>)
#      DEVICE_DRIVER_ROOT   prefix of every driver path searched (a test's fake /usr/local/nvidia)
#      DEVICE_SPECS         spec names (bench/device_specs.ts); DEVICE_PRESETS, DEVICE_QS, DEVICE_REAL_SIZE
#                           (or none), DEVICE_MATMUL_M: override the plan (bench/device.ts plan)
#      DEVICE_PYTHON        the python with torch (default python3)
#      VK_DRIVER_FILES / VK_ICD_FILENAMES   an ICD of your choice (used when the file exists)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
ALLOW_CPU=${DEVICE_ALLOW_CPU:-0}
[ "$ALLOW_CPU" = 1 ] || ALLOW_CPU=0
PACK=${DEVICE_PACK:-$ROOT/.devpack}
R=${DEVICE_DRIVER_ROOT:-}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT_DIR=${DEVICE_OUT:-${OUT:-$ROOT/bench/results/device-$STAMP}}
BUDGET=${DEVICE_BUDGET:-$([ $ALLOW_CPU = 1 ] && echo 1500 || echo 330)}
RESERVE=15 # seconds kept for the summary
PY=${DEVICE_PYTHON:-python3}
T0=$SECONDS
FAILED=()

say() { printf '\n== %s\n' "$*"; }

# unpack: RUN = the unpacked pack, NODE = its Node. Returns 1 (and says why) when there is none.
unpack() {
  local want got
  if [ ! -f "$PACK/manifest.json" ] || [ ! -f "$PACK/runtime.tar.xz" ]; then
    echo "no device pack at $PACK: run 'npm run device:pack' where Node and node_modules are, and carry .devpack with the tree"
    return 1
  fi
  want=$(tr -d '\n' < "$PACK/manifest.json" | sed -n 's/.*"archive": *{[^}]*"sha256": *"\([0-9a-f]\{64\}\)".*/\1/p')
  RUN=${DEVICE_WORK:-${TMPDIR:-/tmp}/mobizo-devpack-${want:0:16}}
  NODE=$RUN/bin/node
  echo "pack: $PACK ($(du -k "$PACK/runtime.tar.xz" | cut -f1) KiB; $(tr -d '\n' < "$PACK/manifest.json" | sed -n 's/.*"node": *"\([^"]*\)".*/Node \1/p'), commit $(tr -d '\n' < "$PACK/manifest.json" | sed -n 's/.*"commit": *"\([0-9a-f]\{10\}\).*/\1/p'))"
  [ $DRY = 1 ] && { echo "unpack to: $RUN (not in a dry run)"; return 0; }
  if [ ! -f "$RUN/.unpacked" ]; then
    got=$(sha256sum "$PACK/runtime.tar.xz" | cut -c1-64)
    if [ "$got" != "$want" ]; then
      echo "the pack's archive has sha256 $got, its manifest says $want: a torn or stale copy (build it again)"
      return 1
    fi
    rm -rf "$RUN.tmp" && mkdir -p "$RUN.tmp" || return 1
    local how
    if command -v xz >/dev/null; then
      how=xz
      xz -dc "$PACK/runtime.tar.xz" | tar -x -C "$RUN.tmp"
    else
      how="python3 lzma"
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$PACK/runtime.tar.xz" | tar -x -C "$RUN.tmp"
    fi
    if [ "${PIPESTATUS[0]}${PIPESTATUS[1]}" != 00 ]; then
      echo "unpacking $PACK/runtime.tar.xz with $how failed (needs xz, or python3 with lzma)"
      return 1
    fi
    rm -rf "$RUN" && mv "$RUN.tmp" "$RUN" && touch "$RUN/.unpacked"
    echo "unpacked to $RUN with $how in $((SECONDS - T0)) s"
  fi
  if ! "$NODE" --version >/dev/null 2>&1; then
    echo "the pack's Node ($NODE) does not run here: $("$NODE" --version 2>&1 | head -1)"
    return 1
  fi
}

# first_lib NAME DIR...: the first DIR/NAME that exists; without DEVICE_DRIVER_ROOT also ldconfig's
first_lib() {
  local name=$1 d
  shift
  for d in "$@"; do
    [ -e "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  [ -z "$R" ] && ldconfig -p 2>/dev/null | sed -n "s/.*$name.*=> *\(.*\)/\1/p" | head -1
}

# find_driver: ICD (+ ICD_FROM, ICD_LIB), LOADER, LIBDIRS. The NVIDIA driver under /usr/local/nvidia
# first, then the system's Vulkan folders; a VK_DRIVER_FILES / VK_ICD_FILENAMES file wins; in a
# rehearsal, SwiftShader from the pack when no NVIDIA driver is there.
find_driver() {
  ICD="" ICD_FROM="" ICD_LIB="" LOADER="" LIBDIRS=()
  local d f v
  for d in "$R/usr/local/nvidia/lib64" "$R/usr/local/nvidia/lib"; do [ -d "$d" ] && LIBDIRS+=("$d"); done
  for v in VK_DRIVER_FILES VK_ICD_FILENAMES; do
    case "${!v:-}" in "") continue ;; *swiftshader*) [ $ALLOW_CPU = 1 ] || continue ;; esac
    IFS=: read -ra parts <<<"${!v}"
    for f in "${parts[@]}"; do
      [ -f "$f" ] && { ICD=$f ICD_FROM="named by \$$v"; break 2; }
    done
  done
  if [ -z "$ICD" ]; then
    for f in "$R"/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json "$R"/usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd*.json \
      "$R"/usr/share/vulkan/icd.d/nvidia_icd*.json "$R"/etc/vulkan/icd.d/nvidia_icd*.json; do
      [ -f "$f" ] && { ICD=$f; break; }
    done
    case $ICD in
      "$R"/usr/local/nvidia/*) ICD_FROM="under /usr/local/nvidia" ;;
      "$R"/usr/share/*) ICD_FROM="the system's /usr/share/vulkan (none under /usr/local/nvidia)" ;;
      "$R"/etc/*) ICD_FROM="the system's /etc/vulkan (none under /usr/local/nvidia or /usr/share/vulkan)" ;;
    esac
  fi
  if [ -z "$ICD" ] && [ $ALLOW_CPU = 1 ]; then
    ICD=$RUN/swiftshader/vk_swiftshader_icd.json ICD_FROM="the pack's SwiftShader (DEVICE_ALLOW_CPU=1, no NVIDIA driver found)"
  fi
  local sys=("${LIBDIRS[@]}" "$R/usr/lib/x86_64-linux-gnu" "$R/lib/x86_64-linux-gnu" "$R/usr/lib64" "$R/usr/lib")
  if [ -n "$ICD" ] && [ -f "$ICD" ]; then
    local lib
    lib=$(tr -d '\n' <"$ICD" | sed -n 's/.*"library_path" *: *"\([^"]*\)".*/\1/p')
    case $lib in
      "") ICD_LIB="(no library_path in $ICD)" ;;
      /*) [ -e "$lib" ] && ICD_LIB="$lib" || ICD_LIB="$lib (MISSING)" ;;
      */*) f="$(dirname "$ICD")/$lib"; [ -e "$f" ] && ICD_LIB="$f" || ICD_LIB="$f (MISSING)" ;;
      *) f=$(first_lib "$lib" "${sys[@]}"); [ -n "$f" ] && ICD_LIB="$lib: $f" || ICD_LIB="$lib (not found in ${sys[*]}: the loader may fail to open it)" ;;
    esac
  fi
  LOADER=$(first_lib libvulkan.so.1 "${sys[@]}")
  if [ -n "$LOADER" ]; then
    LOADER="$LOADER (the machine's)"
  else
    LOADER="$RUN/vulkan/libvulkan.so.1 (the pack's: the machine has none)"
    LIBDIRS+=("$RUN/vulkan")
  fi
}

# note NAME STATUS SECONDS: one line of the stages table
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WORK/stages.tsv"; }

# stage NAME LIMIT MIN CMD...: CMD under min(LIMIT, budget left) seconds, skipped when under MIN
# would be left; DEVICE_DEADLINE_S tells the stage when to stop starting new work.
stage() {
  local name=$1 limit=$2 min=$3
  shift 3
  local left=$((BUDGET - (SECONDS - T0) - RESERVE))
  local t=$((limit < left ? limit : left))
  if [ $DRY = 1 ]; then
    echo "+ [$name: up to ${limit} s] $*"
    return 0
  fi
  if [ "$t" -lt "$min" ]; then
    say "$name: skipped: would not fit (${left} s of the ${BUDGET} s budget left, it needs ${min} s or more)"
    note "$name" "skipped: would not fit (${left} s left)" 0
    return 0
  fi
  say "$name (up to ${t} s)"
  echo "+ $*"
  local s0=$SECONDS rc status=ok
  DEVICE_DEADLINE_S=$((t - (t / 6 > 5 ? t / 6 : 5))) timeout -k 10 "$t" "$@"
  rc=$?
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    status="timed out after ${t} s (its results so far kept)"
  elif [ $rc != 0 ]; then
    status="failed (exit $rc)"
  fi
  note "$name" "$status" $((SECONDS - s0))
  [ "$status" = ok ] || FAILED+=("$name: $status")
  return $rc
}

main() {
  say "the machine: $(uname -srm), $(nproc) cores; $(date -u +%FT%TZ); budget ${BUDGET} s$([ $ALLOW_CPU = 1 ] && echo ', REHEARSAL on a CPU driver (DEVICE_ALLOW_CPU=1)')"
  SMI=""
  if command -v nvidia-smi >/dev/null; then
    SMI=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)
  fi
  echo "nvidia-smi: ${SMI:-not installed}"
  RUN="${DEVICE_WORK:-${TMPDIR:-/tmp}/mobizo-devpack-<sha256>}"
  NODE=$RUN/bin/node
  if ! unpack; then
    [ $DRY = 1 ] || return 2
  fi

  say "the Vulkan driver"
  find_driver
  echo "Vulkan ICD: ${ICD:-none} (${ICD_FROM:-looked in $R/usr/local/nvidia/share/vulkan/icd.d, $R/usr/local/nvidia/etc/vulkan/icd.d, $R/usr/share/vulkan/icd.d, $R/etc/vulkan/icd.d})"
  echo "ICD library: ${ICD_LIB:--}"
  echo "Vulkan loader: $LOADER"
  local ldp
  ldp=$(IFS=:; echo "${LIBDIRS[*]}")
  [ -n "$ldp" ] && echo "LD_LIBRARY_PATH += $ldp"
  if [ -z "$ICD" ]; then
    echo "NO GPU DRIVER: no nvidia_icd.json found (set VK_DRIVER_FILES to one, or DEVICE_ALLOW_CPU=1 to rehearse on SwiftShader)"
    [ $DRY = 1 ] || return 2
  fi
  export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
  unset VK_ADD_DRIVER_FILES
  export LD_LIBRARY_PATH=$ldp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} MOBIZO_ROOT=$ROOT MOBIZO_ASSETS=$RUN/assets MOBIZO_BACKEND=webgpu
  export DEVICE_ICD=$ICD DEVICE_ICD_FROM=$ICD_FROM DEVICE_ICD_LIBRARY=$ICD_LIB DEVICE_LOADER=$LOADER DEVICE_NVIDIA_SMI=$SMI
  [ $DRY = 1 ] && echo "export VK_DRIVER_FILES=$ICD LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  export MOBIZO_CACHE=$WORK/cache

  local plan=$WORK/plan.json dev=("$NODE" "$RUN/js/device.mjs")
  local args=()
  [ $ALLOW_CPU = 1 ] && args+=(--cpu)
  [ -n "${DEVICE_PRESETS:-}" ] && args+=(--presets "$DEVICE_PRESETS")
  [ -n "${DEVICE_QS:-}" ] && args+=(--qs "$DEVICE_QS")
  [ -n "${DEVICE_REAL_SIZE:-}" ] && args+=(--real-size "$DEVICE_REAL_SIZE")
  [ -n "${DEVICE_MATMUL_M:-}" ] && args+=(--matmul-m "$DEVICE_MATMUL_M")
  local specs=${DEVICE_SPECS:-$([ $ALLOW_CPU = 1 ] && echo kernels,attention,zo_kernels,matmul_lora)}
  # the plan (bench/device.ts) decides the presets; a dry run, which runs nothing, shows its defaults
  local presets=${DEVICE_PRESETS:-$([ $ALLOW_CPU = 1 ] && echo stories260K || echo stories15M,tinyllama)}
  # limits per stage (GPU; the rehearsal's are 4x: SwiftShader on a few cores)
  local x=1
  [ $ALLOW_CPU = 1 ] && x=4
  echo "+ ${dev[*]} plan $plan ${args[*]}"
  if [ $DRY = 0 ]; then
    presets=$("${dev[@]}" plan "$plan" "${args[@]}") || return 1
  fi

  stage probe $((60 * x)) 10 "${dev[@]}" probe "$plan" "$OUT_DIR/probe.json"
  local rc=$?
  if [ $DRY = 0 ] && [ $rc != 0 ]; then
    echo "NO GPU: Dawn found no GPU adapter through $ICD (details: $OUT_DIR/probe.json)"
    return 2
  fi
  stage specs $((90 * x)) 30 "$NODE" "$RUN/js/specs.mjs" "$OUT_DIR/specs.json" ${specs:+--only "$specs"}
  stage matmul $((45 * x)) 15 "${dev[@]}" matmul "$plan" "$OUT_DIR/matmul.json"
  local p
  for p in ${presets//,/ }; do
    local lim=60
    [ "$p" = tinyllama ] || [ "$p" = stories110M ] && lim=110
    MOBIZO_AUTOTUNE=1 stage "bench:$p" $((lim * x)) 20 "${dev[@]}" bench "$plan" "$OUT_DIR/bench.json" --preset "$p"
  done
  if [ $DRY = 1 ] || "$PY" -c 'import torch' 2>/dev/null; then
    stage torch $((70 * x)) 20 "$PY" "$ROOT/bench/torch_peer.py" "$plan" "$OUT_DIR/torch.json"
  else
    say "torch: skipped: $PY has no torch (DEVICE_PYTHON names another python)"
    note torch "skipped: $PY has no torch" 0
  fi
  MOBIZO_AUTOTUNE=1 stage real-size $((80 * x)) 30 "${dev[@]}" real-size "$plan" "$OUT_DIR/real_size.json"
  MOBIZO_AUTOTUNE=1 stage profile $((40 * x)) 10 "${dev[@]}" profile "$plan" "$OUT_DIR/bench.json"

  say "summary"
  echo "+ ${dev[*]} summary $OUT_DIR $WORK/stages.tsv"
  [ $DRY = 1 ] && return 0
  timeout 60 "${dev[@]}" summary "$OUT_DIR" "$WORK/stages.tsv" >/dev/null || FAILED+=("summary")
  [ ${#FAILED[@]} -gt 0 ] && { say "FAILED: ${FAILED[*]}"; return 1; }
  return 0
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mobizo-device-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [ $DRY = 1 ]; then
  main
  rc=$?
else
  mkdir -p "$OUT_DIR"
  main 2>&1 | tee "$OUT_DIR/log.txt"
  rc=${PIPESTATUS[0]}
  # what comes back from a GPU machine: at most 8 files under 16 MiB each
  for f in "$OUT_DIR"/*; do
    if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt $((15 * 2 ** 20)) ]; then
      truncate -s $((15 * 2 ** 20)) "$f" && printf '\n[truncated at 15 MiB by bench/device.sh]\n' >>"$f"
    fi
  done
  echo "results ($((SECONDS - T0)) s in all): $(ls "$OUT_DIR" | tr '\n' ' ')"
fi
exit $rc
