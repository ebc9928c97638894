#!/usr/bin/env bash
# Install what the playground needs, skipping whatever is already there (quick when warm).
#
#   scripts/setup.sh web       the wasm32 target, Trunk, wasm-bindgen-cli (Cargo.lock's version),
#                              npm packages (uPlot; playwright-core and puppeteer-core, which
#                              drive the browsers in the tests)
#   scripts/setup.sh browser   Debian's chromium and firefox-esr, for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q " $2\$"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  say "installing Debian packages: $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

web() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! has_version trunk "$TRUNK_VERSION"; then
    # A debug build of Trunk compiles in a fraction of the time and is fast enough to bundle;
    # no TLS (offline builds, a loopback dev server).
    say "installing trunk $TRUNK_VERSION"
    cargo install trunk --version "$TRUNK_VERSION" --locked --no-default-features --debug
  fi
  if ! has_version wasm-bindgen "$WASM_BINDGEN_VERSION"; then
    # Trunk uses a wasm-bindgen on PATH only when its version equals Cargo.lock's.
    # (`--locked` fails for this crate: its lock file names a yanked version.)
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  # Trunk builds offline (Trunk.toml): the crates only the browser build uses (wgpu, cubecl, …)
  # must be in cargo's cache first. Quick when they are.
  cargo fetch --locked --target wasm32-unknown-unknown
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    npm ci --no-audit --no-fund
  fi
}

browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
  [ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"
}

for what in "$@"; do
  case "$what" in
    web) web ;;
    browser) browser ;;
    *) echo "usage: $0 [web] [browser]" >&2; exit 2 ;;
  esac
done
