#!/usr/bin/env bash
# Build the deployable site into dist/: the release wasm through Trunk (and the CPU core beside it),
# then every asset moved
# into one content-hashed folder (scripts/fingerprint.mjs). Copy dist/ to any static host, at
# any path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh web
# The full core (the CPU and WebGPU backends), the page and its assets.
trunk build --release
# The CPU core: the same crate without WebGPU (two thirds of the code less), which the page loads
# where the browser offers no WebGPU adapter.
cargo build --profile wasm-release --target wasm32-unknown-unknown --lib
wasm-bindgen --target web --no-typescript --out-dir dist --out-name ppo-grpo-playground-cpu \
  target/wasm32-unknown-unknown/wasm-release/playground.wasm
node scripts/fingerprint.mjs dist
