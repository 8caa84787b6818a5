#!/usr/bin/env bash
# Builds the lava_rs wheel in a venv and runs the pytest suite of bindings/python/tests.
#
# The venv lives under the workspace's target/ (target/pyvenv) so that CI and developers
# reuse it; maturin builds into target/ too, so only the bindings crate is recompiled.
# Exits non-zero when the build fails, a test fails, or pytest collects no test (exit 5).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/pyvenv"
# Not LAVA_RS_PYTHON: scripts/test.sh points that at the reference LAVA slave's old Python.
python="${LAVA_RS_PYBIND_PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# (lava_rs.lava_server, the Django app, is tested inside LAVA's own server by
# scripts/django-test.sh, with that server's venv: Django and pyzmq are not needed here.)
if [ ! -x "$venv/bin/maturin" ] || ! "$venv/bin/python" -c 'import pytest' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.5,<2' 'pytest>=7'
fi

# `maturin develop` builds the extension (debug profile: the workspace's target/ is already
# built that way) and installs the package into the venv.
cd "$here"
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target" \
    "$venv/bin/maturin" develop

# The harness tests run the lab's binaries: build them (a no-op when target/ is current).
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build --quiet -p lava-bins -p lava-run-double)
export LAVA_RS_BIN_DIR="$target/debug"

status=0
"$venv/bin/python" -m pytest -q "$here/tests" "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "bindings/python/test.sh: pytest collected no test" >&2
    exit 1
fi
exit "$status"
