#!/usr/bin/env bash
# Benchmarks, each printing ratios measured in one run: the native CLI (`pvg bench`), this
# project against PyTorch when a python with torch is given (TORCH_PYTHON=...), then the page in
# headless Chromium (tests/browser/bench.js: first interactive, per-update cost per algorithm per
# backend against the native CLI, PPO's wall time to solve CartPole on the page, the longest
# main-thread task meanwhile, the snapshot transport cost, the language model's tokens/s; each
# core's download and first interactive: BENCH_ONLY=startup). `--simd` also builds the page without
# SIMD128 and measures the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh web browser
cargo build --release --bin pvg
target/release/pvg bench --env CartPole-v1
target/release/pvg bench --env Pendulum-v1
if [ -n "${TORCH_PYTHON:-}" ]; then "$TORCH_PYTHON" bench/compare_torch.py target/release/pvg; fi
scripts/build-site.sh
for f in dist/assets-*/*.wasm; do
  printf '%s: %.1f MB raw, %.2f MB gzipped\n' "$(basename "$f")" "$(stat -c %s "$f")e-6" "$(gzip -c "$f" | wc -c)e-6"
done
if [ "${1:-}" = "--simd" ]; then
  # The same page without SIMD128, to measure what it brings (another full wasm build).
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="" cargo build --target wasm32-unknown-unknown \
    --profile wasm-release --lib --no-default-features --features webgpu --target-dir target/nosimd
  rm -rf target/dist-nosimd && cp -r dist target/dist-nosimd
  wasm-bindgen --target web --no-typescript --out-dir target/dist-nosimd/assets-* --out-name ppo-grpo-playground \
    target/nosimd/wasm32-unknown-unknown/wasm-release/playground.wasm
  node tests/browser/bench.js dist target/release/pvg target/dist-nosimd
else
  node tests/browser/bench.js dist target/release/pvg
fi
