#!/usr/bin/env bash
# The project's test command: installs the dependencies, builds (preset "default") and runs every test with CTest.
# Tests that need ../shared/fixtures skip cleanly when it is absent. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake --preset default > /dev/null
cmake --build --preset default -j"$(nproc)"
ctest --preset default -j"$(nproc)" "$@"
