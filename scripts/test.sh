#!/usr/bin/env bash
# Runs every test of ferroflux on a fresh machine: installs what the tests need
# (Debian packages, the Helm SDK oracle in .venv, cargo-nextest), then checks
# formatting and lints, and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here reads input; an inherited stdin only lets tools' probes read stray bytes.
exec </dev/null

log() { printf '\n=== %s\n' "$*"; }

log "system packages"
missing=()
# docker-registry is the OCI registry the Helm source tests push charts to; htpasswd
# (apache2-utils) makes its users.
for tool in git kubectl python3 openssl docker-registry htpasswd; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if printf '%s\n' "${missing[@]}" | grep -qx kubectl; then
    echo "kubectl is required and is not packaged for apt here; install it first" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq git python3 python3-venv openssl docker-registry apache2-utils >/dev/null
fi
for v in 1.27 1.33; do
  test -x "/usr/lib/google-cloud-sdk/bin/kubectl.$v" || { echo "kubectl $v missing under /usr/lib/google-cloud-sdk/bin" >&2; exit 1; }
done

log "oracles in .venv: the Helm SDK, moto's S3 server and boto3"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import helm_python, pytest, moto, boto3' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'helm-python-sdk==0.2.2' 'pytest>=8' 'moto[server]==5.2.5'
fi

log "cargo-nextest"
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

log "format"
cargo fmt --all -- --check

log "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "build the tests"
# Cargo caches what `rustc` reports about the target in target/.rustc_info.json; we have
# seen that probe come back garbled when other builds run on the machine, and the bad
# answer then sticks. Build in one process first, and start again once from a clean
# cache if the probe failed.
build_tests() { cargo test --workspace --no-run --quiet; }
if ! build_tests; then
  rm -f target/.rustc_info.json
  build_tests
fi

log "tests"
# Here the shared corpus of real charts and overlays must be present: its absence
# is a failure, not a reason to skip (a clone elsewhere runs the rest without it).
export FERROFLUX_REQUIRE_CORPUS=1
cargo nextest run --workspace --no-fail-fast --failure-output final
