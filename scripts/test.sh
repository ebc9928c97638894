#!/usr/bin/env bash
# Every test: the Rust suite (environments against Gymnasium's traces, the maths, policies,
# determinism, the URL parser's fuzzing), then the page in headless Chromium (CPU and WebGPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh web browser

echo "==> Rust tests"
cargo test

echo "==> the native wgpu learner compiles (pvg train/bench --learner wgpu)"
cargo check --features native-wgpu --bins

echo "==> building the page (release wasm)"
scripts/build-site.sh
for f in dist/assets-*/*.wasm; do
  printf '%s: %.1f MB raw, %.2f MB gzipped\n' "$(basename "$f")" "$(stat -c %s "$f")e-6" "$(gzip -c "$f" | wc -c)e-6"
done

echo "==> a build with a changed core gets another asset folder"
# The same sources built with another commit stamped into the core: other wasm bytes.
PVG_COMMIT=changed-core trunk build --release --dist target/dist-changed-core >/dev/null 2>&1
node scripts/fingerprint.mjs target/dist-changed-core
released=$(basename dist/assets-*) changed=$(basename target/dist-changed-core/assets-*)
if [ "$released" = "$changed" ]; then
  echo "FAIL: both builds put their assets in $released" >&2
  exit 1
fi
echo "ok: $released, then $changed"

echo "==> browser tests"
node tests/browser/run.js dist
