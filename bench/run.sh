#!/usr/bin/env bash
# Runs paddock's benchmarks side by side with their peers (bubblewrap, crun,
# tinyproxy, sandbox-agent)
# and prints one table. Needs root (crun and the cgroup limits).
#
#   bench/run.sh            # full run (a few minutes)
#   bench/run.sh --quick    # smaller sample counts
#   bench/run.sh --jail-only | --egress-only | --server-only | --phantom-only | --store-only
#                           | --runtime-only | --code-only
#   bench/run.sh --console-only   # the web console's load in Chromium next to
#                                 # sandbox-agent's inspector (bench/console/load.mjs)
#   bench/run.sh --desktop-only   # desktop screenshots, clicks and keys through the
#                                 # API next to sandbox-agent's (bench/desktop/bench.mjs)
#   bench/run.sh --browser-only   # open + snapshot -i through the API next to
#                                 # agent-browser on the host (bench/browser/bench.mjs)
#   bench/run.sh --phases         # where `paddock run -- /bin/true` spends its time,
#                                 # phase by phase, under perf trace (bench/phases.py)
#   bench/run.sh --phases --in-process   # the same for pool jails taken in process
#
# crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not
# supported") even when the cgroup2 mount is empty, so on such hosts the run
# happens in a private mount namespace with that empty mount hidden; crun
# then uses the v1 controllers, like paddock does.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in bwrap crun tinyproxy; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get install -y bubblewrap crun tinyproxy >/dev/null
fi
cargo build --release -q -p paddock -p paddock-bench

# sandbox-agent (the control-plane peer) from npm, kept out of the tree.
peers=bench/.peers
agent=$peers/node_modules/@sandbox-agent/cli-linux-x64/bin/sandbox-agent
if [ ! -x "$agent" ]; then
  mkdir -p "$peers"
  (cd "$peers" && npm install --silent --no-audit --no-fund @sandbox-agent/cli@0.4.2 >/dev/null)
  chmod +x "$agent"
fi

if [ "${1:-}" = --phases ]; then
  command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
  exec python3 bench/phases.py --paddock ./target/release/paddock "${@:2}"
fi

if [ "${1:-}" = --desktop-only ]; then
  # paddock's desktop flavor, and what sandbox-agent's desktop needs on the host.
  for tool in Xvfb openbox ffmpeg xclip xdotool import xrandr; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq xvfb openbox ffmpeg xclip python3-tk x11-utils xdg-utils xdotool imagemagick x11-xserver-utils >/dev/null; break; }
  done
  exec env PADDOCK_BIN=./target/release/paddock SANDBOX_AGENT_BIN="$agent" node bench/desktop/bench.mjs "${@:2}"
fi

if [ "${1:-}" = --browser-only ]; then
  [ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }
  exec env PADDOCK_BIN=./target/release/paddock node bench/browser/bench.mjs "${@:2}"
fi

if [ "${1:-}" = --console-only ]; then
  [ -x /usr/bin/chromium ] || { apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }
  (cd tests/console && npm ci --no-audit --no-fund --loglevel=error)
  exec env PADDOCK_BIN=./target/release/paddock SANDBOX_AGENT_BIN="$agent" node bench/console/load.mjs "${@:2}"
fi

run=(./target/release/paddock-bench --paddock ./target/release/paddock --sandbox-agent "$agent" "$@")
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && mountpoint -q /sys/fs/cgroup/unified; then
  exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$@"' sh "${run[@]}"
fi
exec "${run[@]}"
