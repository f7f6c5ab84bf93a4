#!/usr/bin/env bash
# Re-vendors the console's third-party files from their npm packages at the
# pinned versions below. The files are committed so that `cargo build`
# alone produces a working console (no Node at build time, no CDN at run
# time). Run it from anywhere after changing a version; commit the result.
set -euo pipefail
HTM=3.1.1            # htm with Preact 10 and its hooks, one ES module
XTERM=6.0.0          # @xterm/xterm
XTERM_FIT=0.11.0     # @xterm/addon-fit

vendor="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "htm@$HTM" "@xterm/xterm@$XTERM" "@xterm/addon-fit@$XTERM_FIT"
m=node_modules
cp "$m/htm/preact/standalone.module.js" "$vendor/preact-htm.js"
cp "$m/@xterm/xterm/lib/xterm.mjs" "$vendor/xterm.js"
cp "$m/@xterm/xterm/css/xterm.css" "$vendor/xterm.css"
cp "$m/@xterm/addon-fit/lib/addon-fit.mjs" "$vendor/addon-fit.js"
# Source maps are not shipped: drop the references to them.
sed -i '/sourceMappingURL/d' "$vendor"/*.js
cp "$m/htm/LICENSE" "$vendor/LICENSE.htm"
cp "$m/@xterm/xterm/LICENSE" "$vendor/LICENSE.xterm"
