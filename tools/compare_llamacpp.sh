#!/usr/bin/env bash
# Compares AffineQuant's GGUF exports with llama.cpp's own quantizers on the bundled demo model, everything measured by
# llama.cpp itself, and writes a Markdown table.
#
# Candidates, all made from the same F16 base:
#   - the F16 base: `affinequant quantize --method rtn --wbits 16 --abits 16` (nothing quantized), exported with
#     `affinequant export --format gguf` (F16 tensors);
#   - AffineQuant: `affinequant quantize --preset w4a16g128` (Q4_1 grid, groups of 128) and the same with
#     `--group-size 32` (one Q4_1 block per group), calibrated on the calibration text, exported as GGUF;
#   - llama.cpp: `llama-quantize` of the F16 base to Q4_0, Q4_1 and Q4_K_M, each without and with an importance matrix
#     from `llama-imatrix` computed on the same calibration text (context = --seqlen); and the same again with the token
#     embeddings (the tied output layer) kept in F16 as AffineQuant's export keeps them (--token-embedding-type f16).
# Measured by `llama-perplexity -c CTX --no-repack` on the held-out text (--no-repack: the CPU's repacked weight
# layouts, AMX among them, stay off, so the figures do not depend on the build machine's instruction sets; a tools
# build with GGML_NATIVE on a CPU that reports AMX it cannot run otherwise stops with "Illegal instruction"): once
# with --kl-divergence-base on the F16 base (saves its logits), then --kl-divergence for every candidate over the same
# windows: mean KL divergence to the base, "same top" rate, perplexity. llama-perplexity scores the second half of every window (tokens CTX/2+1 .. CTX-1, BOS at the start
# of each window). Bits per weight: "file" is llama.cpp's own load log (`file size = ... (X BPW)`: file bytes * 8 /
# parameters, metadata and F32 norms included); "linears" is computed from the GGUF tensor table (bytes of the
# attention and MLP weight tensors * 8 / their elements).
# The base model's perplexity is also checked against `affinequant eval --seqlen CTX` (every prediction of every
# window scored), against `llama-perplexity --ppl-stride CTX-1` (every prediction of windows of CTX tokens that start
# every CTX-1 tokens: the closest llama-perplexity comes to that protocol) and, when build/bin/aq-llama-check exists,
# against llama.cpp's library with exactly that protocol.
#
# Usage (from the repository root):
#   tools/compare_llamacpp.sh --out FILE.md [options]
# Options:
#   --out FILE          where the Markdown report goes (required)
#   --work DIR          runs, GGUF files and logs (default build-llamacpp-compare); finished steps are reused
#                       unless --force (runs are told apart by preset, group size or grid, --nsamples, --seqlen and
#                       --epochs only: use --force after changing --quantize-args or --calib)
#   --nsamples N        calibration windows (default 32)
#   --seqlen N          calibration window length; also llama-imatrix's context (default 512)
#   --epochs E          calibration epochs (default: the preset's, 20)
#   --groups "G ..."    group sizes of the AffineQuant runs (default "128 32"; 128 is the preset's own)
#   --preset NAME       AffineQuant preset (default w4a16g128)
#   --grids "G ..."     k-quant grids of further AffineQuant runs (`--weight-grid G` on --preset, e.g. "q4_k_m q3_k_m
#                       q2_k_m"; default none). --preset's bits do not matter for them: --wbits follows the grid.
#                       G:gptq adds --gptq-rounding to that run (e.g. "q4_k_m q4_k_m:gptq")
#   --quantize-args "A" extra options for every `affinequant quantize` calibration (e.g. "--device cuda")
#   --types "T ..."     llama-quantize types (default "Q4_0 Q4_1 Q4_K_M")
#   --imatrix-chunks K  llama-imatrix chunks of --seqlen tokens (default 0: the whole calibration text)
#   --no-f16-embd       skip the llama-quantize variants with F16 token embeddings
#   --aq-token-embedding-type q6_k
#                       also export every k-quant AffineQuant run with `--token-embedding-type q6_k` (token
#                       embeddings as Q6_K, as llama-quantize's k-quant file types store them; rows "token_embd Q6_K")
#   --ctx N             llama-perplexity context (default 256)
#   --threads N         llama.cpp threads (default: all cores)
#   --calib "FILES"     calibration text files, concatenated (default resources/demo-text/train/*.txt)
#   --heldout FILE      evaluation text (default resources/demo-text/heldout.txt)
#   --model DIR         model folder (default resources/demo-model; LLaMA architecture)
#   --tools DIR         where llama.cpp's tools are built once and cached (default $AQ_LLAMACPP_TOOLS or
#                       ~/.cache/affinequant/llama.cpp-3.21.1-tools); the build is skipped when
#                       DIR/bin/llama-{perplexity,quantize,imatrix} exist
#   --llamacpp DIR      the pinned llama.cpp npm package (default $AQ_LLAMACPP_DIR or
#                       /opt/affinequant-deps/llama.cpp-3.21.1); its node_modules/node-llama-cpp/llama/gitRelease.bundle
#                       is the source the tools are built from
#   --jobs N            parallel compile jobs for the tools (default 2)
#   --force             redo every run, export, quantization and measurement
# Needs: build/bin/affinequant (built); the llama.cpp package installed by tools/install-deps.sh; git, cmake, ninja
# (or make) and a C/C++ compiler for the one-time tools build (CPU only, Release, about 270 compile steps); python3
# (standard library only). The tools build runs at nice 15 in the background while the calibrations run.
set -euo pipefail

