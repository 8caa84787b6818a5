"""Device dictionaries rendered by LAVA's Jinja2 environment and by lava_rs, warm, with a
job context: the time of one render, and a check that both give the same text.

    python benchrender.py LAVA_TREE [--rounds N] [--json OUT]

LAVA_TREE is LAVA 2020.05's server tree: its test dictionaries
(tests/lava_scheduler_app/devices) and device-type templates (etc/dispatcher-config/
device-types) are rendered, with the loader paths LAVA's ``environment.devices()`` uses.
Run with the LAVA server's Python (Jinja2 2.11, as LAVA 2020.05) and the lava_rs wheel.
"""

import argparse
import json
import os
import statistics
import sys
import time

import jinja2

from lava_rs.lava_server.templates import Environment

CONTEXT = {
    "arch": "arm64",
    "extra_kernel_args": "console_msg_format=syslog earlycon",
    "console_device": "ttyAMA0",
    "boot_character_delay": 30,
    "extra_nfsroot_args": ",vers=3",
    "kernel_start_message": "Linux version",
    "menu_interrupt_prompt": "Default boot will start in",
}


def renders(env, names, context):
    out = {}
    for name in names:
        try:
            out[name] = env.get_template(name).render(**context)
        except jinja2.TemplateError:
            out[name] = None
    return out


def timed(env, names, context, rounds):
    """Seconds per render: the median over `rounds` rounds of all `names`."""
    per_round = []
    for _ in range(rounds):
        start = time.perf_counter()
        for name in names:
            env.get_template(name).render(**context)
        per_round.append((time.perf_counter() - start) / len(names))
    return statistics.median(per_round)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    devices = os.path.join(args.tree, "tests", "lava_scheduler_app", "devices")
    types = os.path.join(args.tree, "etc", "dispatcher-config", "device-types")
    paths = [devices, types]
    lava = jinja2.Environment(loader=jinja2.FileSystemLoader(paths), autoescape=False, trim_blocks=True)
    ours = Environment(paths)
    names = sorted(os.listdir(devices))
    # Same text from both, for every dictionary that renders (and the same ones fail).
    expected, got = renders(lava, names, CONTEXT), renders(ours, names, CONTEXT)
    different = sorted(n for n in names if expected[n] != got[n])
    good = [n for n in names if expected[n] is not None]
    # Warm: every template was loaded and rendered once above.
    no_memo = Environment(paths, remember_outputs=False)
    renders(no_memo, good, CONTEXT)
    jinja2_s = timed(lava, good, CONTEXT, args.rounds)
    lava_rs_s = timed(ours, good, CONTEXT, args.rounds)
    lava_rs_no_memo_s = timed(no_memo, good, CONTEXT, args.rounds)
    summary = {
        "dictionaries": len(names),
        "rendered": len(good),
        "different": different,
        "jinja2_us": round(jinja2_s * 1e6, 1),
        "lava_rs_us": round(lava_rs_s * 1e6, 1),
        "lava_rs_without_output_memo_us": round(lava_rs_no_memo_s * 1e6, 1),
        "speedup": round(jinja2_s / lava_rs_s, 1),
        "speedup_without_output_memo": round(jinja2_s / lava_rs_no_memo_s, 1),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=1)
    return 0 if not different else 1


if __name__ == "__main__":
    sys.exit(main())
