#!/usr/bin/env python3
"""Render device dictionaries with Python Jinja2 configured as LAVA does and with lava-rs,
and compare the YAML-parsed results.

Usage: templates_conformance.py --lava-admin BIN --device-types DIR [--device-types DIR…]
           --work DIR [--dictionaries DIR] [--bench N]

Cases:
- for every template T.jinja2 in the first device-types dir, a dictionary that only
  extends it, and one that extends it with a set of common variables and a job context;
- every dictionary DIR/*.jinja2 under --dictionaries, with DIR/NAME.context.yaml as its
  context when present (several contexts: NAME.context.*.yaml, one case each).

Prints one line per failure and a final line `N passed, M failed`; exits 1 if M > 0.
With --bench N, also times both engines on the same set (cold: first render of each
dictionary in a fresh environment; warm: N more passes) and prints the figures.
"""

import argparse
import io
import json
import os
import resource
import shlex
import subprocess
import sys
import time

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

try:
    from yaml import CSafeDumper as Dumper
    from yaml import CSafeLoader as Loader
except ImportError:  # PyYAML without libyaml: what LAVA falls back to as well
    from yaml import SafeDumper as Dumper
    from yaml import SafeLoader as Loader

X86_ARCHS = ("amd64", "x86_64", "i386")

# Differences that are understood and documented in docs/templates.md ("Known
# divergences"): case label -> the only (Jinja2 line, lava-rs line) pairs allowed to differ.
# Anything else in the same case is still a failure.
KNOWN_DIVERGENCES = {
    # A block nested in another block: Jinja2 resolves its names in the template context
    # only, minijinja also sees the enclosing block's `{% set %}` (docs/templates.md).
    "d03.jinja2 (extends only)": [
        (
            "          - 'linux (tftp,{SERVER_IP})/{KERNEL} console=, earlycon=uart8250,"
            "mmio32,0x80300000 root=/dev/ram0 ip=dhcp'",
            "          - 'linux (tftp,{SERVER_IP})/{KERNEL} console=ttyS0,115200 earlycon="
            "uart8250,mmio32,0x80300000 root=/dev/ram0 ip=dhcp'",
        ),
        (
            "          - 'linux (tftp,{SERVER_IP})/{KERNEL} console=, earlycon=uart8250,"
            "mmio32,0x80300000 root=/dev/nfs rw nfsroot={NFS_SERVER_IP}:{NFSROOTFS},tcp,hard "
            "ip=dhcp'",
            "          - 'linux (tftp,{SERVER_IP})/{KERNEL} console=ttyS0,115200 earlycon="
            "uart8250,mmio32,0x80300000 root=/dev/nfs rw nfsroot={NFS_SERVER_IP}:{NFSROOTFS},"
            "tcp,hard ip=dhcp'",
        ),
        (
            "          - linux (tftp,{SERVER_IP})/{KERNEL} auto=true interface=eth0 "
            "priority=critical noshell BOOT_DEBUG=1 DEBIAN_FRONTEND=text "
            "url=tftp://{SERVER_IP}/{PRESEED_CONFIG} efi=noruntime --- console=, debug verbose",
            "          - linux (tftp,{SERVER_IP})/{KERNEL} auto=true interface=eth0 "
            "priority=critical noshell BOOT_DEBUG=1 DEBIAN_FRONTEND=text "
            "url=tftp://{SERVER_IP}/{PRESEED_CONFIG} efi=noruntime --- console=ttyS0,115200 "
            "debug verbose",
        ),
    ],
}

