#!/usr/bin/env bash
# lava_rs inside the real LAVA 2020.05 server: LAVA's own tests with lava_rs's scheduler,
# lava-rs-master serving LAVA's own lava-slave (kill -9 included), the template stand-in, and
# the benchmark labs' decisions compared with LAVA's schedule().
#
# Usage: scripts/django-test.sh [pytest args]      (scripts/test.sh calls it)
#
# Needs ../shared/reference beside the checkout (or LAVA_REFERENCE_DIR): real-lava-server-setup
# (LAVA's server in a venv), lava-pg-cluster (a throw-away PostgreSQL 15, stopped on exit)
# and real-lava-slave-setup; and ../shared/bench-labs (or LAVA_BENCH_LABS). Builds the
# lava_rs wheel (maturin, debug profile), installs it into the LAVA server's venv and runs
# bindings/python/tests_lava with that venv's Python. lava-run must run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

reference=${LAVA_REFERENCE_DIR:-}
if [ -z "$reference" ]; then
    for d in .. ../.. ../../..; do
        [ -x "$d/shared/reference/real-lava-server-setup" ] && { reference="$d/shared/reference"; break; }
    done
fi
if [ -z "$reference" ] || [ ! -x "$reference/real-lava-server-setup" ] || [ ! -x "$reference/lava-pg-cluster" ]; then
    echo "scripts/django-test.sh: LAVA 2020.05's server is missing: expected ../shared/reference" \
         "(real-lava-server-setup, lava-pg-cluster, real-lava-slave-setup) beside the checkout," \
         "or LAVA_REFERENCE_DIR" >&2
    exit 1
fi
reference=$(cd "$reference" && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
kit="$target/tmp/lava-server"

echo "== LAVA 2020.05 server ($reference)"
eval "$("$reference/real-lava-server-setup" "$kit")"
trap '"$reference/lava-pg-cluster" stop "$kit" >/dev/null 2>&1 || true' EXIT
eval "$("$reference/lava-pg-cluster" start "$kit" --migrate)"
eval "$("$reference/real-lava-slave-setup" "$target/tmp/real-lava-slave")"
export LAVA_SLAVE_PYTHON LAVA_SLAVE_SCRIPT

echo "== lava_rs wheel into the LAVA server's venv"
venv="$target/pyvenv"
[ -x "$venv/bin/python" ] || "${LAVA_RS_PYBIND_PYTHON:-python3}" -m venv "$venv"
[ -x "$venv/bin/maturin" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.5,<2'
wheels="$target/tmp/django-wheel"
rm -rf "$wheels"
(cd bindings/python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target" \
    "$venv/bin/maturin" build --out "$wheels")
"$LAVA_SERVER_PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
    --force-reinstall "$wheels"/lava_rs-*.whl

echo "== lava_rs in LAVA 2020.05 (LAVA's tests, lava-rs-master + LAVA's lava-slave, templates, labs)"
status=0
(cd bindings/python/tests_lava && "$LAVA_SERVER_PYTHON" -m pytest -p no:cacheprovider -p no:django \
    -W ignore -v -s "$@") || status=$?
if [ "$status" -eq 5 ]; then
    echo "scripts/django-test.sh: pytest collected no test" >&2
    exit 1
fi
exit "$status"
