#!/bin/sh
# Renders the application icon (packaging/io.github.affinequant.Studio.svg) to the PNG sizes of the hicolor theme,
# into packaging/icons/<size>x<size>/. The PNGs are committed, so building and packaging need no SVG renderer; run
# this again after editing the SVG. Needs rsvg-convert (Debian: apt-get install librsvg2-bin).
set -eu
cd "$(dirname "$0")/.."
name=io.github.affinequant.Studio
for size in 16 32 48 64 128 256; do
  mkdir -p "packaging/icons/${size}x${size}"
  rsvg-convert --width "$size" --height "$size" --keep-aspect-ratio \
    --output "packaging/icons/${size}x${size}/${name}.png" "packaging/${name}.svg"
done
echo "icons written under packaging/icons/"
