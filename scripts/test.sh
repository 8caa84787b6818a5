#!/usr/bin/env bash
# The project's whole test command: formatting, lints, every test.
# Usage: scripts/test.sh   (from the repository root, on a fresh Debian machine)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
