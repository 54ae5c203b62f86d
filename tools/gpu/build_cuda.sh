#!/usr/bin/env bash
# Builds the core, the command-line program and the tools against the installed PyTorch's CUDA LibTorch, on a
# machine without a package manager. nlohmann-json, PCRE2 and sentencepiece come from Debian packages (downloaded
# elsewhere with `apt-get download nlohmann-json3-dev libpcre2-dev libpcre2-8-0 libsentencepiece-dev
# libsentencepiece0 libgloo-dev`) unpacked into a private folder, never into /. libgloo-dev gives only gloo's headers,
# which a pip LibTorch lacks; the Gloo code itself is the one inside LibTorch. AQ_CMAKE_ARGS adds options to CMake.
#
#   source tools/gpu/build_cuda.sh DEBS_DIR LOG_DIR     # sets AQ_BUILD (the build folder: $AQ_BUILD_DIR, default
#                                                       # /tmp/aq-build-cuda) and LD_LIBRARY_PATH
DEBS=$1 LOGS=$2
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPS=/tmp/aq-deps
mkdir -p "$DEPS" "$LOGS"
for f in "$DEBS"/*.deb; do dpkg -x "$f" "$DEPS"; done
export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
echo "== PyTorch $(python3 -c 'import torch;print(torch.__version__, torch.version.cuda)'), C++11 ABI $(python3 -c 'import torch;print(torch._C._GLIBCXX_USE_CXX11_ABI)')"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
AQ_BUILD=${AQ_BUILD_DIR:-/tmp/aq-build-cuda}
cmake -S "$SRC" -B $AQ_BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DAQ_BUILD_GUI=OFF -DAQ_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS/usr" ${AQ_CMAKE_ARGS:-} > $LOGS/cmake.log 2>&1 || { tail -40 $LOGS/cmake.log; exit 1; }
cmake --build $AQ_BUILD -j16 > $LOGS/build.log 2>&1 || { grep -E "error" -A5 $LOGS/build.log | head -60; exit 1; }
export AQ_BUILD