AQ_EMBD="" OUT="" WORK=build-llamacpp-compare NSAMPLES=32 SEQLEN=512 EPOCHS="" GROUP_SIZES="128 32" PRESET=w4a16g128 QARGS="" GRIDS=""
TYPES="Q4_0 Q4_1 Q4_K_M" IMATRIX_CHUNKS=0 F16_EMBD=1 CTX=256 THREADS=$(nproc) JOBS=2 FORCE=0
CALIB_FILES="resources/demo-text/train/*.txt" HELDOUT=resources/demo-text/heldout.txt MODEL=resources/demo-model
TOOLS=${AQ_LLAMACPP_TOOLS:-$HOME/.cache/affinequant/llama.cpp-3.21.1-tools}
LLAMACPP=${AQ_LLAMACPP_DIR:-/opt/affinequant-deps/llama.cpp-3.21.1}
AQ=build/bin/affinequant

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-2}"; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) OUT=$2;; --work) WORK=$2;; --nsamples) NSAMPLES=$2;; --seqlen) SEQLEN=$2;; --epochs) EPOCHS=$2;;
    --groups) GROUP_SIZES=$2;; --grids) GRIDS=$2;; --preset) PRESET=$2;; --quantize-args) QARGS=$2;; --types) TYPES=$2;;
    --imatrix-chunks) IMATRIX_CHUNKS=$2;; --ctx) CTX=$2;; --threads) THREADS=$2;; --calib) CALIB_FILES=$2;;
    --heldout) HELDOUT=$2;; --model) MODEL=$2;; --tools) TOOLS=$2;; --llamacpp) LLAMACPP=$2;; --jobs) JOBS=$2;;
    --no-f16-embd) F16_EMBD=0; shift; continue;;
    --aq-token-embedding-type) AQ_EMBD=$2;;
    --force) FORCE=1; shift; continue;;
    -h|--help) usage 0;;
    *) echo "compare_llamacpp: unknown option '$1' (see --help)" >&2; exit 2;;
  esac
  [[ $# -ge 2 ]] || { echo "compare_llamacpp: $1 needs a value" >&2; exit 2; }
  shift 2
done
[[ -n $OUT ]] || { echo "compare_llamacpp: --out FILE.md is required (see --help)" >&2; exit 2; }

T0=$(date +%s)
log() { printf '[%s +%4ds] %s\n' "$(date +%H:%M:%S)" $(( $(date +%s) - T0 )) "$*"; }
die() { echo "compare_llamacpp: $*" >&2; exit 1; }

[[ -d $MODEL && -f $HELDOUT && -x $AQ ]] || die "run from the repository root with $AQ built (cmake --build --preset default)"
BUNDLE=$LLAMACPP/node_modules/node-llama-cpp/llama/gitRelease.bundle
TOOL_NAMES=(llama-perplexity llama-quantize llama-imatrix)
tools_present() { local t; for t in "${TOOL_NAMES[@]}"; do [[ -x $TOOLS/bin/$t ]] || return 1; done; }
command -v python3 >/dev/null || die "python3 is needed"

mkdir -p "$WORK/logs"
WORK=$(cd "$WORK" && pwd)
LOGS=$WORK/logs
TIMES=$WORK/timings.tsv
: > "$TIMES"
timing() { printf '%s\t%s\n' "$1" "$2" >> "$TIMES"; }

# ---------------------------------------------------------------------------------------------------------------------
# llama.cpp's tools: built once from the bundle into $TOOLS (CPU only, Release, only the three targets), in the
# background while the calibrations run.
BUILD_PID=""
if tools_present; then
  log "llama.cpp tools: $TOOLS/bin (cached, not rebuilt)"
else
  [[ -f $BUNDLE ]] || die "no llama.cpp source bundle at $BUNDLE; run tools/install-deps.sh (or pass --llamacpp DIR)"
  for c in git cmake; do command -v $c >/dev/null || die "$c is needed to build llama.cpp's tools"; done
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  mkdir -p "$TOOLS"
  log "llama.cpp tools: building ${TOOL_NAMES[*]} in $TOOLS (nice 15, -j$JOBS, log $TOOLS/build.log) in the background"
  (
    set -e
    exec 9> "$TOOLS/.build.lock"
    flock 9   # one build at a time; a second run of this script waits here and then finds the tools
    if tools_present; then exit 0; fi
    exec > "$TOOLS/build.log" 2>&1
    start=$(date +%s)
    if [[ ! -d $TOOLS/src/.git ]]; then
      rm -rf "$TOOLS/src"
      git clone -q "$BUNDLE" "$TOOLS/src"
    fi
    nice -n 15 cmake -S "$TOOLS/src" -B "$TOOLS/build" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_NATIVE=ON \
      -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_BUILD_APP=OFF
    nice -n 15 cmake --build "$TOOLS/build" -j "$JOBS" --target "${TOOL_NAMES[@]}"
    mkdir -p "$TOOLS/bin"
    git -C "$TOOLS/src" rev-parse HEAD > "$TOOLS/bin/COMMIT"
    echo "$(( $(date +%s) - start ))" > "$TOOLS/bin/BUILD_SECONDS"
    for t in "${TOOL_NAMES[@]}"; do cp "$TOOLS/build/bin/$t" "$TOOLS/bin/$t.tmp" && mv "$TOOLS/bin/$t.tmp" "$TOOLS/bin/$t"; done
  ) &
  BUILD_PID=$!
fi

build_progress() { if [[ -f $TOOLS/build.log ]]; then grep -o '^\[[0-9]*/[0-9]*\]' "$TOOLS/build.log" | tail -1; fi; }

wait_tools() {
  [[ -z $BUILD_PID ]] && return 0
  local n=0
  while kill -0 "$BUILD_PID" 2>/dev/null; do
    (( n++ % 6 == 0 )) && log "waiting for the llama.cpp tools build: $(build_progress)"
    sleep 10
  done
  if ! wait "$BUILD_PID"; then BUILD_PID=""; tail -20 "$TOOLS/build.log" >&2; die "the llama.cpp tools build failed (log: $TOOLS/build.log)"; fi
  BUILD_PID=""
  tools_present || die "the llama.cpp tools build finished without ${TOOL_NAMES[*]} (log: $TOOLS/build.log)"
  log "llama.cpp tools built in $(cat "$TOOLS/bin/BUILD_SECONDS") s"
  timing "llama.cpp tools build (${TOOL_NAMES[*]}, -j$JOBS, nice 15)" "$(cat "$TOOLS/bin/BUILD_SECONDS")"
}

# ---------------------------------------------------------------------------------------------------------------------
# AffineQuant runs and their GGUF exports (each calibration in the background, polled for its block count).
CALIB=$WORK/calib.txt
# shellcheck disable=SC2086
cat $CALIB_FILES > "$CALIB.tmp" && mv "$CALIB.tmp" "$CALIB"
log "calibration text: $CALIB_FILES ($(wc -c < "$CALIB") bytes)"

run_done() { [[ $FORCE == 0 && -f $1/run.json ]]; }

calibrate() {  # NAME RUNDIR ARGS...
  local name=$1 run=$2; shift 2
  if run_done "$run"; then log "$name: $run exists (reused)"; return 0; fi
  local start; start=$(date +%s)
  log "$name: affinequant quantize $*"
  "$AQ" quantize --model "$MODEL" --calib "$CALIB" --out "$run" "$@" --force > "$LOGS/$name.quantize.log" 2>&1 &
  local pid=$! last=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    local p=""
    [[ -f $run/progress.json ]] && p=$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d.get("completed_blocks",0))' "$run/progress.json" 2>/dev/null || true)
    if [[ -n $p && $p != "$last" ]]; then
      log "$name: $p blocks calibrated ($(( $(date +%s) - start )) s)${BUILD_PID:+; llama.cpp build $(build_progress)}"
      last=$p
    fi
  done
  if ! wait "$pid"; then tail -5 "$LOGS/$name.quantize.log" >&2; die "$name: affinequant quantize failed (log: $LOGS/$name.quantize.log)"; fi
  local secs=$(( $(date +%s) - start ))
  log "$name: $(tail -1 "$LOGS/$name.quantize.log")"
  timing "$name: affinequant quantize" "$secs"
}

export_gguf() {  # NAME RUNDIR FILE [EXPORT OPTIONS...]
  local name=$1 run=$2 file=$3; shift 3
  if [[ $FORCE == 0 && -f $file && $file -nt $run/run.json ]]; then log "$name: $file exists (reused)"; return 0; fi
  local start; start=$(date +%s)
  "$AQ" export --run "$run" --format gguf --out "$file" --force "$@" > "$LOGS/$name.export.log" 2>&1 ||
    { cat "$LOGS/$name.export.log" >&2; die "$name: affinequant export --format gguf failed"; }
  log "$name: $(head -1 "$LOGS/$name.export.log")"
  timing "$name: affinequant export --format gguf" "$(( $(date +%s) - start ))"
}

mkdir -p "$WORK/runs" "$WORK/gguf"
GG=$WORK/gguf
BASE=$GG/base-f16.gguf
calibrate base-f16 "$WORK/runs/base-f16" --method rtn --wbits 16 --abits 16 --nsamples "$NSAMPLES" --seqlen "$SEQLEN"
export_gguf base-f16 "$WORK/runs/base-f16" "$BASE"

EPOCH_ARGS=(); EPOCH_TAG=preset-epochs
[[ -n $EPOCHS ]] && { EPOCH_ARGS=(--epochs "$EPOCHS"); EPOCH_TAG=e$EPOCHS; }
# shellcheck disable=SC2206
EXTRA=($QARGS)
AQ_NAMES=()
for g in $GROUP_SIZES; do
  name=affinequant-$PRESET-g$g
  garg=(--group-size "$g")
  [[ $PRESET == *g"$g" ]] && garg=()
  run=$WORK/runs/$name-n$NSAMPLES-s$SEQLEN-$EPOCH_TAG
  calibrate "$name" "$run" --preset "$PRESET" "${garg[@]}" --nsamples "$NSAMPLES" --seqlen "$SEQLEN" "${EPOCH_ARGS[@]}" "${EXTRA[@]}"
  export_gguf "$name" "$run" "$GG/$name.gguf"
  AQ_NAMES+=("$name")
done
for entry in $GRIDS; do
  grid=${entry%%:*} rounding=()
  name=affinequant-$PRESET-$grid
  case $entry in
    *:gptq) rounding=(--gptq-rounding); name+=-gptq;;
    *:*) die "--grids: '$entry' is not a grid or GRID:gptq";;
  esac
  run=$WORK/runs/$name-n$NSAMPLES-s$SEQLEN-$EPOCH_TAG
  calibrate "$name" "$run" --preset "$PRESET" --weight-grid "$grid" "${rounding[@]}" --nsamples "$NSAMPLES" \
    --seqlen "$SEQLEN" "${EPOCH_ARGS[@]}" "${EXTRA[@]}"
  export_gguf "$name" "$run" "$GG/$name.gguf"
  AQ_NAMES+=("$name")
  if [[ $AQ_EMBD == q6_k ]]; then
    export_gguf "$name-embdq6k" "$run" "$GG/$name-embdq6k.gguf" --token-embedding-type q6_k
    AQ_NAMES+=("$name-embdq6k")
  fi
