#!/usr/bin/env python3
"""Write lava-rs' own job definitions for the conformance corpus: a few base jobs and, for
each rule of LAVA's submission path, mutations that should pass and that should fail.

Usage: job_mutations.py DIR [DEVICE_DIR]   (writes DIR/*.yaml, and device configurations
       to DEVICE_DIR/*.yaml, removing older ones first)

The texts are ours; LAVA's verdict on each is recorded by scripts/job-verdicts.sh. A
mutation is a function of a fresh copy of a base job (edited as data, then dumped), or a
raw text (for what only the YAML layer can express: tags, anchors, duplicate keys).
"""

import copy
import os
import sys

import yaml

SINGLE = {
    "device_type": "qemu",
    "job_name": "lava-rs mutation base",
    "priority": "medium",
    "visibility": "public",
    "timeouts": {"job": {"minutes": 30}, "action": {"minutes": 5}},
    "actions": [
        {
            "deploy": {
                "to": "tmpfs",
                "timeout": {"minutes": 10},
                "images": {
                    "rootfs": {
                        "url": "https://example.org/rootfs.img.gz",
                        "compression": "gz",
                        "image_arg": "-drive format=raw,file={rootfs}",
                    }
                },
            }
        },
        {
            "boot": {
                "method": "qemu",
                "media": "tmpfs",
                "prompts": ["root@debian:"],
                "auto_login": {"login_prompt": "login:", "username": "root"},
            }
        },
        {
            "test": {
                "timeout": {"minutes": 10},
                "definitions": [
                    {
                        "repository": "https://example.org/tests.git",
                        "from": "git",
                        "path": "smoke.yaml",
                        "name": "smoke",
                    }
                ],
            }
        },
    ],
}

MULTI = {
    "job_name": "lava-rs multinode base",
    "visibility": "public",
    "timeouts": {"job": {"minutes": 30}},
    "protocols": {
        "lava-multinode": {
            "roles": {
                "server": {"device_type": "qemu", "count": 1},
                "client": {"device_type": "qemu", "count": 2},
            },
            "timeout": {"minutes": 10},
        }
    },
    "actions": [
        {"deploy": {"role": ["server", "client"], "to": "tmpfs", "images": {"rootfs": {"url": "https://example.org/r.img"}}}},
        {"boot": {"role": ["server", "client"], "method": "qemu", "media": "tmpfs", "prompts": ["# "]}},
        {
            "test": {
                "role": ["client"],
                "definitions": [
                    {"repository": "https://example.org/t.git", "from": "git", "path": "client.yaml", "name": "client"}
                ],
            }
        },
        {
            "test": {
                "role": ["server"],
                "definitions": [
                    {"repository": "https://example.org/t.git", "from": "git", "path": "server.yaml", "name": "server"}
                ],
            }
        },
    ],
}

INTERACTIVE = {
    "name": "prompt",
    "prompts": ["=> "],
    "script": [
        {"command": "help", "name": "help", "successes": [{"message": "Commands"}]},
        {"command": None, "delay": 2, "failures": [{"message": "error", "exception": "TestError", "error": "bad"}]},
    ],
}

MONITOR = {"name": "tests", "start": "BOOTING", "end": "DONE", "pattern": "(?P<result>PASS|FAIL)", "fixupdict": {"PASS": "pass"}}

MUTATIONS = {}


def mutation(name, base=SINGLE):
    def register(f):
        MUTATIONS[name] = (base, f)
        return f

    return register


def define(name, edit, base=SINGLE):
    MUTATIONS[name] = (base, edit)


def set_path(data, path, value):
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def delete_path(data, path):
    node = data
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


def setter(*path_value):
    *path, value = path_value

    def edit(d):
        set_path(d, path, copy.deepcopy(value))

    return edit


def deleter(*path):
    def edit(d):
        delete_path(d, path)

    return edit


def both(*edits):
    def edit(d):
        for e in edits:
            e(d)

    return edit


DEPLOY = ("actions", 0, "deploy")
BOOT = ("actions", 1, "boot")
TEST = ("actions", 2, "test")
DEF0 = TEST + ("definitions", 0)
ROLES = ("protocols", "lava-multinode", "roles")

define("base-single", lambda d: None)
define("base-multinode", lambda d: None, MULTI)

# ---------------------------------------------------------------- top level
define("job-name-missing", deleter("job_name"))
define("job-name-empty", setter("job_name", ""))
define("job-name-200", setter("job_name", "x" * 200))
define("job-name-201", setter("job_name", "x" * 201))
define("job-name-int", setter("job_name", 42))
define("device-type-missing", deleter("device_type"))
define("device-type-empty", setter("device_type", ""))
define("device-type-int", setter("device_type", 5))
for p in ["high", "low", 0, 50, 100, 101, -1, True, "urgent", 1.5, None, "HIGH"]:
    define("priority-%s" % repr(p).strip("'").replace("'", ""), setter("priority", p))