# Variables an admin typically sets in a dictionary (the "loaded" variant of each case).
COMMON_SETS = """\
{% set connection_command = 'telnet localhost 7001' %}
{% set connection_list = ['uart0', 'uart1'] %}
{% set connection_tags = {'uart1': ['primary', 'telnet']} %}
{% set connection_commands = {'uart0': 'telnet ser2net 7001', 'uart1': 'telnet ser2net 7002'} %}
{% set hard_reset_command = '/usr/bin/pduclient --daemon pdu01 --hostname pdu01 --command reboot --port 08' %}
{% set power_off_command = ['/usr/bin/pduclient --daemon pdu01 --port 08 --command off', 'sleep 5'] %}
{% set power_on_command = '/usr/bin/pduclient --daemon pdu01 --port 08 --command on' %}
{% set soft_reboot_command = 'reboot' %}
{% set pre_power_command = '/usr/local/bin/usb-switch --port 3 --on' %}
{% set pre_os_command = '/usr/local/bin/usb-switch --port 3 --off' %}
{% set device_ip = '10.0.0.42' %}
{% set mac_addr = '00:11:22:33:44:55' %}
{% set console_device = 'ttyS2' %}
{% set baud_rate = 1500000 %}
{% set adb_serial_number = 'R58M12ABCDE' %}
{% set fastboot_serial_number = 'R58M12ABCDE' %}
{% set usb_uuid = 'usb-SanDisk_Ultra_4C530001-0:0' %}
{% set usb_device_id = 0 %}
{% set sata_uuid = 'ata-ST500DM002-1BD142_W3T2M8XA' %}
{% set sd_uuid = 'mmc-SD08G_0x4e3c2c8f' %}
{% set board_id = '0240000031754e45002b0012a2f3001d1b51000097969900' %}
{% set usb_vendor_id = '0d28' %}
{% set usb_product_id = '0204' %}
{% set flasher_deploy_commands = ['flash.sh {IMAGE}'] %}
{% set static_ip = '192.168.1.20' %}
{% set static_gateway = '192.168.1.1' %}
{% set static_netmask = '255.255.255.0' %}
{% set static_dns = '192.168.1.1' %}
{% set boot_character_delay = 30 %}
{% set test_character_delay = 5 %}
{% set extra_kernel_args = 'rootwait earlycon' %}
{% set tags = ['usb', 'sata', 'hdmi'] %}
{% set user_commands = {'reset_usb': {'do': 'usb-reset 3', 'undo': 'usb-reset 3 --off'}} %}
{% set device_info = [{'board_id': '0123'}] %}
{% set static_info = [{'board_id': '0123'}] %}
{% set storage_info = [{'SD card': '/dev/disk/by-id/usb-sd'}] %}
{% set environment = {'ANDROID_SERIAL': 'R58M12ABCDE'} %}
{% set uboot_mac_addr = '00:11:22:33:44:55' %}
{% set sdmux_disk = '/dev/disk/by-id/usb-sdmux' %}
{% set recovery_mode_command = ['/usr/bin/relay --on 2'] %}
{% set recovery_exit_command = ['/usr/bin/relay --off 2'] %}
"""

COMMON_CONTEXT = {
    "arch": "arm64",
    "extra_kernel_args": "console_msg_format=syslog",
    "boot_character_delay": 10,
    "extra_nfsroot_args": ",vers=3",
    "lava_test_results_dir": "/tmp/lava-%s",
    "memory": 2048,
    "netdevice": "tap",
    "guestfs_interface": "virtio",
    "machine": "virt",
    "cpu": "cortex-a57",
    "kernel_loglevel": 7,
}


def yaml_quote(value):
    """LAVA's yaml_quote filter: one-line double-quoted YAML, no document start."""
    stream = io.StringIO()
    dumper = Dumper(
        stream,
        default_flow_style=True,
        width=2**31 - 1,
        default_style='"',
        explicit_start=True,
        explicit_end=False,
    )
    dumper.open()
    dumper.represent(value)
    return stream.getvalue()[4:-1]


def qemu_guest_fs_interface(arch, guestfs_interface):
    if guestfs_interface:
        return guestfs_interface
    return "ide" if arch in X86_ARCHS else "virtio"