done

# ---------------------------------------------------------------------------------------------------------------------
# llama.cpp: importance matrix, quantizations, measurements.
wait_tools
LP=$TOOLS/bin/llama-perplexity LQ=$TOOLS/bin/llama-quantize LI=$TOOLS/bin/llama-imatrix

timed() {  # LABEL LOGFILE CMD... : runs CMD with its output in LOGFILE, records the time
  local label=$1 logf=$2; shift 2
  local start; start=$(date +%s)
  if ! "$@" > "$logf" 2>&1; then tail -15 "$logf" >&2; die "$label failed: $* (log: $logf)"; fi
  timing "$label" "$(( $(date +%s) - start ))"
}

# llama-perplexity writes its output through a logging thread, and on a busy machine its last lines (the summary) are
# sometimes missing although it exits with 0; a run whose log lacks PATTERN is repeated (at most 3 times, counted in
# the report). -lv 4: the load log (tensor types, "file size ... BPW") is printed from this verbosity on.
: > "$WORK/retries.tsv"
llama_run() {  # LABEL LOGFILE PATTERN CMD...
  local label=$1 logf=$2 pattern=$3; shift 3
  local attempt start
  for attempt in 1 2 3; do
    start=$(date +%s)
    if ! "$@" > "$logf" 2>&1; then tail -15 "$logf" >&2; die "$label failed: $* (log: $logf)"; fi
    timing "$label" "$(( $(date +%s) - start ))"
    grep -q -- "$pattern" "$logf" && return 0
    printf '%s\t%s\n' "$label" "$attempt" >> "$WORK/retries.tsv"
    log "$label: its output lacks '$pattern' (attempt $attempt); running it again"
  done
  die "$label: no '$pattern' in its output after 3 runs (log: $logf)"
}