define("priority-bigint", setter("priority", 10 ** 30))
for name, v in [
    ("personal", "personal"),
    ("group", {"group": ["qa"]}),
    ("group-empty", {"group": []}),
    ("group-string", {"group": "qa"}),
    ("group-int", {"group": [1]}),
    ("secret", "secret"),
    ("groups-key", {"groups": ["qa"]}),
    ("group-extra", {"group": ["qa"], "other": 1}),
    ("empty-dict", {}),
    ("missing", None),
]:
    if v is None:
        define("visibility-" + name, deleter("visibility"))
    else:
        define("visibility-" + name, setter("visibility", v))

# ---------------------------------------------------------------- timeouts
define("timeouts-missing", deleter("timeouts"))
define("timeout-job-missing", deleter("timeouts", "job"))
for name, v in [
    ("empty", {}),
    ("negative", {"minutes": -5}),
    ("zero", {"minutes": 0}),
    ("float", {"minutes": 1.5}),
    ("string", {"minutes": "5"}),
    ("two-units", {"minutes": 5, "seconds": 3}),
    ("skip-only", {"skip": True}),
    ("skip-string", {"minutes": 5, "skip": "yes"}),
    ("days", {"days": 1}),
    ("hours-bool", {"hours": True}),
    ("unknown-unit", {"weeks": 1}),
    ("scalar", 5),
    ("list", [{"minutes": 5}]),
]:
    define("timeout-job-" + name, setter("timeouts", "job", v))
define("timeout-action-above-job", setter("timeouts", "action", {"hours": 2}))
define("timeout-connection-above-job", setter("timeouts", "connection", {"hours": 2}))
define("timeout-deploy-above-job", setter(*DEPLOY, "timeout", {"hours": 2}))
define("timeout-actions-known", setter("timeouts", "actions", {"http-download": {"minutes": 2}}))
define("timeout-actions-unknown-name", setter("timeouts", "actions", {"no-such-action": {"minutes": 2}}))
define("timeout-actions-bad-name", setter("timeouts", "actions", {"Bad_Name": {"minutes": 2}}))
define("timeout-actions-digit-name", setter("timeouts", "actions", {"action2": {"minutes": 2}}))
define("timeout-actions-list", setter("timeouts", "actions", [{"minutes": 2}]))
define("timeout-actions-bad-value", setter("timeouts", "actions", {"http-download": 5}))
define("timeout-connections-ok", setter("timeouts", "connections", {"lava-test-shell": {"seconds": 30}}))
define("timeout-connections-bad-name", setter("timeouts", "connections", {"shell 1": {"seconds": 30}}))
define("timeouts-extra-key", setter("timeouts", "queue", {"minutes": 1}))
define("timeout-action-bad", setter("timeouts", "action", {"minutes": "x"}))

# ---------------------------------------------------------------- context, metadata, ...
for name, v in [
    ("ok", {"arch": "amd64", "memory": 1024, "no_kvm": True}),
    ("unknown", {"colour": "blue"}),
    ("list", {"extra_options": ["-smp", 2]}),
    ("dict-value", {"extra_options": {"a": 1}}),
    ("float", {"memory": 1.5}),
    ("null", {"arch": None}),
    ("list-of-lists", {"extra_options": [["a"]]}),
    ("not-dict", ["arch"]),
]:
    define("context-" + name, setter("context", v))
for name, v in [
    ("ok", {"build": "42", "source": "ci"}),
    ("int-key", {1: "a"}),
    ("int-value", {"build": 42}),
    ("float-value", {"build": 1.5}),
    ("list-value", {"build": [1]}),
    ("null-value", {"build": None}),
    ("bool-value", {"build": True}),
    ("dict-value", {"build": {"a": 1}}),
    ("list", ["a"]),
    ("bigint-value", {"build": 10 ** 30}),
]:
    define("metadata-" + name, setter("metadata", v))
define("secrets-public", setter("secrets", {"token": "x"}))
define("secrets-personal", both(setter("secrets", {"token": "x"}), setter("visibility", "personal")))
define("secrets-list", both(setter("secrets", ["x"]), setter("visibility", "personal")))
define("environment-ok", setter("environment", {"LANG": "C"}))
define("environment-list", setter("environment", ["LANG=C"]))
define("tags-ok", setter("tags", ["usb", "4gb"]))
define("tags-int", setter("tags", [1]))
define("tags-string", setter("tags", "usb"))
define("reboot-to-fastboot-ok", setter("reboot_to_fastboot", False))
define("reboot-to-fastboot-string", setter("reboot_to_fastboot", "no"))
define("reboot-to-fastboot-int", setter("reboot_to_fastboot", 1))
define("unknown-top-key", setter("frobnicate", 1))
define("compatibility-key", setter("compatibility", 4))
define("protocols-unknown", setter("protocols", {"lava-foo": {}}))
define("protocols-lxc-ok", setter("protocols", {"lava-lxc": {"name": "c", "distribution": "debian", "release": "buster"}}))
define("protocols-lxc-list", setter("protocols", {"lava-lxc": ["c"]}))
define("protocols-xnbd-ok", setter("protocols", {"lava-xnbd": {"port": "auto"}}))
define("protocols-xnbd-string", setter("protocols", {"lava-xnbd": "auto"}))
define("protocols-list", setter("protocols", ["lava-lxc"]))

