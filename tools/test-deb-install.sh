#!/usr/bin/env bash
# Installs the affinequant-studio .deb on a fresh Debian 12 (bookworm) root made with debootstrap and starts what it
# installed: `affinequant version`, `affinequant eval` on the bundled demo model and, under Xvfb, the desktop
# application. Prints a PASS/FAIL line per check and exits 0 only when every check passed. Run as root; the host's
# own / is never changed (apart from installing debootstrap when it is missing).
#
#   tools/test-deb-install.sh [--deb FILE] [--dir DIR] [--fresh] [--no-screenshot] [--mirror URL]
#
#   --deb FILE       the package (default: the newest build-pkg/affinequant-studio_*.deb)
#   --dir DIR        work folder (default /var/tmp/aq-deb-test): the cached debootstrap root (base/), the package
#                    cache shared between runs (apt-archives/), the root of the last test (root/) and its logs (out/)
#   --fresh          make the debootstrap root again and empty the package cache (a cold run, as a new machine)
#   --no-screenshot  do not install x11-apps for xwd nor write out/studio.png and out/studio-zh_CN.png
#   --mirror URL     Debian mirror (default http://deb.debian.org/debian)
#
# Every run starts from a copy of the cached debootstrap root, so the package always goes onto an untouched system;
# only the downloading of debootstrap's packages and of the .deb's dependencies is saved between runs.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$SCRIPT_DIR")
DEB=""
WORK=/var/tmp/aq-deb-test
FRESH=0
SCREENSHOT=1
MIRROR=http://deb.debian.org/debian
STUDIO_SECONDS=20

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --deb) DEB=$2; shift 2 ;;
    --dir) WORK=$2; shift 2 ;;
    --fresh) FRESH=1; shift ;;
    --no-screenshot) SCREENSHOT=0; shift ;;
    --mirror) MIRROR=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $(id -u) -ne 0 ]]; then
  echo "run as root (debootstrap, chroot and mount need it)" >&2
  exit 2
fi
if [[ -z "$DEB" ]]; then
  DEB=$(ls -t "$REPO"/build-pkg/affinequant-studio_*.deb 2>/dev/null | head -n 1 || true)
  [[ -n "$DEB" ]] || { echo "no package in $REPO/build-pkg; build one (README, Packaging) or pass --deb" >&2; exit 2; }
fi
[[ -f "$DEB" ]] || { echo "no such file: $DEB" >&2; exit 2; }
DEB=$(realpath "$DEB")
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
BASE=$WORK/base
ROOT=$WORK/root
ARCHIVES=$WORK/apt-archives
OUT=$WORK/out

RESULTS=()
FAILED=0
record() {  # record NAME PASS|FAIL DETAIL
  RESULTS+=("$(printf '%-4s  %-22s %s' "$2" "$1" "$3")")
  [[ "$2" == PASS ]] || FAILED=1
  echo "== $2 $1: $3"
}
summary() {
  echo
  echo "==== summary: $DEB"
  printf '%s\n' "${RESULTS[@]}"
  if [[ $FAILED -eq 0 ]]; then echo "==== PASS"; else echo "==== FAIL (logs in $OUT)"; fi
}