KLD_BASE=$WORK/base-f16-c$CTX.kld
if [[ $FORCE == 1 || ! -f $KLD_BASE || $BASE -nt $KLD_BASE ]] || ! grep -q 'Final estimate' "$LOGS/base-f16.perplexity.log" 2>/dev/null; then
  log "llama-perplexity on the F16 base (-c $CTX), saving its logits"
  llama_run "llama-perplexity --kl-divergence-base (F16 base)" "$LOGS/base-f16.perplexity.log" 'Final estimate' \
    "$LP" -m "$BASE" -f "$HELDOUT" -c "$CTX" -b "$CTX" -t "$THREADS" -lv 4 --no-repack --kl-divergence-base "$KLD_BASE"
fi
log "base: $(grep -o 'Final estimate: PPL = .*' "$LOGS/base-f16.perplexity.log")"

IMATRIX=$WORK/imatrix-c$SEQLEN-chunks$IMATRIX_CHUNKS.gguf
if [[ $FORCE == 1 || ! -f $IMATRIX || $BASE -nt $IMATRIX ]]; then
  chunk_args=(); [[ $IMATRIX_CHUNKS -gt 0 ]] && chunk_args=(--chunks "$IMATRIX_CHUNKS")
  log "llama-imatrix on the calibration text (-c $SEQLEN${chunk_args:+, ${chunk_args[*]}})"
  timed "llama-imatrix (calibration text, -c $SEQLEN)" "$LOGS/imatrix.log" \
    "$LI" -m "$BASE" -f "$CALIB" -o "$IMATRIX" -c "$SEQLEN" -b "$SEQLEN" -t "$THREADS" "${chunk_args[@]}"
