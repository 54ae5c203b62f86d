#!/usr/bin/env bash
# Installs everything needed to build, test and run AffineQuant Studio on Debian 12 (run as root or with sudo).
# Safe to run again: apt-get skips what is already installed.
set -euo pipefail
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config \
  libtorch-dev libopenblas0-pthread \
  qt6-base-dev qt6-tools-dev qt6-tools-dev-tools qt6-l10n-tools libqcustomplot-dev \
  libsentencepiece-dev sentencepiece nlohmann-json3-dev libpcre2-dev \
  xvfb xauth fonts-wqy-microhei > /dev/null
# xvfb, xauth: the real-window test (tst_studio_xvfb) and the screenshots run on a virtual X server.
# fonts-wqy-microhei: Chinese glyphs for the zh_CN screenshots (tools/make-screenshots.sh); the application itself
# uses whatever fonts the desktop has.
# libopenblas0-pthread: Debian's LibTorch otherwise runs its CPU matrix products on the reference BLAS, about 20x slower.
echo "dependencies installed"
