#!/usr/bin/env bash
# The main job on a fresh machine: build ferroflux and run the embedded Kubernetes API
# server, printing the kubeconfig to point kubectl at. (`ferroflux dev` replaces this
# once the Kustomization controller lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p .tmp
exec ./target/release/ferroflux apiserver --listen 127.0.0.1:6443 --kubeconfig .tmp/kubeconfig "$@"