fi

LQ_NAMES=()
quantize_llama() {  # NAME TYPE ARGS...
  local name=$1 type=$2; shift 2
  local file=$GG/$name.gguf
  LQ_NAMES+=("$name")
  if [[ $FORCE == 0 && -f $file && $file -nt $BASE && ( $* != *--imatrix* || $file -nt $IMATRIX ) ]]; then return 0; fi
  log "$name: llama-quantize $* $type"
  timed "$name: llama-quantize" "$LOGS/$name.quantize.log" "$LQ" "$@" "$BASE" "$file" "$type" "$THREADS"
}
for t in $TYPES; do
  lt=$(tr '[:upper:]' '[:lower:]' <<< "$t")
  quantize_llama "llama-$lt" "$t"
  quantize_llama "llama-$lt-imatrix" "$t" --imatrix "$IMATRIX"
done
if [[ $F16_EMBD == 1 ]]; then
  for t in $TYPES; do
    lt=$(tr '[:upper:]' '[:lower:]' <<< "$t")
    quantize_llama "llama-$lt-embdf16" "$t" --token-embedding-type f16 --output-tensor-type f16
    quantize_llama "llama-$lt-imatrix-embdf16" "$t" --imatrix "$IMATRIX" --token-embedding-type f16 --output-tensor-type f16
  done
fi

CANDIDATES=(base-f16 "${AQ_NAMES[@]}" "${LQ_NAMES[@]}")
for name in "${CANDIDATES[@]}"; do
  logf=$LOGS/$name.kld.log
  if [[ $FORCE == 0 && -f $logf && $logf -nt $GG/$name.gguf && $logf -nt $KLD_BASE ]] &&
     grep -q 'Same top p:' "$logf" && grep -q 'file size' "$logf"; then continue; fi
  log "$name: llama-perplexity --kl-divergence"
  llama_run "$name: llama-perplexity --kl-divergence" "$logf" 'Same top p:' \
    "$LP" -m "$GG/$name.gguf" -f "$HELDOUT" -c "$CTX" -b "$CTX" -t "$THREADS" -lv 4 --no-repack --kl-divergence-base "$KLD_BASE" --kl-divergence
  log "$name: $(grep -o 'Mean    KLD:.*' "$logf"), $(grep -o 'Same top p:.*' "$logf"), $(grep -o 'Mean PPL(Q) .*' "$logf" | tr -s ' ')"
done

# ---------------------------------------------------------------------------------------------------------------------
# The base model's perplexity with the protocol of `affinequant eval` (every position of disjoint windows).
json_step() {  # LABEL NAME CMD... : CMD's stdout (JSON) in logs/NAME.json, its stderr in logs/NAME.log
  local label=$1 name=$2; shift 2
  local start; start=$(date +%s)
  if ! "$@" > "$LOGS/$name.json" 2> "$LOGS/$name.log"; then tail -5 "$LOGS/$name.log" >&2; die "$label failed: $*"; fi
  timing "$label" "$(( $(date +%s) - start ))"
}
log "affinequant eval --seqlen $CTX on $MODEL"
json_step "affinequant eval --seqlen $CTX (float32 model)" affinequant-eval \
  "$AQ" eval --model "$MODEL" --text "$HELDOUT" --seqlen "$CTX" --json