def lava_environment(search_path, cache_size=400):
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(search_path),
        autoescape=False,
        trim_blocks=True,
        cache_size=cache_size,
    )
    env.filters["shlex_quote"] = shlex.quote
    env.filters["yaml_quote"] = yaml_quote
    env.filters["qemu_guest_fs_interface"] = qemu_guest_fs_interface
    return env


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def collect_cases(args):
    """(label, dictionary path, context path or None) for every case."""
    cases = []
    generated = os.path.join(args.work, "generated")
    os.makedirs(generated, exist_ok=True)
    context_file = os.path.join(generated, "common.context.yaml")
    write(context_file, yaml.safe_dump(COMMON_CONTEXT))
    first = args.device_types[0]
    for template in sorted(os.listdir(first)):
        if not template.endswith(".jinja2"):
            continue
        stem = template[: -len(".jinja2")]
        plain = os.path.join(generated, f"plain--{stem}.jinja2")
        write(plain, "{%% extends '%s' %%}\n" % template)
        cases.append((f"{template} (extends only)", plain, None))
        loaded = os.path.join(generated, f"loaded--{stem}.jinja2")
        write(loaded, "{%% extends '%s' %%}\n%s" % (template, COMMON_SETS))
        cases.append((f"{template} (common variables + context)", loaded, context_file))
    for directory in args.dictionaries:
        for name in sorted(os.listdir(directory)):
            if not name.endswith(".jinja2"):
                continue
            stem = name[: -len(".jinja2")]
            path = os.path.join(directory, name)
            contexts = sorted(
                c
                for c in os.listdir(directory)
                if c.startswith(stem + ".context") and c.endswith(".yaml")
            )
            cases.append((name, path, None))
            for context in contexts:
                cases.append((f"{name} with {context}", path, os.path.join(directory, context)))
    return cases


def load_context(path):
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Loader) or {}


def expected_name(dictionary, context):
    stem = os.path.basename(dictionary)[: -len(".jinja2")]
    if context is None:
        return f"{stem}--no-context.txt"
    return f"{stem}--{os.path.basename(context)[: -len('.yaml')]}.txt"


def write_expected(cases, results, directory):
    """Jinja2's exact text (or error) for lava-rs' own dictionaries, for the Rust tests."""
    os.makedirs(directory, exist_ok=True)
    for (_, dictionary, context), (status, text) in zip(cases, results):
        if not os.path.basename(dictionary).startswith("lavars-"):
            continue
        if status != "ok":
            sys.exit(f"{dictionary}: Jinja2 fails, no golden output: {text}")
        with open(os.path.join(directory, expected_name(dictionary, context)), "w") as f:
            f.write(text)


def render_python(envs, case, cache_size=400, contexts=None):
    _, dictionary, context = case
    search_path = [os.path.dirname(dictionary) or "."] + list(ARGS.device_types)
    key = tuple(search_path)
    if key not in envs:
        envs[key] = lava_environment(search_path, cache_size)
    template = envs[key].get_template(os.path.basename(dictionary))
    variables = contexts[context] if contexts is not None else load_context(context)
    return template.render(**variables)


def python_results(cases):
    envs = {}
    results = []
    for case in cases:
        try:
            results.append(("ok", render_python(envs, case)))
        except Exception as exc:  # every Jinja2/YAML failure is a result to compare
            results.append(("error", f"{type(exc).__name__}: {exc}"))
    return results


def rust_results(cases, repeat=0, memo=True):
    requests = "".join(
        json.dumps({"dictionary": d, "device_types": ARGS.device_types, "context": c}) + "\n"
        for _, d, c in cases
    )
    command = [ARGS.lava_admin, "templates", "batch"]
    if repeat:
        command += ["--repeat", str(repeat)]
    if not memo:
        command += ["--no-memo"]
    proc = subprocess.run(command, input=requests, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"lava-admin templates batch failed: {proc.stderr.strip()}")
    results = []
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        results.append(("ok", item["ok"]) if "ok" in item else ("error", item["error"]))
    return results, proc.stderr


def parse(text):
    try:
        return ("yaml", yaml.load(text, Loader=Loader))
    except yaml.YAMLError as exc:
        return ("invalid-yaml", text, str(exc).splitlines()[0])


def compare(python, rust):
    """None if the results agree, else why they do not."""
    if python[0] == "error" or rust[0] == "error":
        if python[0] == rust[0]:
            return None  # both refuse the dictionary
        if python[0] == "error":
            return f"Jinja2 fails ({python[1]}) but lava-rs renders"
        return f"lava-rs fails ({rust[1]}) but Jinja2 renders"
    expected, got = parse(python[1]), parse(rust[1])
    if expected[0] == "yaml" and got[0] == "yaml":
        return None if expected[1] == got[1] else first_difference(python[1], rust[1])
    if python[1] == rust[1]:
        return None  # not YAML for either, but the same text
    return first_difference(python[1], rust[1])


def known_divergence(label, python, rust):
    """True if every differing line of this case is one of its documented pairs."""
    allowed = KNOWN_DIVERGENCES.get(label)
    if not allowed or python[0] != "ok" or rust[0] != "ok":
        return False
    expected, got = python[1].splitlines(), rust[1].splitlines()
    if len(expected) != len(got):
        return False
    differing = [(a, b) for a, b in zip(expected, got) if a != b]
    return bool(differing) and all(pair in allowed for pair in differing)


