#!/usr/bin/env bash
# Records LAVA 2020.05's own verdict on every job definition of the conformance corpus, and
# on lava-rs' device configurations, as the fixtures that lava-core/tests/job_verdicts.rs
# and device_verdicts.rs check lava-rs against (so that CI does not need LAVA to run them).
#
#   scripts/job-verdicts.sh            regenerate the mutations and the verdicts
#
# The corpus: LAVA's sample jobs and health checks and the job definitions written inline in
# LAVA's tests (read from ../shared/reference/lava-2020.05-server, never copied here: a
# fixture names its source and SHA-256), and lava-rs' own mutations of each rule
# (scripts/job_mutations.py writes them to lava-core/tests/fixtures/job-verdicts/mutations).
# The verdicts come from running LAVA's real submission path (testjob_submission) in the
# real LAVA 2020.05 server's virtualenv, on a throw-away PostgreSQL (see
# ../shared/reference/README.md), in a transaction rolled back after each definition, with
# the device types, devices, tags, groups, users and queries the definition names created
# first: what is recorded is LAVA's verdict on the definition, not on one lab's contents.
# Set LAVA_SERVER_KIT_DIR to reuse a kit directory (default: a cache dir).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shared/ beside the checkout (or beside a parent of it, for a git worktree nested deeper).
ref=
dir=$root
while [ "$dir" != / ]; do
    dir=$(dirname "$dir")
    if [ -d "$dir/shared/reference/lava-2020.05-server" ]; then ref=$dir/shared/reference; break; fi
done
[ -n "$ref" ] || { echo "job-verdicts: no shared/reference/lava-2020.05-server beside $root or its parents" >&2; exit 1; }
kit=${LAVA_SERVER_KIT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lava-rs/job-verdicts-kit}
mkdir -p "$kit"
eval "$("$ref/real-lava-server-setup" "$kit")"
started=0
if ! "$ref/lava-pg-cluster" env "$kit" >/dev/null 2>&1; then
    eval "$("$ref/lava-pg-cluster" start "$kit" --migrate)"
    started=1
else
    eval "$("$ref/lava-pg-cluster" env "$kit")"
fi
cleanup() { if [ $started = 1 ]; then "$ref/lava-pg-cluster" stop "$kit" >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

fixtures=$root/lava-core/tests/fixtures/job-verdicts
devices=$root/lava-core/tests/fixtures/device-verdicts
python3 "$root/scripts/job_mutations.py" "$fixtures/mutations" "$devices/configurations"
PYTHONHASHSEED=0 "$LAVA_SERVER_PYTHON" -W ignore "$root/scripts/job_verdicts.py" \
    --lava-tree "$ref/lava-2020.05-server" --mutations "$fixtures/mutations" \
    --out "$fixtures/verdicts.jsonl" \
    --device-configurations "$devices/configurations" --device-out "$devices/verdicts.jsonl"
