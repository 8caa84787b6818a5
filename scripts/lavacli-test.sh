#!/usr/bin/env bash
# lavacli against the lava-rs XML-RPC API: LAVA's own client, unchanged, drives the admin
# workflow (workers, device types, devices, dictionaries, templates, jobs) and must see
# what it sees on a LAVA 2020.05 server.
#
# Usage: scripts/lavacli-test.sh [--postgres]   (from anywhere; needs python3-venv and network
#                                                to PyPI the first time)
#
# By default it builds lava-master and lava-admin and runs a real master on a temp data dir
# and free 127.0.0.1 ports (ZeroMQ sockets and --http), with an admin and a plain user
# created by `lava-admin users add` / `lava-admin tokens add`: lavacli then drives the
# real store and the real dispatcher-config tree (a `base.jinja2` is installed in an extra
# --device-types dir, as /usr/share/lava-server/device-types holds it on a LAVA server).
# When the reference tree is beside the checkout (shared/reference, or LAVA_REFERENCE_DIR),
# LAVA 2020.05's own lava-slave and lava-run then run a job submitted with lavacli, and
# `jobs wait`, `jobs show` and `jobs logs` follow it to the end; without it, that part is
# skipped with a message.
#
# `--postgres` runs the same master on a fresh database of the PostgreSQL server in
# LAVA_TEST_POSTGRES_URL (scripts/pg-test-cluster.sh) instead of the embedded SQLite store.
# To test another server, set
#   LAVACLI_TEST_URI=http://HOST:PORT/RPC2
#   LAVACLI_TEST_ADMIN=NAME:TOKEN   (an admin)   LAVACLI_TEST_USER=NAME:TOKEN (a plain user)
# on an empty lab whose scheduler runs jobs on devices in good health (the master with a
# slave running the lava-run test double). Prints `N passed, M failed` and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

STORE=sqlite
for arg in "$@"; do
    case "$arg" in
    --postgres) STORE=postgres ;;
    *)
        echo "usage: $0 [--postgres]" >&2
        exit 2
        ;;
    esac
done

LAVACLI_VERSION="3.1.0"
VENV="${LAVACLI_VENV:-target/lavacli-venv}"

# --- lavacli in a virtualenv, pinned --------------------------------------------------
if [ ! -x "$VENV/bin/lavacli" ] ||
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("lavacli"))' 2>/dev/null)" != "$LAVACLI_VERSION" ]; then
    echo "== installing lavacli $LAVACLI_VERSION in $VENV"
    python3 -m venv "$VENV" || exit 1
    "$VENV/bin/pip" install -q "lavacli==$LAVACLI_VERSION" || exit 1
fi
LAVACLI="$VENV/bin/lavacli"