# llama-perplexity's strided mode scores every position of windows of CTX tokens that start every CTX-1 tokens
# (-c is raised by stride/2, hence the smaller -c); the closest llama-perplexity itself comes to that protocol.
STRIDE=$(( CTX - 1 ))
log "llama-perplexity --ppl-stride $STRIDE on the F16 base (every position scored)"
llama_run "llama-perplexity --ppl-stride $STRIDE (F16 base)" "$LOGS/base-f16.strided.log" 'llama_perf_context_print' \
  "$LP" -m "$BASE" -f "$HELDOUT" -c $(( CTX - STRIDE / 2 )) -b $(( CTX - STRIDE / 2 )) --ppl-stride "$STRIDE" -t "$THREADS" -lv 4 \
  --no-repack
if [[ -x build/bin/aq-llama-check ]]; then
  log "aq-llama-check --seqlen $CTX on the F16 base (llama.cpp's library with affinequant eval's protocol)"
  json_step "aq-llama-check --seqlen $CTX (F16 base)" aq-llama-check \
    build/bin/aq-llama-check --model "$BASE" --text "$HELDOUT" --seqlen "$CTX" --threads "$THREADS" --json
fi

# ---------------------------------------------------------------------------------------------------------------------
# The report.
mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$OUT" "$TOOLS" "$CTX" "$NSAMPLES" "$SEQLEN" "${EPOCHS:-preset}" "$PRESET" "$IMATRIX_CHUNKS" \
  "$HELDOUT" "$CALIB_FILES" "$QARGS" "$MODEL" "$THREADS" "${CANDIDATES[@]}" <<'PY'
import json, os, re, struct, sys

(work, out, tools, ctx, nsamples, seqlen, epochs, preset, ichunks, heldout, calib_files, qargs, model,
 threads) = sys.argv[1:15]
names = sys.argv[15:]
ctx = int(ctx)
logs, gg = os.path.join(work, "logs"), os.path.join(work, "gguf")
read = lambda p: open(p, errors="replace").read()

# ggml type id -> (name, elements per block, bytes per block)
GGML = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
        7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
        12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
        20: ("IQ4_NL", 32, 18), 30: ("BF16", 1, 2)}
type_name = lambda t: GGML[t][0] if t in GGML else f"type {t}"

def gguf_tensors(path):
    """(name, ggml type, elements, bytes) of every tensor, read from the GGUF header."""
    with open(path, "rb") as f:
        data = f.read(1 << 22)
    pos = 0
    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)[0]; pos += struct.calcsize("<" + fmt); return v
    def rstr():
        nonlocal pos
        n = rd("Q"); v = data[pos:pos + n].decode("utf-8", "replace"); pos += n; return v
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def rval(t):
        if t == 8: return rstr()
        if t == 9:
            et, n = rd("I"), rd("Q"); return [rval(et) for _ in range(n)]
        return rd(scalar[t])
    if data[:4] != b"GGUF": raise SystemExit(path + ": not a GGUF file")
    pos = 4; rd("I"); n_tensors, n_kv = rd("Q"), rd("Q")
    kv = {}
    for _ in range(n_kv):
        k = rstr(); kv[k] = rval(rd("I"))
    infos = []
    for _ in range(n_tensors):
        name = rstr(); dims = [rd("Q") for _ in range(rd("I"))]; t = rd("I"); off = rd("Q")
        n = 1
        for d in dims: n *= d
        infos.append((name, t, n, off))
    align = kv.get("general.alignment", 32)
    data_size = os.path.getsize(path) - (pos + align - 1) // align * align
    offs = sorted(i[3] for i in infos) + [data_size]
    res = []
    for name, t, n, off in infos:   # known types: exact size; others: up to the next tensor (padding included)
        size = n // GGML[t][1] * GGML[t][2] if t in GGML else offs[offs.index(off) + 1] - off
        res.append((name, t, n, size))
    return res

LINEAR = re.compile(r"^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$")

