#!/usr/bin/env bash
# The documentation's screenshots (docs/screenshots/): every view of the main window in English and in Simplified
# Chinese, from a real X server (Xvfb) after an OmniQuant and an AffineQuant w4a4 run of the demo model on the CPU
# (tst_studio documentationScreenshots; about 2.5 minutes for both languages on two cores).
# Needs a build (cmake --build build), xvfb-run and, for the Chinese set, a CJK font (fonts-wqy-microhei, which
# tools/install-deps.sh installs); pngquant, if installed, makes the files smaller.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots}
mkdir -p "$out"
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
if ! fc-list :lang=zh family | grep -q .; then
  echo "no font with Chinese glyphs: install fonts-wqy-microhei (tools/install-deps.sh does)" >&2
  exit 1
fi
# Every test function of tst_studio whose name ends in "Screenshots" (each skips unless AQ_DOC_SCREENSHOTS is set).
mapfile -t functions < <(QT_QPA_PLATFORM=offscreen build/bin/tst_studio -functions | sed -n 's/()$//p' | grep 'Screenshots$')
for lang in en zh_CN; do
  AQ_DOC_SCREENSHOTS="$out" AQ_SCREENSHOT_LANG=$lang QT_QPA_PLATFORM=xcb \
    xvfb-run -a -s "-screen 0 1600x1000x24" build/bin/tst_studio "${functions[@]}"
done
# pngquant (if installed) halves the new files without visible loss; other pictures in the folder are left alone.
if command -v pngquant >/dev/null 2>&1; then
  find "$out" -maxdepth 1 -name '*.png' -newer "$marker" -print0 |
    xargs -0 -r -n1 sh -c 'pngquant --quality 80-95 --speed 1 --strip --force --skip-if-larger --output "$0" "$0" || true'
fi
find "$out" -maxdepth 1 -name '*.png' -newer "$marker" -exec ls -l {} +
