#!/usr/bin/env bash
# The project's whole test command: formatting, lints, every test, the conformance checks.
# Usage: scripts/test.sh   (from the repository root, on a fresh Debian machine)
#
# It installs what it needs (scripts/setup.sh), starts a throw-away PostgreSQL cluster for
# the store tests (stopped on exit), and runs:
#   cargo fmt --check; cargo clippy -D warnings; cargo test (all crates, PostgreSQL included,
#   the real LAVA 2020.05 slave and Debian's real lava-worker/lava-run 2023.01 against
#   lava-master); the template conformance check against
#   LAVA's own device-type templates and Python Jinja2; the Python bindings' pytest suite;
#   lava_rs inside LAVA 2020.05's server (scripts/django-test.sh); lavacli against the
#   XML-RPC API (SQLite and PostgreSQL stores).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== PostgreSQL throw-away cluster"
# Assigned first, so that set -e sees a cluster that fails to start.
pg_env=$(scripts/pg-test-cluster.sh start)
eval "$pg_env"
trap 'scripts/pg-test-cluster.sh stop >/dev/null 2>&1 || true' EXIT

# The real LAVA 2020.05 slave (from shared/ beside the checkout) for the conformance test;
# its virtualenv also has pyzmq, which the transport's interoperability tests use.
reference=""
for d in .. ../.. ../../..; do
    [ -x "$d/shared/reference/real-lava-slave-setup" ] && { reference="$d/shared/reference"; break; }
done
if [ -n "$reference" ]; then
    echo "== real LAVA 2020.05 slave from $reference"
    eval "$("$reference/real-lava-slave-setup" target/tmp/real-lava-slave)"
    export LAVA_REFERENCE_DIR="$(cd "$reference" && pwd)"
    export LAVA_RS_PYTHON="$LAVA_SLAVE_PYTHON"
fi

echo "== cargo test"
cargo test --workspace --locked

echo "== Python bindings (maturin wheel in a venv, pytest)"
bindings/python/test.sh

echo "== lava_rs inside LAVA 2020.05's Django server (LAVA's tests, lava-rs-master, LAVA's slave)"
scripts/django-test.sh

echo "== template conformance (lava-rs vs Python Jinja2 on LAVA's templates)"
scripts/templates-conformance.sh

echo "== lavacli against the XML-RPC API of a real lava-master"
scripts/lavacli-test.sh

echo "== lavacli against the XML-RPC API of a real lava-master on PostgreSQL"
scripts/lavacli-test.sh --postgres