WORK="$(mktemp -d)"
DATA=""
SERVER_PID=""
SLAVE_PID=""
cleanup() {
    if [ -n "$SLAVE_PID" ]; then
        kill "$SLAVE_PID" 2>/dev/null
        wait "$SLAVE_PID" 2>/dev/null
    fi
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- the server -----------------------------------------------------------------------
if [ -n "${LAVACLI_TEST_URI:-}" ]; then
    URI="$LAVACLI_TEST_URI"
    ADMIN="${LAVACLI_TEST_ADMIN:?set LAVACLI_TEST_ADMIN=NAME:TOKEN}"
    USER_PAIR="${LAVACLI_TEST_USER:?set LAVACLI_TEST_USER=NAME:TOKEN}"
else
    echo "== building lava-master and lava-admin"
    cargo build -q -p lava-bins --bin lava-master --bin lava-admin || exit 1
    DATA="$WORK/lab"
    SHARE="$WORK/share-device-types"
    mkdir -p "$DATA" "$SHARE"
    # What every LAVA device-type template extends; here just enough to give a device
    # configuration that LAVA's device schema accepts.
    cat >"$SHARE/base.jinja2" <<'BASE'
commands:
  connect: telnet {{ scheduled_device_name|default('') }} 7000
constants:
  console_device: {{ console_device|default('ttyS0') }}
actions: {}
timeouts: {}
{% block body %}{% endblock %}
BASE
    STORE_ARGS=()
    if [ "$STORE" = postgres ]; then
        : "${LAVA_TEST_POSTGRES_URL:?--postgres needs LAVA_TEST_POSTGRES_URL (scripts/pg-test-cluster.sh start)}"
        DB="lavacli_$$"
        psql -q "$LAVA_TEST_POSTGRES_URL" -c "CREATE DATABASE $DB" || exit 1
        STORE_ARGS=(--store "${LAVA_TEST_POSTGRES_URL%/*}/$DB")
        echo "== store: PostgreSQL database $DB"
    fi
    admin() { target/debug/lava-admin --data-dir "$DATA" "${STORE_ARGS[@]}" "$@"; }
    # new_token NAME: the token printed alone on the last line of `tokens add`.
    new_token() { admin tokens add "$1" | tail -n 1; }
    admin users add admin --admin >/dev/null || exit 1
    admin users add bob >/dev/null || exit 1
    ADMIN="admin:$(new_token admin)" || exit 1
    USER_PAIR="bob:$(new_token bob)" || exit 1
    free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    }
    HTTP_PORT="$(free_port)"
    CONTROL_URL="tcp://127.0.0.1:$(free_port)"
    LOG_URL="tcp://127.0.0.1:$(free_port)"
    target/debug/lava-master --data-dir "$DATA" "${STORE_ARGS[@]}" \
        --master-socket "$CONTROL_URL" --log-socket "$LOG_URL" \
        --http "127.0.0.1:$HTTP_PORT" --slaves-certs "$DATA/certificates.d" \
        --device-types "$SHARE" --level DEBUG \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    URI="http://127.0.0.1:$HTTP_PORT/RPC2"
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
        echo "lava-master did not start:" >&2
        cat "$WORK/server.err" >&2
        exit 1
    fi
fi
echo "== lavacli $LAVACLI_VERSION against $URI"
ADMIN_NAME="${ADMIN%%:*}" ADMIN_TOKEN="${ADMIN#*:}"
USER_NAME="${USER_PAIR%%:*}" USER_TOKEN="${USER_PAIR#*:}"
export XDG_CONFIG_HOME="$WORK/config"

# --- a tiny test harness --------------------------------------------------------------
PASSED=0
FAILED=0
OUT="$WORK/stdout"
ERR="$WORK/stderr"

# run NAME EXPECTED_EXIT_CODE lavacli-arguments...: runs lavacli, checks its exit code.
run() {
    local name="$1" want="$2"
    shift 2
    CURRENT="$name"
    # Bounded: a lavacli call that follows a job that never ends must not hang the run.
    timeout 300 "$LAVACLI" "$@" >"$OUT" 2>"$ERR"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        fail "exit code $got, expected $want (lavacli $*)"
        return 1
    fi
    return 0
}

fail() {
    FAILED=$((FAILED + 1))
    echo "FAIL $CURRENT: $1"
    sed 's/^/    stdout: /' "$OUT"
    sed 's/^/    stderr: /' "$ERR"
}

pass() {
    PASSED=$((PASSED + 1))
    echo "ok   $CURRENT"
}

# expect FILE LINE...: every LINE is a whole line of FILE (stdout or stderr).
expect() {
    local file="$1"
    shift
    for line in "$@"; do
        if ! grep -qxF -- "$line" "$file"; then
            fail "missing line '$line'"
            return 1
        fi
    done
    pass
}

# expect_contains FILE TEXT: TEXT appears in FILE.
expect_contains() {
    if grep -qF -- "$2" "$1"; then pass; else fail "missing '$2'"; fi
}

# expect_same FILE EXPECTED_FILE: byte for byte.
expect_same() {
    if cmp -s "$1" "$2"; then pass; else fail "differs from $(basename "$2")"; fi
}

