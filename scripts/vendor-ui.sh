#!/usr/bin/env bash
# Vendors the UI's third-party scripts from npm into internal/web/static/vendor/
# (embedded in the binary: the UI loads nothing from a CDN). Versions and
# tarball integrity are pinned here; a tarball that does not match fails.
# Run it after changing a version, and commit what it writes:
#   bash scripts/vendor-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WAVESURFER_VERSION=7.9.9
WAVESURFER_INTEGRITY=sha512-8O/zu+RC7yjikxiuhsXzRZ8vvjV+Qq4PUKZBQsLLcq6fqbrSF3Vh99l7fT8zeEjKjDBNH2Qxsxq5mRJIuBmM3Q==
UPLOT_VERSION=1.6.32
UPLOT_INTEGRITY=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==

dest=internal/web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION INTEGRITY: the package's tarball, unpacked in $work/NAME.
fetch() {
  local name=$1 version=$2 integrity=$3
  local json got
  json=$(cd "$work" && npm pack --json --silent "$name@$version")
  got=$(printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
  if [ "$got" != "$integrity" ]; then
    echo "$name@$version: integrity $got, pinned $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$work/$(printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))')" -C "$work/$name" --strip-components=1
}

fetch wavesurfer.js "$WAVESURFER_VERSION" "$WAVESURFER_INTEGRITY"
fetch uplot "$UPLOT_VERSION" "$UPLOT_INTEGRITY"

rm -rf "$dest"
mkdir -p "$dest/wavesurfer" "$dest/uplot"
# The UMD builds: wavesurfer.min.js defines window.WaveSurfer, the regions
# plugin WaveSurfer.Regions; uPlot's IIFE defines window.uPlot.
cp "$work/wavesurfer.js/dist/wavesurfer.min.js" "$work/wavesurfer.js/dist/plugins/regions.min.js" \
  "$work/wavesurfer.js/LICENSE" "$dest/wavesurfer/"
cp "$work/uplot/dist/uPlot.iife.min.js" "$work/uplot/dist/uPlot.min.css" "$work/uplot/LICENSE" "$dest/uplot/"

cat >"$dest/README.md" <<README
# Vendored UI libraries

Written by scripts/vendor-ui.sh from the npm registry; do not edit by hand.

- wavesurfer/: wavesurfer.js $WAVESURFER_VERSION (wavesurfer.min.js and its regions plugin, regions.min.js), BSD-3-Clause, LICENSE beside them.
- uplot/: uplot $UPLOT_VERSION (uPlot.iife.min.js, uPlot.min.css), MIT, LICENSE beside them.
README
echo "vendored wavesurfer.js $WAVESURFER_VERSION and uplot $UPLOT_VERSION into $dest"
