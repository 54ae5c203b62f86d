#!/usr/bin/env bash
# Builds the whole project (core, command-line program, desktop application, tools and tests) against the installed
# PyTorch's CUDA LibTorch on a machine that has no Qt packages and no package manager, then proves that the
# application's worker calibrates on the GPU: `affinequant devices`, the GUI tests with AQ_TEST_DEVICE=cuda on the
# `offscreen` platform, a screenshot of the main window after a short calibration, and the demo model's w4a4 run
# through the command-line program (timed).
#
#   tools/gpu/gui_check.sh DEBS_DIR "QT_DEBS_DIR [QT_DEBS_DIR2 ...]" FIXTURES_DIR OUT_DIR
#   e.g. (from the repository root)  bash tools/gpu/gui_check.sh .gpu/debs .gpu/qt-debs .gpu/fixtures "$OUT"
#
# OUT_DIR receives four files: gui-check.txt (what the script printed), gpu-main-window.png (the window after a
# calibration, loss curves shown), demo-w4a4-run.json and gui-check-logs.tar.gz (configure and build logs, the output
# of every test program and of the command-line run, a screenshot of every view). Every step that can run does; the
# exit status is 1 when any failed, and the summary at the end names them. The steps share a time budget
# (AQ_DEADLINE seconds from the start, 570 by default) so that the whole check ends within a 10-minute limit: a step
# that would overrun is stopped and reported, and the logs are packed again after each step.
#
# DEBS_DIR holds nlohmann-json, PCRE2 and sentencepiece (see build_cuda.sh). The QT_DEBS_DIRs hold Debian 12 Qt 6.4,
# QCustomPlot, the GL/EGL/Vulkan development files Qt6Gui's CMake package asks for, fontconfig's configuration and
# the DejaVu fonts, with the shared libraries they load. They were made on a Debian 12 machine with
#
#   apt-get download qt6-base-dev qt6-base-dev-tools qmake6 qmake6-bin qt6-tools-dev qt6-tools-dev-tools \
#     qt6-l10n-tools libqcustomplot-dev libqcustomplot2.1-qt6 libqt6core6 libqt6gui6 libqt6widgets6 libqt6test6 \
#     libqt6concurrent6 libqt6printsupport6 libqt6dbus6 libgl-dev libglx-dev libopengl-dev libegl-dev libvulkan-dev \
#     libgl1 libglx0 libopengl0 libegl1 libglvnd0 libvulkan1 fontconfig-config fonts-dejavu-core libgomp1 \
#     libb2-1 libbrotli1 libbsd0 libcap2 libdbus-1-3 libdouble-conversion3 libexpat1 libfontconfig1 libfreetype6 \
#     libgcrypt20 libglib2.0-0 libgpg-error0 libgraphite2-3 libharfbuzz0b libicu72 libjpeg62-turbo liblz4-1 liblzma5 \
#     libmd0 libmd4c0 libpcre2-16-0 libpcre2-8-0 libpng16-16 libsystemd0 libx11-6 libxau6 libxcb1 libxdmcp6 \
#     libxkbcommon0 libzstd1 zlib1g
#
# (qmake6 and the tools packages only because Qt's CMake files check that the programs they name exist.) The second
# half of the list is the closure, found with readelf, of the shared libraries needed by Qt's libraries, the
# offscreen platform plugin, the image-format plugins, QCustomPlot and the build tools (moc, rcc, uic, lrelease).
# The X11/xcb, input-device and Mesa libraries the packages also depend on are never loaded offscreen and are left
# out, as are LLVM and clang (lupdate needs them; the build does not run it).
#
# Everything is unpacked with `dpkg -x` into a private prefix (never into /). Of the unpacked shared libraries only
# those the machine lacks (not listed by `ldconfig -p`) are linked into PREFIX/extra-lib, the one folder put on
# LD_LIBRARY_PATH, so the machine's newer copies of common libraries are not shadowed; Qt's and QCustomPlot's own
# libraries are always linked. AQ_LINK_ALL=1 links every unpacked library, as if the machine had none of them (a
# check that the carried closure is complete).
#
# Environment: AQ_DEVICE (cuda; cpu for a dry run without a GPU), TORCH_PREFIX (default: the installed PyTorch's
# torch.utils.cmake_prefix_path), AQ_PREFIX (/tmp/aq-qt), AQ_BUILD (/tmp/aq-build-gui), AQ_WORK (/tmp/aq-gui-check:
# logs, screenshots, run folders), JOBS (16), AQ_DEADLINE (570).
set -uo pipefail
if [[ $# -lt 4 ]]; then
  sed -n '2,16p' "$0"
  exit 2
fi
T0=$(date +%s)
DEBS=$1 QT_DEBS=$2 FIX=$3 OUT=$4
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=${AQ_PREFIX:-/tmp/aq-qt}
BUILD=${AQ_BUILD:-/tmp/aq-build-gui}
WORK=${AQ_WORK:-/tmp/aq-gui-check}
DEVICE=${AQ_DEVICE:-cuda}
JOBS=${JOBS:-16}
DEADLINE=$((T0 + ${AQ_DEADLINE:-570}))
ARCH=x86_64-linux-gnu
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
FIX=$(cd "$FIX" 2> /dev/null && pwd || echo "$FIX")
rm -rf "$WORK"
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/screenshots"
exec > >(tee "$OUT/gui-check.txt") 2>&1
TEE_PID=$!
trap 'exec >&- 2>&-; wait $TEE_PID' EXIT # let tee write the last lines before the script ends
FAILED=()

fail() {
  FAILED+=("$1")
  echo "!! FAILED: $1"
}
pack() { tar -C "$WORK" -czf "$OUT/gui-check-logs.tar.gz" logs screenshots 2> /dev/null; }
die() {
  echo "!! FAILED: $1"
  echo "!! stopping: the remaining steps need this one"
  pack
  exit 1
}
# Seconds a step may take: its own cap, or what is left of the budget less a margin for packing.
budget() {
  local left=$((DEADLINE - $(date +%s) - 15))
  echo $((left < $1 ? left : $1))
}
# capped NAME CAP LOG COMMAND...: runs COMMAND with its output in LOG, stopped after its budget; fails NAME otherwise.
capped() {
  local name=$1 cap=$2 log=$3 t rc start
  shift 3
  t=$(budget "$cap")
  if ((t < 20)); then
    fail "$name: skipped, the time budget is spent"
    return 1
  fi
  start=$(date +%s)
  timeout -k 10 "$t" "$@" > "$log" 2>&1
  rc=$?
  echo "   $name: exit $rc after $(($(date +%s) - start)) s"
  if ((rc == 124 || rc == 137)); then
    fail "$name: stopped after ${t} s (log: logs/$(basename "$log"))"
  elif ((rc != 0)); then
    fail "$name: exit $rc (log: logs/$(basename "$log"))"
  fi
  pack
  return $rc
}

echo "== unpacking Debian packages into $PREFIX"
rm -rf "$PREFIX"
mkdir -p "$PREFIX/extra-lib"
n=0
for dir in $DEBS $QT_DEBS; do
  [[ -d $dir ]] || die "no such folder: $dir"
  for f in "$dir"/*.deb; do
    [[ -e $f ]] || continue
    dpkg -x "$f" "$PREFIX" || die "dpkg -x $f"
    n=$((n + 1))
  done
done
echo "   $n packages"
QT_LIB=$PREFIX/usr/lib/$ARCH
QT_PLUGINS=$QT_LIB/qt6/plugins
[[ -f $QT_LIB/libQt6Core.so.6 ]] || die "libQt6Core.so.6 is not in $QT_LIB: the Qt packages are missing from '$QT_DEBS'"
[[ -f $QT_PLUGINS/platforms/libqoffscreen.so ]] || die "the offscreen platform plugin is missing (libqt6gui6)"

echo "== shared libraries this machine lacks -> $PREFIX/extra-lib"
LDCONFIG=$(command -v ldconfig || echo /sbin/ldconfig)
HAVE=$PREFIX/system-sonames.txt
"$LDCONFIG" -p 2> /dev/null | awk '/x86-64/ {print $1}' | sort -u > "$HAVE"
if [[ ! -s $HAVE ]]; then
  echo "   ldconfig -p lists nothing: linking every unpacked library"
  AQ_LINK_ALL=1
fi
# With readelf: each real file under its SONAME, the name the loader looks for. Without: every file and link under
# its own name (names nobody looks up do no harm).
READELF=$(command -v readelf)
linked=()
for libdir in "$PREFIX/lib/$ARCH" "$PREFIX/usr/lib/$ARCH"; do
  [[ -d $libdir ]] || continue
  for f in "$libdir"/*.so.*; do
    [[ -e $f ]] || continue
    soname=
    if [[ -n $READELF ]]; then
      [[ -L $f ]] && continue
      soname=$("$READELF" -d "$f" 2> /dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    fi
    [[ -n $soname ]] || soname=$(basename "$f")
    [[ -e $PREFIX/extra-lib/$soname ]] && continue
    if [[ ${AQ_LINK_ALL:-0} == 1 || $soname == libQt6* || $soname == libQCustomPlot* ]] ||
      ! grep -qxF "$soname" "$HAVE"; then
      ln -s "$f" "$PREFIX/extra-lib/$soname"
      linked+=("$soname")
    fi
  done
done
echo "   ${#linked[@]} linked: ${linked[*]}"

export LD_LIBRARY_PATH=$PREFIX/extra-lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export QT_PLUGIN_PATH=$QT_PLUGINS
export QT_QPA_PLATFORM_PLUGIN_PATH=$QT_PLUGINS/platforms
export QT_QPA_PLATFORM=offscreen
unset QT_IM_MODULE QT_QPA_GENERIC_PLUGINS
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/aq-runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# Fontconfig: the unpacked configuration (its conf.d links are absolute: point them into the prefix), the unpacked
# DejaVu fonts and whatever fonts the machine has, a cache in the prefix.
for l in "$PREFIX"/etc/fonts/conf.d/*; do
  t=$(readlink "$l") || continue
  [[ $t == /* && -e $PREFIX$t ]] && ln -sfn "$PREFIX$t" "$l"
done
mkdir -p "$PREFIX/etc/fonts"
cat > "$PREFIX/etc/fonts/aq-fonts.conf" << EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>$PREFIX/usr/share/fonts</dir>
  <dir>/usr/share/fonts</dir>
  <include ignore_missing="yes">$PREFIX/etc/fonts/conf.d</include>
  <cachedir>$PREFIX/fontconfig-cache</cachedir>
</fontconfig>
EOF
export FONTCONFIG_PATH=$PREFIX/etc/fonts
export FONTCONFIG_FILE=$PREFIX/etc/fonts/aq-fonts.conf

echo "== Qt host tools and runtime libraries from the prefix"
for tool in "libexec/moc -v" "libexec/rcc -v" "libexec/uic -v" "bin/lrelease -version"; do
  name=$(basename "${tool%% *}")
  if out=$("$PREFIX/usr/lib/qt6/${tool%% *}" "${tool#* }" 2>&1); then
    echo "   $name: ${out//$'\n'/ }"
  else
    fail "$name does not run: $out"
  fi
done
for f in "$QT_PLUGINS/platforms/libqoffscreen.so" "$QT_LIB/libQt6Widgets.so.6" "$QT_LIB/libQt6PrintSupport.so.6" \
  "$QT_LIB/libQt6Test.so.6" "$QT_LIB/libQt6Concurrent.so.6" "$QT_LIB/libQCustomPlotQt6.so.2.1" \
  "$QT_PLUGINS"/imageformats/*.so; do
  missing=$(ldd "$f" 2>&1 | grep "not found")
  [[ -z $missing ]] || fail "$(basename "$f") lacks: $(echo $missing)"
done
ldd "$QT_PLUGINS/platforms/libqoffscreen.so" > "$LOGS/ldd-qoffscreen.txt" 2>&1

echo "== LibTorch"
TORCH_VERSION=$(python3 -c 'import torch;print(torch.__version__, "CUDA", torch.version.cuda)' 2> /dev/null)
ABI=$(python3 -c 'import torch;print(torch._C._GLIBCXX_USE_CXX11_ABI)' 2> /dev/null)
if [[ -z ${TORCH_PREFIX:-} ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2> /dev/null) ||
    die "python3 cannot import torch; set TORCH_PREFIX to a LibTorch CMake prefix"
fi
echo "   PyTorch ${TORCH_VERSION:-(not importable here)}, CMake prefix $TORCH_PREFIX"
echo "   C++11 ABI (torch._C._GLIBCXX_USE_CXX11_ABI): ${ABI:-unknown}"
if [[ -n $ABI && $ABI != True ]]; then
  die "this LibTorch is built with the old C++ ABI (_GLIBCXX_USE_CXX11_ABI=0). Debian's Qt and QCustomPlot use the
   new one, so the two cannot be linked into one program. Use a LibTorch built with the C++11 ABI (PyTorch 2.7 or
   later, or the 'cxx11 ABI' LibTorch archive)."
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== configure (Release; GUI, tests and tools on)"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAQ_BUILD_GUI=ON -DAQ_BUILD_TESTS=ON \
  -DAQ_BUILD_TOOLS=ON -DCMAKE_PREFIX_PATH="$PREFIX/usr;$TORCH_PREFIX" -DAQ_FIXTURES_DIR="$FIX" \
  > "$LOGS/cmake.log" 2>&1 || {
  grep -A12 "CMake Error" "$LOGS/cmake.log" | head -60
  die "cmake configure (log: logs/cmake.log)"
}
cache() { sed -n "s|^$1:[A-Z]*=||p" "$BUILD/CMakeCache.txt"; }
for v in Qt6_DIR Qt6Core_DIR Qt6Widgets_DIR Qt6LinguistTools_DIR QCustomPlotQt6_DIR Torch_DIR CMAKE_CXX_COMPILER \
  OPENGL_opengl_LIBRARY; do
  echo "   $v = $(cache $v)"
done
[[ $(cache Qt6_DIR) == "$PREFIX"/* ]] || fail "Qt6 was not taken from $PREFIX"
[[ -n $(cache Qt6LinguistTools_DIR | grep -v NOTFOUND) ]] ||
  echo "   (Qt6 LinguistTools not found: the application is built without its translation)"

echo "== build (-j$JOBS)"
# -k 0: build everything that can be built, so that later steps run even when one target fails.
if ! capped build 420 "$LOGS/build.log" cmake --build "$BUILD" -j"$JOBS" -- -k 0; then
  [[ -f $LOGS/build.log ]] && grep -E "error|FAILED" -A5 "$LOGS/build.log" | head -60
fi
BIN=$BUILD/bin

echo "== affinequant devices"
if [[ -x $BIN/affinequant ]]; then
  "$BIN/affinequant" version
  timeout 60 "$BIN/affinequant" devices 2>&1 | tee "$LOGS/devices.txt"
  [[ $DEVICE == cpu ]] || grep -q "^cuda:" "$LOGS/devices.txt" || fail "affinequant devices lists no CUDA device"
else
  fail "affinequant was not built"
fi

# run_test NAME CAP [FUNCTIONS...]: one Qt Test program on $DEVICE, its log in logs/NAME.log; prints totals and skips.
run_test() {
  local t=$1 cap=$2 log=$LOGS/$1${AQ_LOG_SUFFIX:-}.log
  shift 2
  if [[ ! -x $BIN/$t ]]; then
    fail "$t was not built"
    return
  fi
  capped "$t${*:+ $*}" "$cap" "$log" env AQ_TEST_DEVICE="$DEVICE" "$BIN/$t" "$@"
  [[ -f $log ]] || return 0
  grep -E "^Totals:" "$log" | sed 's/^/     /'
  grep -E "^(SKIP|FAIL!|QINFO|   Loc:)" "$log" | sed 's/^/     /' | head -30
}

echo "== calibration worker on $DEVICE (offscreen)"
run_test tst_worker 200

echo "== screenshot of the main window after a short calibration on $DEVICE"
AQ_SCREENSHOT_DIR=$WORK/screenshots AQ_LOG_SUFFIX=-screenshots run_test tst_studio 120 runFillsEveryView
if [[ -s $WORK/screenshots/main-window.png ]]; then
  cp "$WORK/screenshots/main-window.png" "$OUT/gpu-main-window.png"
  echo "   gpu-main-window.png: $(stat -c %s "$OUT/gpu-main-window.png") bytes; $(ls "$WORK/screenshots" | wc -l) views"
else
  fail "no screenshot of the main window was written"
fi

echo "== demo model, w4a4 (32 x 512 tokens, 20 epochs), command-line program on $DEVICE"
if [[ -x $BIN/affinequant ]]; then
  start=$(date +%s.%N)
  TIMEFORMAT='   time: real %R s, user %U s, sys %S s'
  time capped "affinequant quantize" 240 "$LOGS/demo-w4a4.log" "$BIN/affinequant" quantize \
    --model "$SRC/resources/demo-model" --calib "$SRC/resources/demo-text/train/northangerabbey.txt" \
    --out "$WORK/demo-w4a4" --force --preset w4a4 --nsamples 32 --seqlen 512 \
    --eval "$SRC/resources/demo-text/heldout.txt" --eval-seqlen 512 --device "$DEVICE"
  echo "   wall seconds: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
  if [[ -f $WORK/demo-w4a4/run.json ]]; then
    cp "$WORK/demo-w4a4/run.json" "$OUT/demo-w4a4-run.json"
    tr '\r' '\n' < "$LOGS/demo-w4a4.log" | grep -v "^$" | tail -4 | sed 's/^/   /'
  elif [[ -f $LOGS/demo-w4a4.log ]]; then
    tr '\r' '\n' < "$LOGS/demo-w4a4.log" | grep -v "^$" | tail -6
  fi
fi

echo "== the other GUI tests on $DEVICE (offscreen)"
run_test tst_studio 200
run_test tst_widgets 60
run_test tst_matrixmath 30
run_test tst_fused_quant 60   # the fused CUDA kernels against the tensor-operation path

pack
echo
echo "== $(($(date +%s) - T0)) s in all"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "== ${#FAILED[@]} step(s) failed:"
  printf '   %s\n' "${FAILED[@]}"
  exit 1
fi
echo "== all steps passed on $DEVICE"