# ---------------------------------------------------------------- actions
define("actions-missing", deleter("actions"))
define("actions-empty", setter("actions", []))
define("actions-mapping", setter("actions", {"deploy": {"to": "tmpfs"}}))
define("action-unknown-type", lambda d: d["actions"].append({"flash": {"to": "x"}}))
define("action-empty-mapping", lambda d: d["actions"].append({}))
define("action-two-keys", lambda d: d["actions"].append({"command": {"name": "a"}, "boot": {"method": "qemu"}}))
define("action-string", lambda d: d["actions"].append("deploy"))
define("action-null-body", lambda d: d["actions"].append({"command": None}))
define("deploy-to-missing", deleter(*DEPLOY, "to"))
define("deploy-to-int", setter(*DEPLOY, "to", 1))
define("deploy-to-unknown", setter(*DEPLOY, "to", "teleport"))
define("deploy-tftp-kernel-no-url", both(setter(*DEPLOY, "to", "tftp"), setter(*DEPLOY, "kernel", {"type": "zimage"})))
define("deploy-tftp-kernel-string", both(setter(*DEPLOY, "to", "tftp"), setter(*DEPLOY, "kernel", "http://k")))
define("deploy-tftp-ok", both(setter(*DEPLOY, "to", "tftp"), deleter(*DEPLOY, "images"), setter(*DEPLOY, "kernel", {"url": "http://k", "type": "zimage"})))
define("deploy-timeout-bad", setter(*DEPLOY, "timeout", {"minutes": "ten"}))
define("deploy-string", setter("actions", 0, {"deploy": "tmpfs"}))
define("deploy-images-missing", deleter(*DEPLOY, "images"))
define("deploy-image-url-missing", deleter(*DEPLOY, "images", "rootfs", "url"))
define("deploy-compression-bad", setter(*DEPLOY, "images", "rootfs", "compression", "rar"))
define("deploy-namespace-common", setter(*DEPLOY, "namespace", "common"))
define("deploy-role-string", setter(*DEPLOY, "role", "server"))
define("deploy-repeat-zero", setter(*DEPLOY, "repeat", 0))
define("deploy-failure-retry-string", setter(*DEPLOY, "failure_retry", "2"))
define("namespaces-some", setter(*DEPLOY, "namespace", "target"))
define("namespaces-all", both(setter(*DEPLOY, "namespace", "a"), setter(*BOOT, "namespace", "a"), setter(*TEST, "namespace", "a")))
define("namespaces-common-mixed", both(setter(*DEPLOY, "namespace", "common"), setter(*BOOT, "namespace", "a"), setter(*TEST, "namespace", "a")))
define("namespace-int", both(setter(*DEPLOY, "namespace", 1), setter(*BOOT, "namespace", 2), setter(*TEST, "namespace", 3)))
define("boot-method-missing", deleter(*BOOT, "method"))
define("boot-method-int", setter(*BOOT, "method", 1))
define("boot-method-unknown", setter(*BOOT, "method", "levitate"))
define("boot-auto-login-no-username", deleter(*BOOT, "auto_login", "username"))
define("boot-auto-login-extra", setter(*BOOT, "auto_login", "shell", "bash"))
define("boot-auto-login-commands-string", setter(*BOOT, "auto_login", "login_commands", "sudo su"))
define("boot-auto-login-commands-list", setter(*BOOT, "auto_login", "login_commands", ["sudo su"]))
define("boot-auto-login-password", both(setter(*BOOT, "auto_login", "password_prompt", "Password:"), setter(*BOOT, "auto_login", "password", "x")))
define("boot-auto-login-password-only", setter(*BOOT, "auto_login", "password", "x"))
define("boot-commands-mapping", setter(*BOOT, "commands", {"a": "b"}))
define("boot-commands-list", setter(*BOOT, "commands", ["boot"]))
define("boot-commands-string", setter(*BOOT, "commands", "ramdisk"))
define("boot-parameters-int", setter(*BOOT, "parameters", {"shutdown-message": 1}))
define("boot-parameters-ok", setter(*BOOT, "parameters", {"shutdown-message": "bye", "x": True}))
define("boot-parameters-list", setter(*BOOT, "parameters", ["x"]))
define("boot-parameters-int-key", setter(*BOOT, "parameters", {1: "x"}))
define("boot-prompts-empty-string", setter(*BOOT, "prompts", [""]))
define("boot-media-wrong", setter(*BOOT, "media", "nfs"))
define("boot-timeout-bad", setter(*BOOT, "timeout", {"minutes": 1, "hours": 1}))
define("boot-uboot-no-commands", setter(*BOOT, "method", "u-boot"))
define("test-no-definitions", deleter(*TEST, "definitions"))
define("test-definitions-empty", setter(*TEST, "definitions", []))
define("test-definitions-string", setter(*TEST, "definitions", "smoke"))
for key in ["from", "path", "name", "repository"]:
    define("test-definition-no-" + key, deleter(*DEF0, key))
