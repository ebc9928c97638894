#!/usr/bin/env bash
# Build the playground (release wasm) and serve it on http://127.0.0.1:${PORT:-8080}/.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8080}
echo "The playground will be at http://127.0.0.1:$PORT/ once the build below finishes."
scripts/build-site.sh
exec node scripts/static-server.mjs dist "$PORT"