# --- the workflow ---------------------------------------------------------------------
cat >"$WORK/qemu01.jinja2" <<'DICT'
{% extends 'qemu.jinja2' %}
{% set mac_addr = '52:54:00:12:34:59' %}
{% set memory = 1024 %}
DICT
cat >"$WORK/qemu.jinja2" <<'TEMPLATE'
{# lava-rs test template #}
{% extends 'base.jinja2' %}
{% set console_device = console_device|default('ttyS0') %}
TEMPLATE
cat >"$WORK/job.yaml" <<'JOB'
job_name: lavacli smoke test
device_type: qemu
visibility: public
priority: medium
timeouts:
  job:
    minutes: 10
actions:
- boot:
    method: qemu
    media: tmpfs
JOB
printf 'dispatcher_ip: 192.0.2.1\n' >"$WORK/dispatcher.yaml"
printf 'overrides:\n  LC_ALL: C.UTF-8\n' >"$WORK/env.yaml"

run "identities add (admin)" 0 identities add --uri "$URI" --username "$ADMIN_NAME" --token "$ADMIN_TOKEN" default && pass
run "identities add (user)" 0 identities add --uri "$URI" --username "$USER_NAME" --token "$USER_TOKEN" user && pass
run "identities add (wrong token)" 0 identities add --uri "$URI" --username "$ADMIN_NAME" --token "not-$ADMIN_TOKEN" wrong && pass

run "system version" 0 system version && expect "$OUT" "2020.05"
run "system whoami" 0 system whoami && expect "$OUT" "$ADMIN_NAME"

run "workers add --description --disabled" 0 workers add --description "rack 1, shelf 2" --disabled worker-01 && pass
run "workers show (disabled)" 0 workers show worker-01 &&
    expect "$OUT" "hostname    : worker-01" "description : rack 1, shelf 2" "state       : Offline" "health      : Retired" "devices     : " "job limit   : 0"
run "workers show (token, for lava-worker: admins only)" 0 workers show worker-01 &&
    expect_contains "$OUT" "token       : "
run "workers show (no token for a plain user)" 0 --identity user workers show worker-01 &&
    if grep -q "^token" "$OUT"; then fail "a plain user sees the worker token"; else pass; fi
run "workers add" 0 workers add --description "the active one" worker-02 && pass
run "workers list" 0 workers list && expect "$OUT" "Workers:" "* worker-01" "* worker-02"
run "workers add (exists)" 1 workers add worker-02 && expect_contains "$ERR" "Fault 400: 'Bad request: worker already exists?'"
run "workers update --health" 0 workers update --health MAINTENANCE --job-limit 2 worker-02 && pass
run "workers show (updated)" 0 workers show worker-02 && expect "$OUT" "health      : Maintenance" "job limit   : 2"
run "workers config set" 0 workers config set worker-02 "$WORK/dispatcher.yaml" && pass
run "workers config get" 0 workers config get worker-02 && expect_same "$OUT" "$WORK/dispatcher.yaml"
run "workers env set" 0 workers env set worker-02 "$WORK/env.yaml" && pass
run "workers env get" 0 workers env get worker-02 && expect_same "$OUT" "$WORK/env.yaml"
run "workers certificate get (none)" 1 workers certificate get worker-02 &&
    expect_contains "$ERR" "Worker 'worker-02' does not have a certificate uploaded"

run "device-types add" 0 device-types add --description "QEMU" qemu && pass
run "device-types template get (none)" 1 device-types template get qemu && expect_contains "$ERR" "Fault 404"
run "device-types template set" 0 device-types template set qemu "$WORK/qemu.jinja2" && pass
run "device-types template get" 0 device-types template get qemu && expect_same "$OUT" "$WORK/qemu.jinja2"

run "devices add --type --worker" 0 devices add --type qemu --worker worker-02 qemu01 && pass
run "devices add (unknown worker)" 1 devices add --type qemu --worker worker-09 qemu02 &&
    expect_contains "$ERR" "Fault 404: \"Worker 'worker-09' was not found.\""
run "devices show" 0 devices show qemu01 &&
    expect "$OUT" "name        : qemu01" "device-type : qemu" "state       : Idle" "health      : Unknown" "device-dict : False" "worker      : worker-02"
run "devices dict get (none)" 1 devices dict get qemu01 && expect_contains "$ERR" "Fault 404"
run "devices dict set" 0 devices dict set qemu01 "$WORK/qemu01.jinja2" && pass
run "devices dict get" 0 devices dict get qemu01 && expect_same "$OUT" "$WORK/qemu01.jinja2"
run "devices list" 0 devices list && expect "$OUT" "Devices:" "* qemu01 (qemu): Idle,Unknown"
run "device-types list" 0 device-types list && expect "$OUT" "Device-Types:" "* qemu (1)"
run "device-types show" 0 device-types show qemu && expect "$OUT" "name            : qemu" "devices         : ['qemu01']"

run "tags add" 0 tags add --description "has a USB hub" usb && pass
run "tags list" 0 tags list && expect "$OUT" "Tags:" "* usb (has a USB hub)"

run "jobs validate" 0 jobs validate "$WORK/job.yaml" && pass
# In maintenance, qemu01 takes no job: job 1 stays Submitted until canceled.
run "devices update --health MAINTENANCE" 0 devices update --health MAINTENANCE qemu01 && pass
run "jobs submit" 0 --identity user jobs submit "$WORK/job.yaml" && expect "$OUT" "1"
run "jobs show" 0 jobs show 1 &&
    expect "$OUT" "id          : 1" "description : lavacli smoke test" "submitter   : $USER_NAME" "device-type : qemu" "state       : Submitted" "Health      : Unknown" "visibility  : Public"
run "jobs list" 0 jobs list && expect_contains "$OUT" "* 1: Submitted,Unknown [$USER_NAME] (lavacli smoke test) - qemu"
# lavacli print()s the definition, adding a newline.
{ cat "$WORK/job.yaml"; echo; } >"$WORK/job.printed"
run "jobs definition" 0 jobs definition 1 && expect_same "$OUT" "$WORK/job.printed"
run "jobs logs --no-follow" 0 jobs logs --no-follow 1 && pass
run "jobs cancel" 0 jobs cancel 1 && pass
run "jobs show (canceled)" 0 jobs show 1 && expect "$OUT" "state       : Finished" "Health      : Canceled"
run "devices update --health GOOD" 0 devices update --health GOOD qemu01 && pass
# The run of a job is checked below with LAVA's own slave on the shell device.
run "jobs show (unknown)" 1 jobs show 999 && expect_contains "$ERR" "Fault 404: \"Job '999' was not found.\""
run "jobs submit (invalid)" 1 jobs submit "$WORK/env.yaml" && expect_contains "$ERR" "Fault 400"

run "wrong token refused" 1 --identity wrong system version && expect_contains "$ERR" "401"
run "plain user may not add workers" 1 --identity user workers add worker-03 &&
    expect_contains "$ERR" "Fault 403: \"User '$USER_NAME' is missing permission lava_scheduler_app.add_worker .\""
run "anonymous may not add workers" 1 --uri "$URI" workers add worker-03 &&
    expect_contains "$ERR" "Fault 401: 'Authentication with user and token required for this API.'"
run "workers list (unchanged)" 0 workers list && expect "$OUT" "* worker-01" "* worker-02"

# --- the real master only: what lavacli changed is where lava-master reads it ----------
if [ -n "${DATA:-}" ]; then
    CURRENT="dictionary on disk"
    expect_same "$DATA/dispatcher-config/devices/qemu01.jinja2" "$WORK/qemu01.jinja2"
    CURRENT="template on disk"
    expect_same "$DATA/dispatcher-config/device-types/qemu.jinja2" "$WORK/qemu.jinja2"
    CURRENT="worker config on disk"
    expect_same "$DATA/dispatcher.d/worker-02/dispatcher.yaml" "$WORK/dispatcher.yaml"
    run "devices dict get --render" 0 devices dict get --render qemu01 &&
        expect "$OUT" "  connect: telnet qemu01 7000" "  console_device: ttyS0"
    printf "{%% extends 'no-such.jinja2' %%}\n" >"$WORK/broken.jinja2"
    run "devices dict set (does not render)" 1 devices dict set qemu01 "$WORK/broken.jinja2" &&
        expect_contains "$ERR" "Fault 400"
    CURRENT="dictionary on disk (unchanged)"
    expect_same "$DATA/dispatcher-config/devices/qemu01.jinja2" "$WORK/qemu01.jinja2"
    run "jobs submit (for lava-admin)" 0 --identity user jobs submit "$WORK/job.yaml" && expect "$OUT" "2"
    CURRENT="lava-admin jobs show (submitted)"
    if admin jobs show 2 --json >"$OUT" 2>"$ERR"; then
        expect "$OUT" '  "state": "Submitted",' '  "submitter": "bob",'
    else
        fail "lava-admin jobs show failed"
    fi
    run "jobs cancel (queued)" 0 jobs cancel 2 && pass
    CURRENT="lava-admin jobs show (canceled)"
    if admin jobs show 2 --json >"$OUT" 2>"$ERR"; then
        expect "$OUT" '  "state": "Finished",' '  "health": "Canceled",'
    else
        fail "lava-admin jobs show failed"
    fi
fi

# --- the real master with LAVA 2020.05's own lava-slave: a job runs, lavacli waits ----------
# The slave and lava-run come from the reference tree beside the checkout (as for the
# real_lava_slave cargo test); without it this part is skipped, saying so.
reference_setup() {
    if [ -n "${LAVA_REFERENCE_DIR:-}" ]; then
        echo "$LAVA_REFERENCE_DIR/real-lava-slave-setup"
        return
    fi
    local dir
    dir="$(pwd)"
    while [ "$dir" != / ]; do
        if [ -x "$dir/shared/reference/real-lava-slave-setup" ]; then
            echo "$dir/shared/reference/real-lava-slave-setup"
            return
        fi
        dir="$(dirname "$dir")"
    done
}
SETUP="$(reference_setup)"
if [ -n "${DATA:-}" ] && [ -z "$SETUP" ]; then
    echo "skip a job on the real LAVA slave: shared/reference/real-lava-slave-setup not found"
elif [ -n "${DATA:-}" ]; then
    CURRENT="real lava-slave setup"
    if eval "$("$SETUP" target/tmp/real-lava-slave 2>"$ERR")"; then
        # Added before the slave says HELLO (the master would add it then otherwise).
        run "workers add (for the slave)" 0 workers add lavacli-worker && pass
        mkdir -p "$WORK/slave"
        "$LAVA_SLAVE_PYTHON" -W ignore "$LAVA_SLAVE_SCRIPT" --hostname lavacli-worker \
            --master "$CONTROL_URL" --socket-addr "$LOG_URL" \
            --slave-dir "$WORK/slave" --log-file - --level DEBUG >"$WORK/slave.log" 2>&1 &
        SLAVE_PID=$!
        run "device-types add shell" 0 device-types add shell && pass
        run "device-types template set shell" 0 device-types template set shell examples/lab/device-types/shell.jinja2 && pass
        run "devices add shell-01" 0 devices add --type shell --worker lavacli-worker shell-01 && pass
        run "devices dict set shell-01" 0 devices dict set shell-01 examples/lab/devices/shell-01.jinja2 && pass
        # A scheduling pass that ran between `devices add` and `dict set` (the slave's HELLO
        # triggers one) found no dictionary and made the device Bad, as LAVA's scheduler
        # does: the admin brings it back once its dictionary is in place.
        run "devices update --health GOOD shell-01" 0 devices update --health GOOD shell-01 && pass
        run "jobs submit (shell)" 0 --identity user jobs submit examples/lab/job.yaml && expect "$OUT" "3"
        run "jobs wait" 0 jobs wait --polling 1 --timeout 120 3 && pass
        run "jobs show (complete)" 0 jobs show 3 &&
            expect "$OUT" "state       : Finished" "Health      : Complete" "device      : shell-01"
        run "jobs logs" 0 jobs logs --no-follow 3 && expect_contains "$OUT" "hello from lava-rs"
        run "jobs logs --raw" 0 jobs logs --raw 3 && expect_contains "$OUT" '"lvl": "results"'
        run "results" 0 results 3 && expect_contains "$OUT" "job"
    else
        fail "$SETUP failed"
    fi
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
