#!/usr/bin/env bash
# Benchmarks, each printing ratios measured in one run: the native CLI (`pvg bench`), then the
# page in headless Chromium (CPU and WebGPU) against the native CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh web browser
cargo build --release --bin pvg
target/release/pvg bench --env CartPole-v1
target/release/pvg bench --env Pendulum-v1
trunk build --release
ls -l dist/*.wasm | awk '{ printf "wasm: %.1f MB raw, ", $5 / 1e6 }'
gzip -c dist/*.wasm | wc -c | awk '{ printf "%.1f MB gzipped\n", $1 / 1e6 }'
node tests/browser/bench.js dist target/release/pvg
