#!/usr/bin/env bash
# Renders every device-type template of Debian's lava-server package (plus lava-rs' own test
# dictionaries) with lava-rs and with Python Jinja2 configured as LAVA does, and compares the
# YAML-parsed results. Final line: "N passed, M failed"; exit status 1 if M > 0.
#
# Usage: scripts/templates-conformance.sh            conformance (debug build, ~10 s)
#        scripts/templates-conformance.sh --bench [N] speed comparison (release build),
#                                                     cold and N warm passes (default 5)
#
# LAVA's templates are fetched as an admin would: `apt-get download lava-server` and
# `dpkg -x` into a cache dir (nothing is installed). Jinja2 and PyYAML come from pip in a
# virtualenv in the same cache dir. Set LAVA_RS_CACHE to move it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=conformance
repeat=5
if [ "${1:-}" = "--bench" ]; then
    mode=bench
    repeat=${2:-5}
fi

cache=${LAVA_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lava-rs}/templates
mkdir -p "$cache"

# LAVA's device-type templates, from the Debian package.
types="$cache/lava-server/usr/share/lava-server/device-types"
if [ ! -d "$types" ]; then
    echo "== fetching lava-server (apt-get download) into $cache" >&2
    (
        cd "$cache"
        rm -f lava-server_*.deb
        if ! apt-get download lava-server >/dev/null 2>&1; then
            SUDO=""
            [ "$(id -u)" -eq 0 ] || SUDO="sudo"
            $SUDO apt-get update -qq
            apt-get download lava-server >/dev/null
        fi
        rm -rf lava-server
        dpkg -x lava-server_*.deb lava-server
    )
fi
count=$(find "$types" -maxdepth 1 -name '*.jinja2' | wc -l)
echo "== $count device-type templates from $(basename "$cache"/lava-server_*.deb)" >&2

# Python Jinja2 + PyYAML, as LAVA uses them.
venv="$cache/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import jinja2, yaml' 2>/dev/null; then
    echo "== creating $venv (pip install jinja2 pyyaml)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check 'jinja2>=3.1,<4' 'pyyaml>=6'
fi

data="$root/lava-core/tests/data/templates"
if [ "$mode" = bench ]; then
    cargo build -q --release -p lava-bins --bin lava-admin
    admin="$root/target/release/lava-admin"
else
    cargo build -q -p lava-bins --bin lava-admin
    admin="$root/target/debug/lava-admin"
fi

args=(
    --lava-admin "$admin"
    --device-types "$types"
    --device-types "$data/device-types"
    --dictionaries "$data/devices"
    --work "$cache/work"
)
if [ "$mode" = bench ]; then
    args+=(--bench "$repeat")
fi
exec "$venv/bin/python" "$root/scripts/templates_conformance.py" "${args[@]}"
