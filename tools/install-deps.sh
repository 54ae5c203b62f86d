#!/usr/bin/env bash
# Installs everything needed to build, test and run AffineQuant Studio on Debian 12 (run as root or with sudo).
# Safe to run again: apt-get skips what is already installed, and llama.cpp is fetched only once.
set -euo pipefail
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

# llama.cpp for the GGUF export check (tools/llamacpp, tests/tst_gguf_llamacpp.cpp): the prebuilt CPU libraries and
# the source of one pinned release, as published on npm by node-llama-cpp, in a folder outside the source tree. Set
# AQ_LLAMACPP_DIR to use another folder, and pass the same folder to CMake (-DAQ_LLAMACPP_DIR=...).
LLAMACPP_NPM_VERSION=3.21.1
LLAMACPP_DIR=${AQ_LLAMACPP_DIR:-/opt/affinequant-deps/llama.cpp-$LLAMACPP_NPM_VERSION}
LLAMACPP_STAMP="node-llama-cpp@$LLAMACPP_NPM_VERSION"
llamacpp_installed() { [[ -f $LLAMACPP_DIR/INSTALLED && $(head -n1 "$LLAMACPP_DIR/INSTALLED") == "$LLAMACPP_STAMP" ]]; }

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libgloo-dev libopenblas0-pthread
  qt6-base-dev qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools qt6-svg-dev libqcustomplot-dev
  libsentencepiece-dev sentencepiece nlohmann-json3-dev libpcre2-dev
  xvfb xauth fonts-wqy-microhei python3
  clang-16 libclang-rt-16-dev llvm-16
)
# xvfb, xauth: the real-window test (tst_studio_xvfb) and the screenshots run on a virtual X server.
# fonts-wqy-microhei: Chinese glyphs for the zh_CN screenshots (tools/make-screenshots.sh); the application itself
# uses whatever fonts the desktop has.
# python3 (standard library only): the comparison scripts tools/compare_llamacpp.sh and tools/deployability_cost.sh,
# and the fuzz seed corpora (tools/fuzz/make_seeds.py).
# clang-16, libclang-rt-16-dev: the fuzz targets (preset "fuzz", docs/fuzzing.md) need clang's libFuzzer and sanitizer
# runtimes (libclang-rt-16-dev holds them; it is only a recommendation of clang-16). Debian 12's default clang (14)
# cannot compile the engine: it does not capture structured bindings in lambdas. llvm-16: llvm-symbolizer, for the
# sanitizers' stack traces.
# libopenblas0-pthread: Debian's LibTorch otherwise runs its CPU matrix products on the reference BLAS, about 20x slower.
# nodejs, npm: only to fetch llama.cpp, and only while it is missing. A Node.js from elsewhere (NodeSource's
# package contains npm and conflicts with Debian's) is used as it is.
if ! llamacpp_installed && ! command -v npm > /dev/null; then packages+=(nodejs npm); fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" > /dev/null

if ! llamacpp_installed; then
  parent=$(dirname "$LLAMACPP_DIR")
  if ! mkdir -p "$parent" 2> /dev/null || [[ ! -w $parent ]]; then
    $SUDO mkdir -p "$parent" && $SUDO chown "$(id -u):$(id -g)" "$parent"
  fi
  if [[ -f $LLAMACPP_DIR/INSTALLED ]]; then
    rm -rf "$LLAMACPP_DIR"  # another version installed by this script
  elif [[ -e $LLAMACPP_DIR ]] && ! rmdir "$LLAMACPP_DIR" 2> /dev/null; then
    echo "install-deps: $LLAMACPP_DIR exists and is not a llama.cpp folder made by this script;" \
      "remove it or set AQ_LLAMACPP_DIR to another folder" >&2
    exit 1
  fi
  staging="$LLAMACPP_DIR.partial"
  rm -rf "$staging"
  mkdir -p "$staging/include"
  # Exact versions, this platform's binaries only (not every platform's optional packages), no install scripts.
  npm install --prefix "$staging" --save-exact --omit=optional --ignore-scripts --no-audit --no-fund \
    --no-update-notifier --loglevel=error "node-llama-cpp@$LLAMACPP_NPM_VERSION" \
    "@node-llama-cpp/linux-x64@$LLAMACPP_NPM_VERSION" > /dev/null
  # The headers of the very release the libraries were built from, out of the git bundle node-llama-cpp ships.
  git clone -q --bare "$staging/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$staging/release.git"
  git --git-dir="$staging/release.git" archive HEAD include/llama.h | tar -x -C "$staging/include" --strip-components=1
  git --git-dir="$staging/release.git" archive HEAD ggml/include | tar -x -C "$staging/include" --strip-components=2
  commit=$(git --git-dir="$staging/release.git" rev-parse HEAD)
  rm -rf "$staging/release.git"
  printf '%s\nllama.cpp commit %s\n' "$LLAMACPP_STAMP" "$commit" > "$staging/INSTALLED"
  mv "$staging" "$LLAMACPP_DIR"
fi
echo "dependencies installed (llama.cpp: $LLAMACPP_DIR)"