def first_difference(expected, got):
    for number, (a, b) in enumerate(zip(expected.splitlines(), got.splitlines()), 1):
        if a != b:
            return f"line {number}: Jinja2 {a!r} vs lava-rs {b!r}"
    return f"outputs differ in length ({len(expected)} vs {len(got)} chars)"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench(cases, repeat):
    """CPU time per dictionary (this machine is shared: wall time would measure the
    neighbours), cold (fresh environment: load, compile, render) and warm (N more passes)."""
    # LAVA's environments keep 400 compiled templates; the set is larger than that, so
    # Jinja2 gets an unbounded cache here (-1), as lava-rs has, to time rendering and not
    # recompilation.
    def python_pass(envs, contexts=None):
        for case in cases:
            try:
                render_python(envs, case, cache_size=-1, contexts=contexts)
            except Exception:
                pass

    # Cold: fresh environments, contexts read. Warm: the same renders, contexts already read.
    envs = {}
    start = time.process_time()
    python_pass(envs)
    cold = time.process_time() - start
    contexts = {case[2]: load_context(case[2]) for case in cases}
    start = time.process_time()
    for _ in range(repeat):
        python_pass(envs, contexts)
    warm = time.process_time() - start
    py = {
        "cold": cold * 1e6 / len(cases),
        "warm": warm * 1e6 / (repeat * len(cases)),
    }
    # lava-rs: the batch process's CPU time, once with the first pass only, once with N
    # more passes; the difference is the warm passes.
    start = children_cpu()
    rust_results(cases)
    rust_cold = children_cpu() - start
    start = children_cpu()
    rust_results(cases, repeat)
    rust_all = children_cpu() - start
    start = children_cpu()
    rust_results(cases, repeat, memo=False)
    rust_evaluated = children_cpu() - start
    per_warm = 1e6 / (repeat * len(cases))
    rs = {
        "cold": rust_cold * 1e6 / len(cases),
        "warm": max(rust_all - rust_cold, 0.0) * per_warm,
        "warm, no memo": max(rust_evaluated - rust_cold, 0.0) * per_warm,
    }
    py["warm, no memo"] = py["warm"]
    print(f"benchmark over {len(cases)} dictionaries, {repeat} warm passes (CPU time):")
    for label in ("cold", "warm", "warm, no memo"):
        ratio = py[label] / rs[label] if rs[label] else float("inf")
        print(
            f"  {label}: Jinja2 {py[label]:9.1f} us/dict   lava-rs {rs[label]:9.1f} us/dict"
            f"   speed-up x{ratio:.1f}"
        )


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lava-admin", required=True)
    parser.add_argument("--device-types", action="append", required=True)
    parser.add_argument("--dictionaries", action="append", default=[])
    parser.add_argument("--work", required=True)
    parser.add_argument("--bench", type=int, default=0)
    parser.add_argument(
        "--write-expected",
        metavar="DIR",
        help="write Jinja2's output for the lavars-* dictionaries to DIR (Rust golden tests)",
    )
    ARGS = parser.parse_args()
    ARGS.device_types = [os.path.abspath(d) for d in ARGS.device_types]

    cases = collect_cases(ARGS)
    if ARGS.bench:
        bench(cases, ARGS.bench)
        return 0
    expected = python_results(cases)
    if ARGS.write_expected:
        write_expected(cases, expected, ARGS.write_expected)
    got, _ = rust_results(cases)
    if len(got) != len(cases):
        sys.exit(f"lava-rs answered {len(got)} of {len(cases)} cases")
    passed = failed = divergent = both_fail = 0
    for case, python, rust in zip(cases, expected, got):
        problem = compare(python, rust)
        if problem is None:
            passed += 1
            if python[0] == "error":
                both_fail += 1
                print(f"both refuse {case[0]}: {python[1]}")
        elif known_divergence(case[0], python, rust):
            passed += 1
            divergent += 1
            print(f"known divergence (docs/templates.md): {case[0]}")
        else:
            failed += 1
            print(f"FAIL {case[0]}: {problem}")
    print(f"({both_fail} of the passes are dictionaries that both engines refuse)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