def tensor_summary(path):
    ts = gguf_tensors(path)
    lin = [t for t in ts if LINEAR.match(t[0])]
    counts = {}
    for t in lin: counts[type_name(t[1])] = counts.get(type_name(t[1]), 0) + 1
    mix = ", ".join(f"{v}× {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    emb = [type_name(t[1]) for t in ts if t[0] == "token_embd.weight"]
    has_output = any(t[0] == "output.weight" for t in ts)
    bpw = 8.0 * sum(t[3] for t in lin) / sum(t[2] for t in lin)
    return bpw, mix, (emb[0] if emb else "?") + ("" if has_output else " (tied)")

NUM = r"([-+0-9.eE]+|nan|inf)"
def grab(text, pattern, cast=float):
    m = re.search(pattern, text)
    return cast(m.group(1)) if m else None

def kld_stats(name):
    t = read(os.path.join(logs, name + ".kld.log"))
    return dict(ppl=grab(t, r"Mean PPL\(Q\)\s*:\s*" + NUM), ppl_err=grab(t, r"Mean PPL\(Q\)\s*:\s*\S+\s*±\s*" + NUM),
                kld=grab(t, r"Mean    KLD:\s*" + NUM), kld_err=grab(t, r"Mean    KLD:\s*\S+\s*±\s*" + NUM),
                top=grab(t, r"Same top p:\s*" + NUM), top_err=grab(t, r"Same top p:\s*\S+\s*±\s*" + NUM),
                mib=grab(t, r"file size\s*=\s*" + NUM + r" MiB"), bpw=grab(t, r"file size\s*=.*\(\s*" + NUM + r" BPW\)"),
                chunks=grab(t, r"computing over (\d+) chunks", int))

def label(name):
    if name == "base-f16":
        return "F16 base (affinequant, nothing quantized)"
    m = re.match(r"affinequant-(.+)-(q\d_k(?:_m)?)(-gptq)?(-embdq6k)?$", name)
    if m:
        return (f"AffineQuant `--preset {m.group(1)} --weight-grid {m.group(2)}" +
                (" --gptq-rounding`" if m.group(3) else "`") + (", token_embd Q6_K" if m.group(4) else ""))
    m = re.match(r"affinequant-(.+)-g(\d+)$", name)
    if m:
        return f"AffineQuant `--preset {m.group(1)}`" + ("" if m.group(1).endswith("g" + m.group(2)) else f" `--group-size {m.group(2)}`")
    m = re.match(r"llama-(.+?)(-imatrix)?(-embdf16)?$", name)
    return (f"llama-quantize {m.group(1).upper()}" + (" + imatrix" if m.group(2) else "")
            + (", token_embd F16" if m.group(3) else ""))

f = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"
lines = ["| Model | Linear weights | token_embd | BPW, file (llama.cpp log) | BPW, linears (tensor sizes) | Size (MiB) "
         "| Mean KLD | Same top (%) | PPL |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|"]
chunks = None
for name in names:
    s = kld_stats(name)
    chunks = chunks or s["chunks"]
    bpw_lin, mix, emb = tensor_summary(os.path.join(gg, name + ".gguf"))
    kld = "0 (reference)" if name == "base-f16" else f"{f(s['kld'], 5)} ± {f(s['kld_err'], 5)}"
    lines.append(f"| {label(name)} | {mix} | {emb} | {f(s['bpw'], 2)} | {f(bpw_lin, 2)} | {f(s['mib'], 2)} | {kld} | "
                 f"{f(s['top'], 2)} ± {f(s['top_err'], 2)} | {f(s['ppl'], 3)} ± {f(s['ppl_err'], 3)} |")

base_log = read(os.path.join(logs, "base-f16.perplexity.log"))
lp_ppl = grab(base_log, r"Final estimate: PPL = " + NUM)
lp_err = grab(base_log, r"Final estimate: PPL = \S+ \+/- " + NUM)
strided = re.findall(r"\[(\d+)\]" + NUM, read(os.path.join(logs, "base-f16.strided.log")))
ev = json.load(open(os.path.join(logs, "affinequant-eval.json")))
p = os.path.join(logs, "aq-llama-check.json")
chk = json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
imat = read(os.path.join(logs, "imatrix.log"))
imat_chunks = grab(imat, r"computing over (\d+) chunks", int)

# lines of llama.cpp's logs worth a look: its warnings and errors (levels W and E), and the quantizers' notes
notes = {}
for fn in sorted(os.listdir(logs)):
    if not (fn.endswith(".kld.log") or fn in ("base-f16.perplexity.log", "base-f16.strided.log", "imatrix.log")
            or (fn.startswith("llama-") and fn.endswith(".quantize.log"))):
        continue
    for ln in read(os.path.join(logs, fn)).splitlines():
        ln = re.sub(r"^[0-9.]+ (?=[A-Z] )", "", ln.strip())   # drop the time stamp, keep the level letter
        if (re.match(r"^[WE] ", ln) or re.search(r"did not find|fallback|warning|deprecated", ln, re.I)) and " - kv " not in ln:
            notes.setdefault(ln, []).append(fn[:-4])
retries = [l.split("\t") for l in read(os.path.join(work, "retries.tsv")).splitlines() if "\t" in l]

commit_file = os.path.join(tools, "bin", "COMMIT")
commit = read(commit_file).strip()[:12] if os.path.exists(commit_file) else "?"
cfg = json.load(open(os.path.join(model, "config.json")))
hidden, vocab = cfg["hidden_size"], cfg["vocab_size"]
tied = cfg.get("tie_word_embeddings", False)
base_t = gguf_tensors(os.path.join(gg, "base-f16.gguf"))
emb_share = 100.0 * sum(t[2] for t in base_t if t[0] == "token_embd.weight") / sum(t[2] for t in base_t)
md = [f"### AffineQuant's GGUF export against llama.cpp's quantizers ({os.path.basename(os.path.normpath(model))}, "
      "measured by llama.cpp)", ""]
md.append(
    f"`{model}` (LLaMA, {cfg['num_hidden_layers']} blocks, hidden {hidden}, FFN {cfg['intermediate_size']}, "
    f"{cfg['num_attention_heads']} query heads and {cfg.get('num_key_value_heads', cfg['num_attention_heads'])} "
    f"key/value heads, vocabulary {vocab}{', tied embeddings' if tied else ''}). Every file is measured by llama.cpp "
    f"{commit} (the node-llama-cpp 3.21.1 release) with `llama-perplexity -c {ctx}` on `{heldout}`: {chunks} windows "
    f"of {ctx} tokens, of each the last {ctx - 1 - ctx // 2} predictions scored (llama-perplexity's protocol), KL "
    f"divergence and same-top rate against the F16 base's logits (`--kl-divergence-base`), the same windows for "
    f"every row. AffineQuant: `affinequant quantize --preset {preset}`, {nsamples} calibration windows of {seqlen} "
    f"tokens from `{calib_files}`, {'the preset' + chr(39) + 's' if epochs == 'preset' else epochs} epochs"
    f"{' (' + qargs + ')' if qargs else ''}, then `affinequant export --format gguf`. llama.cpp: `llama-quantize` of "
    f"the same F16 base file; the importance matrix is `llama-imatrix` over the same calibration text, context "
    f"{seqlen}, {imat_chunks if imat_chunks else '?'} chunks ({'all of it' if ichunks == '0' else '--chunks ' + ichunks}). "
    f"BPW, file: llama.cpp's load log (`file size = ... (X BPW)`: file bytes × 8 / parameters, metadata, norms, "
    f"biases and token embeddings included; the {vocab} × {hidden} token embeddings"
    f"{', which are also the tied output layer,' if tied else ''} are {emb_share:.0f} % of this model's parameters). "
    f"BPW, linears: the q/k/v/o and MLP weight tensors only, computed from the "
    f"GGUF tensor table (bytes × 8 / elements). Errors are llama-perplexity's ± (one standard error).")
md += ["", *lines, ""]
md.append(f"The unquantized model's perplexity at context {ctx}:")
md.append("")
md.append(f"- `llama-perplexity -c {ctx}`, F16 base GGUF: {f(lp_ppl, 4)} ± {f(lp_err, 4)} (the last {ctx - 1 - ctx // 2} "
          f"predictions of each window, BOS in every window's first position)")
if strided:
    md.append(f"- `llama-perplexity --ppl-stride {ctx - 1}` (windows of {ctx} tokens every {ctx - 1} tokens, every "
              f"prediction scored), F16 base GGUF: {float(strided[-1][1]):.4f} over {strided[-1][0]} windows")
if chk:
    md.append(f"- `aq-llama-check --seqlen {ctx}` (llama.cpp's library with `affinequant eval`'s protocol), F16 base "
              f"GGUF: {chk['perplexity']:.4f} over {chk['windows']} windows ({chk.get('text_tokens')} tokens)")
md.append(f"- `affinequant eval --seqlen {ctx}`, `{model}` in float32: {ev['perplexity']:.4f} over {ev['windows']} "
          f"disjoint windows, every prediction scored ({ev.get('text_tokens')} tokens)")
md.append("")
if notes or retries:
    md.append("From llama.cpp's logs:")
    md.append("")
    for ln, who in notes.items():
        md.append(f"- `{ln}` ({len(who)} log{'s' if len(who) > 1 else ''}: {', '.join(who[:4])}{', ...' if len(who) > 4 else ''})")
    for label_, attempt in retries:
        md.append(f"- {label_}: the output of run {attempt} lacked its final lines (exit status 0); run again")
    md.append("")
times, order = {}, []
for l in read(os.path.join(work, "timings.tsv")).splitlines():
    if "\t" in l:
        k, v = l.split("\t")
        if k not in times: order.append(k); times[k] = []
        times[k].append(v)
if times:
    md.append(f"Timings (wall clock, seconds; {os.cpu_count()} cores, llama.cpp with {threads} threads):")
    md.append("")
    md += ["| Step | s |", "|---|---:|"] + [f"| {k} | {' + '.join(times[k])} |" for k in order]
    md.append("")
open(out, "w").write("\n".join(md))
print("\n".join(md))
PY
log "done; report written to $OUT (work folder $WORK)"