mounted_under() { awk -v r="$1" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r; }
cleanup() {
  set +e
  if [[ -d "$ROOT" ]]; then
    # Processes still running inside the test root (Xvfb, the programs), by id.
    for p in /proc/[0-9]*; do
      [[ "$(readlink "$p/root" 2>/dev/null)" == "$ROOT" ]] && kill -9 "${p#/proc/}" 2>/dev/null
    done
    for m in $(mounted_under "$ROOT"); do umount "$m" 2>/dev/null || umount -l "$m"; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the package itself, on the host
echo "==== package: $DEB ($(du -k "$DEB" | cut -f1) KiB)"
dpkg-deb -I "$DEB" | sed -n '/Package:/,$p'
CONTENT=$(dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|')
missing=()
for f in /usr/bin/affinequant /usr/bin/affinequant-studio /usr/lib/x86_64-linux-gnu/affinequant/libaq_spm.so \
         /usr/share/affinequant/demo-model/config.json /usr/share/affinequant/demo-model/model.safetensors \
         /usr/share/affinequant/demo-model/tokenizer.model /usr/share/affinequant/demo-text/heldout.txt \
         /usr/share/applications/io.github.affinequant.Studio.desktop \
         /usr/share/metainfo/io.github.affinequant.Studio.metainfo.xml \
         /usr/share/icons/hicolor/scalable/apps/io.github.affinequant.Studio.svg \
         /usr/share/icons/hicolor/256x256/apps/io.github.affinequant.Studio.png; do
  grep -qxF "$f" <<<"$CONTENT" || missing+=("$f")
done
if [[ ${#missing[@]} -eq 0 ]]; then record contents PASS "programs, shim, demo model and text, desktop file, metainfo, icons"
else record contents FAIL "missing: ${missing[*]}"; fi

unpacked=$(mktemp -d)
dpkg-deb -x "$DEB" "$unpacked"
rpaths=""
for f in "$unpacked"/usr/bin/* "$unpacked"/usr/lib/x86_64-linux-gnu/affinequant/*.so; do
  r=$(readelf -d "$f" | grep -E 'R(UN)?PATH' || true)
  [[ -n "$r" ]] && rpaths+="${f#"$unpacked"}:${r##*\[}; "
done
rm -rf "$unpacked"
if [[ -z "$rpaths" ]]; then record rpath PASS "no RPATH/RUNPATH (system libraries; the shim is found by its installed path)"
elif grep -qE "$REPO|/build" <<<"$rpaths"; then record rpath FAIL "build-tree paths: $rpaths"
else record rpath PASS "$rpaths"; fi

# ---- the fresh Debian 12 root
if ! command -v debootstrap > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap > /dev/null
fi
if [[ -n "$(mounted_under "$BASE")$(mounted_under "$ROOT")" ]]; then
  echo "something is still mounted under $WORK; unmount it first" >&2
  exit 1
fi
if [[ $FRESH -eq 1 ]]; then
  rm -rf --one-file-system "$BASE" "$ARCHIVES"
fi
if [[ ! -f "$BASE/.aq-complete" ]]; then
  rm -rf --one-file-system "$BASE"
  echo "==== debootstrap --variant=minbase bookworm $BASE $MIRROR"
  t0=$(date +%s)
  debootstrap --variant=minbase bookworm "$BASE" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log"; record debootstrap FAIL "see $WORK/debootstrap.log"; summary; exit 1; }
  touch "$BASE/.aq-complete"
  echo "debootstrap took $(( $(date +%s) - t0 )) s"
else
  echo "==== reusing the debootstrap root $BASE (--fresh makes it again)"
fi

rm -rf --one-file-system "$ROOT" "$OUT"
mkdir -p "$OUT" "$ARCHIVES/partial"
cp -a "$BASE" "$ROOT"
rm -f "$ROOT/.aq-complete"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"  # no services start inside the root
chmod +x "$ROOT/usr/sbin/policy-rc.d"
cp "$DEB" "$ROOT/root/"

mount -t proc proc "$ROOT/proc"
mount -t sysfs -o ro sysfs "$ROOT/sys" 2>/dev/null || true
mount --rbind /dev "$ROOT/dev"
mount --make-rslave "$ROOT/dev"
mount --bind "$ARCHIVES" "$ROOT/var/cache/apt/archives"
mkdir -p "$ROOT/root/out"
mount --bind "$OUT" "$ROOT/root/out"

cat > "$ROOT/root/check.sh" <<'INNER'
#!/bin/bash
# Runs inside the fresh root. Writes "NAME|PASS or FAIL|detail" lines to /root/out/results.
set -u
export DEBIAN_FRONTEND=noninteractive
O=/root/out
res() { echo "$1|$2|$3" >> $O/results; echo "== $2 $1: $3"; }
crashed() { grep -Eiq 'segmentation fault|aborted|core dumped|terminate called|fatal|could not load the qt platform' "$1"; }

cd /root
deb=$(ls affinequant-studio_*.deb)
apt-get update -qq > $O/apt-update.log 2>&1 || { res apt-update FAIL "see apt-update.log"; exit 0; }
before=$(dpkg-query -W -f '.\n' | wc -l)
t0=$(date +%s.%N)
apt-get install -y "./$deb" > $O/install.log 2>&1
rc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
after=$(dpkg-query -W -f '.\n' | wc -l)
get=$(grep -o 'Need to get .* of archives' $O/install.log | head -n 1 | sed 's/Need to get //; s/ of archives//')
disk=$(grep -o 'After this operation, [^ ]* [^ ]*' $O/install.log | head -n 1 | sed 's/After this operation, //')
if [[ $rc -eq 0 ]] && dpkg-query -W -f '${Status}' affinequant-studio 2>/dev/null | grep -q 'install ok installed'; then
  res install PASS "apt-get install ./$deb: ${secs} s, $((after - before)) packages, ${get:-0 B} downloaded, ${disk:-?} used"
else
  res install FAIL "apt-get exited $rc (install.log)"; tail -n 30 $O/install.log; exit 0
fi

nf=$(ldd /usr/bin/affinequant /usr/bin/affinequant-studio /usr/lib/x86_64-linux-gnu/affinequant/libaq_spm.so \
     /usr/lib/x86_64-linux-gnu/qt6/plugins/platforms/libqxcb.so 2>&1 | grep 'not found' | sort -u | tr -s ' \t\n' ' ')
if [[ -z "$nf" ]]; then res libraries PASS "ldd: every library of the programs, the shim and the xcb plugin is found"
else res libraries FAIL "ldd: $nf"; fi
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)
if [[ $blas == *openblas* ]]; then res blas PASS "libblas.so.3 -> $blas"; else res blas FAIL "libblas.so.3 -> $blas"; fi

affinequant version > $O/version.log 2>&1
rc=$?
if [[ $rc -eq 0 ]]; then res version PASS "$(head -n 1 $O/version.log)"; else res version FAIL "exit $rc: $(head -n 3 $O/version.log)"; fi

t0=$(date +%s.%N)
affinequant eval --model /usr/share/affinequant/demo-model --text /usr/share/affinequant/demo-text/heldout.txt \
  --seqlen 256 --max-windows 4 > $O/eval.log 2>&1
rc=$?
t1=$(date +%s.%N)
ppl=$(grep -m1 '^perplexity' $O/eval.log)
if [[ $rc -eq 0 && -n "$ppl" ]]; then
  res eval PASS "$ppl ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)"
else res eval FAIL "exit $rc: $(tail -n 3 $O/eval.log | tr '\n' ' ')"; fi

t0=$(date +%s.%N)
apt-get install -y --no-install-recommends xvfb xauth > $O/install-xvfb.log 2>&1 \
  || { res xvfb FAIL "apt-get install xvfb xauth failed (install-xvfb.log)"; exit 0; }
shot=0
if [[ "$AQ_SCREENSHOT" == 1 ]] && apt-get install -y --no-install-recommends x11-apps >> $O/install-xvfb.log 2>&1; then
  shot=1
fi
# Success: the window is still up when timeout ends it (124). Exiting earlier, or a crash message, fails.
studio() {  # studio NAME [ARGS...]
  local name=$1 n=$AQ_STUDIO_SECONDS rc
  shift
  timeout "$n" xvfb-run -a -s "-screen 0 1280x900x24" sh -c "
    affinequant-studio $* & p=\$!
    if [ $shot = 1 ]; then sleep $((n - 6)); xwd -root -silent -out $O/$name.xwd; fi
    wait \$p; echo \"affinequant-studio exited with status \$?\"" > $O/$name.log 2>&1
  rc=$?
  if [[ $rc -eq 124 ]] && ! crashed $O/$name.log; then
    res "$name" PASS "xvfb-run -a affinequant-studio${*:+ $*} still running after ${n} s (ended by timeout)"
  else
    res "$name" FAIL "exit $rc: $(tail -n 5 $O/$name.log | tr '\n' ' ')"
  fi
}
studio studio
studio studio-zh_CN --lang zh_CN

apt-get install -y --no-install-recommends desktop-file-utils appstream > $O/install-validators.log 2>&1
out=$(desktop-file-validate /usr/share/applications/io.github.affinequant.Studio.desktop 2>&1)
if [[ $? -eq 0 && -z "$out" ]]; then res desktop-file PASS "desktop-file-validate: no warnings"
else res desktop-file FAIL "desktop-file-validate: $(tr '\n' ' ' <<<"$out")"; fi
out=$(appstreamcli validate --no-net /usr/share/metainfo/io.github.affinequant.Studio.metainfo.xml 2>&1)
if [[ $? -eq 0 ]]; then res metainfo PASS "appstreamcli validate --no-net: $(tail -n 1 <<<"$out")"
else res metainfo FAIL "appstreamcli validate --no-net: $(tr '\n' ' ' <<<"$out")"; fi
INNER
chmod +x "$ROOT/root/check.sh"

echo "==== installing and starting inside $ROOT"
chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  AQ_SCREENSHOT=$SCREENSHOT AQ_STUDIO_SECONDS=$STUDIO_SECONDS /bin/bash /root/check.sh || true

if [[ -f "$OUT/results" ]]; then
  while IFS='|' read -r name status detail; do
    RESULTS+=("$(printf '%-4s  %-22s %s' "$status" "$name" "$detail")")
    [[ "$status" == PASS ]] || FAILED=1
  done < "$OUT/results"
else
  record chroot FAIL "the checks inside the root did not run"
fi
for step in install version eval studio studio-zh_CN; do
  grep -q "^$step|" "$OUT/results" 2>/dev/null || record "$step" FAIL "not reached"
done

# xwd -> PNG with the standard library only (TrueColor, 24/32 bits per pixel).
for xwd in "$OUT"/*.xwd; do
  [[ -s "$xwd" ]] && command -v python3 > /dev/null || continue
  python3 - "$xwd" "${xwd%.xwd}.png" <<'PY' && rm -f "$xwd" && echo "screenshot: ${xwd%.xwd}.png" || true
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
h = struct.unpack(">25I", data[:100])
hsize, w, hgt, order, bpp, bpl, ncol = h[0], h[4], h[5], h[7], h[11], h[12], h[19]
masks = h[14:17]
off = hsize + 12 * ncol
rows = []
bpp_bytes = bpp // 8
shifts = [(m & -m).bit_length() - 1 for m in masks]
for y in range(hgt):
    line = data[off + y * bpl: off + y * bpl + w * bpp_bytes]
    row = bytearray(b"\0")
    for x in range(w):
        px = int.from_bytes(line[x * bpp_bytes:(x + 1) * bpp_bytes], "little" if order == 0 else "big")
        row += bytes(((px & m) >> s) & 0xFF for m, s in zip(masks, shifts))
    rows.append(bytes(row))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, hgt, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b"")
open(sys.argv[2], "wb").write(png)
PY
done

summary
exit $FAILED