define("test-definition-string", setter(*TEST, "definitions", ["smoke"]))
define("test-definition-parameters-list", setter(*DEF0, "parameters", ["A=1"]))
define("test-definition-parameters-ok", setter(*DEF0, "parameters", {"A": 1}))
define("test-definition-revision-shallow", both(setter(*DEF0, "revision", "abc"), setter(*DEF0, "shallow", True)))
define("test-definition-revision-shallow-false", both(setter(*DEF0, "revision", "abc"), setter(*DEF0, "shallow", False)))
define("test-definition-shallow-only", setter(*DEF0, "shallow", True))
define("test-definition-revision-shallow-one", both(setter(*DEF0, "revision", "abc"), setter(*DEF0, "shallow", 1)))
define("test-definition-name-spaces", setter(*DEF0, "name", "smoke tests"))
define("test-definition-from-url", setter(*DEF0, "from", "url"))
define("test-definition-timeout-bad", setter(*DEF0, "timeout", {"minutes": "5"}))
define("test-inline-ok", setter(*DEF0, "repository", {"metadata": {"format": "Lava-Test Test Definition 1.0", "name": "x"}, "run": {"steps": ["echo hi"]}}))
define("test-inline-extra", setter(*DEF0, "repository", {"metadata": {"format": "x", "name": "x"}, "other": {}}))
define("test-inline-run-list", setter(*DEF0, "repository", {"metadata": {"name": "x"}, "run": ["echo"]}))
define("test-inline-empty", setter(*DEF0, "repository", {}))
define("test-monitors-ok", setter("actions", 2, {"test": {"monitors": [copy.deepcopy(MONITOR)]}}))
define("test-monitors-no-pattern", setter("actions", 2, {"test": {"monitors": [{k: v for k, v in MONITOR.items() if k != "pattern"}]}}))
define("test-monitors-bad-name", setter("actions", 2, {"test": {"monitors": [dict(MONITOR, name="bad name")]}}))
define("test-monitors-name-dot", setter("actions", 2, {"test": {"monitors": [dict(MONITOR, name="a.b")]}}))
define("test-monitors-fixupdict-list", setter("actions", 2, {"test": {"monitors": [dict(MONITOR, fixupdict=["a"])]}}))
define("test-monitors-extra", setter("actions", 2, {"test": {"monitors": [dict(MONITOR, colour="red")]}}))


def interactive(edit=None):
    def f(d):
        item = copy.deepcopy(INTERACTIVE)
        if edit:
            edit(item)
        d["actions"][2] = {"test": {"interactive": [item]}}

    return f


define("test-interactive-ok", interactive())
define("test-interactive-no-script", interactive(lambda i: i.pop("script")))
define("test-interactive-bad-exception", interactive(lambda i: i["script"][1]["failures"][0].update(exception="Oops")))
define("test-interactive-echo-keep", interactive(lambda i: i.update(echo="keep")))
define("test-interactive-echo-discard", interactive(lambda i: i.update(echo="discard")))
define("test-interactive-delay-string", interactive(lambda i: i["script"][1].update(delay="2")))
define("test-interactive-script-bad-name", interactive(lambda i: i["script"][0].update(name="a b")))
define("test-interactive-prompts-string", interactive(lambda i: i.update(prompts="=> ")))
define("test-interactive-success-no-message", interactive(lambda i: i["script"][0].update(successes=[{}])))
define("test-interactive-failure-empty-message", interactive(lambda i: i["script"][1]["failures"][0].update(message="")))
define("test-interactive-wait-for-prompt", interactive(lambda i: i["script"][0].update(wait_for_prompt=False)))
define("test-interactive-lava-send", interactive(lambda i: i["script"][0].update({"lava-send": "ready"})))
define("test-interactive-name-dot", interactive(lambda i: i.update(name="a.b")))
define("command-ok", lambda d: d["actions"].append({"command": {"name": "hello"}}))
define("command-no-name", lambda d: d["actions"].append({"command": {"timeout": {"minutes": 1}}}))
define("command-name-int", lambda d: d["actions"].append({"command": {"name": 1}}))
define("command-namespace-int", lambda d: d["actions"].append({"command": {"name": "a", "namespace": 1}}))
define("command-extra-key", lambda d: d["actions"].append({"command": {"name": "a", "colour": 1}}))

