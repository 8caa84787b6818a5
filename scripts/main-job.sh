#!/usr/bin/env bash
# The main job: a lava-rs master with its embedded SQLite store and a lava-rs slave on this
# machine; adds a worker, a device type and a device, submits a job and shows it running to
# Complete with its log.
#
# Usage: scripts/main-job.sh [DATA_DIR]     (default: a new temp dir, kept for a look after)
#
# lava-run: by default the project's test double (tests/lava-run-double), which honours
# lava-run's contract (arguments, files, log records, description.yaml) without hardware.
# Set LAVA_RUN=/path/to/lava-run to use a real LAVA 2020.05 lava-run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
echo "== building lava-master, lava-slave, lava-admin and the lava-run test double"
cargo build --quiet -p lava-bins -p lava-run-double
bin="$root/target/debug"
lava_run=${LAVA_RUN:-$bin/lava-run-double}

dir=${1:-$(mktemp -d -t lava-rs-main-job.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
control=$(free_port); logs=$(free_port); http=$(free_port)
admin() { "$bin/lava-admin" --data-dir "$dir" "$@"; }

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== lab in $dir"
admin workers add worker-01 --description "this machine"
admin device-types add shell --description "hardware-free device type (examples/lab)"
admin device-types template set shell examples/lab/device-types/shell.jinja2
admin devices add shell-01 --device-type shell --worker worker-01 \
    --dictionary examples/lab/devices/shell-01.jinja2

echo "== starting lava-master (control tcp://127.0.0.1:$control, logs tcp://127.0.0.1:$logs)"
"$bin/lava-master" --data-dir "$dir" \
    --master-socket "tcp://127.0.0.1:$control" --log-socket "tcp://127.0.0.1:$logs" \
    --http "127.0.0.1:$http" --log-file "$dir/master.log" &
pids+=($!)

echo "== starting lava-slave worker-01 (lava-run: $lava_run)"
LAVA_RUN_DOUBLE_MODE=${LAVA_RUN_DOUBLE_MODE:-pass:3} "$bin/lava-slave" --hostname worker-01 \
    --master "tcp://127.0.0.1:$control" --socket-addr "tcp://127.0.0.1:$logs" \
    --slave-dir "$dir/slave" --log-file "$dir/slave.log" --level INFO --lava-run "$lava_run" &
pids+=($!)

echo "== submitting examples/lab/job.yaml"
job=$(admin jobs submit examples/lab/job.yaml)
echo "job $job submitted"
for _ in $(seq 1 40); do
    state=$(admin jobs show "$job" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    echo "job $job: $state"
    [ "$state" = Running ] || [ "$state" = Finished ] && break
    sleep 0.5
done
status=0
admin jobs wait "$job" --timeout 120 || status=$?
admin jobs show "$job"
echo "== log of job $job"
admin jobs logs "$job"
if [ "$status" -ne 0 ]; then
    echo "main job: job $job did not complete (see $dir/master.log and $dir/slave.log)" >&2
    exit 1
fi
echo "== main job: job $job Complete (lab kept in $dir)"
