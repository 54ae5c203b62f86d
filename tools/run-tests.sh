#!/usr/bin/env bash
# The project's test command: installs the dependencies, builds (preset "default") and runs every test with CTest.
# Tests that need ../shared/fixtures skip cleanly when it is absent. Extra arguments go to ctest (e.g. -L unit).
#
# Then, unless AQ_TEST_SANITIZERS=0: the unit-labelled tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (preset "asan", build-asan/), and a short bounded run of every fuzz target (preset "fuzz", build-fuzz/,
# docs/fuzzing.md; AQ_TEST_FUZZ_SECONDS per target, default 12, 0 to skip).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset default > /dev/null
cmake --build --preset default -j"$(nproc)"
ctest --preset default -j"$(nproc)" "$@"

if [[ ${AQ_TEST_SANITIZERS:-1} == 0 ]]; then
  exit 0
fi
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (preset asan)"
cmake --preset asan > /dev/null
# Only what the unit tests need (each test target depends on the programs it runs).
mapfile -t unit_tests < <(ctest --preset asan -L unit -N | sed -n 's/^ *Test *#[0-9]*: *//p')
cmake --build --preset asan -j"$(nproc)" --target "${unit_tests[@]}"
ctest --preset asan -j"$(nproc)" -L unit

fuzz_seconds=${AQ_TEST_FUZZ_SECONDS:-12}
if [[ $fuzz_seconds != 0 ]]; then
  step "fuzz targets, ${fuzz_seconds} s each (preset fuzz)"
  cmake --preset fuzz > /dev/null
  cmake --build --preset fuzz -j"$(nproc)"
  tools/fuzz/run.sh --seconds "$fuzz_seconds"
fi
