#!/bin/sh
# Runs a test program on a virtual X server (Xvfb) through xvfb-run, so that Qt's xcb platform draws real windows.
# Exits with 77, which CTest reports as skipped, when xvfb-run is not installed (tools/install-deps.sh installs it).
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "xvfb-run not found: install xvfb and xauth (tools/install-deps.sh does) to run this test on a real X server"
  exit 77
fi
exec xvfb-run -a -s "-screen 0 1600x1000x24" "$@"
