#!/usr/bin/env bash
# The main job: a lava-rs master with its embedded SQLite store and Debian bookworm's real
# lava-worker and lava-run 2023.01 (LAVA's HTTP worker) on this machine; adds a worker, a
# device type and a device, submits a hardware-free command job and shows it running to
# Complete with its log.
#
# Usage: scripts/main-job.sh [DATA_DIR]     (default: a new temp dir, kept for a look after)
#
# The worker: by default Debian's lava-worker 2023.01, unpacked by
# scripts/debian-lava-worker.sh (lava-run runs as root). MAIN_JOB_WORKER=slave runs the
# older generation instead: the project's lava-slave over ZeroMQ with the project's lava-run
# test double (tests/lava-run-double), or with LAVA_RUN=/path/to/lava-run a real LAVA 2020.05
# lava-run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
worker_kind=${MAIN_JOB_WORKER:-lava-worker}
echo "== building lava-master, lava-slave, lava-admin and the lava-run test double"
cargo build --quiet -p lava-bins -p lava-run-double
bin="$root/target/debug"
lava_run=${LAVA_RUN:-$bin/lava-run-double}
if [ "$worker_kind" = lava-worker ]; then
    eval "$(scripts/debian-lava-worker.sh)"
fi

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
admin workers add worker-01 --description "this machine" | tee "$dir/worker-01.added"
token=$(sed -n 's/^Token: //p' "$dir/worker-01.added")
# lava-run's tmp dirs are /var/lib/lava/dispatcher/tmp/<prefix><job id>: a prefix of this
# lab's own, so that other labs on the machine do not share them.
mkdir -p "$dir/dispatcher.d/worker-01"
echo "prefix: main-job-$$-" >"$dir/dispatcher.d/worker-01/dispatcher.yaml"
admin device-types add shell --description "hardware-free device type (examples/lab)"
admin device-types template set shell examples/lab/device-types/shell.jinja2
admin devices add shell-01 --device-type shell --worker worker-01 \
    --dictionary examples/lab/devices/shell-01.jinja2

echo "== starting lava-master (control tcp://127.0.0.1:$control, logs tcp://127.0.0.1:$logs)"
"$bin/lava-master" --data-dir "$dir" \
    --master-socket "tcp://127.0.0.1:$control" --log-socket "tcp://127.0.0.1:$logs" \
    --http "127.0.0.1:$http" --log-file "$dir/master.log" &
pids+=($!)

if [ "$worker_kind" = lava-worker ]; then
    # lava-worker starts `nice lava-run` through PATH: the unpacked 2023.01 one comes first.
    echo "== starting Debian's lava-worker 2023.01 as worker-01 (http://127.0.0.1:$http/)"
    PATH="$LAVA_RUN_2023_DIR:$PATH" "$LAVA_WORKER_2023" --name worker-01 \
        --url "http://127.0.0.1:$http/" --token "$token" --worker-dir "$dir/worker" \
        --ping-interval 5 --log-file "$dir/worker.log" --level INFO &
    pids+=($!)
    worker_log="$dir/worker.log"
else
    echo "== starting lava-slave worker-01 (lava-run: $lava_run)"
    LAVA_RUN_DOUBLE_MODE=${LAVA_RUN_DOUBLE_MODE:-pass:3} "$bin/lava-slave" --hostname worker-01 \
        --master "tcp://127.0.0.1:$control" --socket-addr "tcp://127.0.0.1:$logs" \
        --slave-dir "$dir/slave" --log-file "$dir/slave.log" --level INFO --lava-run "$lava_run" &
    pids+=($!)
    worker_log="$dir/slave.log"
fi

echo "== submitting examples/lab/job.yaml"
job=$(admin jobs submit examples/lab/job.yaml)
echo "job $job submitted"
for _ in $(seq 1 60); do
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
    echo "main job: job $job did not complete (see $dir/master.log and $worker_log)" >&2
    exit 1
fi
admin workers show worker-01
echo "== main job: job $job Complete on $worker_kind (lab kept in $dir)"
