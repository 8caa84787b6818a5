#!/usr/bin/env bash
# Installs what building and testing lava-rs needs on a fresh Debian machine.
# Idempotent: skips what is already there. Run as root (or with sudo available).
set -euo pipefail

need_pkgs=()
# chromium + chromium-driver: the web pages' browser test (lava-http/tests/web_browser.rs).
for pkg in libzmq3-dev pkg-config liblzma-dev python3-venv python3-dev postgresql chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo is not installed: install Rust (rustup) first" >&2
    exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy

# Debian bookworm's lava-worker and lava-run 2023.01 (the HTTP worker generation), unpacked into
# a cache for the end-to-end tests and scripts/main-job.sh (docs/worker-http.md).
"$(dirname "$0")/debian-lava-worker.sh" >/dev/null ||
    echo "setup: Debian's lava-worker 2023.01 could not be unpacked (see above): its tests skip and scripts/main-job.sh needs MAIN_JOB_WORKER=slave" >&2
