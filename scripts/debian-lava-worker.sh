#!/usr/bin/env bash
# Makes Debian bookworm's lava-worker and lava-run 2023.01 runnable on this machine, for the
# end-to-end tests and scripts/main-job.sh (docs/worker-http.md).
#
#   scripts/debian-lava-worker.sh [CACHE]      # CACHE: default $HOME/.cache/lava-worker-2023.01
#   eval "$(scripts/debian-lava-worker.sh)"    # exports LAVA_WORKER_2023 and friends
#
# `apt-get install lava-dispatcher` fails on these machines (python3-guestfs pulls a qemu that
# conflicts with the installed backport), so the packages are taken with `apt-get download`,
# unpacked with `dpkg-deb -x` into CACHE/root, their Python dependencies installed from
# Debian's packages, and `guestfs` replaced by a one-class stub (lava-run imports it at start;
# only image-editing actions use it). Idempotent: what is there already is kept.
#
# Prints shell assignments (stdout) for:
#   LAVA_WORKER_2023      a wrapper running lava-worker 2023.01 (same options as Debian's)
#   LAVA_RUN_2023_DIR     a directory holding a `lava-run` wrapper: put it first on the PATH of
#                         the job's env (lava-worker starts `nice lava-run …` through PATH)
#   LAVA_WORKER_2023_ROOT the unpacked packages
# Everything else goes to stderr. Exit status 0 only when `lava-worker --help` runs.
set -euo pipefail

cache="${1:-${LAVA_WORKER_2023_CACHE:-$HOME/.cache/lava-worker-2023.01}}"
version="2023.01-2"
pkgs=(lava-common lava-dispatcher lava-dispatcher-host)
py_deps=(python3-aiohttp python3-configobj python3-jinja2 python3-magic python3-netifaces
    python3-pexpect python3-pyudev python3-requests python3-setproctitle python3-tz
    python3-yaml python3-voluptuous)

say() { echo "debian-lava-worker: $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

mkdir -p "$cache/debs" "$cache/root" "$cache/shim" "$cache/bin"

# 1. Python dependencies from Debian's packages (the interpreter is /usr/bin/python3).
missing=()
for p in "${py_deps[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    $SUDO apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2
fi

# 2. The packages themselves, downloaded (not installed) and unpacked.
for p in "${pkgs[@]}"; do
    deb=$(ls "$cache/debs/${p}_"*".deb" 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading $p $version"
        (cd "$cache/debs" && apt-get download "$p=$version" >&2) || {
            $SUDO apt-get update -qq >&2 || true
            (cd "$cache/debs" && apt-get download "$p=$version" >&2)
        }
        deb=$(ls "$cache/debs/${p}_"*".deb" | head -n1)
    fi
    stamp="$cache/root/.unpacked-$(basename "$deb")"
    if [ ! -e "$stamp" ]; then
        say "unpacking $(basename "$deb")"
        dpkg-deb -x "$deb" "$cache/root"
        touch "$stamp"
    fi
done

# 3. The guestfs stub: lava-run imports it at start; only image-editing actions use it.
cat >"$cache/shim/guestfs.py" <<'PY'
"""Stand-in for libguestfs' Python module (python3-guestfs cannot be installed here)."""


class GuestFS:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("guestfs is not available on this machine (lava-rs test stub)")
PY

# 4. Wrappers: the unpacked programs run by Debian's interpreter with the unpacked modules.
root="$cache/root"
pypath="$root/usr/lib/python3/dist-packages:$cache/shim"
for prog in lava-worker lava-run; do
    cat >"$cache/bin/$prog" <<SH
#!/bin/sh
# $prog $version from Debian bookworm, unpacked by scripts/debian-lava-worker.sh.
PYTHONPATH="$pypath\${PYTHONPATH:+:\$PYTHONPATH}" exec /usr/bin/python3 "$root/usr/bin/$prog" "\$@"
SH
    chmod 0755 "$cache/bin/$prog"
done

# 5. Check that it runs.
if ! "$cache/bin/lava-worker" --help >/dev/null 2>"$cache/help.err"; then
    say "lava-worker --help failed:"
    cat "$cache/help.err" >&2
    exit 1
fi
if ! "$cache/bin/lava-run" --help >/dev/null 2>"$cache/help.err"; then
    say "lava-run --help failed:"
    cat "$cache/help.err" >&2
    exit 1
fi
say "lava-worker and lava-run 2023.01 ready in $cache"

echo "export LAVA_WORKER_2023='$cache/bin/lava-worker'"
echo "export LAVA_RUN_2023_DIR='$cache/bin'"
echo "export LAVA_WORKER_2023_ROOT='$root'"
