#!/usr/bin/env bash
# Build the deployable site into dist/: the release wasm through Trunk, then every asset moved
# into one content-hashed folder (scripts/fingerprint.mjs). Copy dist/ to any static host, at
# any path.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh web
trunk build --release
node scripts/fingerprint.mjs dist
