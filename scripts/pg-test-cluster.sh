#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL cluster for lava-store's tests and benchmarks.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # prints the exports to eval
#   scripts/pg-test-cluster.sh stop              # stops it and removes its directory
#
# start: a new cluster in a temp dir, on a free port on 127.0.0.1, trust auth, run as the
#   `postgres` user when we are root (initdb refuses root). It prints
#   LAVA_TEST_POSTGRES_URL (what the tests connect to) and LAVA_TEST_PG_DIR (what stop uses).
#   LAVA_PG_FSYNC=off skips fsync (faster, but benchmark figures are then not durable ones).
# stop: stops the cluster in $LAVA_TEST_PG_DIR (or the dir given as $2) and removes it.
# restart [dir [seconds]]: pg_ctl restart (fast shutdown: every connection is cut), same
#   port; with seconds, the server stays down that long before it starts again.
# psql [dir] SQL...: runs each SQL statement with psql on the cluster, as its owner.
# Everything else goes to stderr; any failure exits non-zero with the reason.
set -euo pipefail

die() { echo "pg-test-cluster: $*" >&2; exit 1; }

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return
        fi
    done
    die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install them (apt-get install postgresql)"
}

# Runs a command as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 20000 ))
}

start() {
    local bin dir port fsync
    bin=$(find_bin)
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        die "running as root but there is no 'postgres' user to own the cluster (install postgresql)"
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/lava-pg.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    fsync=${LAVA_PG_FSYNC:-on}
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    local tries=0
    while :; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=200" \
            start >&2; then
            break
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 3 ]; then
            cat "$dir/server.log" >&2 || true
            die "the server did not start (log above; cluster left in $dir)"
        fi
    done
    echo "pg-test-cluster: PostgreSQL running on 127.0.0.1:$port from $dir" >&2
    echo "export LAVA_TEST_POSTGRES_URL='postgresql://postgres@127.0.0.1:$port/postgres'"
    echo "export LAVA_TEST_PG_DIR='$dir'"
}

stop() {
    local bin dir=${1:-${LAVA_TEST_PG_DIR:-}}
    [ -n "$dir" ] || die "stop: no cluster dir (set LAVA_TEST_PG_DIR or pass it)"
    [ -f "$dir/data/PG_VERSION" ] || die "stop: $dir holds no cluster"
    bin=$(find_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || die "stop: pg_ctl failed for $dir"
    fi
    rm -rf "$dir"
    echo "pg-test-cluster: stopped and removed $dir" >&2
}

cluster_dir() {
    local dir=${1:-${LAVA_TEST_PG_DIR:-}}
    [ -n "$dir" ] || die "no cluster dir (set LAVA_TEST_PG_DIR or pass it)"
    [ -f "$dir/data/PG_VERSION" ] || die "$dir holds no cluster"
    echo "$dir"
}

restart() {
    local bin dir pause=${2:-}
    dir=$(cluster_dir "${1:-}")
    bin=$(find_bin)
    if [ -z "$pause" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 restart >&2 \
            || die "restart: pg_ctl failed for $dir"
        return
    fi
    # The server's own options (port, socket dir, settings), as it was started with them.
    local opts
    opts=$(cat "$dir/data/postmaster.opts") || die "restart: no postmaster.opts in $dir"
    eval "set -- $opts"
    shift
    local keep=()
    while [ $# -gt 0 ]; do
        if [ "$1" = "-D" ]; then shift 2; continue; fi
        keep+=("$1"); shift
    done
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >&2 || die "restart: stop failed for $dir"
    sleep "$pause"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "${keep[*]}" start >&2 \
        || die "restart: start failed for $dir"
}

run_psql() {
    local bin dir port
    dir=$(cluster_dir "${1:-}")
    shift || true
    bin=$(find_bin)
    port=$(sed -n 4p "$dir/data/postmaster.pid")
    local args=()
    for sql in "$@"; do args+=(-c "$sql"); done
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "${args[@]}" >&2 \
        || die "psql failed on $dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    restart) restart "${2:-}" "${3:-}" ;;
    psql) shift; run_psql "$@" ;;
    *) die "usage: $0 start | stop [dir] | restart [dir [seconds]] | psql dir SQL..." ;;
esac