# ---------------------------------------------------------------- notify
CRITERIA = {"status": "complete"}
for name, v in [
    ("ok", {"criteria": CRITERIA}),
    ("no-criteria", {"verbosity": "quiet"}),
    ("bad-status", {"criteria": {"status": "done"}}),
    ("type-running", {"criteria": {"status": "running", "type": "regression"}}),
    ("type-ok", {"criteria": {"status": "complete", "type": "progression"}}),
    ("email-ok", {"criteria": CRITERIA, "recipients": [{"to": {"method": "email", "email": "qa@example.org"}}]}),
    ("email-bad", {"criteria": CRITERIA, "recipients": [{"to": {"method": "email", "email": "not-an-address"}}]}),
    ("email-no-domain-dot", {"criteria": CRITERIA, "recipients": [{"to": {"method": "email", "email": "qa@localhost"}}]}),
    ("email-missing", {"criteria": CRITERIA, "recipients": [{"to": {"method": "email"}}]}),
    ("email-user", {"criteria": CRITERIA, "recipients": [{"to": {"method": "email", "user": "alice"}}]}),
    ("irc-no-handle", {"criteria": CRITERIA, "recipients": [{"to": {"method": "irc", "server": "irc.example.org"}}]}),
    ("irc-ok", {"criteria": CRITERIA, "recipients": [{"to": {"method": "irc", "handle": "bob", "server": "irc.example.org"}}]}),
    ("method-sms", {"criteria": CRITERIA, "recipients": [{"to": {"method": "sms", "handle": "x"}}]}),
    ("to-extra", {"criteria": CRITERIA, "recipients": [{"to": {"method": "irc", "handle": "bob", "nick": "b"}}]}),
    ("recipients-not-list", {"criteria": CRITERIA, "recipients": {"to": {"method": "irc", "handle": "bob"}}}),
    ("callback-ok", {"criteria": CRITERIA, "callback": {"url": "https://example.org/cb", "method": "POST"}}),
    ("callback-no-url", {"criteria": CRITERIA, "callback": {"method": "POST"}}),
    ("callback-put", {"criteria": CRITERIA, "callback": {"url": "https://example.org/cb", "method": "PUT"}}),
    ("callback-and-callbacks", {"criteria": CRITERIA, "callback": {"url": "u"}, "callbacks": [{"url": "u"}]}),
    ("callbacks-ok", {"criteria": CRITERIA, "callbacks": [{"url": "u", "dataset": "all", "content-type": "json"}]}),
    ("callbacks-bad-dataset", {"criteria": CRITERIA, "callbacks": [{"url": "u", "dataset": "some"}]}),
    ("verbosity-bad", {"criteria": CRITERIA, "verbosity": "loud"}),
    ("compare-conditions", {"criteria": CRITERIA, "compare": {"query": {"entity": "testjob", "conditions": {"state": "Finished"}}}}),
    ("compare-no-conditions", {"criteria": CRITERIA, "compare": {"query": {"entity": "testjob"}}}),
    ("compare-entity-suite", {"criteria": CRITERIA, "compare": {"query": {"entity": "testsuite", "conditions": {"name": "x"}}}}),
    ("compare-bad-conditions", {"criteria": CRITERIA, "compare": {"query": {"entity": "testjob", "conditions": {"a__b__c__d": "e"}}}}),
    ("compare-named-query", {"criteria": CRITERIA, "compare": {"query": {"username": "alice", "name": "nightly"}}}),
    ("compare-blacklist-int", {"criteria": CRITERIA, "compare": {"blacklist": [1]}}),
    ("extra-key", {"criteria": CRITERIA, "colour": "red"}),
    ("not-dict", ["email"]),
]:
    define("notify-" + name, setter("notify", v))

