#!/usr/bin/env bash
# The main job on a fresh machine: build ferroflux and run `ferroflux dev`: the
# embedded Kubernetes API server, one controller replica, and a Git repository served
# locally (default: the bundled example app in examples/dev), reconciled until Ready
# and kept in sync. Pass a Git repository directory to deploy your own.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v git >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update -qq && sudo_if_needed apt-get install -y -qq git
fi
cargo build --release --quiet
exec ./target/release/ferroflux dev "$@"
