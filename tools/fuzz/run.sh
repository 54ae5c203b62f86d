#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md): first every saved regression input of a target, then a bounded
# campaign from its seed corpus (tools/fuzz/make_seeds.py) plus the corpus kept from earlier campaigns.
#
# usage: tools/fuzz/run.sh [--minutes N | --seconds N | --runs N] [--timeout S] [--build DIR] [TARGET...]
#   --minutes N / --seconds N   fuzz each target for that long (default: 1 minute)
#   --runs N                    fuzz each target for N inputs instead
#   --timeout S                 an input running longer than S seconds is a hang (default 5)
#   --build DIR                 the fuzz build folder (default build-fuzz, preset "fuzz")
#   TARGET                      safetensors config tokenizer_json gpt2_bpe sentencepiece run_json run_views gguf
#                               (default: all)
# Extra libFuzzer options can be given in AQ_FUZZ_FLAGS (e.g. AQ_FUZZ_FLAGS="-jobs=2 -workers=2").
# Exit status: 0 when no target crashed, hung or ran out of memory; 1 otherwise (the inputs are kept in
# DIR/fuzz-artifacts/TARGET/; copy small ones to tools/fuzz/regressions/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ALL_TARGETS=(safetensors config tokenizer_json gpt2_bpe sentencepiece run_json run_views gguf)
seconds=60
runs=""
timeout=5
build=build-fuzz
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

seeds=$build/fuzz-seeds
rm -rf "$seeds"
python3 tools/fuzz/make_seeds.py "$seeds" > /dev/null

# Leak checking stays off: LibTorch and sentencepiece keep process-wide caches that look like leaks per input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# Symbolized stack traces (llvm-16 from tools/install-deps.sh; any llvm-symbolizer will do).
for s in llvm-symbolizer-16 llvm-symbolizer; do
  if command -v "$s" > /dev/null; then
    export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$s")}
    break
  fi
done
status=0
summary=()
for t in "${targets[@]}"; do
  bin=$build/bin/aq-fuzz-$t
  if [[ ! -x $bin ]]; then
    echo "run.sh: $bin is missing; build it first: cmake --preset fuzz && cmake --build --preset fuzz" >&2
    exit 2
  fi
  corpus=$build/fuzz-corpus/$t
  artifacts=$build/fuzz-artifacts/$t
  logs=$build/fuzz-logs
  mkdir -p "$corpus" "$artifacts" "$logs"
  log=$logs/$t.log
  : > "$log"
  # Saved regressions: each must now end without a crash or hang.
  regressions=(tools/fuzz/regressions/$t/*)
  if [[ -e ${regressions[0]} ]]; then
    if ! nice -n 10 "$bin" -timeout="$timeout" -rss_limit_mb=2048 "${regressions[@]}" >> "$log" 2>&1; then
      echo "FAIL $t: a saved regression input crashes or hangs again (log: $log)" >&2
      status=1
      summary+=("$t: regression inputs FAIL")
      continue
    fi
  fi
  limit=(-max_total_time="$seconds")
  [[ -z $runs ]] || limit=(-runs="$runs")
  # shellcheck disable=SC2086
  if nice -n 10 "$bin" "${limit[@]}" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" ${AQ_FUZZ_FLAGS:-} "$corpus" "$seeds/$t" >> "$log" 2>&1; then
    result=ok
  else
    result=FAIL
    status=1
  fi
  cases=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  outcome=$(sed -n 's/^aq-fuzz summary: target [^:]*: //p' "$log" | tail -n1)
  problem=$(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|ALARM: working on the last Unit|internal error \(exit 1\) on bad input|runtime error' "$log" || true)
  summary+=("$t: $result, ${cases:-?} cases${outcome:+; $outcome}${problem:+; $problem}")
done
printf '%s\n' "${summary[@]}"
exit $status