# ---------------------------------------------------------------- multinode
M = MULTI
define("mn-roles-missing", deleter("protocols", "lava-multinode", "roles"), M)
define("mn-roles-list", setter(*ROLES, ["server"]), M)
define("mn-roles-empty", setter(*ROLES, {}), M)
define("mn-role-string", setter(*ROLES, "server", "qemu"), M)
define("mn-role-no-count", deleter(*ROLES, "client", "count"), M)
define("mn-role-count-zero", setter(*ROLES, "client", "count", 0), M)
define("mn-all-counts-zero", both(setter(*ROLES, "client", "count", 0), setter(*ROLES, "server", "count", 0)), M)
define("mn-all-counts-zero-device-type", both(setter(*ROLES, "client", "count", 0), setter(*ROLES, "server", "count", 0), setter("device_type", "qemu")), M)
define("mn-count-string", setter(*ROLES, "client", "count", "2"), M)
define("mn-count-float", setter(*ROLES, "client", "count", 1.5), M)
define("mn-count-negative", setter(*ROLES, "client", "count", -1), M)
define("mn-count-bool", setter(*ROLES, "client", "count", True), M)
define("mn-role-no-device-type", deleter(*ROLES, "client", "device_type"), M)
define("mn-role-device-type-int", setter(*ROLES, "client", "device_type", 5), M)
define("mn-role-tags-ok", setter(*ROLES, "client", "tags", ["usb"]), M)
define("mn-role-tags-string", setter(*ROLES, "client", "tags", "usb"), M)
define("mn-role-tags-int", setter(*ROLES, "client", "tags", [1]), M)
define("mn-role-context-ok", setter(*ROLES, "client", "context", {"arch": "arm64"}), M)
define("mn-role-context-bad", setter(*ROLES, "client", "context", {"colour": "blue"}), M)
define("mn-role-essential", setter(*ROLES, "server", "essential", True), M)
define("mn-role-extra-key", setter(*ROLES, "server", "colour", "red"), M)
define("mn-role-environment", setter(*ROLES, "server", "environment", {"A": "1"}), M)
define("mn-role-timeout", setter(*ROLES, "server", "timeout", {"minutes": 3}), M)
define("mn-unused-role", setter(*ROLES, "spare", {"device_type": "qemu", "count": 1}), M)
define("mn-unused-role-count-zero", setter(*ROLES, "spare", {"device_type": "qemu", "count": 0}), M)
define("mn-action-unknown-role", setter("actions", 3, "test", "role", ["server", "ghost"]), M)
define("mn-action-role-string", setter("actions", 3, "test", "role", "server"), M)
define("mn-action-role-substring", both(setter("actions", 3, "test", "role", "the-server"), setter("actions", 2, "test", "role", "client")), M)
define("mn-action-role-int", setter("actions", 3, "test", "role", 1), M)
define("mn-action-role-missing", deleter("actions", 3, "test", "role"), M)
define("mn-device-type-beside", setter("device_type", "qemu"), M)
define("mn-environment-beside", setter("environment", {"A": "1"}), M)
define("mn-extra-key", setter("protocols", "lava-multinode", "colour", "red"), M)
define("mn-timeout-bad", setter("protocols", "lava-multinode", "timeout", {"minutes": "x"}), M)
define("mn-no-timeout", deleter("protocols", "lava-multinode", "timeout"), M)
DYN = {"connection": "ssh", "host_role": "server", "expect_role": "server", "count": 1, "request": "lava-start"}
define("mn-dynamic-ok", setter(*ROLES, "guest", dict(DYN)), M)
define("mn-dynamic-host-count-2", both(setter(*ROLES, "guest", dict(DYN)), setter(*ROLES, "server", "count", 2)), M)
define("mn-dynamic-host-missing", setter(*ROLES, "guest", dict(DYN, host_role="ghost")), M)
define("mn-dynamic-expect-missing", setter(*ROLES, "guest", {k: v for k, v in DYN.items() if k != "expect_role"}), M)
define("mn-dynamic-expect-unknown", setter(*ROLES, "guest", dict(DYN, expect_role="ghost")), M)
define("mn-dynamic-no-host-role", setter(*ROLES, "guest", {k: v for k, v in DYN.items() if k not in ("host_role", "expect_role")}), M)
define("mn-expect-without-host", setter(*ROLES, "client", "expect_role", "server"), M)
define("mn-dynamic-and-device-type", setter(*ROLES, "guest", dict(DYN, device_type="qemu")), M)
define("mn-dynamic-no-count", setter(*ROLES, "guest", {k: v for k, v in DYN.items() if k != "count"}), M)
define("mn-dynamic-with-actions", both(setter(*ROLES, "guest", dict(DYN)), lambda d: d["actions"].append({"boot": {"role": ["guest"], "method": "ssh", "connection": "ssh", "prompts": ["# "]}})), M)
define("mn-device-role-host-role", setter(*ROLES, "client", "host_role", "server"), M)
VLAN = {"server": {"vlan_one": {"tags": ["10G"]}}, "client": {"vlan_one": {"tags": ["10G"]}}}
define("vland-ok", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", copy.deepcopy(VLAN))), M)
define("vland-count-2", setter("protocols", "lava-vland", copy.deepcopy(VLAN)), M)
define("vland-bad-name", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", {"server": {"vlan-one": {"tags": []}}, "client": {"vlan_one": {"tags": []}}})), M)
define("vland-tags-string", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", {"server": {"vlan_one": {"tags": "10G"}}, "client": {"vlan_one": {"tags": ["10G"]}}})), M)
define("vland-role-missing", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", {"server": {"vlan_one": {"tags": ["10G"]}}})), M)
define("vland-no-tags", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", {"server": {"vlan_one": {}}, "client": {"vlan_one": {}}})), M)
define("vland-single-node", setter("protocols", {"lava-vland": {"dut": {"vlan_one": {"tags": ["10G"]}}}}))
define("vland-int-vlan-name", both(setter(*ROLES, "client", "count", 1), setter("protocols", "lava-vland", {"server": {5: {"tags": []}}, "client": {"v": {"tags": []}}})), M)

# ---------------------------------------------------------------- YAML layer (raw texts)
RAW = {}
base_text = yaml.safe_dump(SINGLE, sort_keys=False)
RAW["yaml-unknown-tag"] = base_text.replace("job_name: lava-rs mutation base", "job_name: !secret lava-rs")
RAW["yaml-python-tag"] = base_text.replace("job_name: lava-rs mutation base", "job_name: !!python/str lava-rs")
RAW["yaml-str-tag"] = base_text.replace("job_name: lava-rs mutation base", "job_name: !!str 12345")
RAW["yaml-int-tag-name"] = base_text.replace("job_name: lava-rs mutation base", "job_name: !!int '12'")
RAW["yaml-nonspecific-tag"] = base_text.replace("job_name: lava-rs mutation base", "job_name: ! 12")
RAW["yaml-duplicate-key"] = base_text + "job_name: second name\n"
RAW["yaml-anchor-merge"] = base_text.replace("timeouts:\n  job:\n    minutes: 30\n  action:\n    minutes: 5\n", "timeouts:\n  job: &t\n    minutes: 30\n  action:\n    <<: *t\n    minutes: 5\n")
RAW["yaml-merge-scalar"] = base_text.replace("timeouts:\n  job:\n    minutes: 30\n", "timeouts:\n  job:\n    <<: 5\n    minutes: 30\n")
RAW["yaml-merge-value"] = base_text.replace("priority: medium", "priority: <<")
RAW["yaml-equals-value"] = base_text.replace("priority: medium", "priority: =")
RAW["yaml-timestamp-metadata"] = base_text + "metadata:\n  built: 2020-05-01\n"
RAW["yaml-timestamp-quoted"] = base_text + "metadata:\n  built: '2020-05-01'\n"
RAW["yaml-invalid-date"] = base_text + "metadata:\n  built: 2020-02-30\n"
RAW["yaml-exponent-string"] = base_text + "metadata:\n  build: 1e3\n"
RAW["yaml-exponent-float"] = base_text + "metadata:\n  build: 1.0e+3\n"
RAW["yaml-octal"] = base_text + "metadata:\n  mode: 0755\n"
RAW["yaml-sexagesimal"] = base_text + "metadata:\n  build: 1:20\n"
RAW["yaml-y-string"] = base_text + "metadata:\n  flag: y\n"
RAW["yaml-yes-bool"] = base_text + "metadata:\n  flag: yes\n"
RAW["yaml-null-value"] = base_text + "metadata:\n  flag: ~\n"
RAW["yaml-binary-secret"] = base_text.replace("visibility: public", "visibility: personal") + "secrets:\n  key: !!binary aGVsbG8=\n"
RAW["yaml-set-tags"] = base_text + "tags: !!set {a, b}\n"
RAW["yaml-omap-metadata"] = base_text + "metadata: !!omap [a: b]\n"
RAW["yaml-two-documents"] = base_text + "---\njob_name: other\n"
RAW["yaml-empty"] = ""
RAW["yaml-comment-only"] = "# nothing\n"
RAW["yaml-top-list"] = "- job_name: x\n"
RAW["yaml-top-scalar"] = "just text\n"
RAW["yaml-syntax-error"] = base_text.replace("visibility: public", "visibility: [public")
RAW["yaml-tab-indent"] = base_text.replace("  job:\n    minutes: 30", "  job:\n\tminutes: 30")
RAW["yaml-control-char"] = base_text.replace("lava-rs mutation base", "lava-rs\x01base")
RAW["yaml-list-key"] = base_text + "metadata:\n  ? [a, b]\n  : c\n"
RAW["yaml-bool-key-metadata"] = base_text + "metadata:\n  yes: a\n"
RAW["yaml-int-float-same-key"] = base_text + "metadata:\n  1: a\n  1.0: b\n"
RAW["yaml-json-job"] = '{"job_name": "json", "device_type": "qemu", "visibility": "public", "timeouts": {"job": {"minutes": 5}}, "actions": [{"command": {"name": "x"}}]}'
RAW["yaml-legacy-json"] = '{"job_name": "old", "device_type": "panda", "timeout": 900, "actions": [{"command": "deploy_linaro_image", "parameters": {"image": "x"}}]}'
RAW["yaml-bigint-metadata"] = base_text + "metadata:\n  build: 123456789012345678901234567890\n"
RAW["yaml-priority-hex"] = base_text.replace("priority: medium", "priority: 0x20")
RAW["yaml-priority-octal-big"] = base_text.replace("priority: medium", "priority: 0777")
RAW["yaml-alias-recursive"] = base_text + "environment: &e {a: *e}\n"
RAW["yaml-minutes-sexagesimal"] = base_text.replace("    minutes: 30", "    minutes: 1:30")


# ---------------------------------------------------------------- device configurations
DEVICE = {
    "commands": {
        "connect": "telnet localhost 7000",
        "hard_reset": "pduclient --command reboot",
        "users": {"hello": {"do": "echo hello"}},
    },
    "actions": {
        "deploy": {"methods": {"tftp": {}}, "connections": {"serial": {}}},
        "boot": {"connections": {"serial": {}}, "methods": {"u-boot": {}}},
    },
    "timeouts": {
        "actions": {"apply-overlay-image": {"minutes": 2}},
        "connections": {"lava-test-shell": {"seconds": 30}},
    },
    "parameters": {"interfaces": {}},
    "character_delays": {"boot": 10},
}
DEVICES = {}


def device(name, edit):
    DEVICES[name] = edit


device("ok", lambda d: None)
device("top-device-type", setter("device_type", "bbb"))
device("top-hostname", setter("hostname", "bbb-01"))
device("unknown-top-key", setter("colour", "red"))
device("commands-int", setter("commands", "hard_reset", 5))
device("commands-list", setter("commands", "hard_reset", ["a", "b"]))
device("commands-users-no-do", setter("commands", "users", {"hello": {"undo": "x"}}))
device("commands-users-extra", setter("commands", "users", {"hello": {"do": "x", "when": 1}}))
device("commands-connections-ok", setter("commands", "connections", {"uart0": {"connect": "telnet x", "tags": ["primary"]}}))
device("commands-connections-no-connect", setter("commands", "connections", {"uart0": {"tags": []}}))
device("commands-connections-tags-string", setter("commands", "connections", {"uart0": {"connect": "x", "tags": "primary"}}))
device("actions-deploy-no-methods", deleter("actions", "deploy", "methods"))
device("actions-boot-no-connections", deleter("actions", "boot", "connections"))
device("actions-boot-missing", deleter("actions", "boot"))
device("actions-extra", setter("actions", "flash", {}))
device("actions-deploy-parameters-ok", setter("actions", "deploy", "parameters", {"a": "b", "c": True}))
device("actions-deploy-parameters-int", setter("actions", "deploy", "parameters", {"a": 1}))
device("timeouts-bad-name", setter("timeouts", "actions", {"Bad_Name": {"minutes": 1}}))
device("timeouts-two-units", setter("timeouts", "actions", {"x": {"minutes": 1, "seconds": 2}}))
device("timeouts-extra", setter("timeouts", "jobs", {}))
device("timeouts-no-connections", deleter("timeouts", "connections"))
device("usb-vendor-id-ok", setter("usb_vendor_id", "0403"))
device("usb-vendor-id-long", setter("usb_vendor_id", "04031"))
device("usb-sleep-string", setter("usb_sleep", "5"))
device("fastboot-options-int", setter("fastboot_options", [1]))
device("device-info-strings", setter("device_info", ["a"]))
device("flash-cmds-order-int", setter("flash_cmds_order", [1]))
device("character-delays-string", setter("character_delays", "boot", "slow"))
device("parameters-list", setter("parameters", ["a"]))
device("parameters-media-sata-incomplete", setter("parameters", "media", {"sata": {"UUID-required": True, "disk": {"uuid": "x"}}}))
device("ssh-primary-power", setter("actions", "deploy", "methods", {"ssh": {"host": "10.0.0.1"}}))
device("ssh-primary-no-power", both(setter("actions", "deploy", "methods", {"ssh": {"host": "10.0.0.1"}}), deleter("commands", "hard_reset")))
device("ssh-primary-empty-host", setter("actions", "deploy", "methods", {"ssh": {"host": ""}}))
device("available-architectures-int", setter("available_architectures", [1]))
device("uuu-command-list", setter("uuu_corrupt_boot_media_command", ["a"]))
DEVICE_RAW = {
    "empty": "",
    "list": "- a\n",
    "syntax-error": "commands: [\n",
    "unknown-tag": "constants: !foo {}\n",
}


def main():
    if len(sys.argv) > 2:
        out = sys.argv[2]
        os.makedirs(out, exist_ok=True)
        for f in os.listdir(out):
            if f.endswith(".yaml"):
                os.remove(os.path.join(out, f))
        for name, edit in sorted(DEVICES.items()):
            data = copy.deepcopy(DEVICE)
            edit(data)
            with open(os.path.join(out, name + ".yaml"), "w", encoding="utf-8") as f:
                f.write(yaml.safe_dump(data, sort_keys=False))
        for name, text in sorted(DEVICE_RAW.items()):
            with open(os.path.join(out, name + ".yaml"), "w", encoding="utf-8") as f:
                f.write(text)
        print("%d device configurations" % (len(DEVICES) + len(DEVICE_RAW)), file=sys.stderr)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".yaml"):
            os.remove(os.path.join(out, f))
    for name, (base, edit) in sorted(MUTATIONS.items()):
        data = copy.deepcopy(base)
        edit(data)
        with open(os.path.join(out, name + ".yaml"), "w", encoding="utf-8") as f:
            f.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    for name, text in sorted(RAW.items()):
        with open(os.path.join(out, name + ".yaml"), "w", encoding="utf-8") as f:
            f.write(text)
    print("%d mutations" % (len(MUTATIONS) + len(RAW)), file=sys.stderr)


if __name__ == "__main__":
    main()
