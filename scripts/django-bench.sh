#!/usr/bin/env bash
# Speed of lava_rs inside LAVA 2020.05's Django server, against LAVA's own code, on this machine:
#  - one schedule() on each benchmark lab (../shared/bench-labs) loaded into LAVA's models:
#    LAVA's lava_scheduler_app.scheduler.schedule() and lava_rs.lava_server.scheduler.schedule()
#    on the same database in one process (each pass rolled back), the decisions compared;
#  - device dictionaries rendered by LAVA's Jinja2 environment and by lava_rs, warm, with a
#    job context (LAVA's test dictionaries).
#
# Usage: scripts/django-bench.sh [LAB ...]     (default: the three labs; e.g. lab-2000-10000)
# Needs what scripts/django-test.sh needs; builds a release wheel. Writes target/tmp/django-bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
reference=${LAVA_REFERENCE_DIR:-}
if [ -z "$reference" ]; then
    for d in .. ../.. ../../..; do
        [ -x "$d/shared/reference/real-lava-server-setup" ] && { reference="$d/shared/reference"; break; }
    done
fi
[ -n "$reference" ] || { echo "scripts/django-bench.sh: no ../shared/reference beside the checkout (or LAVA_REFERENCE_DIR)" >&2; exit 1; }
labs_dir=${LAVA_BENCH_LABS:-}
if [ -z "$labs_dir" ]; then
    for d in .. ../.. ../../..; do
        [ -d "$d/shared/bench-labs" ] && { labs_dir="$d/shared/bench-labs"; break; }
    done
fi
[ -n "$labs_dir" ] || { echo "scripts/django-bench.sh: no ../shared/bench-labs beside the checkout (or LAVA_BENCH_LABS)" >&2; exit 1; }
reference=$(cd "$reference" && pwd); labs_dir=$(cd "$labs_dir" && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
kit="$target/tmp/lava-server"
out="$target/tmp/django-bench"
mkdir -p "$out"

eval "$("$reference/real-lava-server-setup" "$kit")"
trap '"$reference/lava-pg-cluster" stop "$kit" >/dev/null 2>&1 || true' EXIT
eval "$("$reference/lava-pg-cluster" start "$kit" --migrate)"

venv="$target/pyvenv"
[ -x "$venv/bin/python" ] || "${LAVA_RS_PYBIND_PYTHON:-python3}" -m venv "$venv"
[ -x "$venv/bin/maturin" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.5,<2'
rm -rf "$out/wheel"
(cd bindings/python && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$target" \
    "$venv/bin/maturin" build --release --out "$out/wheel")
"$LAVA_SERVER_PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
    --force-reinstall "$out/wheel"/lava_rs-*.whl

psql_() {
    /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$LAVA_SERVER_DB_HOST" \
        -p "$LAVA_SERVER_DB_PORT" -U "$LAVA_SERVER_DB_USER" -d postgres "$@"
}
labs=("$@")
[ ${#labs[@]} -gt 0 ] || labs=(lab-50-100 lab-500-1000 lab-2000-10000)
status=0
for lab in "${labs[@]}"; do
    for templates in "" --lava-rs-templates; do
        name="$lab${templates:+-templates}"
        echo "== $name"
        psql_ -c "DROP DATABASE IF EXISTS lava_rs_bench WITH (FORCE)" -c "CREATE DATABASE lava_rs_bench TEMPLATE lava"
        state="$out/state"; rm -rf "$state"; mkdir -p "$state/media"
        LAVA_SERVER_DB_NAME=lava_rs_bench LAVA_SERVER_STATE="$state" DJANGO_SETTINGS_MODULE=settings \
            "$LAVA_SERVER_PYTHON" -W ignore bindings/python/tests_lava/benchlab.py \
            "$labs_dir/$lab.json.gz" --repeat 3 $templates --json "$out/$name.json" || status=1
    done
done
psql_ -c "DROP DATABASE IF EXISTS lava_rs_bench WITH (FORCE)"
echo "== rendering (LAVA's test dictionaries, warm, with a job context)"
"$LAVA_SERVER_PYTHON" -W ignore bindings/python/tests_lava/benchrender.py "$LAVA_SERVER_TREE" \
    --json "$out/render.json" || status=1
exit "$status"
